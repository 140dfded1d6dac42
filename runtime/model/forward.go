package model

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/blas"
)

// Batch is B sequences of T tokens each (padded), flattened row-major.
type Batch struct {
	B, T   int
	Tokens []int // [B*T]
	// Pos holds the position id of each token (e.g. cumsum(mask)-1 for left
	// padding); nil means 0..T-1 in every row.
	Pos []int
	// Mask marks real tokens (true) and padding (false); nil means no padding.
	// A token attends to the real tokens at or before its own index (and within
	// the sliding window, if any); padding rows attend to nothing.
	Mask []bool
}

func (b *Batch) check(vocab int) error {
	n := b.B * b.T
	switch {
	case b.B <= 0 || b.T <= 0:
		return fmt.Errorf("batch: B=%d and T=%d must be positive", b.B, b.T)
	case len(b.Tokens) != n:
		return fmt.Errorf("batch: %d tokens, want B*T=%d", len(b.Tokens), n)
	case b.Pos != nil && len(b.Pos) != n:
		return fmt.Errorf("batch: %d position ids, want B*T=%d", len(b.Pos), n)
	case b.Mask != nil && len(b.Mask) != n:
		return fmt.Errorf("batch: mask of %d, want B*T=%d", len(b.Mask), n)
	}
	for i, t := range b.Tokens {
		if t < 0 || t >= vocab {
			if b.Mask != nil && !b.Mask[i] {
				continue // padding ids are never looked up
			}
			return fmt.Errorf("batch: token %d at row %d, column %d is outside the vocabulary [0, %d)", t, i/b.T, i%b.T, vocab)
		}
	}
	for i, p := range b.Pos {
		if p < 0 {
			return fmt.Errorf("batch: negative position id %d at row %d, column %d", p, i/b.T, i%b.T)
		}
	}
	return nil
}

// layerActs are the activations of one block that the backward needs.
type layerActs struct {
	x        []float32 // block input [N, D]
	xn1      []float32 // attention RMSNorm output [N, D]
	inv1     []float32 // its inverse RMS [N]
	qRaw     []float32 // q projection before q_norm (Qwen3) [N, QD]
	kRaw     []float32 // [N, KVD]
	qInv     []float32 // per-head inverse RMS of q [N*Heads]
	kInv     []float32 // [N*KVHeads]
	q, k, v  []float32 // after RoPE: the attention inputs
	lse      []float32 // log-sum-exp of each attention row [B, Heads, T] (+Inf: no visible key)
	attn     []float32 // attention output before o_proj [N, QD]
	h        []float32 // residual after attention [N, D]
	xn2      []float32 // FFN RMSNorm output [N, D]
	inv2     []float32
	gate, up []float32 // [N, H]
	act      []float32 // silu(gate)*up [N, H]
}

// Pass holds one forward pass over a batch, for Logits and Backward.
type Pass struct {
	batch  Batch
	n      int
	rope   ropeTable
	layers []layerActs
	xF     []float32 // input of the final norm [N, D]
	invF   []float32
	hidden []float32 // final normed hidden state [N, D]
	ar     arena     // every activation buffer above, from the model's scratch
}

// Hidden is the final normed hidden state [B*T, D], the LM head's input.
func (p *Pass) Hidden() []float32 { return p.hidden }

// Release gives the pass's activation buffers back to the model, which
// reuses them in later passes instead of allocating (a training step's
// activations are tens of MB, and fresh memory costs page faults and
// clearing). Neither the pass nor any slice from it (Hidden) may be used
// afterwards. Releasing is optional: an unreleased pass is collected as
// garbage.
func (p *Pass) Release() {
	if p == nil {
		return
	}
	p.ar.release()
	p.layers = nil
	p.xF, p.invF, p.hidden = nil, nil, nil
}

