package fused

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/blas"
)

// testKernel exercises every coefficient form: even rows are token rows with
// loss w*(-logp(target)) - e*H, odd rows are score rows with loss (E - y)^2,
// E = sum_k (k+1) p(score[k]).
type testKernel struct {
	target []int32
	w, e   []float64
	score  []int32
	y      []float64
	noEnt  bool
}

func (k *testKernel) Entropy() bool { return !k.noEnt }

func (k *testKernel) Gather(r int, dst []int32) []int32 {
	if r%2 == 0 {
		return append(dst, k.target[r])
	}
	return append(dst, k.score...)
}

func (k *testKernel) Row(r int, st *Stats, c *Coef) float64 {
	if r%2 == 0 {
		gl, gH := -k.w[r], -k.e[r]
		if k.noEnt {
			gH = 0
		}
		c.Alpha = -gl + gH*st.PZShift
		c.Beta = -gH
		c.Add(st.Idx[0], gl)
		return -k.w[r]*st.LogP(0) - k.e[r]*st.Entropy()*b2f(!k.noEnt)
	}
	var e float64
	p := make([]float64, len(st.Idx))
	for i := range st.Idx {
		p[i] = math.Exp(st.LogP(i))
		e += float64(i+1) * p[i]
	}
	gE := 2 * (e - k.y[r])
	c.Alpha = -gE * e
	for i, id := range st.Idx {
		c.Add(id, gE*p[i]*float64(i+1))
	}
	return (e - k.y[r]) * (e - k.y[r])
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// refRow returns a row's log-softmax, softmax and entropy in float64,
// written on z - max(z) so that they hold at any magnitude (a -Inf logit has
// probability 0 and adds nothing to the entropy).
func refRow(row []float64) (logp, p []float64, h float64) {
	m := math.Inf(-1)
	for _, x := range row {
		m = math.Max(m, x)
	}
	var s float64
	for _, x := range row {
		s += math.Exp(x - m)
	}
	logS := math.Log(s)
	logp, p = make([]float64, len(row)), make([]float64, len(row))
	for j, x := range row {
		logp[j] = x - m - logS
		if p[j] = math.Exp(logp[j]); p[j] > 0 { // p log p -> 0
			h -= p[j] * logp[j]
		}
	}
	return logp, p, h
}

// lossRef is the same loss in float64 straight from the definitions.
func (k *testKernel) lossRef(z []float64, n, v int) float64 {
	var total float64
	for r := 0; r < n; r++ {
		logp, p, h := refRow(z[r*v : (r+1)*v])
		if r%2 == 0 {
			total += -k.w[r] * logp[k.target[r]]
			if !k.noEnt {
				total -= k.e[r] * h
			}
			continue
		}
		var e float64
		for i, id := range k.score {
			e += float64(i+1) * p[id]
		}
		total += (e - k.y[r]) * (e - k.y[r])
	}
	return total
}

// gradRef is dLoss/dz of lossRef in float64, written from the definitions
// (independent of the driver): token rows d(-w logp(t) - e H)/dz_j =
// -w([j=t] - p_j) + e p_j (log p_j + H) (= e p_j (z_j - sum_k p_k z_k));
// score rows 2(E - y) dE/dz_j with dE/dz_j = sum_i (i+1) p(s_i) ([j=s_i] - p_j).
func (k *testKernel) gradRef(z []float64, n, v int) []float64 {
	g := make([]float64, n*v)
	for r := 0; r < n; r++ {
		out := g[r*v : (r+1)*v]
		logp, p, h := refRow(z[r*v : (r+1)*v])
		if r%2 == 0 {
			e := k.e[r]
			if k.noEnt {
				e = 0
			}
			for j := range out {
				if p[j] > 0 {
					out[j] = k.w[r]*p[j] + e*p[j]*(logp[j]+h)
				}
			}
			out[k.target[r]] -= k.w[r]
			continue
		}
		var E float64
		for i, id := range k.score {
			E += float64(i+1) * p[id]
		}
		gE := 2 * (E - k.y[r])
		for j := range out {
			out[j] = -gE * E * p[j]
		}
		for i, id := range k.score {
			out[id] += gE * float64(i+1) * p[id]
		}
	}
	return g
}

func newTestKernel(r *rand.Rand, n, v int) *testKernel {
	k := &testKernel{target: make([]int32, n), w: make([]float64, n), e: make([]float64, n), y: make([]float64, n)}
	for i := 0; i < n; i++ {
		k.target[i] = int32(r.IntN(v))
		k.w[i] = r.NormFloat64()
		k.e[i] = r.NormFloat64() * 0.3
		k.y[i] = 1 + 4*r.Float64()
	}
	for i := 0; i < 5; i++ {
		k.score = append(k.score, int32(r.IntN(v)))
	}
	return k
}

func randLogits(r *rand.Rand, n int, scale float64) []float32 {
	z := make([]float32, n)
	for i := range z {
		z[i] = float32(r.NormFloat64() * scale)
	}
	return z
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// TestRunLogitsFiniteDifferences checks loss and every gradient entry against
// the float64 definition and its central finite differences, and the float64
// reference gradient (gradRef) against the same finite differences.
func TestRunLogitsFiniteDifferences(t *testing.T) {
	for _, noEnt := range []bool{false, true} {
		r := rand.New(rand.NewPCG(7, 8))
		n, v := 6, 41
		k := newTestKernel(r, n, v)
		k.noEnt = noEnt
		z := randLogits(r, n*v, 2)
		z64 := to64(z)
		g := append([]float32(nil), z...)
		loss, err := RunLogits(g, n, v, k, true)
		if err != nil {
			t.Fatal(err)
		}
		want := k.lossRef(z64, n, v)
		if !numtest.Close(t, fmt.Sprintf("entropy=%v: loss", !noEnt), loss, want, 1e-5, 1e-5) {
			t.FailNow()
		}
		lossNoGrad, err := RunLogits(append([]float32(nil), z...), n, v, k, false)
		if err != nil {
			t.Fatal(err)
		}
		if !numtest.Close(t, "loss without grad (against the loss with grad)", lossNoGrad, loss, 1e-9, 1e-9) {
			t.FailNow()
		}
		ref := k.gradRef(z64, n, v)
		const h = 1e-5
		for i := range z64 {
			old := z64[i]
			z64[i] = old + h
			lp := k.lossRef(z64, n, v)
			z64[i] = old - h
			lm := k.lossRef(z64, n, v)
			z64[i] = old
			fd := (lp - lm) / (2 * h)
			if !numtest.Within(g[i], fd, 2e-5, 2e-5) {
				t.Fatalf("entropy=%v: dz[%d,%d] = %g, finite difference %g", !noEnt, i/v, i%v, g[i], fd)
			}
			// The float64 reference gradient the other tests use.
			if !numtest.Within(ref[i], fd, 1e-6, 1e-6) {
				t.Fatalf("entropy=%v: gradRef[%d,%d] = %g, finite difference %g", !noEnt, i/v, i%v, ref[i], fd)
			}
		}
	}
}

// TestRunMatchesNaiveAndReference runs the chunked driver (with a last
// partial chunk), the tiled one and the naive one on every GEMM, and compares
// loss, dH and dW with float64 products of the float64 reference gradient
// (gradRef, checked against finite differences above): nothing on the
// reference side goes through the driver.
func TestRunMatchesNaiveAndReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n, d, v := 37, 24, 3001
	h := randLogits(r, n*d, 1)
	w := randLogits(r, v*d, 0.3)
	k := newTestKernel(r, n, v)
	// Reference: the logits in float64 (rounded to float32, as the kernels
	// see them up to GEMM rounding), their loss and gradient from the
	// definitions, then the backward products in float64.
	z := make([]float64, n*v)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			var s float64
			for p := 0; p < d; p++ {
				s += float64(h[i*d+p]) * float64(w[j*d+p])
			}
			z[i*v+j] = float64(float32(s))
		}
	}
	wantLoss := k.lossRef(z, n, v)
	gz := k.gradRef(z, n, v)
	wantDH := make([]float64, n*d)
	wantDW := make([]float64, v*d)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			g := gz[i*v+j]
			for p := 0; p < d; p++ {
				wantDH[i*d+p] += g * float64(w[j*d+p])
				wantDW[j*d+p] += g * float64(h[i*d+p])
			}
		}
	}
	impls := blas.Impls()
	for _, impl := range impls {
		for _, mode := range []string{"fused", "tiled", "naive"} {
			dw0 := randLogits(r, v*d, 1) // DW accumulates: start from something
			p := &Problem{N: n, D: d, V: v, H: h, W: w, DH: make([]float32, n*d), DW: append([]float32(nil), dw0...)}
			var loss float64
			var err error
			switch mode {
			case "fused":
				loss, err = Run(p, k, true, Options{Chunk: 8, Gemm: impl.Fn})
			case "tiled":
				loss, err = Run(p, k, true, Options{Schedule: VocabTiles, Tile: 700, Gemm: impl.Fn})
			default:
				loss, err = RunNaive(p, k, true, impl.Fn)
			}
			if err != nil {
				t.Fatal(err)
			}
			what := impl.Name + "/" + mode
			if !numtest.Close(t, what+": loss", loss, wantLoss, 1e-4, 1e-4) {
				t.FailNow()
			}
			if !numtest.AllClose(t, what+": dH", p.DH, wantDH, 1e-4, 1e-4) {
				t.FailNow()
			}
			wantDWTotal := make([]float64, len(wantDW))
			for i := range wantDW {
				wantDWTotal[i] = wantDW[i] + float64(dw0[i])
			}
			if !numtest.AllClose(t, what+": dW", p.DW, wantDWTotal, 1e-4, 1e-4) {
				t.FailNow()
			}
		}
	}
}

func TestBadInputErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	k := newTestKernel(r, 4, 10)
	k.target[2] = 10
	if _, err := RunLogits(randLogits(r, 40, 1), 4, 10, k, true); err == nil || !strings.Contains(err.Error(), "row 2 gathers token id 10") {
		t.Fatalf("out-of-range gather: got %v", err)
	}
	k.target[2] = 3
	z := randLogits(r, 40, 1)
	z[15] = float32(math.NaN())
	if _, err := RunLogits(z, 4, 10, k, true); err == nil || !strings.Contains(err.Error(), "row 1 has a non-finite logit") {
		t.Fatalf("NaN logit: got %v", err)
	}
	if _, err := Run(&Problem{N: 4, D: 3, V: 10, H: make([]float32, 11), W: make([]float32, 30)}, k, true, Options{}); err == nil || !strings.Contains(err.Error(), "H has 11 values") {
		t.Fatalf("short H: got %v", err)
	}
}
