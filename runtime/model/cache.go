package model

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/blas"
)

// KVCache is one sequence's keys and values (after RoPE), per layer,
// [Len, KVDim] row-major. Positions are 0..Len-1.
type KVCache struct {
	k, v  [][]float32
	own   []bool // k[l] and v[l] are arrays this cache allocated and no clone reads: recycled when dropped
	n     int
	owner *Model
}

// NewKVCache returns an empty cache for m.
func (m *Model) NewKVCache() *KVCache {
	L := m.Cfg.Layers
	return &KVCache{k: make([][]float32, L), v: make([][]float32, L), own: make([]bool, L), owner: m}
}

// Release gives the cache's memory back to its model, for later caches to
// reuse (fresh memory costs page faults: a rollout's caches are tens of
// MB). The cache must not be used afterwards. Arrays that clones may read
// (the prefix a cache had when it was cloned) are left to the collector
// instead. sample.Generate releases its caches when it returns.
func (c *KVCache) Release() {
	for l := range c.k {
		if c.own[l] {
			c.owner.sc.put(c.k[l][:cap(c.k[l])], c.v[l][:cap(c.v[l])])
		}
		c.k[l], c.v[l], c.own[l] = nil, nil, false
	}
	c.n = 0
}

// Len is the number of cached tokens.
func (c *KVCache) Len() int { return c.n }

// CloneKV returns a copy that can grow independently. It shares the stored
// prefix read-only (the capacity is clipped, so the first append of either
// copy reallocates), which makes cloning one prompt's cache n times cheap.
func (c *KVCache) CloneKV() *KVCache {
	d := &KVCache{k: make([][]float32, len(c.k)), v: make([][]float32, len(c.v)), own: make([]bool, len(c.k)), n: c.n, owner: c.owner}
	for i := range c.k {
		d.k[i] = c.k[i][:len(c.k[i]):len(c.k[i])]
		d.v[i] = c.v[i][:len(c.v[i]):len(c.v[i])]
		c.own[i] = false // the clone reads these arrays: never recycle them
	}
	return d
}

// Step appends toks[i] to caches[i] for every i in one batched pass and
// returns, for each i, the logits after its last new token (length Vocab).
// A sequence with no new tokens gets nil.
func (m *Model) Step(caches []*KVCache, toks [][]int) ([][]float32, error) {
	return m.StepInto(nil, caches, toks)
}