// Forward runs the transformer trunk over a batch and keeps what Backward needs.
func (m *Model) Forward(b *Batch) (*Pass, error) {
	c := &m.Cfg
	if err := b.check(c.Vocab); err != nil {
		return nil, err
	}
	n := b.B * b.T
	d, hd := c.Dim, c.HeadDim
	qd, kvd, hid := c.QDim(), c.KVDim(), c.Hidden
	pos := b.Pos
	if pos == nil {
		pos = make([]int, n)
		for i := range pos {
			pos[i] = i % b.T
		}
	}
	p := &Pass{batch: *b, n: n, rope: newRopeTable(pos, c), layers: make([]layerActs, c.Layers), ar: arena{sc: m.sc}}
	p.batch.Pos = pos
	// Every buffer below is overwritten whole before it is read, except x
	// (padding rows stay zero).
	ar := &p.ar
	x := ar.zeros(n * d)
	if err := m.beforeForward(PartEmbed, 0); err != nil {
		p.Release()
		return nil, err
	}
	for i, t := range b.Tokens {
		if b.Mask != nil && !b.Mask[i] {
			continue // padding rows start from zero
		}
		copy(x[i*d:i*d+d], m.Embed[t*d:t*d+d])
	}
	for li := range m.Layers {
		if err := m.beforeForward(PartLayer, li); err != nil {
			p.Release()
			return nil, err
		}
		w := &m.Layers[li]
		a := &p.layers[li]
		a.x = x
		a.xn1 = ar.get(n * d)
		a.inv1 = ar.get(n)
		rmsnorm(a.xn1, x, w.AttnNorm, d, c.NormEps, a.inv1)
		q := ar.get(n * qd)
		k := ar.get(n * kvd)
		a.v = ar.get(n * kvd)
		m.linearMulti([][]float32{q, k, a.v}, a.xn1, [][]float32{w.Wq, w.Wk, w.Wv}, n, d, []int{qd, kvd, kvd})
		if c.QKNorm {
			a.qRaw, a.kRaw = q, k
			a.qInv, a.kInv = ar.get(n*c.Heads), ar.get(n*c.KVHeads)
			q, k = ar.get(n*qd), ar.get(n*kvd)
			rmsnorm(q, a.qRaw, w.QNorm, hd, c.NormEps, a.qInv)
			rmsnorm(k, a.kRaw, w.KNorm, hd, c.NormEps, a.kInv)
		}
		p.rope.apply(q, c.Heads, false)
		p.rope.apply(k, c.KVHeads, false)
		a.q, a.k = q, k
		a.lse = ar.get(b.B * c.Heads * b.T)
		a.attn = ar.get(n * qd)
		m.attentionForward(p, a)
		a.h = ar.get(n * d)
		copy(a.h, x)
		linear(a.h, a.attn, w.Wo, n, qd, d, 1)
		a.xn2 = ar.get(n * d)
		a.inv2 = ar.get(n)
		rmsnorm(a.xn2, a.h, w.FFNNorm, d, c.NormEps, a.inv2)
		a.gate = ar.get(n * hid)
		a.up = ar.get(n * hid)
		m.linearMulti([][]float32{a.gate, a.up}, a.xn2, [][]float32{w.Gate, w.Up}, n, d, []int{hid, hid})
		a.act = ar.get(n * hid)
		swiglu(a.act, a.gate, a.up)
		out := ar.get(n * d)
		copy(out, a.h)
		linear(out, a.act, w.Down, n, hid, d, 1)
		x = out
	}
	if err := m.beforeForward(PartHead, 0); err != nil {
		p.Release()
		return nil, err
	}
	p.xF = x
	p.invF = ar.get(n)
	p.hidden = ar.get(n * d)
	rmsnorm(p.hidden, x, m.FinalNorm, d, c.NormEps, p.invF)
	return p, nil
}

// visible reports whether query index t may attend to key index s of the same
// sequence (row offset base in the batch).
func (m *Model) visible(b *Batch, base, t, s int) bool {
	if s > t || (b.Mask != nil && (!b.Mask[base+s] || !b.Mask[base+t])) {
		return false
	}
	return m.Cfg.SlidingWindow == 0 || t-s < m.Cfg.SlidingWindow
}

// headTasks decides how attention's independent tasks (a sequence and KV
// head each; work multiply-adds in all, biggest in the largest product) run.
// Below headTasksMin they run inline. With a one-goroutine Sgemm
// (blas.SgemmSerial: the pure-Go one) and at least two tasks a worker, they
// run on every processor, each product on its task's goroutine: splitting
// each of a training step's 1,300 small products (128 x 128 x 64) in two
// paid a handoff per product and waited for the slower half, while the
// softmax between them ran on one processor. Otherwise tasks take goroutines
// only while each product stays small enough that Sgemm does not thread it
// itself (calling a threaded OpenBLAS from two goroutines at once measured
// 3.5x slower than from one).
func headTasks(tasks, work, biggest int) headPlan {
	if work < headTasksMin {
		return headPlan{blas.Whole(blas.Sgemm), splitRows, false}
	}
	if one, ok := blas.SgemmSerial(); ok && tasks >= 2*workers() {
		return headPlan{one, inlineRows, true}
	}
	return headPlan{blas.Whole(blas.Sgemm), splitRows, biggest < 1<<16}
}

