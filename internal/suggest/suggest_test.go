package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"check", "check", 0}, {"chek", "check", 1}, {"lamdba", "lambda", 1},
		{"explian", "explain", 1}, {"abc", "", 3}, {"Fmt", "fmt", 0}, {"kitten", "sitting", 3},
		{"ca", "abc", 3}, // OSA, not Damerau: no edit of a transposed pair
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestClosestAndHint(t *testing.T) {
	names := []string{"lambda", "beta", "lr", "labmda"}
	// Both are one edit away: the alphabetically first wins, whatever the order.
	if got := Closest("lamda", []string{"lambda", "labmda"}, 2); got != "labmda" {
		t.Fatalf("tie: got %q, want labmda", got)
	}
	if got := Closest("lr", names, 2); got != "" {
		t.Fatalf("Closest(lr) = %q: the name itself is skipped and nothing else is within 2 edits", got)
	}
	if got := Hint("gamma", names, 1); got != "" {
		t.Fatalf("Hint(gamma) = %q, want none within 1 edit", got)
	}
	if got := Hint("bta", names, 1); got != ` (did you mean "beta"?)` {
		t.Fatalf("Hint(bta) = %q", got)
	}
}