// StepInto is Step writing the logits into dst when it holds them all (one
// row of Vocab per sequence with new tokens, in order; else it allocates):
// a decoding loop that passes the same buffer every step allocates nothing
// for them. The returned rows are views of dst.
func (m *Model) StepInto(dst []float32, caches []*KVCache, toks [][]int) ([][]float32, error) {
	c := &m.Cfg
	if len(caches) != len(toks) {
		return nil, fmt.Errorf("step: %d caches but %d token lists", len(caches), len(toks))
	}
	d, hd, qd, kvd, hid := c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	// Rows: every new token of every sequence.
	start := make([]int, len(toks)+1)
	for i, ts := range toks {
		if caches[i] == nil || caches[i].owner != m {
			return nil, fmt.Errorf("step: cache %d is nil or was made by another model's NewKVCache", i)
		}
		for j, t := range ts {
			if t < 0 || t >= c.Vocab {
				return nil, fmt.Errorf("step: sequence %d token %d: id %d is outside the vocabulary [0, %d)", i, j, t, c.Vocab)
			}
		}
		start[i+1] = start[i] + len(ts)
	}
	if len(caches) > 1 {
		seen := make(map[*KVCache]int, len(caches))
		for i, kc := range caches {
			if j, dup := seen[kc]; dup {
				return nil, fmt.Errorf("step: caches %d and %d are the same cache (clone it for a second sequence)", j, i)
			}
			seen[kc] = i
		}
	}
	n := start[len(toks)]
	if n == 0 {
		return make([][]float32, len(toks)), nil
	}
	pos := make([]int, 0, n)
	for i, ts := range toks {
		for j := range ts {
			pos = append(pos, caches[i].n+j)
		}
	}
	rope := newRopeTable(pos, c)
	// Activations from the model's scratch, all overwritten before read.
	ar := arena{sc: m.sc}
	defer ar.release()
	x := ar.get(n * d)
	r := 0
	for _, ts := range toks {
		for _, t := range ts {
			copy(x[r*d:r*d+d], m.Embed[t*d:t*d+d])
			r++
		}
	}
	xn := ar.get(n * d)
	q := ar.get(n * qd)
	k := ar.get(n * kvd)
	v := ar.get(n * kvd)
	attn := ar.get(n * qd)
	gate := ar.get(n * hid)
	up := ar.get(n * hid)
	for li := range m.Layers {
		w := &m.Layers[li]
		rmsnorm(xn, x, w.AttnNorm, d, c.NormEps, nil)
		m.linearMulti([][]float32{q, k, v}, xn, [][]float32{w.Wq, w.Wk, w.Wv}, n, d, []int{qd, kvd, kvd})
		if c.QKNorm {
			rmsnorm(q, q, w.QNorm, hd, c.NormEps, nil)
			rmsnorm(k, k, w.KNorm, hd, c.NormEps, nil)
		}
		rope.apply(q, c.Heads, false)
		rope.apply(k, c.KVHeads, false)
		for i := range toks {
			caches[i].append(li, k[start[i]*kvd:start[i+1]*kvd], v[start[i]*kvd:start[i+1]*kvd], kvd, c.MaxPos)
		}
		m.attentionCached(caches, toks, start, li, q, attn)
		linear(x, attn, w.Wo, n, qd, d, 1)
		rmsnorm(xn, x, w.FFNNorm, d, c.NormEps, nil)
		m.linearMulti([][]float32{gate, up}, xn, [][]float32{w.Gate, w.Up}, n, d, []int{hid, hid})
		swiglu(gate, gate, up)
		linear(x, gate, w.Down, n, hid, d, 1)
	}
	for i, ts := range toks {
		caches[i].n += len(ts)
	}
	// The head only for each sequence's last new token.
	var last []int
	for i, ts := range toks {
		if len(ts) > 0 {
			last = append(last, start[i+1]-1)
		}
	}
	h := ar.get(len(last) * d)
	for j, r := range last {
		copy(h[j*d:j*d+d], x[r*d:r*d+d])
	}
	rmsnorm(h, h, m.FinalNorm, d, c.NormEps, nil)
	logits := dst
	if len(logits) < len(last)*c.Vocab {
		logits = make([]float32, len(last)*c.Vocab)
	}
	linear(logits, h, m.Head, len(last), d, c.Vocab, 0)
	out := make([][]float32, len(toks))
	j := 0
	for i, ts := range toks {
		if len(ts) > 0 {
			out[i] = logits[j*c.Vocab : (j+1)*c.Vocab : (j+1)*c.Vocab]
			j++
		}
	}
	return out, nil
}

// Reserve makes room for tokens positions in every layer at once (the
// prompt plus the most a generation may add), so that decoding appends
// without moving the cache: growing by doubling copied every cache of a
// rollout at 64 and 128 tokens and took fresh memory there, steps several
// times slower than the others. The room is rounded up as append rounds it
// (a power of two of at least 64 rows, at most the model's max positions), so
// that released caches serve later ones. It implements sample.Reserver.
func (c *KVCache) Reserve(tokens int) {
	kvd, maxPos := c.owner.Cfg.KVDim(), c.owner.Cfg.MaxPos
	for l := range c.k {
		if tokens*kvd > cap(c.k[l]) {
			c.grow(l, tokens*kvd, kvd, maxPos)
		}
	}
}

// grow moves layer l's keys and values to arrays of the model's scratch with
// room for at least need floats (see append for the rounding).
func (c *KVCache) grow(l, need, kvd, maxPos int) {
	rows := 64
	for rows*kvd < max(need, 2*cap(c.k[l])) {
		rows *= 2
	}
	if maxPos > 0 && need <= maxPos*kvd {
		rows = min(rows, maxPos)
	}
	sc := c.owner.sc
	nk, nv := sc.get(rows * kvd)[:len(c.k[l])], sc.get(rows * kvd)[:len(c.v[l])]
	copy(nk, c.k[l])
	copy(nv, c.v[l])
	if c.own[l] {
		sc.put(c.k[l][:cap(c.k[l])], c.v[l][:cap(c.v[l])])
	}
	c.k[l], c.v[l], c.own[l] = nk, nv, true
}

// append adds rows of keys and values (width kvd) to layer l. When they do
// not fit, both arrays move to new ones from the model's scratch with room
// for twice as many rows, rounded up to a power of two (at least 64 rows, at
// most maxPos rows when the model has one and the cache fits): append's own
// growth (a quarter for large slices) copied every cache of a rollout
// several times over, and power-of-two sizes let released caches serve new
// ones.
func (c *KVCache) append(l int, k, v []float32, kvd, maxPos int) {
	if need := len(c.k[l]) + len(k); need > cap(c.k[l]) {
		c.grow(l, need, kvd, maxPos)
	}
	c.k[l] = append(c.k[l], k...)
	c.v[l] = append(c.v[l], v...)
}

