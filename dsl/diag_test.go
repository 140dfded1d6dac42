package dsl

import "testing"

func TestSuggestFit(t *testing.T) {
	funcs := []string{"abs", "clip", "exp", "log", "loo", "mean", "sum_g", "sum_t"}
	arity := map[string][2]int{"abs": {1, 1}, "clip": {3, 3}, "exp": {1, 1}, "log": {1, 1}, "loo": {1, 1}, "mean": {1, 1}, "sum_g": {1, 1}, "sum_t": {1, 2}}
	fits := func(n int) func(string) bool {
		return func(f string) bool { return arity[f][0] <= n && n <= arity[f][1] }
	}
	for _, c := range []struct {
		name  string
		nargs int
		want  string
	}{
		{"lo0", 1, ` (did you mean "log" or "loo"?)`}, // equally close, both fit: both named
		{"sum", 2, ` (did you mean "sum_t"?)`},        // sum_g is as close but takes one argument
		{"sum", 1, ` (did you mean "sum_g" or "sum_t"?)`},
		{"clp", 1, ` (did you mean "clip"?)`}, // the closest wins over a fit further away
		{"gamma", 1, ""},                      // nothing within half the shorter word
		{"log", 1, ` (did you mean "loo"?)`},  // never the name itself
	} {
		if got := SuggestFit(c.name, funcs, fits(c.nargs)); got != c.want {
			t.Errorf("SuggestFit(%q, %d args) = %q, want %q", c.name, c.nargs, got, c.want)
		}
	}
	if got := SuggestFit("lamdba", []string{"beta", "lambda", "lr"}, nil); got != ` (did you mean "lambda"?)` {
		t.Errorf("lamdba: %q", got)
	}
	if got := SuggestFit("step", []string{"beta", "lambda", "lr"}, nil); got != "" {
		t.Errorf("step: %q, want no suggestion", got)
	}
}
