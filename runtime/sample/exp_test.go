package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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

// TestExpWeights checks the vector exponentials (AVX-512 where the CPU has
// it, else expNeg) against math.Exp within 2 ulp, stored and summed, for
// every remainder of eight and the special cases.
func TestExpWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	for _, n := range []int{1, 7, 8, 9, 100, 1001} {
		for _, c := range []struct{ m, invT float64 }{{0, 1}, {3.5, 1}, {2, 1 / 0.7}, {-1, 3}} {
			l := make([]float32, n)
			for i := range l {
				switch i % 4 {
				case 0:
					l[i] = float32(c.m - r.Float64()*700/c.invT)
				case 1:
					l[i] = float32(c.m - r.Float64()*5)
				case 2:
					l[i] = float32(math.Inf(-1))
				default:
					l[i] = float32(c.m - r.Float64()*800/c.invT)
				}
			}
			l[0] = float32(c.m)
			w := make([]float64, n+1)
			w[n] = 42
			z := expWeights(w, l, c.m, c.invT)
			if w[n] != 42 {
				t.Fatal("wrote past the logits")
			}
			var want float64
			for i, v := range l {
				x := (float64(v) - c.m) * c.invT
				e := math.Exp(x)
				want += e
				if e == 0 {
					if w[i] != 0 && w[i] > 1e-320 {
						t.Fatalf("exp(%v) = %v, want 0", x, w[i])
					}
					continue
				}
				if rel := numtest.Diff(w[i], e) / e; numtest.Exceeds(rel, 4.5e-16) && !(e < 1e-300 && math.Abs(w[i]-e) <= 1e-320) {
					t.Fatalf("exp(%v) = %v, math.Exp = %v, relative error %.3g", x, w[i], e, rel)
				}
			}
			if numtest.Exceeds(math.Abs(z-want)/want, 1e-14) {
				t.Fatalf("n=%d: sum %v, want %v", n, z, want)
			}
			if z2 := expWeights(nil, l, c.m, c.invT); z2 != z {
				t.Fatalf("sum without storing %v, with %v", z2, z)
			}
		}
	}
}

// TestMaxIndex: the vector scan finds what a scalar scan finds (the first
// largest logit; -1 for all -Inf; the first NaN or +Inf named in the
// error) at every length around the sixteen-lane blocks, with ties, signed
// zeros and -Inf.
func TestMaxIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	ninf, inf, nan := float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN())
	want := func(l []float32) (float32, int, string) {
		mx, arg := ninf, -1
		for i, v := range l {
			if v != v || v > math.MaxFloat32 {
				return 0, -1, fmt.Sprintf("logit %d is %v", i, v)
			}
			if v > mx {
				mx, arg = v, i
			}
		}
		return mx, arg, ""
	}
	for n := 1; n <= 70; n++ {
		for trial := 0; trial < 40; trial++ {
			l := make([]float32, n)
			for i := range l {
				switch r.IntN(8) {
				case 0:
					l[i] = ninf
				case 1:
					l[i] = float32(r.IntN(3)) // ties
				case 2:
					l[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
				default:
					l[i] = float32(r.NormFloat64())
				}
			}
			switch trial % 10 {
			case 0:
				for i := range l {
					l[i] = ninf
				}
			case 1:
				l[r.IntN(n)] = nan
			case 2:
				l[r.IntN(n)] = inf
			case 3:
				l[r.IntN(n)], l[r.IntN(n)] = nan, inf
			}
			wmx, warg, werr := want(l)
			mx, arg, err := maxIndex(l)
			if werr != "" {
				if err == nil || !strings.Contains(err.Error(), werr) {
					t.Fatalf("n=%d %v: err %v, want %q", n, l, err, werr)
				}
				continue
			}
			if err != nil || arg != warg || (arg >= 0 && math.Float32bits(mx) != math.Float32bits(wmx)) {
				t.Fatalf("n=%d %v: got %v at %d (%v), want %v at %d", n, l, mx, arg, err, wmx, warg)
			}
		}
	}
}

// TestArgmax checks the greedy choice against a scalar scan (first index of
// the largest, ties included) and its errors.
func TestArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 15, 16, 17, 33, 32000} {
		l := make([]float32, n)
		for i := range l {
			l[i] = float32(r.IntN(5)) // many ties
		}
		want := 0
		for i, v := range l {
			if v > l[want] {
				want = i
			}
		}
		if got, err := Argmax(l); err != nil || got != want {
			t.Fatalf("n=%d: got %d (%v), want %d", n, got, err, want)
		}
	}
	ninf := float32(math.Inf(-1))
	for _, c := range []struct {
		l    []float32
		want string
	}{
		{nil, "empty logits"},
		{[]float32{ninf, ninf}, "every logit is -Inf"},
		{[]float32{0, float32(math.NaN()), 1}, "logit 1 is NaN"},
		{[]float32{0, 1, float32(math.Inf(1))}, "logit 2 is +Inf"},
	} {
		if _, err := Argmax(c.l); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.l, err, c.want)
		}
	}
}
