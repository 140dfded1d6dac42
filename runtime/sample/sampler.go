package sample

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Params are the per-token sampling settings.
type Params struct {
	// Temperature divides the logits before softmax; 0 means greedy.
	Temperature float64
	// Greedy picks the most probable token (the lowest id among equal maxima),
	// whatever Temperature says.
	Greedy bool
	// TopK keeps only the K most probable tokens (0: no cut). Among equal
	// probabilities the lower token id ranks first.
	TopK int
	// TopP keeps the smallest set of most probable tokens whose mass is >= TopP
	// (0 or 1: no cut). The comparison allows a relative 1e-12 for rounding, so
	// that 0.4 + 0.3 counts as reaching 0.7.
	TopP float64
}

func (p Params) greedy() bool { return p.Greedy || p.Temperature == 0 }

func (p Params) check() error {
	switch {
	case math.IsNaN(p.Temperature) || p.Temperature < 0 || math.IsInf(p.Temperature, 0):
		return fmt.Errorf("sample: Temperature must be finite and >= 0 (0 for greedy), got %v", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("sample: TopK must be >= 0 (0: no top-k cut), got %d", p.TopK)
	case math.IsNaN(p.TopP) || p.TopP < 0 || p.TopP > 1:
		return fmt.Errorf("sample: TopP must be in [0, 1] (0 or 1: no nucleus cut), got %v", p.TopP)
	}
	return nil
}

// Pick is one sampled token with its log-probabilities (see the package comment).
type Pick struct {
	Token        int
	LogProb      float64 // under the sampling policy
	ModelLogProb float64 // under the model at temperature 1, nothing cut
}

// Sampler holds scratch buffers for sampling one token; reuse one per
// goroutine to avoid allocating per token. The zero value is ready.
type Sampler struct {
	w   []float64 // exp((l - max) / T) per token
	idx []int32   // candidate ids, partially ordered
}

// Sample draws one token from logits with settings p; u is a uniform number
// in [0, 1) (the caller's random stream: one draw per token, used or not).
func (s *Sampler) Sample(p Params, logits []float32, u float64) (Pick, error) {
	if err := p.check(); err != nil {
		return Pick{}, err
	}
	return s.sample(p, logits, u)
}

const topPSlack = 1e-12

func (s *Sampler) sample(p Params, logits []float32, u float64) (Pick, error) {
	V := len(logits)
	if V == 0 {
		return Pick{}, errors.New("empty logits")
	}
	mx, arg := float32(math.Inf(-1)), -1
	for i, l := range logits {
		if l != l || l > math.MaxFloat32 {
			return Pick{}, fmt.Errorf("logit %d is %v: the model produced a NaN or +Inf", i, l)
		}
		if l > mx {
			mx, arg = l, i
		}
	}
	if arg < 0 {
		return Pick{}, errors.New("every logit is -Inf: no token can be sampled")
	}
	m := float64(mx)
	if p.greedy() {
		return Pick{Token: arg, LogProb: 0, ModelLogProb: float64(logits[arg]) - m - math.Log(sumExp(logits, m))}, nil
	}

	invT := 1 / p.Temperature
	if cap(s.w) < V {
		s.w = make([]float64, V)
	}
	w := s.w[:V]
	var z float64
	for i, l := range logits {
		e := math.Exp((float64(l) - m) * invT)
		w[i] = e
		z += e
	}
	model := func(tok int) float64 {
		if p.Temperature == 1 {
			return float64(logits[tok]) - m - math.Log(z)
		}
		return float64(logits[tok]) - m - math.Log(sumExp(logits, m))
	}

	topK := p.TopK > 0 && p.TopK < V
	topP := p.TopP > 0 && p.TopP < 1
	if !topK && !topP {
		// Inverse CDF over the ids in order: no sorting needed.
		target := u * z
		var c float64
		tok := -1
		for i, e := range w {
			if e == 0 {
				continue
			}
			tok = i
			c += e
			if c > target {
				break
			}
		}
		return Pick{Token: tok, LogProb: math.Log(w[tok]) - math.Log(z), ModelLogProb: model(tok)}, nil
	}

	kept := s.keep(w, p, topK, topP)
	var zk float64
	for _, id := range kept {
		zk += w[id]
	}
	target := u * zk
	var c float64
	tok := int(kept[len(kept)-1])
	for _, id := range kept {
		c += w[id]
		if c > target {
			tok = int(id)
			break
		}
	}
	return Pick{Token: tok, LogProb: math.Log(w[tok]) - math.Log(zk), ModelLogProb: model(tok)}, nil
}

func sumExp(logits []float32, m float64) float64 {
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l) - m)
	}
	return z
}

