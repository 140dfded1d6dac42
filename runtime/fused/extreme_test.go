package fused

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// Numerics at large and extreme logits. Log-softmax is invariant under a
// shift of a row's logits by a constant; a row epilogue that forgets to
// subtract the row's max overflows exp at logits near +89 (float32) and
// underflows the sum to zero below about -104, so these tests feed rows
// shifted by up to 1e4 in both directions, rows with huge spreads, and rows
// holding the extremes of float32, and require the float64 reference's
// answer (or, where there is no finite answer, an error).

// eps32 is float32's unit roundoff.
const eps32 = 1.0 / (1 << 24)

// shifts are the constants added to every logit. The logits of the tests
// are multiples of 2^-8 below 16 in magnitude, so that z + c is exact in
// float32 for |c| <= 1e4 (spacing 2^-10 below 16384): the shifted rows are
// exactly the unshifted ones plus c, and every difference from the
// unshifted answer is the kernel's own.
var shifts = []float64{0, 100, -100, 1000, -1000, 1e4, -1e4}

// gridLogits returns n logits, normal with the given scale, rounded to
// multiples of 2^-8 and clipped to (-16, 16).
func gridLogits(r *rand.Rand, n int, scale float64) []float32 {
	z := make([]float32, n)
	for i := range z {
		x := math.Round(r.NormFloat64()*scale*256) / 256
		z[i] = float32(math.Max(-15.99, math.Min(15.99, x)))
	}
	return z
}

// shiftTol is the tolerance of a quantity of size `scale` computed from
// logits of magnitude |c|: float32 rounding of values of size |c| (the
// entropy's sum p_j z_j and its coefficients alpha + beta z_j are formed on
// the shifted logits) plus the epilogue's tolerance at c = 0.
func shiftTol(c, scale float64) float64 { return 1e-5*scale + 4*eps32*math.Abs(c)*scale }

func shifted(z []float32, c float64) []float32 {
	out := make([]float32, len(z))
	for i, x := range z {
		out[i] = x + float32(c)
		if float64(out[i]) != float64(x)+c {
			panic(fmt.Sprintf("%g + %g is not exact in float32", x, c))
		}
	}
	return out
}

// TestEpilogueShiftInvariance: RunLogits on logits + c gives the loss and
// gradient of the unshifted logits (from the float64 reference), finite,
// for c up to 1e4 in both directions, with and without entropy, with the
// AVX2 passes and with the Go forms.
func TestEpilogueShiftInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	n, v := 6, 1003 // blocks of 256, a tail of 3 after the 8-wide vectors
	z := gridLogits(r, n*v, 3)
	z64 := to64(z)
	for _, avx := range []bool{true, false} {
		if avx && !useAVX2 {
			continue
		}
		for _, noEnt := range []bool{false, true} {
			k := newTestKernel(rand.New(rand.NewPCG(23, 24)), n, v)
			k.noEnt = noEnt
			wantLoss, wantG := k.lossRef(z64, n, v), k.gradRef(z64, n, v)
			gScale := numtest.MaxAbs(wantG)
			for _, c := range shifts {
				what := fmt.Sprintf("avx2=%v entropy=%v shift %g", avx, !noEnt, c)
				func() {
					defer func(old bool) { useAVX2 = old }(useAVX2)
					useAVX2 = avx
					g := shifted(z, c)
					loss, err := RunLogits(g, n, v, k, true)
					if err != nil {
						t.Errorf("%s: %v", what, err)
						return
					}
					numtest.Close(t, what+": loss", loss, wantLoss, shiftTol(c, math.Max(1, math.Abs(wantLoss))), 0)
					numtest.AllClose(t, what+": dz", g, wantG, shiftTol(c, gScale), 0)
					lossNoGrad, err := RunLogits(shifted(z, c), n, v, k, false)
					if err != nil {
						t.Errorf("%s: without grad: %v", what, err)
						return
					}
					numtest.Close(t, what+": loss without grad", lossNoGrad, loss, 1e-9, 1e-9)
				}()
			}
		}
	}
}

// shiftProblem lays logits z (n rows of v) plus c out as a GEMM whose
// product is exact: H row i is the unit vector e_i with c in a last column,
// W row j holds z[0..n-1, j] and a 1, so H W^T = z + c with no rounding.
func shiftProblem(z []float32, n, v int, c float64) *Problem {
	d := n + 1
	h := make([]float32, n*d)
	w := make([]float32, v*d)
	for i := 0; i < n; i++ {
		h[i*d+i] = 1
		h[i*d+n] = float32(c)
		for j := 0; j < v; j++ {
			w[j*d+i] = z[i*v+j]
		}
	}
	for j := 0; j < v; j++ {
		w[j*d+n] = 1
	}
	return &Problem{N: n, D: d, V: v, H: h, W: w, DH: make([]float32, n*d), DW: make([]float32, v*d)}
}