// headPlan is how attention's tasks run (headTasks).
type headPlan struct {
	gemm     blas.TriFunc                                  // each task's products (skipping the causal triangle where they can)
	rows     func(n, width int, f func(chunk, r0, r1 int)) // each task's row loops (inline when parallel)
	parallel bool                                          // the tasks on every processor
}

// headTasksMin is the attention work (multiply-adds of the scores; the
// weighted values cost as much again) from which heads take goroutines:
// about 4 µs of a decoding step's attention on one processor (keys and
// values read from L3), against a handoff of a microsecond or two to the
// polling helper.
// Decoding one sequence on the stories15M shape reaches it at 29 cached
// positions; at 1<<16 (228 positions) most of a 256-token greedy decode
// attended on one processor (paired runs, alternating order: 0.962 and 0.939
// of the time at 1<<13).
const headTasksMin = 1 << 13

// inlineRows is splitRows on the calling goroutine.
func inlineRows(n, _ int, f func(chunk, r0, r1 int)) { f(0, 0, n) }

// attentionForward computes softmax(q k^T / sqrt(hd)) v per sequence and head,
// one task per (sequence, kv head) so that tasks write disjoint memory. Only
// each row's log-sum-exp is kept: the backward recomputes the probabilities
// block by block (as flash attention does), so memory stays O(T), not O(T^2).
func (m *Model) attentionForward(p *Pass, a *layerActs) {
	c := &m.Cfg
	b := &p.batch
	T, hd, qd, kvd := b.T, c.HeadDim, c.QDim(), c.KVDim()
	group := c.Heads / c.KVHeads
	plan := headTasks(b.B*c.KVHeads, b.B*c.Heads*T*T*hd, T*T*hd)
	scratch := make([][]float32, workers())
	parallelFor(b.B*c.KVHeads, plan.parallel, func(wk, task int) {
		bi, kh := task/c.KVHeads, task%c.KVHeads
		base := bi * T
		if scratch[wk] == nil {
			scratch[wk] = make([]float32, min(attnBlock, T)*T)
		}
		pb := scratch[wk]
		for h := kh * group; h < (kh+1)*group; h++ {
			lse := a.lse[(bi*c.Heads+h)*T : (bi*c.Heads+h+1)*T]
			for t0 := 0; t0 < T; t0 += attnBlock {
				t1, k0 := m.keyRange(t0, T)
				m.blockProbs(plan, b, a, base, h, t0, t1, k0, pb, lse, true)
				plan.gemm(causal(blas.TriLowerA, t0, k0), false, false, t1-t0, hd, t1-k0, 1, pb, t1-k0, a.v[(base+k0)*kvd+(h/group)*hd:], kvd, 0, a.attn[(base+t0)*qd+h*hd:], qd)
			}
		}
	})
}

// blockProbs writes into pb [t1-t0, t1-k0] the attention probabilities of
// queries [t0, t1) of head h over keys [k0, t1) of the sequence at row base.
// With fresh it normalizes each row and stores its log-sum-exp in lse;
// otherwise it recomputes the probabilities from the stored lse.
func (m *Model) blockProbs(plan headPlan, b *Batch, a *layerActs, base, h, t0, t1, k0 int, pb, lse []float32, fresh bool) {
	c := &m.Cfg
	hd, qd, kvd := c.HeadDim, c.QDim(), c.KVDim()
	kh := h / (c.Heads / c.KVHeads)
	nk := t1 - k0
	scale := float32(1 / math.Sqrt(float64(hd)))
	plan.gemm(causal(blas.TriLowerC, t0, k0), false, true, t1-t0, nk, hd, scale, a.q[(base+t0)*qd+h*hd:], qd, a.k[(base+k0)*kvd+kh*hd:], kvd, 0, pb, nk)
	inf := float32(math.Inf(1))
	// Rows are independent: long blocks split over goroutines.
	plan.rows(t1-t0, nk, func(_, r0, r1 int) {
		for t := t0 + r0; t < t0+r1; t++ {
			row := pb[(t-t0)*nk : (t-t0+1)*nk]
			// Without padding the visible keys of row t are one range
			// [lo, hi) (causal, and the sliding window's start); with it,
			// each key is checked and the hidden ones set to -Inf.
			lo, hi := m.keySpan(t, k0)
			clear(row[:lo-k0])
			clear(row[hi-k0:])
			vis := row[lo-k0 : hi-k0]
			if b.Mask != nil {
				for s := range vis {
					if !m.visible(b, base, t, lo+s) {
						vis[s] = float32(math.Inf(-1))
					}
				}
			}
			mx := blas.Max(vis)
			if math.IsInf(float64(mx), -1) { // no visible key (a padding row)
				clear(row)
				lse[t] = inf
				continue
			}
			if fresh {
				sum := blas.ExpShift(vis, mx)
				blas.Scale(vis, 1/sum)
				lse[t] = mx + float32(math.Log(float64(sum)))
			} else {
				blas.ExpShift(vis, lse[t])
			}
		}
	})
}

