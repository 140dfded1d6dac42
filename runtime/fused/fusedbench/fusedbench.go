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
func Loss(b *testing.B, s Shape, k fused.Kernel, o fused.Options) {
	Compare(b, s, o,
		func(p *fused.Problem, o fused.Options) error { _, err := fused.Run(p, k, true, o); return err },
		func(p *fused.Problem, gemm blas.Func) error { _, err := fused.RunNaive(p, k, true, gemm); return err })
}

// Compare benchmarks a loss with every Sgemm compiled in: fusedRun (chunked),
// naiveRun (all logits at once), and the fused schedule's three GEMMs alone.
// It reports times, extra memory and the two ratios of the goals:
// fused_over_gemms (goal <= 1.15) and fused_mem_over_logits (goal <= 0.05).
// With -short it uses 64 rows. The environment variables REALC_BENCH_N
// (rows) and
// REALC_BENCH_REPS (repetitions per iteration, default 2; the fastest
// counts) tune it.
func Compare(b *testing.B, s Shape, o fused.Options, fusedRun func(*fused.Problem, fused.Options) error, naiveRun func(*fused.Problem, blas.Func) error) {
	for _, impl := range blas.Impls() {
		s := s
		if testing.Short() { // a quick look: `go test -short -bench .`
			s.N = min(s.N, 64)
		}
		if n, err := strconv.Atoi(os.Getenv("REALC_BENCH_N")); err == nil && n > 0 {
			s.N = n
		}
		h, w := Inputs(s, 42)
		b.Run(fmt.Sprintf("%s/N=%d", impl.Name, s.N), func(b *testing.B) {
			o := o
			o.Gemm = impl.Fn
			dh := make([]float32, s.N*s.D)
			dw := make([]float32, s.V*s.D)
			p := &fused.Problem{N: s.N, D: s.D, V: s.V, H: h, W: w, DH: dh, DW: dw}
			// Each b.N iteration runs the three schedules reps times,
			// interleaved, and keeps the fastest of each: the machines are
			// shared, and a single run of one schedule can be slowed alone.
			reps := 2
			if r, err := strconv.Atoi(os.Getenv("REALC_BENCH_REPS")); err == nil && r > 0 {
				reps = r
			}
			var tf, tn, tg time.Duration
			var mf, mn uint64
			gemmsAlone(p, o) // warm-up: first touch of dW's pages and OpenBLAS's buffers
			for b.Loop() {
				bf, bn, bg := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				for r := 0; r < reps; r++ {
					d, m, err := measure(func() error { return fusedRun(p, o) })
					if err != nil {
						b.Fatal(err)
					}
					bf, mf = min(bf, d), m
					d, m, err = measure(func() error { return naiveRun(p, impl.Fn) })
					if err != nil {
						b.Fatal(err)
					}
					bn, mn = min(bn, d), m
					d, _, _ = measure(func() error { gemmsAlone(p, o); return nil })
					bg = min(bg, d)
				}
				tf, tn, tg = tf+bf, tn+bn, tg+bg
			}
			n := float64(b.N)
			logits := float64(s.N) * float64(s.V) * 4
			b.ReportMetric(tf.Seconds()/n, "fused_s")
			b.ReportMetric(tn.Seconds()/n, "naive_s")
			b.ReportMetric(tg.Seconds()/n, "gemms_s")
			b.ReportMetric(float64(mf)/1e6, "fused_MB")
			b.ReportMetric(float64(mn)/1e6, "naive_MB")
			b.ReportMetric(tf.Seconds()/tg.Seconds(), "fused_over_gemms")
			b.ReportMetric(tf.Seconds()/tn.Seconds(), "fused_over_naive")
			b.ReportMetric(float64(mf)/logits, "fused_mem_over_logits")
			b.ReportMetric(6*float64(s.N)*float64(s.D)*float64(s.V)*n/tg.Seconds()/1e9, "gemm_GFLOP/s")
		})
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