// schedules are the driver's entry points on a Problem.
var schedules = []struct {
	name string
	run  func(p *Problem, k Kernel) (float64, error)
}{
	{"row chunks", func(p *Problem, k Kernel) (float64, error) { return Run(p, k, true, Options{Chunk: 4}) }},
	{"vocabulary tiles", func(p *Problem, k Kernel) (float64, error) {
		return Run(p, k, true, Options{Schedule: VocabTiles, Tile: 300})
	}},
	{"naive", func(p *Problem, k Kernel) (float64, error) { return RunNaive(p, k, true, nil) }},
}

// TestRunShiftInvariance: both fused schedules and the naive one on hidden
// states whose logits are z + c (exact, see shiftProblem) give the loss and
// the gradients dH, dW of z, from the float64 reference.
func TestRunShiftInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	n, v := 10, 997
	z := gridLogits(r, n*v, 3)
	z64 := to64(z)
	for _, noEnt := range []bool{false, true} {
		k := newTestKernel(rand.New(rand.NewPCG(27, 28)), n, v)
		k.noEnt = noEnt
		wantLoss, gz := k.lossRef(z64, n, v), k.gradRef(z64, n, v)
		for _, c := range shifts {
			p := shiftProblem(z, n, v, c)
			d := p.D
			// dH = G W, dW = G^T H in float64 with the exact W and H.
			wantDH := make([]float64, n*d)
			wantDW := make([]float64, v*d)
			for i := 0; i < n; i++ {
				for j := 0; j < v; j++ {
					g := gz[i*v+j]
					for q := 0; q < d; q++ {
						wantDH[i*d+q] += g * float64(p.W[j*d+q])
						wantDW[j*d+q] += g * float64(p.H[i*d+q])
					}
				}
			}
			for _, s := range schedules {
				what := fmt.Sprintf("%s entropy=%v shift %g", s.name, !noEnt, c)
				p := shiftProblem(z, n, v, c)
				loss, err := s.run(p, k)
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				numtest.Close(t, what+": loss", loss, wantLoss, shiftTol(c, math.Max(1, math.Abs(wantLoss))), 0)
				numtest.AllClose(t, what+": dH", p.DH, wantDH, shiftTol(c, numtest.MaxAbs(wantDH)), 0)
				numtest.AllClose(t, what+": dW", p.DW, wantDW, shiftTol(c, math.Max(1, numtest.MaxAbs(wantDW))), 0)
			}
		}
	}
}

// extremeRows are rows of logits at the edges of float32. want says what an
// epilogue must do with them: "finite" (the float64 reference's loss and
// gradient, all finite) or "error" (no finite answer exists: a row whose
// every logit is -Inf, or a +Inf logit).
func extremeRows(r *rand.Rand, v int) []struct {
	name string
	z    []float32
	want string
	gemm bool // expressible as hidden states times a head (finite logits)
} {
	maxF := float32(math.MaxFloat32)
	inf := float32(math.Inf(1))
	row := func(f func(j int) float32) []float32 {
		z := make([]float32, v)
		for j := range z {
			z[j] = f(j)
		}
		return z
	}
	base := gridLogits(r, v, 2)
	with := func(set map[int]float32) []float32 {
		z := append([]float32(nil), base...)
		for j, x := range set {
			z[j] = x
		}
		return z
	}
	type c = struct {
		name string
		z    []float32
		want string
		gemm bool
	}
	return []c{
		{"very peaked (spread 1e4)", with(map[int]float32{3: 5000, 11: -5000}), "finite", true},
		{"huge spread (normal, scale 60)", row(func(int) float32 { return float32(r.NormFloat64() * 60) }), "finite", true},
		{"flat at 0", row(func(int) float32 { return 0 }), "finite", true},
		{"flat at 1e4", row(func(int) float32 { return 1e4 }), "finite", true},
		{"flat at -1e4", row(func(int) float32 { return -1e4 }), "finite", true},
		// Not through a GEMM: dH = dz W overflows float32 with such W.
		{"one logit at +MaxFloat32", with(map[int]float32{5: maxF}), "finite", false},
		{"one logit at -MaxFloat32", with(map[int]float32{5: -maxF}), "finite", false},
		{"+MaxFloat32 and -MaxFloat32", with(map[int]float32{5: maxF, 9: -maxF}), "finite", false},
		{"two logits at +MaxFloat32", with(map[int]float32{5: maxF, 9: maxF}), "finite", false},
		{"some logits -Inf (masked vocabulary)", with(map[int]float32{0: -inf, 2: -inf, 100: -inf}), "finite", false},
		{"every logit -Inf", row(func(int) float32 { return -inf }), "error", false},
		{"one logit +Inf", with(map[int]float32{7: inf}), "error", false},
		{"one logit NaN", with(map[int]float32{7: float32(math.NaN())}), "error", false},
	}
}