// keySpan is the range [lo, hi) of keys that query t may see, keys of its
// block starting at k0: causal, from the sliding window's start (padding
// aside, which blockProbs checks key by key).
func (m *Model) keySpan(t, k0 int) (lo, hi int) {
	lo, hi = k0, t+1
	if w := m.Cfg.SlidingWindow; w > 0 {
		lo = max(lo, t-w+1)
	}
	return lo, hi
}

// causal is the triangle of a block's product that causality makes zero or
// unneeded: in the block of queries from t0 and keys from k0, query row i
// sees key column j only when j <= i + t0 - k0. The scores and their
// gradient (part TriLowerC, [queries x keys]) need only that part, and the
// probabilities and score gradients are zero outside it, whether they are
// the left operand as stored (TriLowerA) or transposed (TriUpperA: key row
// i, query column p >= i - (t0 - k0)). The rows' loops clear what a
// skipped tile leaves above the diagonal.
func causal(part blas.TrianglePart, t0, k0 int) blas.Triangle {
	if !causalSkip {
		return blas.Triangle{}
	}
	return blas.Triangle{Part: part, Diag: t0 - k0}
}

// causalSkip turns causal's triangles on (a variable so that tests can
// compare with the whole products).
var causalSkip = true

// attnBlock is the number of query rows per attention product: a block needs
// keys only up to its last row (causal), so long sequences skip most of the
// upper triangle. (A variable so that tests can make blocks tiny.)
var attnBlock = 128

// keyRange gives, for the query block starting at t0, its end t1 and the first
// key k0 any of its rows may see (the sliding window's start for row t0).
func (m *Model) keyRange(t0, T int) (t1, k0 int) {
	t1 = min(T, t0+attnBlock)
	if w := m.Cfg.SlidingWindow; w > 0 {
		k0 = max(0, t0-w+1)
	}
	return t1, k0
}

// Logits computes the LM head over the final hidden state: [B*T, V].
func (m *Model) Logits(p *Pass) []float32 { return m.LogitsInto(nil, p) }

// LogitsInto is Logits writing into dst when it holds B*T*V floats (else it
// allocates), so that a training loop can reuse one buffer.
func (m *Model) LogitsInto(dst []float32, p *Pass) []float32 {
	n := p.n * m.Cfg.Vocab
	if len(dst) < n {
		dst = make([]float32, n)
	}
	out := dst[:n]
	linear(out, p.hidden, m.Head, p.n, m.Cfg.Dim, m.Cfg.Vocab, 0)
	return out
}

// Backward adds into g the gradient of a loss whose gradient with respect to
// the logits [B*T, V] is dLogits.
func (m *Model) Backward(p *Pass, dLogits []float32, g *Model) error {
	c := &m.Cfg
	if g == nil {
		return fmt.Errorf("backward: no gradient model (make gradients with NewGrads)")
	}
	if err := m.beforeBackward(PartHead, 0, g); err != nil {
		return err
	}
	if len(g.Head) != len(m.Head) {
		return fmt.Errorf("backward: the gradient model does not match this model (make gradients with NewGrads)")
	}
	if len(dLogits) != p.n*c.Vocab {
		return fmt.Errorf("backward: dLogits has %d values, want B*T*V=%d", len(dLogits), p.n*c.Vocab)
	}
	dh := m.sc.get(p.n * c.Dim)
	defer m.sc.put(dh)
	linearBack(dh, g.Head, dLogits, p.hidden, m.Head, p.n, c.Dim, c.Vocab, false)
	return m.backwardHidden(p, dh, g, true)
}

