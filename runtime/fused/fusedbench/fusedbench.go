// Package fusedbench measures a fused loss kernel against the naive schedule
// and against its GEMMs alone, side by side in one benchmark run; the
// benchmarks of runtime/fused, codegen and generated code share it.
package fusedbench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/blas"
	"github.com/realc-project/realc/runtime/fused"
)

// Shape is the problem size; Qwen3 is the issue's: N=1024, D=512, V=151,936.
type Shape struct{ N, D, V int }

// Qwen3 is the benchmark shape of the issue (Qwen3's vocabulary).
var Qwen3 = Shape{N: 1024, D: 512, V: 151936}

// Inputs draws H and W with logits of a realistic spread (std about 2).
func Inputs(s Shape, seed uint64) (h, w []float32) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	h = make([]float32, s.N*s.D)
	w = make([]float32, s.V*s.D)
	for i := range h {
		h[i] = float32(r.NormFloat64())
	}
	for i := range w {
		w[i] = float32(r.NormFloat64() * 2 / 22.6) // sqrt(512) ~ 22.6
	}
	return h, w
}

// measure runs f once and returns its time and the bytes it allocated on the
// Go heap (the extra memory of a schedule: its logits buffers; C allocations
// inside OpenBLAS are not seen and are the same for every schedule).
func measure(f func() error) (time.Duration, uint64, error) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	t0 := time.Now()
	err := f()
	el := time.Since(t0)
	runtime.ReadMemStats(&b)
	return el, b.TotalAlloc - a.TotalAlloc, err
}

// Loss benchmarks kernel k (built for shape s); see Compare.
func Loss(b *testing.B, s Shape, k fused.Kernel) {
	Compare(b, s,
		func(p *fused.Problem, o fused.Options) error { _, err := fused.Run(p, k, true, o); return err },
		func(p *fused.Problem, gemm blas.Func) error { _, err := fused.RunNaive(p, k, true, gemm); return err })
}

// Compare benchmarks a loss with every Sgemm compiled in, side by side:
// fusedRun with each schedule (rows: row chunks; tiles: vocabulary tiles),
// naiveRun (all logits at once), and each schedule's GEMMs alone (rows: its
// three GEMMs; tiles: its four). Metrics: <x>_s seconds, <x>_MB extra Go
// heap allocated during the call, rows_over_gemms (goal <= 1.15),
// rows_mem_over_logits (goal <= 0.05), and the same for tiles.
//
// Each iteration runs every schedule reps times, interleaved, and keeps the
// fastest of each: the machines are shared, and a single run of one schedule
// can be slowed alone. With -short it uses 64 rows; the environment
// variables REALC_BENCH_N (rows) and REALC_BENCH_REPS (default 2) tune it.
func Compare(b *testing.B, s Shape, fusedRun func(*fused.Problem, fused.Options) error, naiveRun func(*fused.Problem, blas.Func) error) {
	for _, impl := range blas.Impls() {
		s := s
		if testing.Short() {
			s.N = min(s.N, 64)
		}
		if n, err := strconv.Atoi(os.Getenv("REALC_BENCH_N")); err == nil && n > 0 {
			s.N = n
		}
		h, w := Inputs(s, 42)
		b.Run(fmt.Sprintf("%s/N=%d", impl.Name, s.N), func(b *testing.B) {
			dh := make([]float32, s.N*s.D)
			dw := make([]float32, s.V*s.D)
			p := &fused.Problem{N: s.N, D: s.D, V: s.V, H: h, W: w, DH: dh, DW: dw}
			rows := fused.Options{Gemm: impl.Fn, Schedule: fused.RowChunks}
			tiles := fused.Options{Gemm: impl.Fn, Schedule: fused.VocabTiles}
			reps := 2
			if r, err := strconv.Atoi(os.Getenv("REALC_BENCH_REPS")); err == nil && r > 0 {
				reps = r
			}
			cases := []struct {
				name string
				run  func() error
			}{
				{"rows", func() error { return fusedRun(p, rows) }},
				{"tiles", func() error { return fusedRun(p, tiles) }},
				{"naive", func() error { return naiveRun(p, impl.Fn) }},
				{"gemms3", func() error { gemmsAlone(p, rows); return nil }},
				{"gemms4", func() error { tileGemmsAlone(p, impl.Fn); return nil }},
			}
			total := make([]time.Duration, len(cases))
			mem := make([]uint64, len(cases))
			gemmsAlone(p, rows) // warm-up: first touch of dW's pages and OpenBLAS's buffers
			for b.Loop() {
				best := make([]time.Duration, len(cases))
				for i := range best {
					best[i] = time.Duration(math.MaxInt64)
				}
				for r := 0; r < reps; r++ {
					for i, c := range cases {
						d, m, err := measure(c.run)
						if err != nil {
							b.Fatal(err)
						}
						best[i], mem[i] = min(best[i], d), m
					}
				}
				for i := range total {
					total[i] += best[i]
				}
			}
			n := float64(b.N)
			sec := func(i int) float64 { return total[i].Seconds() / n }
			logits := float64(s.N) * float64(s.V) * 4
			for i, c := range cases {
				b.ReportMetric(sec(i), c.name+"_s")
				if i < 3 {
					b.ReportMetric(float64(mem[i])/1e6, c.name+"_MB")
				}
			}
			b.ReportMetric(sec(0)/sec(3), "rows_over_gemms")
			b.ReportMetric(sec(1)/sec(4), "tiles_over_gemms")
			b.ReportMetric(sec(0)/sec(2), "rows_over_naive")
			b.ReportMetric(sec(1)/sec(2), "tiles_over_naive")
			b.ReportMetric(float64(mem[0])/logits, "rows_mem_over_logits")
			b.ReportMetric(float64(mem[1])/logits, "tiles_mem_over_logits")
			b.ReportMetric(6*float64(s.N)*float64(s.D)*float64(s.V)/sec(3)/1e9, "gemm3_GFLOP/s")
		})
	}
}

