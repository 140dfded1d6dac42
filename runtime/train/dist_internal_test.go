package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/fused/recipe"
)

// The loss normalizer of every recipe in recipes/, and of forms the trainer
// must refuse at a world size above 1.
func TestLossNormalizer(t *testing.T) {
	src := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "recipes", name+".rl"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range []struct {
		name, source string
		hypers       map[string]float64
		want         normKind
		refuse       string
	}{
		{name: "sft", want: normTokens},
		{name: "grpo", hypers: map[string]float64{"kl_coef": 0.01}, want: normTokens},
		{name: "ppo", want: normTokens},
		{name: "rloo", want: normTokens},
		{name: "raft", want: normSeqs},
		{name: "real", hypers: map[string]float64{"beta": 0, "lambda": 1}, want: normTokens},
		{name: "real", hypers: map[string]float64{"beta": 0.5, "lambda": 1}, refuse: "mixes token and sequence"},
		{name: "real_abs", hypers: map[string]float64{"beta": 0, "lambda": 1}, want: normTokens},
		{name: "tract", refuse: "masked token_mean"},
		{name: "x", source: "loss token_mean(x)^2", refuse: "power"},
		{name: "x", source: "loss exp(token_mean(x))", refuse: "applies exp"},
		{name: "x", source: "loss token_sum(x) + 2*seq_mean_token_sum_norm(y)", want: normNone},
		{name: "x", source: "loss seq_mean_token_mean(x) - 1e-3 * mean(y)", want: normSeqs},
		{name: "x", source: "loss 0 * token_mean(x) + mean(y, all)", want: normSeqs},
	} {
		m := &recipe.Meta{Name: c.name, Source: c.source}
		if m.Source == "" {
			m.Source = src(c.name)
		}
		var hv []float64
		for k, v := range c.hypers {
			m.Hypers = append(m.Hypers, recipe.Hyper{Name: k})
			hv = append(hv, v)
		}
		got, err := lossNormalizer(m, hv)
		if c.refuse != "" {
			if err == nil || !strings.Contains(err.Error(), c.refuse) {
				t.Errorf("%s %v: %v, want an error saying %q", c.name, c.hypers, err, c.refuse)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %v: %v, %v; want %v", c.name, c.hypers, got, err, c.want)
		}
	}
}
