package fused

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// TestRowPassesMatchGo checks the AVX2 passes against their Go forms (and
// math.Exp) on lengths around the vector width and block size.
func TestRowPassesMatchGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA on this CPU: only the Go forms run")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 7, 8, 9, 255, 256, 257, 1000, 151936} {
		z := make([]float32, n)
		for i := range z {
			z[i] = float32(r.NormFloat64() * 4)
		}
		z[r.IntN(n)] = 20 // the max somewhere in the middle
		m := rowMax(z)
		if want := rowMaxGo(z); m != want {
			t.Fatalf("n=%d: rowMax %g, Go %g", n, m, want)
		}
		var s64, sz64 float64
		for _, v := range z {
			e := math.Exp(float64(v - m))
			s64 += e
			sz64 += e * float64(v-m)
		}
		if s, sz := expSumZ(z, m); !numtest.Within(s, s64, 0, 1e-6) || !numtest.Within(sz, sz64, 1e-5*s64, 1e-5) {
			t.Fatalf("n=%d: expSumZ (%g, %g), want (%g, %g)", n, s, sz, s64, sz64)
		}
		if s := expSum(z, m, false); !numtest.Within(s, s64, 0, 1e-6) {
			t.Fatalf("n=%d: expSum %g, want %g", n, s, s64)
		}
		g := append([]float32(nil), z...)
		gradFromZ(g, m, 0.5, 0.25, -0.75)
		for i, v := range z {
			want := math.Exp(float64(v-m)) * 0.5 * (0.25 - 0.75*float64(v-m))
			if !numtest.Within(g[i], want, 1e-6, 1e-6) {
				t.Fatalf("n=%d: grad[%d] = %g, want %g", n, i, g[i], want)
			}
		}
		e := append([]float32(nil), z...)
		if s := expSum(e, m, true); !numtest.Within(s, s64, 0, 1e-6) {
			t.Fatalf("n=%d: expSum(store) %g, want %g", n, s, s64)
		}
		for i, v := range z {
			want := math.Exp(float64(v - m))
			if !numtest.Within(e[i], want, 1e-38, 2e-7) {
				t.Fatalf("n=%d: stored exp[%d] = %g, want %g", n, i, e[i], want)
			}
		}
		scale(e, 3)
		if want := 3 * math.Exp(float64(z[n-1]-m)); !numtest.Within(e[n-1], want, 0, 1e-6) {
			t.Fatalf("n=%d: scale last = %g, want %g", n, e[n-1], want)
		}
	}
}

// TestEpilogueSameWithoutAVX2 runs the row epilogue with and without the
// assembly and requires the same results up to float32 rounding.
func TestEpilogueSameWithoutAVX2(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA on this CPU")
	}
	r := rand.New(rand.NewPCG(13, 14))
	n, v := 8, 1003
	k := newTestKernel(r, n, v)
	z := randLogits(r, n*v, 3)
	run := func(avx bool) ([]float32, float64) {
		defer func(old bool) { useAVX2 = old }(useAVX2)
		useAVX2 = avx
		g := append([]float32(nil), z...)
		loss, err := RunLogits(g, n, v, k, true)
		if err != nil {
			t.Fatal(err)
		}
		return g, loss
	}
	ga, la := run(true)
	gg, lg := run(false)
	if !numtest.Close(t, "loss with AVX2 (against the Go form)", la, lg, 1e-6, 1e-6) {
		t.FailNow()
	}
	numtest.AllClose(t, "dz with AVX2 (against the Go form)", ga, gg, 1e-6, 0)
}