// BackwardHidden adds into g the gradient of a loss whose gradient with respect
// to the final hidden state (Pass.Hidden) is dHidden; callers that apply the LM
// head themselves (a fused loss) use it and add the head's gradient on their own.
func (m *Model) BackwardHidden(p *Pass, dHidden []float32, g *Model) error {
	return m.backwardHidden(p, dHidden, g, false)
}

// backwardHidden is BackwardHidden; headReady says that Backward has
// already called the head's BeforeBackward hook.
func (m *Model) backwardHidden(p *Pass, dHidden []float32, g *Model, headReady bool) error {
	c := &m.Cfg
	n, d, hd := p.n, c.Dim, c.HeadDim
	qd, kvd, hid := c.QDim(), c.KVDim(), c.Hidden
	if len(dHidden) != n*d {
		return fmt.Errorf("backward: dHidden has %d values, want B*T*D=%d", len(dHidden), n*d)
	}
	if g == nil || g.Cfg.NumParams() != c.NumParams() || len(g.Layers) != len(m.Layers) || len(p.layers) != len(m.Layers) {
		return fmt.Errorf("backward: the gradient model or the pass does not match this model (make gradients with NewGrads)")
	}
	// Temporaries from the model's scratch; all are overwritten before
	// they are read except dx (and dqr, dkr), which norm backwards add into.
	if !headReady {
		if err := m.beforeBackward(PartHead, 0, g); err != nil {
			return err
		}
	}
	ar := arena{sc: m.sc}
	defer ar.release()
	dx := ar.zeros(n * d)
	rmsnormBack(dx, g.FinalNorm, dHidden, p.xF, m.FinalNorm, p.invF, d)
	if err := m.afterBackward(PartHead, 0, g); err != nil {
		return err
	}
	dact := ar.get(n * hid)
	dgate := ar.get(n * hid)
	dup := ar.get(n * hid)
	dn := ar.get(n * d)
	dattn := ar.get(n * qd)
	dq := ar.get(n * qd)
	dk := ar.get(n * kvd)
	dv := ar.get(n * kvd)
	var dqr, dkr []float32
	if c.QKNorm {
		dqr, dkr = ar.get(n*qd), ar.get(n*kvd)
	}
	for li := len(m.Layers) - 1; li >= 0; li-- {
		if err := m.beforeBackward(PartLayer, li, g); err != nil {
			return err
		}
		w, gw, a := &m.Layers[li], &g.Layers[li], &p.layers[li]
		// FFN: out = h + Down·(silu(Gate·xn2) * Up·xn2); dx is d(out).
		linearBack(dact, gw.Down, dx, a.act, w.Down, n, hid, d, false)
		swigluBack(dgate, dup, dact, a.gate, a.up)
		linearMultiBack(dn, [][]float32{gw.Gate, gw.Up}, [][]float32{dgate, dup}, a.xn2, [][]float32{w.Gate, w.Up}, n, d, []int{hid, hid})
		dhres := dx // d(h) = d(out) + norm backward
		rmsnormBack(dhres, gw.FFNNorm, dn, a.h, w.FFNNorm, a.inv2, d)
		// Attention: h = x + Wo·attn.
		linearBack(dattn, gw.Wo, dhres, a.attn, w.Wo, n, qd, d, false)
		clear(dk)
		clear(dv)
		m.attentionBackward(p, a, dattn, dq, dk, dv)
		p.rope.apply(dq, c.Heads, true)
		p.rope.apply(dk, c.KVHeads, true)
		if c.QKNorm {
			clear(dqr)
			clear(dkr)
			rmsnormBack(dqr, gw.QNorm, dq, a.qRaw, w.QNorm, a.qInv, hd)
			rmsnormBack(dkr, gw.KNorm, dk, a.kRaw, w.KNorm, a.kInv, hd)
			// The gradients before the norms are the new dq and dk: the
			// buffers trade places (the next layer's attention overwrites
			// dq, and dk is cleared before it), instead of two copies.
			dq, dqr = dqr, dq
			dk, dkr = dkr, dk
		}
		linearMultiBack(dn, [][]float32{gw.Wq, gw.Wk, gw.Wv}, [][]float32{dq, dk, dv}, a.xn1, [][]float32{w.Wq, w.Wk, w.Wv}, n, d, []int{qd, kvd, kvd})
		rmsnormBack(dhres, gw.AttnNorm, dn, a.x, w.AttnNorm, a.inv1, d)
		dx = dhres
		if err := m.afterBackward(PartLayer, li, g); err != nil {
			return err
		}
	}
	if err := m.beforeBackward(PartEmbed, 0, g); err != nil {
		return err
	}
	b := &p.batch
	for i, t := range b.Tokens {
		if b.Mask != nil && !b.Mask[i] {
			continue
		}
		ge := g.Embed[t*d : t*d+d]
		for j, v := range dx[i*d : i*d+d] {
			ge[j] += v
		}
	}
	return m.afterBackward(PartEmbed, 0, g)
}

