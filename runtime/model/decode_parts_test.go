package model

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/runtime/sample"
)

// BenchmarkDecodeParts15M times the pieces of one batched decoding step on
// a random model of the stories15M shape, for n rows at position 128 (the
// middle of a 256-token rollout): the whole Step, the LM head's product
// alone, and sampling n rows of logits at temperature 1. For profiling
// (-cpuprofile) and A/B comparisons of kernels within one process.
func BenchmarkDecodeParts15M(b *testing.B) {
	cfg := stories15MConfig()
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m.InitRandom(1, 0.02)
	const pos = 128
	for _, n := range []int{1, 8, 16, 64} {
		caches := make([]*KVCache, n)
		toks := make([][]int, n)
		r := rand.New(rand.NewPCG(3, 4))
		for i := range caches {
			caches[i] = m.NewKVCache()
			prefix := make([]int, pos)
			for j := range prefix {
				prefix[j] = r.IntN(cfg.Vocab)
			}
			if _, err := m.Step(caches[i:i+1], [][]int{prefix}); err != nil {
				b.Fatal(err)
			}
			toks[i] = []int{r.IntN(cfg.Vocab)}
		}
		logits := make([]float32, n*cfg.Vocab)
		b.Run(fmt.Sprintf("step-n%d", n), func(b *testing.B) {
			for it := 0; it < b.N; it++ {
				// Drop the appended token again so every step is at pos.
				for _, c := range caches {
					for l := range c.k {
						c.k[l], c.v[l] = c.k[l][:pos*cfg.KVDim()], c.v[l][:pos*cfg.KVDim()]
					}
					c.n = pos
				}
				if _, err := m.StepInto(logits, caches, toks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "tok/s")
		})
		h := make([]float32, n*cfg.Dim)
		for i := range h {
			h[i] = float32(r.NormFloat64())
		}
		b.Run(fmt.Sprintf("head-n%d", n), func(b *testing.B) {
			for it := 0; it < b.N; it++ {
				linear(logits, h, m.Head, n, cfg.Dim, cfg.Vocab, 0)
			}
			b.ReportMetric(float64(b.N)*float64(len(m.Head)*4)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
		b.Run(fmt.Sprintf("sample-n%d", n), func(b *testing.B) {
			var s sample.Sampler
			for it := 0; it < b.N; it++ {
				for i := 0; i < n; i++ {
					if _, err := s.Sample(sample.Params{Temperature: 1}, logits[i*cfg.Vocab:(i+1)*cfg.Vocab], 0.5); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		for _, c := range caches {
			c.Release()
		}
	}
}

// BenchmarkRollout15M is rolloutTokS alone (no run.c), for profiling the
// whole rollout: n samples of BOS, 255 new tokens each.
func BenchmarkRollout15M(b *testing.B) {
	m, err := New(stories15MConfig())
	if err != nil {
		b.Fatal(err)
	}
	m.InitRandom(1, 0.02)
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
			var sum float64
			for it := 0; it < b.N; it++ {
				sum += rolloutTokS(m, n, uint64(it))
			}
			b.ReportMetric(sum/float64(b.N), "tok/s")
		})
	}
}
