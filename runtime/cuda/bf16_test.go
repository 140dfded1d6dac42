package cuda

import (
	"math"
	"testing"
)

func TestBF16(t *testing.T) {
	in := []float32{1, -2.5, 3.14159265, 1e-30, float32(math.Inf(1)), 1.00390625, 1.01171875}
	// 1.00390625 = 1 + 2^-8 is halfway between bf16 1 and 1+2^-7: ties to even (1).
	// 1.01171875 = 1 + 3*2^-8 is halfway between 1+2^-7 and 1+2^-6: ties to even (1+2^-6).
	want := []float32{1, -2.5, 3.140625, 9.984021e-31, float32(math.Inf(1)), 1, 1.015625}
	got := FromBF16(ToBF16(in))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bf16(%g) = %g, want %g", in[i], got[i], want[i])
		}
	}
	if n := FromBF16(ToBF16([]float32{float32(math.NaN())}))[0]; n == n {
		t.Error("NaN did not stay NaN")
	}
}
