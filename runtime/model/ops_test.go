package model

import (
	"math"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88.5; x += 0.001 {
		got := float64(exp32(float32(x)))
		want := math.Exp(float64(float32(x)))
		if rel := numtest.Diff(got, want) / want; !(rel <= worst) {
			worst = rel
		}
	}
	if numtest.Exceeds(worst, 3e-7) {
		t.Fatalf("exp32 relative error up to %g, want <= 3e-7", worst)
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) || exp32(0) != 1 {
		t.Fatalf("exp32 edge cases: exp32(-100)=%g exp32(100)=%g exp32(0)=%g", exp32(-100), exp32(100), exp32(0))
	}
}

// TestRMSNormAndRoPEByHand checks the two kernels on values worked out by hand.
func TestRMSNormAndRoPEByHand(t *testing.T) {
	x := []float32{3, 4}
	y := make([]float32, 2)
	inv := make([]float32, 1)
	rmsnorm(y, x, []float32{1, 2}, 2, 0, inv)
	// mean(x^2) = 12.5, 1/sqrt(12.5) = 0.28284271
	if !numtest.Within(y[0], 0.8485281, 1e-6, 0) || !numtest.Within(y[1], 2.2627417, 1e-6, 0) {
		t.Fatalf("rmsnorm = %v, want [0.8485281 2.2627417]", y)
	}
	// hd=4: pair (0,2) turns by pos*1, pair (1,3) by pos*theta^(-1/2) = pos/10 with theta 100.
	tab := newRopeTable([]int{2}, &Config{HeadDim: 4, RopeTheta: 100})
	v := []float32{1, 1, 0, 0}
	tab.apply(v, 1, false)
	want := []float64{math.Cos(2), math.Cos(0.2), math.Sin(2), math.Sin(0.2)}
	for i := range v {
		if !numtest.Within(v[i], want[i], 1e-6, 0) {
			t.Fatalf("rope = %v, want %v", v, want)
		}
	}
	tab.apply(v, 1, true)
	if !numtest.Within(v[0], 1.0, 1e-6, 0) || !numtest.Within(v[2], 0.0, 1e-6, 0) {
		t.Fatalf("inverse rope did not undo the rotation: %v", v)
	}
}
