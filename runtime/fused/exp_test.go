package fused

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

func TestExp32RelativeError(t *testing.T) {
	const tol = 2e-7
	worst, at := 0.0, float32(0)
	check := func(x float32) {
		got := float64(Exp32(x))
		want := math.Exp(float64(x))
		if want < 2e-38 { // near float32 subnormals: Exp32 may flush to zero
			if !numtest.Within(got, want, 2e-38, 0) {
				t.Fatalf("Exp32(%g) = %g, want about %g", x, got, want)
			}
			return
		}
		rel := numtest.Diff(got, want) / want // +Inf for a NaN or an infinity
		if !(rel <= worst) {
			worst, at = rel, x
		}
	}
	for x := float32(-87.3); x <= 88.7; x += 0.0137 {
		check(x)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1_000_000; i++ {
		check(float32(r.Float64()*176 - 87.3))
		check(float32(r.Float64()*2 - 1)) // where softmax lives
	}
	if numtest.Exceeds(worst, tol) {
		t.Fatalf("max relative error %.3g at x=%g, want <= %g", worst, at, tol)
	}
	t.Logf("max relative error %.3g at x=%g", worst, at)
}

func TestExp32Edges(t *testing.T) {
	if Exp32(0) != 1 {
		t.Fatalf("Exp32(0) = %g", Exp32(0))
	}
	if Exp32(-100) != 0 || Exp32(float32(math.Inf(-1))) != 0 {
		t.Fatal("Exp32 of a very negative number must be 0")
	}
	if !math.IsInf(float64(Exp32(100)), 1) {
		t.Fatal("Exp32(100) must be +Inf")
	}
	if v := Exp32(float32(math.NaN())); v == v {
		t.Fatal("Exp32(NaN) must be NaN")
	}
}

var sink float32

func BenchmarkExp32(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	b.Run("Exp32", func(b *testing.B) {
		for b.Loop() {
			for _, v := range x {
				sink += Exp32(v)
			}
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for _, v := range x {
				sink += float32(math.Exp(float64(v)))
			}
		}
	})
}
