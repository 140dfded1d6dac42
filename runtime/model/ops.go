package model

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/realc-project/realc/runtime/blas"
)

// linear computes y[n, out] = x[n, in] · W[out, in]^T (beta 0 overwrites y, 1 adds).
func linear(y, x, w []float32, n, in, out int, beta float32) {
	blas.Sgemm(false, true, n, out, in, 1, x, in, w, in, beta, y, out)
}

// linearBack adds the gradients of y = x·W^T: dx (=, or += when accumX) dy·W and dW += dy^T·x.
func linearBack(dx, dw, dy, x, w []float32, n, in, out int, accumX bool) {
	if dx != nil {
		beta := float32(0)
		if accumX {
			beta = 1
		}
		blas.Sgemm(false, false, n, in, out, 1, dy, out, w, in, beta, dx, in)
	}
	blas.Sgemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
}

// splitMin is the work (rows*width) below which splitRows runs inline.
// Callers on the decoding path test it themselves and call their serial code
// directly: the closure handed to splitRows escapes (goroutines run it), so
// building one costs a heap allocation even when it runs inline.
const splitMin = 1 << 15

// splitRows runs f over [r0, r1) chunks of rows on up to GOMAXPROCS
// goroutines when rows*width is large enough to pay for them, else inline.
func splitRows(rows, width int, f func(chunk, r0, r1 int)) {
	if rows*width < splitMin { // before workers(): GOMAXPROCS takes a lock
		f(0, 0, rows)
		return
	}
	nw := min(workers(), rows)
	if nw <= 1 {
		f(0, 0, rows)
		return
	}
	if nw == 2 {
		h := rows / 2
		blas.Both(func() { f(0, 0, h) }, func() { f(1, h, rows) })
		return
	}
	var wg sync.WaitGroup
	for c := 0; c < nw; c++ {
		r0, r1 := rows*c/nw, rows*(c+1)/nw
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(c, r0, r1)
		}()
	}
	wg.Wait()
}

// fusedView returns the one slice that ws are adjacent views of, in order
// (as New lays out q/k/v and gate/up), or nil when they are not (a caller
// replaced a weight slice): then each is multiplied on its own.
func fusedView(ws ...[]float32) []float32 {
	total := 0
	for _, w := range ws {
		if len(w) == 0 {
			return nil
		}
		total += len(w)
	}
	if cap(ws[0]) < total {
		return nil
	}
	full := ws[0][:total]
	off := 0
	for _, w := range ws {
		if &full[off] != &w[0] {
			return nil
		}
		off += len(w)
	}
	return full
}

// fuseRows is the number of rows up to which linearMulti multiplies
// adjacent weights in one product and splits the result (decoding: one
// product, one parallel region); above it each weight gets its own product
// into its own output, which costs no more (Sgemm packs the input per
// column block anyway) and copies nothing.
const fuseRows = 64

// linearMulti computes outs[i][n, widths[i]] = x·ws[i]^T, with one Sgemm when
// the weights are adjacent (fusedView) and the rows few, one each otherwise.
func (m *Model) linearMulti(outs [][]float32, x []float32, ws [][]float32, n, in int, widths []int) {
	var full []float32
	if n <= fuseRows {
		full = fusedView(ws...)
	}
	if full == nil {
		for i := range ws {
			linear(outs[i], x, ws[i], n, in, widths[i], 0)
		}
		return
	}
	W := len(full) / in
	tmp := m.sc.get(n * W)
	linear(tmp, x, full, n, in, W, 0)
	splitCols(outs, tmp, widths, W, 0, n)
	m.sc.put(tmp)
}

// splitCols copies rows [r0, r1) of tmp (width W) into outs, widths[i] columns each.
func splitCols(outs [][]float32, tmp []float32, widths []int, W, r0, r1 int) {
	for r := r0; r < r1; r++ {
		off := 0
		for i, o := range outs {
			copy(o[r*widths[i]:(r+1)*widths[i]], tmp[r*W+off:r*W+off+widths[i]])
			off += widths[i]
		}
	}
}

// linearMultiBack is the backward of linearMulti: dx = Σ dys[i]·ws[i] (dx is
// overwritten) and dws[i] += dys[i]^T·x, one product per weight (joining the
// dys into one array to multiply once would copy more than it saves).
func linearMultiBack(dx []float32, dws, dys [][]float32, x []float32, ws [][]float32, n, in int, widths []int) {
	for i := range ws {
		linearBack(dx, dws[i], dys[i], x, ws[i], n, in, widths[i], i > 0)
	}
}

// rmsnorm writes y[r] = w * x[r] / sqrt(mean(x[r]^2) + eps) for each row of
// width d, and stores the inverse RMS of each row in inv (when not nil).
func rmsnorm(y, x, w []float32, d int, eps float64, inv []float32) {
	if len(x) < splitMin {
		rmsnormSerial(y, x, w, d, eps, inv)
		return
	}
	splitRows(len(x)/d, d, func(_, r0, r1 int) {
		var iv []float32
		if inv != nil {
			iv = inv[r0:r1]
		}
		rmsnormSerial(y[r0*d:r1*d], x[r0*d:r1*d], w, d, eps, iv)
	})
}

func rmsnormSerial(y, x, w []float32, d int, eps float64, inv []float32) {
	rows := len(x) / d
	for r := 0; r < rows; r++ {
		xr := x[r*d : r*d+d]
		s := float32(1 / math.Sqrt(blas.SumSq(xr)/float64(d)+eps))
		if inv != nil {
			inv[r] = s
		}
		blas.ScaleMul(y[r*d:r*d+d], xr, w, s)
	}
}

