package fused_test

import (
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/runtime/fused"
	"github.com/realc-project/realc/runtime/fused/fusedbench"
)

// ceKernel is REAL's dominant row shape: a weighted -logp(target) per token
// row (no entropy), the benchmark's stand-in before generated kernels exist.
type ceKernel struct {
	target []int32
	w      []float64
}

func (k *ceKernel) Entropy() bool                     { return false }
func (k *ceKernel) Gather(r int, dst []int32) []int32 { return append(dst, k.target[r]) }
func (k *ceKernel) Row(r int, st *fused.Stats, c *fused.Coef) float64 {
	c.Alpha = k.w[r]
	c.Add(st.Idx[0], -k.w[r])
	return -k.w[r] * st.LogP(0)
}

func newCE(s fusedbench.Shape) *ceKernel {
	r := rand.New(rand.NewPCG(1, 2))
	k := &ceKernel{target: make([]int32, s.N), w: make([]float64, s.N)}
	for i := range k.target {
		k.target[i] = int32(r.IntN(s.V))
		k.w[i] = r.NormFloat64() / float64(s.N)
	}
	return k
}

func BenchmarkLossCE(b *testing.B) {
	s := fusedbench.Qwen3
	if testing.Short() {
		s.N = 128
	}
	fusedbench.Loss(b, s, newCE(s))
}

// BenchmarkEpilogue times the row epilogue alone on one chunk of 32 rows.
func BenchmarkEpilogue(b *testing.B) {
	const n, v = 32, 151936
	r := rand.New(rand.NewPCG(3, 4))
	z := make([]float32, n*v)
	k := newCE(fusedbench.Shape{N: n, V: v})
	loss := make([]float64, n)
	for b.Loop() {
		b.StopTimer()
		for i := range z {
			z[i] = float32(r.NormFloat64() * 2)
		}
		b.StartTimer()
		if err := fused.Epilogue(k, z, 0, n, v, true, loss); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*v), "ns/logit")
}
