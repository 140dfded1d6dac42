package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

// Values worked out by hand (see the comments).
func TestMetricsByHand(t *testing.T) {
	cases := []struct {
		name               string
		x, y               []float64
		p, s, k, rmse, mae float64
	}{
		// y = 2x: perfect agreement; errors x = 1..5, rmse = sqrt(55/5)
		{"linear", []float64{1, 2, 3, 4, 5}, []float64{2, 4, 6, 8, 10}, 1, 1, 1, math.Sqrt(11), 3},
		{"reversed", []float64{1, 2, 3}, []float64{3, 2, 1}, -1, -1, -1, math.Sqrt(8.0 / 3), 4.0 / 3},
		// Ties in x: ranks x = 1, 2.5, 2.5, 4. Pearson: sxy 3, sxx 2, syy 5 -> 3/sqrt(10).
		// Spearman: sxy 4.5, sxx 4.5, syy 5 -> 3/sqrt(10). Kendall: 5 concordant,
		// 0 discordant, 1 pair tied in x -> 5/sqrt(5*6).
		{"ties", []float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}, 3 / math.Sqrt(10), 3 / math.Sqrt(10), 5 / math.Sqrt(30), math.Sqrt(2.0 / 4), 0.5}, // errors 0, -1, 0, -1
		// Ties in both, one pair tied in both: x = 1,1,2,2, y = 1,1,1,2.
		// Pairs: (0,1) tied in both; (0,2),(1,2) x differ, y tied; (0,3),(1,3),(2,3)
		// concordant (the last: x tied -> not counted). n0=6, n1=2, n2=3, n3=1,
		// P-Q = 2 -> tau_b = 2/sqrt(4*3).
		{"ties2", []float64{1, 1, 2, 2}, []float64{1, 1, 1, 2}, 1 / math.Sqrt(3), 1 / math.Sqrt(3), 2 / math.Sqrt(12), math.Sqrt(0.25), 0.25},
	}
	for _, c := range cases {
		m, err := Compute(c.x, c.y)
		if err != nil {
			t.Fatal(err)
		}
		if !near(m.Pearson, c.p, 1e-12) || !near(m.Spearman, c.s, 1e-12) || !near(m.Kendall, c.k, 1e-12) ||
			!near(m.RMSE, c.rmse, 1e-12) || !near(m.MAE, c.mae, 1e-12) || m.N != len(c.x) || len(m.Warnings) != 0 {
			t.Errorf("%s: got %+v, want p %v s %v k %v rmse %v mae %v", c.name, m, c.p, c.s, c.k, c.rmse, c.mae)
		}
	}
}

func TestConstantGivesNaNAndWarning(t *testing.T) {
	m, err := Compute([]float64{3, 3, 3}, []float64{1, 2, 3}) // errors 2, 1, 0
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m.Pearson) || !math.IsNaN(m.Spearman) || !math.IsNaN(m.Kendall) || len(m.Warnings) != 1 ||
		!strings.Contains(m.Warnings[0], "pred is constant") || !near(m.RMSE, math.Sqrt(5.0/3), 1e-12) || !near(m.MAE, 1, 1e-12) {
		t.Errorf("%+v", m)
	}
	m, _ = Compute([]float64{1, 2}, []float64{4, 4})
	if !math.IsNaN(m.Kendall) || len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "gold is constant") {
		t.Errorf("%+v", m)
	}
	m, _ = Compute([]float64{1}, []float64{4})
	if !math.IsNaN(m.Pearson) || m.RMSE != 3 || len(m.Warnings) != 1 {
		t.Errorf("%+v", m)
	}
	m, _ = Compute(nil, nil)
	if !math.IsNaN(m.Pearson) || !math.IsNaN(m.RMSE) || m.N != 0 {
		t.Errorf("%+v", m)
	}
	if _, err := Compute([]float64{1, math.NaN()}, []float64{1, 2}); err == nil || !strings.Contains(err.Error(), "pred[1] is NaN") {
		t.Errorf("NaN input: %v", err)
	}
	if _, err := Compute([]float64{1}, []float64{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
}

// Independent O(n^2) definitions, straight from the textbook formulas.
func naiveKendallB(x, y []float64) float64 {
	var c, d, tx, ty float64
	n := len(x)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			sx, sy := math.Copysign(1, x[i]-x[j]), math.Copysign(1, y[i]-y[j])
			switch {
			case x[i] == x[j] && y[i] == y[j]:
			case x[i] == x[j]:
				tx++
			case y[i] == y[j]:
				ty++
			case sx == sy:
				c++
			default:
				d++
			}
		}
	}
	return (c - d) / math.Sqrt((c+d+tx)*(c+d+ty))
}

func naiveRanks(x []float64) []float64 {
	r := make([]float64, len(x))
	for i := range x {
		less, eq := 0.0, 0.0
		for j := range x {
			if x[j] < x[i] {
				less++
			} else if x[j] == x[i] {
				eq++
			}
		}
		r[i] = less + (eq+1)/2
	}
	return r
}

func naivePearson(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, syy, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		syy += y[i] * y[i]
		sxy += x[i] * y[i]
	}
	return (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
}

func TestMetricsAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 2 + rng.IntN(300)
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			// gold in thirds like the mean of 3 GPT-4 scores (many ties);
			// predictions sometimes coarse (ties), sometimes continuous
			y[i] = 1 + float64(rng.IntN(13))/3
			if trial%2 == 0 {
				x[i] = float64(1 + rng.IntN(5))
			} else {
				x[i] = y[i] + rng.NormFloat64()
			}
		}
		if isConstant(x) || isConstant(y) {
			continue
		}
		if got, want := KendallTauB(x, y), naiveKendallB(x, y); !near(got, want, 1e-12) {
			t.Errorf("trial %d n %d: kendall %v, naive %v", trial, n, got, want)
		}
		if got, want := Spearman(x, y), naivePearson(naiveRanks(x), naiveRanks(y)); !near(got, want, 1e-9) {
			t.Errorf("trial %d: spearman %v, naive %v", trial, got, want)
		}
		if got, want := Pearson(x, y), naivePearson(x, y); !near(got, want, 1e-9) {
			t.Errorf("trial %d: pearson %v, naive %v", trial, got, want)
		}
		r := Ranks(x)
		for i, v := range naiveRanks(x) {
			if r[i] != v {
				t.Fatalf("trial %d: rank[%d] %v, naive %v", trial, i, r[i], v)
			}
		}
	}
}

func TestNanMean(t *testing.T) {
	if got := NanMean([]float64{1, math.NaN(), 4}); got != 2.5 {
		t.Errorf("got %v", got)
	}
	if got := NanMean([]float64{math.NaN()}); !math.IsNaN(got) {
		t.Errorf("got %v", got)
	}
}

func BenchmarkKendall(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	x, y := make([]float64, 2000), make([]float64, 2000)
	for i := range x {
		y[i] = 1 + float64(rng.IntN(13))/3
		x[i] = y[i] + rng.NormFloat64()
	}
	b.Run("knight", func(b *testing.B) {
		for b.Loop() {
			KendallTauB(x, y)
		}
	})
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			naiveKendallB(x, y)
		}
	})
}
