package fused_test

import (
	"fmt"
	"testing"

	"github.com/realc-project/realc/runtime/blas"
	"github.com/realc-project/realc/runtime/fused"
	"github.com/realc-project/realc/runtime/fused/fusedbench"
)

// BenchmarkChunk times the fused CE loss for several chunk sizes (the
// memory/time trade-off: chunk*V floats of logits at once).
func BenchmarkChunk(b *testing.B) {
	if testing.Short() {
		b.Skip("full-size chunk sweep skipped with -short")
	}
	s := fusedbench.Qwen3
	h, w := fusedbench.Inputs(s, 42)
	k := newCE(s)
	for _, impl := range blas.Impls() {
		for _, chunk := range []int{16, 32, 48, 64} {
			b.Run(fmt.Sprintf("%s/chunk=%d", impl.Name, chunk), func(b *testing.B) {
				p := &fused.Problem{N: s.N, D: s.D, V: s.V, H: h, W: w, DH: make([]float32, s.N*s.D), DW: make([]float32, s.V*s.D)}
				for b.Loop() {
					if _, err := fused.Run(p, k, true, fused.Options{Chunk: chunk, Gemm: impl.Fn}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
