package sample

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

func TestExpNeg(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	xs := []float64{0, -1e-300, -1e-17, -math.Ln2, -1, -0.5, -699.9, -700, -700.1, -745, -746, math.Inf(-1)}
	for i := 0; i < 300000; i++ {
		switch i % 3 {
		case 0:
			xs = append(xs, -r.Float64()*700)
		case 1:
			xs = append(xs, -r.Float64()*5)
		default:
			xs = append(xs, -math.Ldexp(r.Float64(), -r.IntN(60)))
		}
	}
	worst := 0.0
	for _, x := range xs {
		got, want := expNeg(x), math.Exp(x)
		if want == 0 {
			if got != 0 {
				t.Fatalf("expNeg(%v) = %v, want 0", x, got)
			}
			continue
		}
		rel := numtest.Diff(got, want) / want // +Inf for a NaN or an infinity
		worst = math.Max(worst, rel)
		if numtest.Exceeds(rel, 4.5e-16) { // 2 ulp
			t.Fatalf("expNeg(%v) = %v, math.Exp = %v, relative error %.3g", x, got, want, rel)
		}
	}
	t.Logf("worst relative error against math.Exp: %.3g", worst)
	if !math.IsNaN(expNeg(math.NaN())) {
		t.Error("expNeg(NaN) is not NaN")
	}
}