// attentionCached attends each new row of sequence i over caches[i] (which
// already holds the new keys), writing attn [rows, QD].
func (m *Model) attentionCached(caches []*KVCache, toks [][]int, start []int, li int, q, attn []float32) {
	c := &m.Cfg
	hd, qd, kvd := c.HeadDim, c.QDim(), c.KVDim()
	group := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	type task struct{ seq, kh int }
	var tasks []task
	work, biggest := 0, 0
	// A decoding step of several sequences (one new token each) makes one
	// task per sequence, which attends head after head over that sequence's
	// cache: each worker streams whole rows of its own sequences' keys and
	// values instead of both interleaving heads of the same rows (about 6%
	// of an 8-sequence step at position 128). With fewer sequences than
	// that, the heads are the tasks, so that both workers have some.
	perSeq := len(toks) >= 4
	for _, ts := range toks {
		perSeq = perSeq && len(ts) <= 1
	}
	for i, ts := range toks {
		if len(ts) == 0 {
			continue
		}
		L := len(caches[i].k[li]) / kvd
		work += len(ts) * L * hd * c.Heads
		biggest = max(biggest, max(len(ts), group)*L*hd)
		if perSeq {
			tasks = append(tasks, task{i, -1}) // kh -1: every head
			continue
		}
		for kh := 0; kh < c.KVHeads; kh++ {
			tasks = append(tasks, task{i, kh})
		}
	}
	plan := headTasks(len(tasks), work, biggest)
	gemm := plan.gemm
	nw := 1
	if plan.parallel {
		nw = workers()
	}
	scratch := make([][]float32, nw)
	// attend attends sequence i's new rows for KV head kh on worker wk.
	attend := func(wk, i, kh int) {
		nq := len(toks[i])
		kc := caches[i].k[li]
		vc := caches[i].v[li]
		L := len(kc) / kvd
		base := L - nq // position of the first new token
		need := group * nq * L
		if cap(scratch[wk]) < need {
			scratch[wk] = make([]float32, need)
		}
		s := scratch[wk][:need]
		row0 := start[i]
		kk, vv := kc[kh*hd:], vc[kh*hd:]
		if nq == 1 {
			// One new token: the group's query heads are contiguous, so one
			// [group, hd] x [hd, L] product serves them all.
			lo, _ := m.keySpan(L-1, 0)
			qg := q[row0*qd+kh*group*hd : row0*qd+(kh+1)*group*hd]
			out := attn[row0*qd+kh*group*hd : row0*qd+(kh+1)*group*hd]
			attendOne(gemm, qg, kk, vv, s, out, group, hd, kvd, lo, L, scale)
			return
		}
		for h := kh * group; h < (kh+1)*group; h++ {
			gemm(causal(blas.TriLowerC, base, 0), false, true, nq, L, hd, scale, q[row0*qd+h*hd:], qd, kk, kvd, 0, s, L)
			for j := 0; j < nq; j++ {
				row := s[j*L : j*L+L]
				lo, hi := m.keySpan(base+j, 0)
				clear(row[:lo])
				softmaxRow(row[lo:hi])
				clear(row[hi:])
			}
			gemm(causal(blas.TriLowerA, base, 0), false, false, nq, hd, L, 1, s, L, vv, kvd, 0, attn[row0*qd+h*hd:], qd)
		}
	}
	parallelFor(len(tasks), plan.parallel, func(wk int, ti int) {
		i, kh := tasks[ti].seq, tasks[ti].kh
		if kh >= 0 {
			attend(wk, i, kh)
			return
		}
		for kh := 0; kh < c.KVHeads; kh++ {
			attend(wk, i, kh)
		}
	})
}

// attendOne is decoding attention for one new token and one KV head: the
// group query heads in qg ([group, hd]) attend over cached positions [lo, L)
// of kk and vv (rows of stride kvd), using s ([group, L]) for the
// probabilities, and write out ([group, hd]). The scores are Sgemm's
// few-row path (each query head against the cached keys, sixteen at a time)
// and so is the weighted sum of values; the softmax is blas.ExpShift.
func attendOne(gemm blas.TriFunc, qg, kk, vv, s, out []float32, group, hd, kvd, lo, L int, scale float32) {
	n := L - lo
	gemm(blas.Triangle{}, false, true, group, n, hd, scale, qg, hd, kk[lo*kvd:], kvd, 0, s[lo:], L)
	for g := 0; g < group; g++ {
		row := s[g*L : g*L+L]
		clear(row[:lo])
		softmaxRow(row[lo:])
	}
	gemm(blas.Triangle{}, false, false, group, hd, n, 1, s[lo:], L, vv[lo*kvd:], kvd, 0, out, hd)
}
