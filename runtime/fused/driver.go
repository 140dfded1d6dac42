package fused

import (
	"fmt"

	"github.com/realc-project/realc/runtime/blas"
)

// Problem is one fused loss evaluation: N rows of hidden states H [N x D]
// against the LM head W [V x D] (logits = H W^T).
type Problem struct {
	N, D, V int
	H, W    []float32
	// DH [N x D] and DW [V x D] receive the gradients: DH is overwritten,
	// DW is accumulated into (so that several batches can add up); either may
	// be nil to skip it.
	DH, DW []float32
}

// DefaultChunk is the default number of rows whose logits exist at once:
// 29 MB at V=151,936, 4.7% of the fp32 logits of 1024 rows (the goal is 5%).
// The chunk's backward GEMM streams all of dW once per chunk, so larger
// chunks are faster (BenchmarkChunk): 48 is the largest under the goal.
const DefaultChunk = 48

// Schedule is how Run walks the [rows x vocabulary] logits.
type Schedule int

const (
	// RowChunks: Chunk rows at a time, their full vocabulary; one forward
	// GEMM, the row epilogue, the chunk's two backward GEMMs. Three GEMMs,
	// but the dW GEMM of each chunk reads and writes all of dW.
	RowChunks Schedule = iota
	// VocabTiles: Tile vocabulary entries at a time, all rows; a statistics
	// pass then a gradient pass, each with its forward GEMM (four GEMMs, all
	// with N rows; dW written once). Less memory, and faster where dW
	// traffic dominates (see runTiled).
	VocabTiles
)

// Options tune the driver; the zero value picks defaults.
type Options struct {
	// Schedule picks row chunks (default) or vocabulary tiles.
	Schedule Schedule
	// Tile is the vocabulary tile of VocabTiles (default DefaultTile(N)).
	Tile int
	// Chunk is the number of rows whose logits exist at once (default
	// DefaultChunk).
	Chunk int
	// Gemm is the matrix multiply (default blas.Sgemm).
	Gemm blas.Func
	// Scratch, when it holds at least Chunk*V (VocabTiles: N*Tile) floats,
	// is used for the logits instead of a new allocation (callers that run
	// several passes share one buffer).
	Scratch []float32
}

func (o Options) withDefaults() Options {
	if o.Chunk <= 0 {
		o.Chunk = DefaultChunk
	}
	if o.Gemm == nil {
		o.Gemm = blas.Sgemm
	}
	return o
}

func (p *Problem) check() error {
	if p.N < 0 || p.D <= 0 || p.V <= 0 {
		return fmt.Errorf("fused: bad shape N=%d D=%d V=%d", p.N, p.D, p.V)
	}
	if len(p.H) < p.N*p.D {
		return fmt.Errorf("fused: H has %d values, want N*D = %d*%d", len(p.H), p.N, p.D)
	}
	if len(p.W) < p.V*p.D {
		return fmt.Errorf("fused: W has %d values, want V*D = %d*%d", len(p.W), p.V, p.D)
	}
	if p.DH != nil && len(p.DH) < p.N*p.D {
		return fmt.Errorf("fused: DH has %d values, want N*D = %d*%d", len(p.DH), p.N, p.D)
	}
	if p.DW != nil && len(p.DW) < p.V*p.D {
		return fmt.Errorf("fused: DW has %d values, want V*D = %d*%d", len(p.DW), p.V, p.D)
	}
	return nil
}

// Run evaluates k on every row chunk by chunk and returns the sum of the row
// loss terms (summed in row order, so the result does not depend on
// scheduling). With grad it fills p.DH and adds into p.DW. Peak extra memory:
// Chunk*V floats for the logits plus O(N) for the row terms.
func Run(p *Problem, k Kernel, grad bool, o Options) (float64, error) {
	if err := p.check(); err != nil {
		return 0, err
	}
	o = o.withDefaults()
	if o.Schedule == VocabTiles {
		return runTiled(p, k, grad, o)
	}
	n, d, v := p.N, p.D, p.V
	chunk := min(o.Chunk, max(n, 1))
	z := o.Scratch
	if len(z) < chunk*v {
		z = make([]float32, chunk*v)
	}
	rowLoss := make([]float64, n)
	for r0 := 0; r0 < n; r0 += chunk {
		c := min(chunk, n-r0)
		zc := z[:c*v]
		hc := p.H[r0*d : (r0+c)*d]
		o.Gemm(false, true, c, v, d, 1, hc, d, p.W, d, 0, zc, v)
		if err := Epilogue(k, zc, r0, c, v, grad, rowLoss[r0:r0+c]); err != nil {
			return 0, err
		}
		if !grad {
			continue
		}
		if p.DH != nil {
			o.Gemm(false, false, c, d, v, 1, zc, v, p.W, d, 0, p.DH[r0*d:(r0+c)*d], d)
		}
		if p.DW != nil {
			o.Gemm(true, false, v, d, c, 1, zc, v, hc, d, 1, p.DW, d)
		}
	}
	return sum(rowLoss), nil
}

// RunNaive is the unfused reference schedule: materialize all N x V fp32
// logits with one GEMM, run the epilogue on all of them, then the two backward
// GEMMs. Same results as Run; peak extra memory N*V floats.
func RunNaive(p *Problem, k Kernel, grad bool, gemm blas.Func) (float64, error) {
	if err := p.check(); err != nil {
		return 0, err
	}
	if gemm == nil {
		gemm = blas.Sgemm
	}
	n, d, v := p.N, p.D, p.V
	z := make([]float32, n*v)
	rowLoss := make([]float64, n)
	gemm(false, true, n, v, d, 1, p.H, d, p.W, d, 0, z, v)
	if err := Epilogue(k, z, 0, n, v, grad, rowLoss); err != nil {
		return 0, err
	}
	if grad {
		if p.DH != nil {
			gemm(false, false, n, d, v, 1, z, v, p.W, d, 0, p.DH, d)
		}
		if p.DW != nil {
			gemm(true, false, v, d, n, 1, z, v, p.H, d, 1, p.DW, d)
		}
	}
	return sum(rowLoss), nil
}

// RunLogits is the entry point that takes logits directly (tests, eval-loss):
// logits is N x V; with grad they are overwritten by their gradient.
func RunLogits(logits []float32, n, v int, k Kernel, grad bool) (float64, error) {
	if n < 0 || v <= 0 || len(logits) < n*v {
		return 0, fmt.Errorf("fused: logits have %d values, want N*V = %d*%d", len(logits), n, v)
	}
	rowLoss := make([]float64, n)
	if err := Epilogue(k, logits, 0, n, v, grad, rowLoss); err != nil {
		return 0, err
	}
	return sum(rowLoss), nil
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}