// rmsnormBack adds into dx the gradient through y = w*x*s (s = inverse RMS of
// the row), and into dw the weight gradient.
func rmsnormBack(dx, dw, dy, x, w, inv []float32, d int) {
	rows := len(x) / d
	if min(workers(), rows) <= 1 || rows*d < 1<<15 {
		rmsnormBackSerial(dx, dw, dy, x, w, inv, d)
		return
	}
	// Each chunk sums its weight gradient apart, then the partials are added.
	parts := make([][]float32, workers())
	splitRows(rows, d, func(c, r0, r1 int) {
		parts[c] = make([]float32, d)
		rmsnormBackSerial(dx[r0*d:r1*d], parts[c], dy[r0*d:r1*d], x[r0*d:r1*d], w, inv[r0:r1], d)
	})
	for _, p := range parts {
		for i, v := range p {
			dw[i] += v
		}
	}
}

func rmsnormBackSerial(dx, dw, dy, x, w, inv []float32, d int) {
	rows := len(x) / d
	for r := 0; r < rows; r++ {
		blas.RMSNormBackRow(dx[r*d:r*d+d], dw, dy[r*d:r*d+d], x[r*d:r*d+d], w, inv[r])
	}
}

// ropeTable holds cos and sin of pos*theta^(-2i/hd) for each row, [rows, hd/2].
type ropeTable struct {
	cos, sin []float32
	half     int
}

func newRopeTable(pos []int, c *Config) ropeTable {
	inv := c.ropeInvFreq()
	half := len(inv)
	t := ropeTable{cos: make([]float32, len(pos)*half), sin: make([]float32, len(pos)*half), half: half}
	// A batch repeats its positions row after row: each is computed once
	// (the sines and cosines of a 4 x 128 training batch took 0.37 ms on
	// one processor).
	first := make(map[int]int, len(pos))
	for r, p := range pos {
		if r0, ok := first[p]; ok {
			copy(t.cos[r*half:(r+1)*half], t.cos[r0*half:(r0+1)*half])
			copy(t.sin[r*half:(r+1)*half], t.sin[r0*half:(r0+1)*half])
			continue
		}
		first[p] = r
		for i, f := range inv {
			s, co := math.Sincos(float64(p) * f)
			t.cos[r*half+i] = float32(co)
			t.sin[r*half+i] = float32(s)
		}
	}
	return t
}

// ropeInvFreq is theta^(-2i/hd) for i < hd/2, adjusted by Llama 3's
// rope_scaling when configured (transformers' _compute_llama3_parameters):
// wavelengths above original_max_position_embeddings/low_freq_factor are
// divided by factor, those below .../high_freq_factor kept, and the band
// between interpolated smoothly.
func (c *Config) ropeInvFreq() []float64 {
	hd := c.HeadDim
	inv := make([]float64, hd/2)
	for i := range inv {
		inv[i] = math.Pow(c.RopeTheta, -float64(2*i)/float64(hd))
	}
	if s := c.RopeScaling; s != nil {
		old := float64(s.OriginalMaxPos)
		lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / s.Factor
			default:
				smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	}
	return inv
}

// apply rotates every head of x (rows of width heads*hd) in the Hugging Face
// rotate_half layout: element i pairs with i+hd/2. inverse rotates backwards
// (the gradient of the rotation).
func (t ropeTable) apply(x []float32, heads int, inverse bool) {
	w := heads * 2 * t.half
	if len(x) < splitMin {
		t.applyRows(x, heads, inverse, 0, len(x)/w)
		return
	}
	splitRows(len(x)/w, w, func(_, r0, r1 int) { t.applyRows(x, heads, inverse, r0, r1) })
}

func (t ropeTable) applyRows(x []float32, heads int, inverse bool, r0, r1 int) {
	half := t.half
	w := heads * 2 * half
	for r := r0; r < r1; r++ {
		blas.RopeRow(x[r*w:(r+1)*w], t.cos[r*half:(r+1)*half], t.sin[r*half:(r+1)*half], inverse)
	}
}

// swiglu writes act = silu(gate) * up.
func swiglu(act, gate, up []float32) {
	if len(gate) < splitMin {
		blas.SwiGLU(act, gate, up)
		return
	}
	splitRows(len(gate), 1, func(_, r0, r1 int) { blas.SwiGLU(act[r0:r1], gate[r0:r1], up[r0:r1]) })
}

// swigluBack turns d(act) into d(gate) and d(up).
func swigluBack(dgate, dup, dact, gate, up []float32) {
	splitRows(len(gate), 1, func(_, r0, r1 int) {
		blas.SwiGLUBack(dgate[r0:r1], dup[r0:r1], dact[r0:r1], gate[r0:r1], up[r0:r1])
	})
}

// exp32 is e^x in float32 (blas.Exp32: relative error below 3e-7, several
// times cheaper than math.Exp).
func exp32(x float32) float32 { return blas.Exp32(x) }

// softmaxRow turns s (at least one entry) into softmax(s), in place.
func softmaxRow(s []float32) {
	blas.Scale(s, 1/blas.ExpShift(s, blas.Max(s)))
}

// parallelFor runs f(i) for i in [0, n) on up to GOMAXPROCS goroutines; with
// parallel false (work too small to pay for goroutines) it runs inline.
func parallelFor(n int, parallel bool, f func(worker, i int)) {
	workers := 1
	if parallel { // GOMAXPROCS takes a lock: only ask when it matters
		workers = min(runtime.GOMAXPROCS(0), n)
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(0, i)
		}
		return
	}
	var next atomic.Int64
	loop := func(w int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			f(w, i)
		}
	}
	if workers == 2 {
		blas.Both(func() { loop(0) }, func() { loop(1) })
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(w, i)
			}
		}(w)
	}
	wg.Wait()
}

// workers is the number of goroutines parallelFor may use.
func workers() int { return runtime.GOMAXPROCS(0) }
