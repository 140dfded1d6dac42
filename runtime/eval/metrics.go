// Package eval judges a judge: it parses the score out of a judge's output,
// computes the RAIL expected score from the score-slot distribution, and
// correlates predictions with ground truth (Pearson, Spearman, Kendall tau-b,
// RMSE, MAE) the way REAL and TRACT report them; a harness runs a model over
// benchmark files and writes the table, JSON, Markdown and scatter plots.
// See ../shared/spec/objectives.md sections 3 and 5.
package eval

import (
	"fmt"
	"math"
	"sort"
)

// Metrics are the agreement statistics between predictions and gold scores.
// Correlations are plain values in [-1, 1] (the table prints them x100, as
// REAL does). An undefined correlation (a constant vector, fewer than two
// items) is NaN, with a warning saying why.
type Metrics struct {
	N        int
	Pearson  float64
	Spearman float64
	Kendall  float64 // tau-b
	RMSE     float64
	MAE      float64
	Warnings []string
}

// Compute computes all metrics over paired, finite pred and gold. Length
// mismatches and non-finite values are errors naming the index.
func Compute(pred, gold []float64) (Metrics, error) {
	if len(pred) != len(gold) {
		return Metrics{}, fmt.Errorf("pred has %d values but gold has %d", len(pred), len(gold))
	}
	for i := range pred {
		if math.IsNaN(pred[i]) || math.IsInf(pred[i], 0) {
			return Metrics{}, fmt.Errorf("pred[%d] is %v; drop or fill unparsed items first", i, pred[i])
		}
		if math.IsNaN(gold[i]) || math.IsInf(gold[i], 0) {
			return Metrics{}, fmt.Errorf("gold[%d] is %v", i, gold[i])
		}
	}
	m := Metrics{N: len(pred), RMSE: RMSE(pred, gold), MAE: MAE(pred, gold)}
	switch {
	case len(pred) < 2:
		m.Pearson, m.Spearman, m.Kendall = math.NaN(), math.NaN(), math.NaN()
		m.Warnings = append(m.Warnings, fmt.Sprintf("%d item(s): correlations need at least 2", len(pred)))
		return m, nil
	case isConstant(pred):
		m.Warnings = append(m.Warnings, fmt.Sprintf("pred is constant (%v): correlations are undefined (NaN)", pred[0]))
	case isConstant(gold):
		m.Warnings = append(m.Warnings, fmt.Sprintf("gold is constant (%v): correlations are undefined (NaN)", gold[0]))
	}
	m.Pearson = Pearson(pred, gold)
	m.Spearman = Spearman(pred, gold)
	m.Kendall = KendallTauB(pred, gold)
	return m, nil
}

func isConstant(x []float64) bool {
	for _, v := range x[1:] {
		if v != x[0] {
			return false
		}
	}
	return true
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// Pearson is the sample correlation coefficient (scipy.stats.pearsonr); NaN
// when either vector is constant or shorter than 2.
func Pearson(x, y []float64) float64 {
	if len(x) < 2 || len(x) != len(y) || isConstant(x) || isConstant(y) {
		return math.NaN()
	}
	mx, my := mean(x), mean(y)
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	r := sxy / math.Sqrt(sxx*syy)
	return math.Max(-1, math.Min(1, r)) // rounding can step past 1
}

// Ranks returns 1-based ranks with ties given their average rank
// (scipy.stats.rankdata, method "average").
func Ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Spearman is the Pearson correlation of the average ranks.
func Spearman(x, y []float64) float64 {
	if len(x) < 2 || len(x) != len(y) {
		return math.NaN()
	}
	return Pearson(Ranks(x), Ranks(y))
}

// KendallTauB is Kendall's tau-b (scipy.stats.kendalltau's default), in
// O(n log n) by Knight's algorithm: sort by (x, y), count the ties, then count
// the discordant pairs as the swaps of a merge sort on y.
//
//	tau_b = (n0 - n1 - n2 + n3 - 2*swaps) / sqrt((n0 - n1) (n0 - n2))
//
// with n0 = n(n-1)/2, n1 pairs tied in x, n2 tied in y, n3 tied in both.
func KendallTauB(x, y []float64) float64 {
	n := len(x)
	if n < 2 || n != len(y) {
		return math.NaN()
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		if x[idx[a]] != x[idx[b]] {
			return x[idx[a]] < x[idx[b]]
		}
		return y[idx[a]] < y[idx[b]]
	})
	pairs := func(t int64) int64 { return t * (t - 1) / 2 }
	var n1, n3 int64
	for i := 0; i < n; {
		j, k := i, i // j: end of the x tie; k: end of the (x, y) tie within it
		for j+1 < n && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		n1 += pairs(int64(j - i + 1))
		for s := i; s <= j; s = k + 1 {
			k = s
			for k+1 <= j && y[idx[k+1]] == y[idx[s]] {
				k++
			}
			n3 += pairs(int64(k - s + 1))
		}
		i = j + 1
	}
	ys := make([]float64, n)
	for i, id := range idx {
		ys[i] = y[id]
	}
	swaps := mergeCount(ys, make([]float64, n))
	var n2 int64
	for i := 0; i < n; {
		j := i
		for j+1 < n && ys[j+1] == ys[i] {
			j++
		}
		n2 += pairs(int64(j - i + 1))
		i = j + 1
	}
	n0 := pairs(int64(n))
	den := math.Sqrt(float64(n0-n1) * float64(n0-n2))
	if den == 0 {
		return math.NaN()
	}
	return float64(n0-n1-n2+n3-2*swaps) / den
}

// mergeCount sorts a ascending and returns the number of inversions (pairs
// i < j with a[i] > a[j]; equal values are not inversions).
func mergeCount(a, tmp []float64) int64 {
	if len(a) < 2 {
		return 0
	}
	m := len(a) / 2
	c := mergeCount(a[:m], tmp[:m]) + mergeCount(a[m:], tmp[m:])
	i, j, k := 0, m, 0
	for i < m && j < len(a) {
		if a[j] < a[i] {
			tmp[k] = a[j]
			c += int64(m - i)
			j++
		} else {
			tmp[k] = a[i]
			i++
		}
		k++
	}
	k += copy(tmp[k:], a[i:m])
	copy(tmp[k:], a[j:])
	copy(a, tmp[:len(a)])
	return c
}

// RMSE is the root mean squared error; NaN for empty input.
func RMSE(pred, gold []float64) float64 {
	if len(pred) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i := range pred {
		d := pred[i] - gold[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(pred)))
}

// MAE is the mean absolute error; NaN for empty input.
func MAE(pred, gold []float64) float64 {
	if len(pred) == 0 {
		return math.NaN()
	}
	s := 0.0
	for i := range pred {
		s += math.Abs(pred[i] - gold[i])
	}
	return s / float64(len(pred))
}

// NanMean averages the non-NaN values (numpy.nanmean); NaN when there are none.
func NanMean(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}
