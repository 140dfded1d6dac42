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
	arg, err := Argmax(logits)
	if err != nil {
		return Pick{}, err
	}
	V := len(logits)
	m := float64(logits[arg])
	if p.greedy() {
		return Pick{Token: arg, LogProb: 0, ModelLogProb: float64(logits[arg]) - m - math.Log(sumExp(logits, m))}, nil
	}

	invT := 1 / p.Temperature
	if cap(s.w) < V {
		s.w = make([]float64, V)
	}
	w := s.w[:V]
	z := expWeights(w, logits, m, invT)
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
		tok := inverseCDF(w, u*z, z)
		return Pick{Token: tok, LogProb: (float64(logits[tok])-m)*invT - math.Log(z), ModelLogProb: model(tok)}, nil
	}

	kept, b := s.keep(w, p, topK, topP)
	tok, zk := s.draw(w, kept, b, u)
	return Pick{Token: tok, LogProb: (float64(logits[tok])-m)*invT - math.Log(zk), ModelLogProb: model(tok)}, nil
}

// inverseCDF is the token whose running sum of w, added in id order, first
// exceeds target (the last token of nonzero weight when none does); z is
// Σw. The running sum is a chain of dependent float64 additions (18-28 µs
// for a random target on a 32K row; 8.4-9.2 µs this way), so blocks of
// cdfBlock weights are summed in any order first (eight independent chains)
// and only the block where the sum crosses target is scanned in order, from
// the blocked prefix. Both prefixes lie within
// cdfSlack·z of the exact sum, so the token is the sequential scan's
// whenever the sums on either side of the crossing clear target by more
// than that; otherwise (about once in 10^11 draws) the scan reruns from the
// start.
func inverseCDF(w []float64, target, z float64) int {
	if tok, ok := blockedCDF(w, target, z); ok {
		return tok
	}
	return scanCDF(w, target)
}

// blockedCDF is inverseCDF's fast path; ok is false when the sums around
// the crossing are too close to target to tell which way the sequential
// scan rounds.
func blockedCDF(w []float64, target, z float64) (tok int, ok bool) {
	slack := cdfSlack(len(w)) * z
	var prefix float64 // the blocked sum of the blocks before b
	for b := 0; b < len(w); b += cdfBlock {
		blk := w[b:min(b+cdfBlock, len(w))]
		sum := blockSum(blk)
		if prefix+sum <= target+slack {
			prefix += sum
			continue
		}
		if prefix > target-slack {
			return -1, false // the crossing may lie in an earlier block
		}
		c := prefix
		for i, e := range blk {
			if e == 0 {
				continue
			}
			if c+e > target {
				return b + i, c <= target-slack && c+e > target+slack
			}
			c += e
		}
		return -1, false // the block's sum crossed but its scan did not
	}
	return -1, false
}

// cdfBlock is inverseCDF's block: long enough that the block sums run at
// the adds' throughput, short enough that scanning one in order is cheap.
const cdfBlock = 256

// cdfSlack bounds, relative to Σw, how far two sums of the same n
// nonnegative float64s in different orders may be apart: each lies within
// (n-1)·2^-53·Σw of the exact sum (Higham, Accuracy and Stability of
// Numerical Algorithms, 4.2), and the margin doubles that once more.
func cdfSlack(n int) float64 { return 4 * float64(n+1) * 0x1p-53 }

