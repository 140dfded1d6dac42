package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVectorKernels checks the elementwise kernels (AVX-512 where the CPU
// has it, and the Go fallbacks) against float64 arithmetic, for lengths
// around the 16 lanes.
func TestVectorKernels(t *testing.T) {
	saved := vecAVX512
	defer func() { vecAVX512 = saved }()
	for _, v := range []bool{saved, false} {
		vecAVX512 = v
		t.Run(map[bool]string{true: "avx512", false: "go"}[v], testVectorKernels)
	}
}

func testVectorKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	near := func(what string, got float32, want float64, scale float64) {
		t.Helper()
		if d := math.Abs(float64(got) - want); !(d <= 2e-6*(scale+math.Abs(want))) {
			t.Fatalf("%s = %g, want %g", what, got, want)
		}
	}
	for _, n := range []int{1, 15, 16, 17, 64, 100} {
		x, w, dy := randSlice(r, n), randSlice(r, n), randSlice(r, n)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		if got := SumSq(x); math.Abs(got-ss) > 1e-12*ss {
			t.Fatalf("SumSq = %g, want %g", got, ss)
		}
		s := float32(0.7)
		y := make([]float32, n+1)
		ScaleMul(y[:n], x, w, s)
		if y[n] != 0 {
			t.Fatal("ScaleMul wrote past n")
		}
		for i := range x {
			near("ScaleMul", y[i], float64(w[i])*float64(x[i])*float64(s), 0)
		}
		dx, dw := randSlice(r, n+1), randSlice(r, n+1)
		dx0, dw0 := append([]float32(nil), dx...), append([]float32(nil), dw...)
		RMSNormBackRow(dx[:n], dw[:n], dy, x, w, s)
		if dx[n] != dx0[n] || dw[n] != dw0[n] {
			t.Fatal("RMSNormBackRow wrote past n")
		}
		var dot float64
		for i := range x {
			dot += float64(w[i]) * float64(dy[i]) * float64(x[i])
		}
		sd := float64(s)
		c := dot * sd * sd * sd / float64(n)
		for i := range x {
			near("RMSNormBackRow dw", dw[i], float64(dw0[i])+float64(dy[i])*float64(x[i])*sd, 1)
			near("RMSNormBackRow dx", dx[i], float64(dx0[i])+sd*float64(w[i])*float64(dy[i])-c*float64(x[i]), 1+math.Abs(dot))
		}
		// ExpShift and SwiGLU against the Go exponential.
		e := append([]float32(nil), x...)
		sum := ExpShift(e, 0.5)
		var want float64
		for i, v := range x {
			ev := math.Exp(float64(v) - 0.5)
			want += ev
			near("ExpShift", e[i], ev, 0)
		}
		near("ExpShift sum", sum, want, 0)
		act, dg, du := make([]float32, n), make([]float32, n), make([]float32, n)
		SwiGLU(act, x, w)
		SwiGLUBack(dg, du, dy, x, w)
		for i := range x {
			g, u, da := float64(x[i]), float64(w[i]), float64(dy[i])
			sg := 1 / (1 + math.Exp(-g))
			near("SwiGLU", act[i], g*sg*u, 0)
			near("SwiGLUBack dup", du[i], da*g*sg, 0)
			near("SwiGLUBack dgate", dg[i], da*u*sg*(1+g*(1-sg)), math.Abs(da*u*sg)*(1+math.Abs(g)))
		}
		// Max, Scale and SoftmaxBackRow; every element past n is a
		// sentinel that must survive.
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, float64(v))
		}
		if got := Max(append(x[:n:n], 1e30)[:n]); float64(got) != mx {
			t.Fatalf("Max = %g, want %g", got, mx)
		}
		sc := append(append([]float32(nil), x...), 9)
		Scale(sc[:n], 0.25)
		if sc[n] != 9 {
			t.Fatal("Scale wrote past n")
		}
		for i := range x {
			near("Scale", sc[i], float64(x[i])*0.25, 0)
		}
		p := append([]float32(nil), e...)
		Scale(p, 1/sum) // a softmax row
		d := append(append([]float32(nil), dy...), 9)
		SoftmaxBackRow(p, d[:n], 0.125)
		if d[n] != 9 {
			t.Fatal("SoftmaxBackRow wrote past n")
		}
		var pd float64
		for i := range p {
			pd += float64(p[i]) * float64(dy[i])
		}
		for i := range p {
			near("SoftmaxBackRow", d[i], float64(p[i])*(float64(dy[i])-pd)*0.125, float64(p[i])*(1+math.Abs(pd)))
		}
	}
	// RopeRow against the rotation in float64, forward and inverse, for
	// half widths around the 16 lanes; the float past the heads survives.
	for _, half := range []int{1, 15, 16, 17, 32, 40} {
		for _, heads := range []int{1, 3} {
			cs, sn := make([]float32, half), make([]float32, half)
			for i := range cs {
				a := r.Float64() * 2 * math.Pi
				cs[i], sn[i] = float32(math.Cos(a)), float32(math.Sin(a))
			}
			for _, inverse := range []bool{false, true} {
				x := randSlice(r, heads*2*half+1)
				x0 := append([]float32(nil), x...)
				RopeRow(x[:heads*2*half], cs, sn, inverse)
				if x[len(x)-1] != x0[len(x)-1] {
					t.Fatal("RopeRow wrote past its heads")
				}
				for h := 0; h < heads; h++ {
					for i := 0; i < half; i++ {
						c, s := float64(cs[i]), float64(sn[i])
						if inverse {
							s = -s
						}
						a, b := float64(x0[h*2*half+i]), float64(x0[h*2*half+half+i])
						near("RopeRow a", x[h*2*half+i], a*c-b*s, math.Abs(a)+math.Abs(b))
						near("RopeRow b", x[h*2*half+half+i], b*c+a*s, math.Abs(a)+math.Abs(b))
					}
				}
			}
		}
	}
	// Max skips NaNs as the scalar loop does, and is -Inf without a number.
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		x    []float32
		want float32
	}{
		{nil, -inf},
		{[]float32{nan}, -inf},
		{[]float32{-inf, nan, -inf}, -inf},
		{[]float32{nan, 2, nan, 3, 1}, 3},
		{append(make([]float32, 20), nan, 5, inf), inf},
		{append(append(make([]float32, 31), -1), nan), 0},
	} {
		if got := Max(c.x); got != c.want {
			t.Fatalf("Max(%v) = %g, want %g", c.x, got, c.want)
		}
	}
}
