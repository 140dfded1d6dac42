package judge

import (
	"path/filepath"
	"testing"

	"github.com/realc-project/realc/runtime/eval"
)

// The cost of one MT-Bench item (a ~800-token prompt) on the tiny Qwen3 at
// the Qwen3 vocabulary: sampling 16 tokens, then reading the blind slot with
// the prompt's cache warm (the harness's case: the outputs of an item are
// scored right after it) and cold (a new prompt: prefill included).
func BenchmarkItem(b *testing.B) {
	j := tinyQwenJudge(b)
	bench, err := eval.LoadBenchmark(filepath.Join(sharedData(b), "prometheus", "mt_bench_eval.json"), eval.LoadOptions{Limit: 2})
	if err != nil {
		b.Fatal(err)
	}
	s := eval.Sampling{Temperature: 1, TopP: 0.9, MaxTokens: 16, Seed: 1}
	gens := make([]eval.Generation, 2)
	for i := range gens {
		g, err := j.Generate(ctx, bench.Prompts[i], 1, s)
		if err != nil {
			b.Fatal(err)
		}
		gens[i] = g[0]
	}
	last := func(g eval.Generation) eval.Slot {
		return eval.Slot{Token: len(g.TokenStarts) - 1, Offset: -1, Last: true}
	}
	b.Run("generate16", func(b *testing.B) {
		for b.Loop() {
			if _, err := j.Generate(ctx, bench.Prompts[0], 1, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scoreprobs-warm", func(b *testing.B) {
		for b.Loop() {
			if _, err := j.ScoreProbs(ctx, bench.Prompts[0], gens[0], last(gens[0])); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scoreprobs-cold", func(b *testing.B) {
		k := 0
		for b.Loop() {
			k ^= 1 // alternate prompts so the cache never hits
			if _, err := j.ScoreProbs(ctx, bench.Prompts[k], gens[k], last(gens[k])); err != nil {
				b.Fatal(err)
			}
		}
	})
}