// blockSum is the sum of w in eight interleaved chains.
func blockSum(w []float64) float64 {
	var s [8]float64
	i := 0
	for ; i+8 <= len(w); i += 8 {
		v := w[i : i+8 : i+8]
		s[0] += v[0]
		s[1] += v[1]
		s[2] += v[2]
		s[3] += v[3]
		s[4] += v[4]
		s[5] += v[5]
		s[6] += v[6]
		s[7] += v[7]
	}
	for ; i < len(w); i++ {
		s[0] += w[i]
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

// scanCDF is inverseCDF's definition: the sequential scan.
func scanCDF(w []float64, target float64) int {
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
	return tok
}

// Argmax is the greedy choice over logits: the index of the first largest,
// sixteen at a time with AVX-512 (maxIndex: 3.5-4.9 µs on a 32K vocabulary
// where a scalar scan took 47-56 µs, 3% of a decoding step of the
// stories15M shape). It fails on empty logits, on a NaN or +Inf (naming
// the first), and when every logit is -Inf; Sample's checks are these.
func Argmax(logits []float32) (int, error) {
	if len(logits) == 0 {
		return -1, errors.New("empty logits")
	}
	_, i, err := maxIndex(logits)
	if err != nil {
		return -1, err
	}
	if i < 0 {
		return -1, errors.New("every logit is -Inf: no token can be chosen or sampled")
	}
	return i, nil
}

// maxIndex returns the largest logit and its first index (-1 when every
// logit is -Inf), or an error naming the first NaN or +Inf. With AVX-512
// sixteen at a time (a scalar scan costs as much as the exponentials).
func maxIndex(logits []float32) (float32, int, error) {
	if hasExpVec && len(logits) > 0 {
		if i := maxIndexAVX512(&logits[0], len(logits)); i >= 0 {
			if logits[i] < -math.MaxFloat32 {
				return logits[i], -1, nil
			}
			return logits[i], i, nil
		}
		// A NaN or +Inf: the scan below names the first.
	}
	mx, arg := float32(math.Inf(-1)), -1
	for i, l := range logits {
		if l != l || l > math.MaxFloat32 {
			return 0, -1, fmt.Errorf("logit %d is %v: the model produced a NaN or +Inf", i, l)
		}
		if l > mx {
			mx, arg = l, i
		}
	}
	return mx, arg, nil
}

func sumExp(logits []float32, m float64) float64 { return expWeights(nil, logits, m, 1) }

// before is the total order of tokens: weight descending, then id ascending.
// Top-k and top-p keep a prefix of it.
func before(w []float64, a, b int32) bool {
	wa, wb := w[a], w[b]
	return wa > wb || (wa == wb && a < b)
}

// sortLimit: a kept set of at most V/sortLimit tokens is sorted by id to
// sample from; a larger one is swept in id order over the whole vocabulary.
var sortLimit = 16

// keep finds the kept set K: it returns K's ids (in no particular order) and
// K's last token in the order `before` (every token up to it is kept). It never
// sorts the vocabulary: top-k uses a k-entry heap (or quickselect for large k),
// top-p a prefilter then a mass-weighted quickselect.
func (s *Sampler) keep(w []float64, p Params, topK, topP bool) ([]int32, int32) {
	V := len(w)
	if cap(s.idx) < V {
		s.idx = make([]int32, V)
	}
	var ids []int32
	setMass := 0.0
	if topK {
		ids = s.topK(w, p.TopK)
		for _, id := range ids {
			setMass += w[id]
		}
	}
	if topP {
		if !topK {
			// Tokens lighter than t0 = (1-p) Z / V weigh less than (1-p) Z in
			// all, so the nucleus lies within the tokens at or above t0.
			var z float64
			for _, e := range w {
				z += e
			}
			t0 := (1 - p.TopP) * z / float64(V)
			ids = s.idx[:0]
			for i, e := range w {
				if e >= t0 && e > 0 {
					ids = append(ids, int32(i))
				}
			}
			setMass = z
		}
		ids = ids[:selectMass(ids, w, p.TopP*setMass*(1-topPSlack))]
	}
	last := ids[0]
	for _, id := range ids[1:] {
		if before(w, last, id) {
			last = id
		}
	}
	return ids, last
}

// topK returns the k heaviest tokens of nonzero weight (ties: lower ids).
func (s *Sampler) topK(w []float64, k int) []int32 {
	if k > 4096 {
		ids := s.idx[:0]
		for i, e := range w {
			if e > 0 {
				ids = append(ids, int32(i))
			}
		}
		if k < len(ids) {
			selectCount(ids, w, k)
			ids = ids[:k]
		}
		return ids
	}
	// A min-heap (root: the lightest kept) of the best k seen so far. Ids come
	// in increasing order, so a later token displaces the root only when
	// strictly heavier: one comparison per token for most of the vocabulary.
	h := s.idx[:0]
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			c := l
			if r := l + 1; r < len(h) && before(w, h[l], h[r]) {
				c = r
			}
			if !before(w, h[i], h[c]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i, e := range w {
		if e == 0 {
			continue
		}
		if len(h) < k {
			h = append(h, int32(i))
			for c := len(h) - 1; c > 0; { // sift up
				p := (c - 1) / 2
				if !before(w, h[p], h[c]) {
					break
				}
				h[p], h[c] = h[c], h[p]
				c = p
			}
			continue
		}
		if e > w[h[0]] {
			h[0] = int32(i)
			down(0)
		}
	}
	return h
}

// partition moves the tokens of ids[lo:hi] that come before a pivot to its
// left and the rest to its right; it returns the pivot's position and the
// weight of the tokens left of it.
func partition(ids []int32, w []float64, lo, hi int) (int, float64) {
	mid := lo + (hi-lo)/2
	a, b, c := ids[lo], ids[mid], ids[hi-1]
	// Median of three as the pivot, moved to the end.
	pi := mid
	if before(w, a, b) != before(w, a, c) {
		pi = lo
	} else if before(w, c, a) != before(w, c, b) {
		pi = hi - 1
	}
	ids[pi], ids[hi-1] = ids[hi-1], ids[pi]
	pv := ids[hi-1]
	wp := w[pv]
	store := lo
	var mass float64
	for j := lo; j < hi-1; j++ {
		id := ids[j]
		if e := w[id]; e > wp || (e == wp && id < pv) {
			ids[store], ids[j] = id, ids[store]
			store++
			mass += e
		}
	}
	ids[store], ids[hi-1] = pv, ids[store]
	return store, mass
}

// selectCount moves the k first tokens in the order `before` to ids[:k].
func selectCount(ids []int32, w []float64, k int) {
	lo, hi := 0, len(ids)
	for hi-lo > 1 {
		pp, _ := partition(ids, w, lo, hi)
		switch {
		case pp == k-1 || pp == k:
			return
		case pp > k:
			hi = pp
		default:
			lo = pp + 1
		}
	}
}

// selectMass finds the shortest prefix, in the order `before`, of the tokens
// ids whose weight reaches thr; it moves that prefix to ids[:n] and returns n
// (all of ids if none reaches it, which only rounding can cause).
func selectMass(ids []int32, w []float64, thr float64) int {
	lo, hi := 0, len(ids)
	var acc float64 // weight of ids[:lo], all of which come first and are kept
	for hi-lo > 32 {
		pp, left := partition(ids, w, lo, hi)
		if acc+left >= thr {
			hi = pp
			continue
		}
		acc += left + w[ids[pp]]
		if acc >= thr {
			return pp + 1
		}
		lo = pp + 1
	}
	sub := ids[lo:hi]
	slices.SortFunc(sub, func(a, b int32) int {
		if before(w, a, b) {
			return -1
		}
		return 1
	})
	for k, id := range sub {
		acc += w[id]
		if acc >= thr {
			return lo + k + 1
		}
	}
	return hi
}

// draw samples from the kept set by inverse CDF over the kept tokens in id
// order; it returns the token and the kept mass Z_K (summed in id order).
func (s *Sampler) draw(w []float64, kept []int32, last int32, u float64) (int, float64) {
	if len(kept)*sortLimit <= len(w) {
		slices.Sort(kept)
		var zk float64
		for _, id := range kept {
			zk += w[id]
		}
		target, c := u*zk, 0.0
		for _, id := range kept {
			if c += w[id]; c > target {
				return int(id), zk
			}
		}
		return int(kept[len(kept)-1]), zk
	}
	wl := w[last]
	var zk float64
	for i, e := range w {
		if e > wl || (e == wl && int32(i) <= last) {
			zk += e
		}
	}
	target, c, tok := u*zk, 0.0, -1
	for i, e := range w {
		if e > wl || (e == wl && int32(i) <= last) {
			tok = i
			if c += e; c > target {
				break
			}
		}
	}
	return tok, zk
}