// keep returns the kept set K, most probable first (ties: lower id first).
// It never sorts the whole vocabulary when it need not: the top-k set, or
// growing chunks of the most probable tokens for top-p, are moved to the
// front by quickselect and only they are sorted.
func (s *Sampler) keep(w []float64, p Params, topK, topP bool) []int32 {
	V := len(w)
	if cap(s.idx) < V {
		s.idx = make([]int32, V)
	}
	idx := s.idx[:V]
	// Tokens with zero weight (-Inf logits, or underflow) are never kept.
	n := 0
	for i, e := range w {
		if e > 0 {
			idx[n] = int32(i)
			n++
		}
	}
	idx = idx[:n]
	before := func(a, b int32) bool { // total order: weight descending, then id
		if w[a] != w[b] {
			return w[a] > w[b]
		}
		return a < b
	}
	cmp := func(a, b int32) int {
		if before(a, b) {
			return -1
		}
		if before(b, a) {
			return 1
		}
		return 0
	}
	sorted := 0 // idx[:sorted] is in final order
	if topK && p.TopK < len(idx) {
		selectTop(idx, p.TopK, before)
		idx = idx[:p.TopK]
		slices.SortFunc(idx, cmp)
		sorted = len(idx)
	}
	if !topP {
		if sorted < len(idx) { // top-k keeps every token of nonzero weight
			slices.SortFunc(idx, cmp)
		}
		return idx
	}
	var total float64
	for _, id := range idx {
		total += w[id]
	}
	threshold := p.TopP * total * (1 - topPSlack)
	var c float64
	chunk := 64
	for k := 0; ; k++ {
		if k == sorted { // sort the next chunk of most probable tokens
			hi := min(sorted+chunk, len(idx))
			if hi < len(idx) {
				selectTop(idx[sorted:], hi-sorted, before)
			}
			slices.SortFunc(idx[sorted:hi], cmp)
			sorted, chunk = hi, chunk*4
		}
		c += w[idx[k]]
		if c >= threshold || k == len(idx)-1 {
			return idx[:k+1]
		}
	}
}

// selectTop moves the k elements that come first in the order `before` to
// ids[:k] (in no particular order): quickselect, O(len) on average.
func selectTop(ids []int32, k int, before func(a, b int32) bool) {
	lo, hi := 0, len(ids)-1
	for lo < hi {
		// Median of three as the pivot.
		mid := lo + (hi-lo)/2
		if before(ids[mid], ids[lo]) {
			ids[mid], ids[lo] = ids[lo], ids[mid]
		}
		if before(ids[hi], ids[lo]) {
			ids[hi], ids[lo] = ids[lo], ids[hi]
		}
		if before(ids[hi], ids[mid]) {
			ids[hi], ids[mid] = ids[mid], ids[hi]
		}
		pivot := ids[mid]
		i, j := lo, hi
		for i <= j {
			for before(ids[i], pivot) {
				i++
			}
			for before(pivot, ids[j]) {
				j--
			}
			if i <= j {
				ids[i], ids[j] = ids[j], ids[i]
				i++
				j--
			}
		}
		// Now ids[lo..j] come before or equal the pivot, ids[i..hi] after or equal.
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}
