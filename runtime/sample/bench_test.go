package sample

import (
	"math"
	"math/rand/v2"
	"testing"
)

// qwenLogits is a Qwen3-sized logit vector: normal(0, 2) noise with a few
// dominant tokens ("peaked", as an LM mid-sentence) or without them ("flat",
// the worst case for top-p: the nucleus holds tens of thousands of tokens).
func qwenLogits(peaked bool) []float32 {
	const V = 151936
	r := rand.New(rand.NewPCG(5, 6))
	l := make([]float32, V)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 2)
	}
	if peaked {
		for i := 0; i < 20; i++ {
			l[r.IntN(V)] += 14
		}
	}
	return l
}

// BenchmarkSampleToken samples one token from a 151,936-entry distribution.
// "fullsort" is the reference top-p by sorting the whole vocabulary, for the
// ratio against the partial selection.
func BenchmarkSampleToken(b *testing.B) {
	for _, shape := range []string{"peaked", "flat"} {
		l := qwenLogits(shape == "peaked")
		for _, c := range []struct {
			name string
			p    Params
		}{
			{"greedy", Params{}},
			{"temp0.7", Params{Temperature: 0.7}},
			{"topk50", Params{Temperature: 0.7, TopK: 50}},
			{"topp0.9", Params{Temperature: 1, TopP: 0.9}},
			{"topk50+topp0.9", Params{Temperature: 0.7, TopK: 50, TopP: 0.9}},
		} {
			b.Run(shape+"/"+c.name, func(b *testing.B) {
				var s Sampler
				r := rand.New(rand.NewPCG(1, 2))
				for i := 0; i < b.N; i++ {
					if _, err := s.Sample(c.p, l, uniform(r)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(shape+"/topp0.9-fullsort", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				w := weights(l, 1)
				if len(refKeep(w, 0, 0.9)) == 0 {
					b.Fatal("empty")
				}
			}
		})
	}
}

// BenchmarkExp is the floor: one exp per vocabulary entry (math.Exp, and the
// sampler's expNeg).
func BenchmarkExp(b *testing.B) {
	l := qwenLogits(true)
	w := make([]float64, len(l))
	b.Run("math.Exp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for k, v := range l {
				w[k] = math.Exp(float64(v) - 30)
			}
		}
	})
	b.Run("expNeg", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for k, v := range l {
				w[k] = expNeg(float64(v) - 30)
			}
		}
	})
}
