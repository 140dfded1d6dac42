package fused

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

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
		c.Alpha = -gl + gH*st.PZ
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

// lossRef is the same loss in float64 straight from the definitions.
func (k *testKernel) lossRef(z []float64, n, v int) float64 {
	var total float64
	for r := 0; r < n; r++ {
		row := z[r*v : (r+1)*v]
		m := math.Inf(-1)
		for _, x := range row {
			m = math.Max(m, x)
		}
		var s float64
		for _, x := range row {
			s += math.Exp(x - m)
		}
		lse := m + math.Log(s)
		if r%2 == 0 {
			var h float64
			for _, x := range row {
				h -= math.Exp(x-lse) * (x - lse)
			}
			total += -k.w[r] * (row[k.target[r]] - lse)
			if !k.noEnt {
				total -= k.e[r] * h
			}
			continue
		}
		var e float64
		for i, id := range k.score {
			e += float64(i+1) * math.Exp(row[id]-lse)
		}
		total += (e - k.y[r]) * (e - k.y[r])
	}
	return total
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
// the float64 definition and its central finite differences.
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
		if math.Abs(loss-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("entropy=%v: loss %g, want %g", !noEnt, loss, want)
		}
		lossNoGrad, _ := RunLogits(append([]float32(nil), z...), n, v, k, false)
		if math.Abs(lossNoGrad-loss) > 1e-9*(1+math.Abs(loss)) {
			t.Fatalf("loss without grad %g differs from loss with grad %g", lossNoGrad, loss)
		}
		const h = 1e-5
		for i := range z64 {
			old := z64[i]
			z64[i] = old + h
			lp := k.lossRef(z64, n, v)
			z64[i] = old - h
			lm := k.lossRef(z64, n, v)
			z64[i] = old
			fd := (lp - lm) / (2 * h)
			if math.Abs(float64(g[i])-fd) > 2e-5*(1+math.Abs(fd)) {
				t.Fatalf("entropy=%v: dz[%d,%d] = %g, finite difference %g", !noEnt, i/v, i%v, g[i], fd)
			}
		}
	}
}

// TestRunMatchesNaiveAndReference runs the chunked driver (with a last
// partial chunk) and the naive one on both GEMMs, and compares loss, dH and
// dW with float64 products of the reference gradient.
func TestRunMatchesNaiveAndReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	n, d, v := 37, 24, 3001
	h := randLogits(r, n*d, 1)
	w := randLogits(r, v*d, 0.3)
	k := newTestKernel(r, n, v)
	// Reference: logits and their gradient in float64 via RunLogits on exact
	// float32 logits (checked against finite differences above), then products.
	z := make([]float32, n*v)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			var s float64
			for p := 0; p < d; p++ {
				s += float64(h[i*d+p]) * float64(w[j*d+p])
			}
			z[i*v+j] = float32(s)
		}
	}
	wantLoss := k.lossRef(to64(z), n, v)
	if _, err := RunLogits(z, n, v, k, true); err != nil {
		t.Fatal(err)
	}
	wantDH := make([]float64, n*d)
	wantDW := make([]float64, v*d)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			g := float64(z[i*v+j])
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
			if math.Abs(loss-wantLoss) > 1e-4*(1+math.Abs(wantLoss)) {
				t.Fatalf("%s/%s: loss %g, want %g", impl.Name, mode, loss, wantLoss)
			}
			for i, want := range wantDH {
				if math.Abs(float64(p.DH[i])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%s/%s: dH[%d] = %g, want %g", impl.Name, mode, i, p.DH[i], want)
				}
			}
			for i, want := range wantDW {
				want += float64(dw0[i])
				if math.Abs(float64(p.DW[i])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%s/%s: dW[%d] = %g, want %g", impl.Name, mode, i, p.DW[i], want)
				}
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