// TestEpilogueExtremeValues: every row kind of extremeRows, as a token row
// (target, entropy) and as a score row, gives the float64 reference's finite
// loss and gradient, or an error where no finite answer exists: never a
// silent NaN or infinity. Cases whose logits a GEMM can produce also run
// through the three schedules (loss against the reference, finite dH and
// dW). The targets and score tokens avoid the -Inf entries (the recipes
// gather only live tokens).
func TestEpilogueExtremeValues(t *testing.T) {
	const v = 1003
	r := rand.New(rand.NewPCG(31, 32))
	for _, ex := range extremeRows(r, v) {
		for _, noEnt := range []bool{false, true} {
			what := fmt.Sprintf("%s, entropy=%v", ex.name, !noEnt)
			checkExtreme(t, what, ex.z, ex.want, ex.gemm, noEnt)
		}
	}
}

func checkExtreme(t testing.TB, what string, row []float32, want string, gemm, noEnt bool) {
	t.Helper()
	v := len(row)
	// Rows 0 and 1: the extreme row as a token row and as a score row.
	n := 2
	k := newTestKernel(rand.New(rand.NewPCG(33, 34)), n, v)
	k.noEnt = noEnt
	k.target[0] = 5 // the +-MaxFloat32 logit, where there is one
	k.score = []int32{1, 5, 7, 9, 200}
	z := append(append([]float32(nil), row...), row...)
	z64 := to64(z)
	g := append([]float32(nil), z...)
	loss, err := RunLogits(g, n, v, k, true)
	if want == "error" {
		if err == nil {
			t.Errorf("%s: no error; loss %g", what, loss)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	wantLoss, wantG := k.lossRef(z64, n, v), k.gradRef(z64, n, v)
	if !numtest.AllFinite(t, what+": float64 reference loss", []float64{wantLoss}) || !numtest.AllFinite(t, what+": float64 reference gradient", wantG) {
		return
	}
	// float32 rounding at the largest logit (see shiftTol). A logit at the
	// float32 maximum is not rounding noise: it takes all the probability
	// (or none), and the answer is that of the other logits, as accurate
	// as theirs.
	mag := 16.0
	for _, x := range row {
		if a := math.Abs(float64(x)); a < 1e30 {
			mag = math.Max(mag, a)
		}
	}
	numtest.Close(t, what+": loss", loss, wantLoss, shiftTol(mag, math.Max(1, math.Abs(wantLoss))), 0)
	numtest.AllClose(t, what+": dz", g, wantG, shiftTol(mag, math.Max(1, numtest.MaxAbs(wantG))), 0)
	if !gemm {
		return
	}
	for _, s := range schedules {
		p := shiftProblem(z, n, v, 0)
		loss, err := s.run(p, k)
		if err != nil {
			t.Errorf("%s, %s: %v", what, s.name, err)
			continue
		}
		numtest.Close(t, what+", "+s.name+": loss", loss, wantLoss, shiftTol(mag, math.Max(1, math.Abs(wantLoss))), 0)
		numtest.AllFinite(t, what+", "+s.name+": dH", p.DH)
		numtest.AllFinite(t, what+", "+s.name+": dW", p.DW)
	}
}

// TestNonFiniteInputIsAnError plants a NaN, +Inf or -Inf in the hidden
// states or in the LM head and requires every schedule to return an error,
// and to leave no NaN or infinity in the accumulated dW: a poisoned input
// must stop the step, not flow silently into a parameter update.
func TestNonFiniteInputIsAnError(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	n, d, v := 13, 6, 301
	h := randLogits(r, n*d, 1)
	w := randLogits(r, v*d, 0.5)
	k := newTestKernel(r, n, v)
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, where := range []string{"H", "W"} {
			for _, s := range schedules {
				what := fmt.Sprintf("%v in %s, %s", bad, where, s.name)
				p := &Problem{N: n, D: d, V: v, H: append([]float32(nil), h...), W: append([]float32(nil), w...),
					DH: make([]float32, n*d), DW: make([]float32, v*d)}
				if where == "H" {
					p.H[9*d+2] = float32(bad) // row 9: after the first chunks
				} else {
					p.W[250*d+4] = float32(bad)
				}
				loss, err := s.run(p, k)
				if err == nil {
					t.Errorf("%s: no error (loss %g)", what, loss)
				}
				numtest.AllFinite(t, what+": dW", p.DW)
			}
		}
	}
}