// attentionBackward turns d(attn) into dq, dk, dv (dk, dv accumulate; zero
// them first), recomputing each block's probabilities from the stored lse.
func (m *Model) attentionBackward(p *Pass, a *layerActs, dattn, dq, dk, dv []float32) {
	c := &m.Cfg
	b := &p.batch
	T, hd, qd, kvd := b.T, c.HeadDim, c.QDim(), c.KVDim()
	group := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	plan := headTasks(b.B*c.KVHeads, b.B*c.Heads*T*T*hd, T*T*hd)
	scratch := make([][2][]float32, workers())
	parallelFor(b.B*c.KVHeads, plan.parallel, func(wk, task int) {
		bi, kh := task/c.KVHeads, task%c.KVHeads
		base := bi * T
		k := a.k[base*kvd+kh*hd:]
		v := a.v[base*kvd+kh*hd:]
		dkk := dk[base*kvd+kh*hd:]
		dvv := dv[base*kvd+kh*hd:]
		if scratch[wk][0] == nil {
			scratch[wk] = [2][]float32{make([]float32, min(attnBlock, T)*T), make([]float32, min(attnBlock, T)*T)}
		}
		pb, db := scratch[wk][0], scratch[wk][1]
		for h := kh * group; h < (kh+1)*group; h++ {
			lse := a.lse[(bi*c.Heads+h)*T : (bi*c.Heads+h+1)*T]
			do := dattn[base*qd+h*hd:]
			q := a.q[base*qd+h*hd:]
			for t0 := 0; t0 < T; t0 += attnBlock {
				t1, k0 := m.keyRange(t0, T)
				nq, nk := t1-t0, t1-k0
				m.blockProbs(plan, b, a, base, h, t0, t1, k0, pb, lse, false)
				// dP = dO·V^T, dV += P^T·dO.
				plan.gemm(causal(blas.TriLowerC, t0, k0), false, true, nq, nk, hd, 1, do[t0*qd:], qd, v[k0*kvd:], kvd, 0, db, nk)
				plan.gemm(causal(blas.TriUpperA, t0, k0), true, false, nk, hd, nq, 1, pb, nk, do[t0*qd:], qd, 1, dvv[k0*kvd:], kvd)
				// dS = P ⊙ (dP − Σ_s P·dP) · scale, over the keys a row
				// may see (P is 0 elsewhere, and so is dS).
				plan.rows(nq, nk, func(_, r0, r1 int) {
					for r := r0; r < r1; r++ {
						lo, hi := m.keySpan(t0+r, k0)
						drow := db[r*nk : (r+1)*nk]
						clear(drow[:lo-k0])
						clear(drow[hi-k0:])
						blas.SoftmaxBackRow(pb[r*nk+lo-k0:r*nk+hi-k0], drow[lo-k0:hi-k0], scale)
					}
				})
				// dQ = dS·K, dK += dS^T·Q.
				plan.gemm(causal(blas.TriLowerA, t0, k0), false, false, nq, hd, nk, 1, db, nk, k[k0*kvd:], kvd, 0, dq[(base+t0)*qd+h*hd:], qd)
				plan.gemm(causal(blas.TriUpperA, t0, k0), true, false, nk, hd, nq, 1, db, nk, q[t0*qd:], qd, 1, dkk[k0*kvd:], kvd)
			}
		}
	})
}