// tileGemmsAlone runs the four GEMMs of the vocabulary-tiled schedule
// without the epilogue.
func tileGemmsAlone(p *fused.Problem, gemm blas.Func) {
	n, d, v := p.N, p.D, p.V
	tile := min(fused.DefaultTile(n), v)
	z := make([]float32, n*tile)
	for pass := 0; pass < 2; pass++ {
		for v0 := 0; v0 < v; v0 += tile {
			t := min(tile, v-v0)
			zt := z[:n*t]
			gemm(false, true, n, t, d, 1, p.H, d, p.W[v0*d:], d, 0, zt, t)
			if pass == 1 {
				gemm(false, false, n, d, t, 1, zt, t, p.W[v0*d:], d, 1, p.DH, d)
				gemm(true, false, t, d, n, 1, zt, t, p.H, d, 1, p.DW[v0*d:], d)
			}
		}
	}
}

// gemmsAlone runs the three GEMMs of the fused schedule, chunk by chunk,
// without the epilogue: the floor the fused kernel is measured against.
func gemmsAlone(p *fused.Problem, o fused.Options) {
	n, d, v := p.N, p.D, p.V
	chunk := o.Chunk
	if chunk <= 0 {
		chunk = fused.DefaultChunk
	}
	z := make([]float32, chunk*v)
	for r0 := 0; r0 < n; r0 += chunk {
		c := min(chunk, n-r0)
		zc, hc := z[:c*v], p.H[r0*d:(r0+c)*d]
		o.Gemm(false, true, c, v, d, 1, hc, d, p.W, d, 0, zc, v)
		o.Gemm(false, false, c, d, v, 1, zc, v, p.W, d, 0, p.DH[r0*d:(r0+c)*d], d)
		o.Gemm(true, false, v, d, c, 1, zc, v, hc, d, 1, p.DW, d)
	}
}

// Name formats a shape for benchmark names.
func (s Shape) String() string { return fmt.Sprintf("N=%d,D=%d,V=%d", s.N, s.D, s.V) }
