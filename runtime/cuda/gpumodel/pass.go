package gpumodel

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/model"
)

type layerActs struct {
	x, xn1, inv1, qRaw, kRaw, qInv, kInv, q, k, v, lse, attn, h, xn2, inv2, gate, up, act uintptr
}

// Pass is one forward pass over a batch, its activations on the machine.
type Pass struct {
	g        *Model
	B, T, N  int
	tokens   uintptr // int32 [N], -1 for padding
	mask     uintptr // int32 [N] or 0
	cos, sin uintptr
	layers   []layerActs
	xF, invF uintptr
	hidden   uintptr // bf16 [N, D]
	ar       *arena
	attn     kernels.Attn
	// noGrad: a pass from Infer, which kept no layer's activations.
	noGrad bool
}

// Hidden is the final normed hidden state, bf16 [B*T, D] (the LM head's input).
func (p *Pass) Hidden() uintptr { return p.hidden }

// Release frees the pass's activations.
func (p *Pass) Release() {
	if p.ar != nil {
		p.ar.free()
		p.ar = nil
	}
}

func (g *Model) passBytes(n, B, T int) int64 {
	c := &g.Cfg
	d, qd, kvd, hid, hd := c.Dim, c.QDim(), c.KVDim(), c.Hidden, c.HeadDim
	pad := func(b int) int64 { return int64((b + 255) &^ 255) }
	// Per layer: xn1, inv1, q, k, v, attn, lse, h, xn2, inv2, gate, up,
	// act, the output; with q/k norms also the normed q and k and their
	// inverse rms. An estimate short of the pass makes the arena take a
	// second chunk as large as the first.
	per := pad(2*n*d) + pad(4*n) + 2*pad(2*n*qd) + 2*pad(2*n*kvd) + pad(4*B*c.Heads*T) + pad(4*n*d) + pad(2*n*d) + pad(4*n) + 3*pad(2*n*hid) + pad(4*n*d)
	if c.QKNorm {
		per += pad(4*n*c.Heads) + pad(4*n*c.KVHeads) + pad(2*n*qd) + pad(2*n*kvd)
	}
	total := int64(c.Layers)*per + pad(4*n*d) + pad(4*n) + pad(2*n*d) + 2*pad(4*n) + 2*pad(4*n*hd/2)
	return total + 4096
}

// Forward runs the trunk over a batch (model.Batch semantics: positions,
// padding mask) and keeps what the backward needs: every layer's
// activations, passBytes of machine memory.
func (g *Model) Forward(b *model.Batch) (*Pass, error) { return g.forward(b, true, nil) }

// Infer is Forward for a pass that is never differentiated (a prompt's
// prefill, a judge's score, statistics): the same kernels and the same
// bits, but one layer's activations at a time, reused layer after layer
// (inferBytes, about 1/L of Forward's), and the residual stream updated in
// place. Only the final hidden state stays (Hidden, Logits, LogitsRows,
// GatherHidden); Backward and BackwardHidden refuse the pass.
func (g *Model) Infer(b *model.Batch) (*Pass, error) { return g.forward(b, false, nil) }

// inferBytes is Infer's activations for n = B*T rows.
func (g *Model) inferBytes(n, B, T int) int64 {
	c := &g.Cfg
	d, qd, kvd, hid, hd := c.Dim, c.QDim(), c.KVDim(), c.Hidden, c.HeadDim
	pad := func(b int) int64 { return int64((b + 255) &^ 255) }
	total := 2*pad(4*n) + 2*pad(4*n*hd/2) + pad(4*n*d) + pad(2*n*d) + 2*pad(2*n*qd) + 2*pad(2*n*kvd) + pad(4*B*c.Heads*T) + 3*pad(2*n*hid) + pad(2*n*d)
	if c.QKNorm {
		total += pad(2*n*qd) + pad(2*n*kvd)
	}
	return total + 4096
}

// layerKV receives, in the middle of a pass, layer li's keys (after the
// norm and RoPE) and values, bf16 [B*T, KVD]: what a prefill copies into a
// decoder's cache. Its machine calls go through o, so they run in order.
type layerKV func(o *ops, li int, k, v uintptr)

func (g *Model) forward(b *model.Batch, keep bool, kv layerKV) (*Pass, error) {
	c := &g.Cfg
	if b.B <= 0 || b.T <= 0 || len(b.Tokens) != b.B*b.T || (b.Mask != nil && len(b.Mask) != len(b.Tokens)) || (b.Pos != nil && len(b.Pos) != len(b.Tokens)) {
		return nil, fmt.Errorf("gpumodel: batch of B=%d T=%d with %d tokens, %d mask entries, %d positions", b.B, b.T, len(b.Tokens), len(b.Mask), len(b.Pos))
	}
	n := b.B * b.T
	d, hd, qd, kvd, hid := c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	bytes := g.inferBytes(n, b.B, b.T)
	if keep {
		bytes = g.passBytes(n, b.B, b.T)
	}
	ar, err := newArena(g.M, bytes)
	if err != nil {
		return nil, fmt.Errorf("gpumodel: activations: %v", err)
	}
	p := &Pass{g: g, B: b.B, T: b.T, N: n, ar: ar, noGrad: !keep}
	if keep {
		p.layers = make([]layerActs, c.Layers)
	}
	tok := make([]int32, n)
	var mask []int32
	if b.Mask != nil {
		mask = make([]int32, n)
	}
	pos := b.Pos
	if pos == nil {
		pos = make([]int, n)
		for i := range pos {
			pos[i] = i % b.T
		}
	}
	for i, t := range b.Tokens {
		if b.Mask != nil && !b.Mask[i] {
			tok[i] = -1
			continue
		}
		if t < 0 || t >= c.Vocab {
			p.Release()
			return nil, fmt.Errorf("gpumodel: token %d at row %d, column %d is outside the vocabulary [0, %d)", t, i/b.T, i%b.T, c.Vocab)
		}
		tok[i] = int32(t)
		if mask != nil {
			mask[i] = 1
		}
	}
	cos, sin := ropeTables(pos, c)
	p.tokens = ar.get(4 * n)
	p.cos, p.sin = ar.get(4*len(cos)), ar.get(4*len(sin))
	o := &ops{m: g.M}
	for _, w := range []struct {
		dst  uintptr
		data []byte
	}{{p.tokens, kernels.I32Bytes(tok)}, {p.cos, kernels.F32Bytes(cos)}, {p.sin, kernels.F32Bytes(sin)}} {
		if o.err == nil {
			o.err = g.M.Write(w.dst, w.data)
		}
	}
	if mask != nil {
		p.mask = ar.get(4 * n)
		if o.err == nil {
			o.err = g.M.Write(p.mask, kernels.I32Bytes(mask))
		}
	}
	p.attn = kernels.Attn{B: b.B, T: b.T, H: c.Heads, KVH: c.KVHeads, HD: hd, Window: c.SlidingWindow, Scale: float32(1 / math.Sqrt(float64(hd))), Mask: p.mask}
	x := ar.get(4 * n * d)
	o.launch(kernels.Embedding(x, g.w(g.embed), p.tokens, n, d))
	if !keep {
		p.inferLayers(o, x, kv)
		return p.finish(o, x)
	}
	for li := range g.layers {
		w := &g.layers[li]
		a := &p.layers[li]
		a.x = x
		a.xn1, a.inv1 = ar.get(2*n*d), ar.get(4*n)
		o.launch(kernels.RMSNorm(a.xn1, a.inv1, x, g.w(w.attnNorm), kernels.F32, n, d, c.NormEps))
		q, k := ar.get(2*n*qd), ar.get(2*n*kvd)
		a.v = ar.get(2 * n * kvd)
		o.linear(q, a.xn1, g.w(w.wq), n, d, qd, 0, kernels.BF16)
		o.linear(k, a.xn1, g.w(w.wk), n, d, kvd, 0, kernels.BF16)
		o.linear(a.v, a.xn1, g.w(w.wv), n, d, kvd, 0, kernels.BF16)
		if c.QKNorm {
			a.qRaw, a.kRaw = q, k
			a.qInv, a.kInv = ar.get(4*n*c.Heads), ar.get(4*n*c.KVHeads)
			q, k = ar.get(2*n*qd), ar.get(2*n*kvd)
			o.launch(kernels.RMSNorm(q, a.qInv, a.qRaw, g.w(w.qNorm), kernels.BF16, n*c.Heads, hd, c.NormEps))
			o.launch(kernels.RMSNorm(k, a.kInv, a.kRaw, g.w(w.kNorm), kernels.BF16, n*c.KVHeads, hd, c.NormEps))
		}
		o.launch(kernels.RoPE(q, p.cos, p.sin, kernels.BF16, n, c.Heads, hd, false))
		o.launch(kernels.RoPE(k, p.cos, p.sin, kernels.BF16, n, c.KVHeads, hd, false))
		if kv != nil {
			kv(o, li, k, a.v)
		}
		a.q, a.k = q, k
		a.attn, a.lse = ar.get(2*n*qd), ar.get(4*b.B*c.Heads*b.T)
		o.launch(kernels.Attention(a.attn, a.lse, q, k, a.v, p.attn))
		a.h = ar.get(4 * n * d)
		o.copy(a.h, x, 4*n*d)
		o.linear(a.h, a.attn, g.w(w.wo), n, qd, d, 1, kernels.F32)
		a.xn2, a.inv2 = ar.get(2*n*d), ar.get(4*n)
		o.launch(kernels.RMSNorm(a.xn2, a.inv2, a.h, g.w(w.ffnNorm), kernels.F32, n, d, c.NormEps))
		a.gate, a.up, a.act = ar.get(2*n*hid), ar.get(2*n*hid), ar.get(2*n*hid)
		o.linear(a.gate, a.xn2, g.w(w.gate), n, d, hid, 0, kernels.BF16)
		o.linear(a.up, a.xn2, g.w(w.up), n, d, hid, 0, kernels.BF16)
		o.launch(kernels.SwiGLU(a.act, a.gate, a.up, n*hid))
		out := ar.get(4 * n * d)
		o.copy(out, a.h, 4*n*d)
		o.linear(out, a.act, g.w(w.down), n, hid, d, 1, kernels.F32)
		x = out
	}
	p.xF, p.invF = x, ar.get(4*n)
	return p.finish(o, x)
}

// finish applies the final norm to the residual stream x.
func (p *Pass) finish(o *ops, x uintptr) (*Pass, error) {
	g, c := p.g, &p.g.Cfg
	p.hidden = p.ar.get(2 * p.N * c.Dim)
	o.launch(kernels.RMSNorm(p.hidden, p.invF, x, g.w(g.finalNorm), kernels.F32, p.N, c.Dim, c.NormEps))
	if o.err == nil {
		o.err = p.ar.err
	}
	if o.err != nil {
		p.Release()
		return nil, fmt.Errorf("gpumodel: forward: %v", o.err)
	}
	return p, nil
}

// inferLayers runs every layer over the residual stream x (fp32 [N, D],
// updated in place) with one set of buffers: Forward's arithmetic, none of
// its saved activations.
func (p *Pass) inferLayers(o *ops, x uintptr, kv layerKV) {
	g, c, ar, n := p.g, &p.g.Cfg, p.ar, p.N
	d, hd, qd, kvd, hid := c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	xn := ar.get(2 * n * d)
	qRaw, kRaw, v := ar.get(2*n*qd), ar.get(2*n*kvd), ar.get(2*n*kvd)
	q, k := qRaw, kRaw
	if c.QKNorm {
		q, k = ar.get(2*n*qd), ar.get(2*n*kvd)
	}
	attn, lse := ar.get(2*n*qd), ar.get(4*p.B*c.Heads*p.T)
	gate, up, act := ar.get(2*n*hid), ar.get(2*n*hid), ar.get(2*n*hid)
	for li := range g.layers {
		w := &g.layers[li]
		o.launch(kernels.RMSNorm(xn, 0, x, g.w(w.attnNorm), kernels.F32, n, d, c.NormEps))
		o.linear(qRaw, xn, g.w(w.wq), n, d, qd, 0, kernels.BF16)
		o.linear(kRaw, xn, g.w(w.wk), n, d, kvd, 0, kernels.BF16)
		o.linear(v, xn, g.w(w.wv), n, d, kvd, 0, kernels.BF16)
		if c.QKNorm {
			o.launch(kernels.RMSNorm(q, 0, qRaw, g.w(w.qNorm), kernels.BF16, n*c.Heads, hd, c.NormEps))
			o.launch(kernels.RMSNorm(k, 0, kRaw, g.w(w.kNorm), kernels.BF16, n*c.KVHeads, hd, c.NormEps))
		}
		o.launch(kernels.RoPE(q, p.cos, p.sin, kernels.BF16, n, c.Heads, hd, false))
		o.launch(kernels.RoPE(k, p.cos, p.sin, kernels.BF16, n, c.KVHeads, hd, false))
		if kv != nil {
			kv(o, li, k, v)
		}
		o.launch(kernels.Attention(attn, lse, q, k, v, p.attn))
		o.linear(x, attn, g.w(w.wo), n, qd, d, 1, kernels.F32)
		o.launch(kernels.RMSNorm(xn, 0, x, g.w(w.ffnNorm), kernels.F32, n, d, c.NormEps))
		o.linear(gate, xn, g.w(w.gate), n, d, hid, 0, kernels.BF16)
		o.linear(up, xn, g.w(w.up), n, d, hid, 0, kernels.BF16)
		o.launch(kernels.SwiGLU(act, gate, up, n*hid))
		o.linear(x, act, g.w(w.down), n, hid, d, 1, kernels.F32)
	}
}

// Logits writes the LM head's output for every row, bf16 [B*T, V], to out.
func (g *Model) Logits(p *Pass, out uintptr) error {
	o := &ops{m: g.M}
	o.linear(out, p.hidden, g.w(g.head), p.N, g.Cfg.Dim, g.Cfg.Vocab, 0, kernels.BF16)
	return o.err
}

// LogitsRows writes the LM head's output for rows [r0, r1) of the pass to
// out (bf16 [r1-r0, V]): a chunk of a fused loss.
func (g *Model) LogitsRows(p *Pass, r0, r1 int, out uintptr) error {
	o := &ops{m: g.M}
	d := g.Cfg.Dim
	o.linear(out, p.hidden+uintptr(2*r0*d), g.w(g.head), r1-r0, d, g.Cfg.Vocab, 0, kernels.BF16)
	return o.err
}

// differentiable refuses the backward of a pass that kept no activations.
func (p *Pass) differentiable() error {
	if p.noGrad {
		return fmt.Errorf("gpumodel: backward through a pass from Infer, which keeps no layer's activations: run Forward for a pass to differentiate")
	}
	return nil
}

// Backward adds into the gradients those of a loss whose gradient with
// respect to the logits is dLogits (bf16 [B*T, V]).
func (g *Model) Backward(p *Pass, dLogits uintptr) error {
	if err := g.trainable("Backward"); err != nil {
		return err
	}
	if err := p.differentiable(); err != nil {
		return err
	}
	c := &g.Cfg
	n, d := p.N, c.Dim
	dh, err := g.M.Alloc(int64(4 * n * d))
	if err != nil {
		return err
	}
	defer g.M.Free(dh)
	o := &ops{m: g.M}
	o.linearBackX(dh, dLogits, g.w(g.head), n, d, c.Vocab, 0, kernels.F32)
	o.linearBackW(g.gw(g.head), dLogits, p.hidden, n, d, c.Vocab)
	if o.err != nil {
		return fmt.Errorf("gpumodel: backward through the head: %v", o.err)
	}
	return g.BackwardHidden(p, dh)
}

// BackwardHidden adds into the gradients those of a loss whose gradient
// with respect to the final hidden state is dHidden (fp32 [B*T, D]).
func (g *Model) BackwardHidden(p *Pass, dHidden uintptr) error {
	if err := g.trainable("BackwardHidden"); err != nil {
		return err
	}
	if err := p.differentiable(); err != nil {
		return err
	}
	c := &g.Cfg
	n, d, hd, qd, kvd, hid := p.N, c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	pad := func(b int) int { return (b + 255) &^ 255 }
	need := pad(4*n*d)*2 + pad(2*n*d) + 3*pad(2*n*hid) + pad(2*n*qd) + pad(4*p.B*c.Heads*p.T) + 2*pad(4*n*qd) + 4*pad(4*n*kvd) + pad(2*n*qd) + 2*pad(2*n*kvd) + 4096
	ar, err := newArena(g.M, int64(need))
	if err != nil {
		return fmt.Errorf("gpumodel: backward scratch: %v", err)
	}
	defer ar.free()
	dx, dn := ar.get(4*n*d), ar.get(4*n*d)
	dxb := ar.get(2 * n * d)
	dact, dgate, dup := ar.get(2*n*hid), ar.get(2*n*hid), ar.get(2*n*hid)
	dattn := ar.get(2 * n * qd)
	dots := ar.get(4 * p.B * c.Heads * p.T)
	dq, dqr := ar.get(4*n*qd), ar.get(4*n*qd)
	dk, dkr, dv := ar.get(4*n*kvd), ar.get(4*n*kvd), ar.get(4*n*kvd)
	_ = ar.get(4 * n * kvd)
	dqb, dkb, dvb := ar.get(2*n*qd), ar.get(2*n*kvd), ar.get(2*n*kvd)
	o := &ops{m: g.M}
	normBack := func(dx, dy, x uintptr, xt kernels.DType, w tensor, inv uintptr, rows, width int, accum bool) {
		o.launch(kernels.RMSNormBack(dx, g.part, dy, x, g.w(w), inv, xt, rows, width, accum))
		o.launch(kernels.ColSumAdd(g.gw(w), g.part, kernels.RMSNormBackParts(rows), width))
	}
	normBack(dx, dHidden, p.xF, kernels.F32, g.finalNorm, p.invF, n, d, false)
	for li := len(g.layers) - 1; li >= 0; li-- {
		w, a := &g.layers[li], &p.layers[li]
		// FFN: out = h + Down·act; dx is d(out).
		o.launch(kernels.ToBF16(dxb, dx, n*d))
		o.linearBackX(dact, dxb, g.w(w.down), n, hid, d, 0, kernels.BF16)
		o.linearBackW(g.gw(w.down), dxb, a.act, n, hid, d)
		o.launch(kernels.SwiGLUBack(dgate, dup, dact, a.gate, a.up, n*hid))
		o.linearBackX(dn, dgate, g.w(w.gate), n, d, hid, 0, kernels.F32)
		o.linearBackX(dn, dup, g.w(w.up), n, d, hid, 1, kernels.F32)
		o.linearBackW(g.gw(w.gate), dgate, a.xn2, n, d, hid)
		o.linearBackW(g.gw(w.up), dup, a.xn2, n, d, hid)
		normBack(dx, dn, a.h, kernels.F32, w.ffnNorm, a.inv2, n, d, true)
		// Attention: h = x + Wo·attn.
		o.launch(kernels.ToBF16(dxb, dx, n*d))
		o.linearBackX(dattn, dxb, g.w(w.wo), n, qd, d, 0, kernels.BF16)
		o.linearBackW(g.gw(w.wo), dxb, a.attn, n, qd, d)
		o.launch(kernels.AttentionDots(dots, a.attn, dattn, p.attn))
		o.launch(kernels.AttentionBackDQ(dq, a.q, a.k, a.v, dattn, a.lse, dots, p.attn))
		o.launch(kernels.AttentionBackDKV(dk, dv, a.q, a.k, a.v, dattn, a.lse, dots, p.attn))
		o.launch(kernels.RoPE(dq, p.cos, p.sin, kernels.F32, n, c.Heads, hd, true))
		o.launch(kernels.RoPE(dk, p.cos, p.sin, kernels.F32, n, c.KVHeads, hd, true))
		gq, gk := dq, dk
		if c.QKNorm {
			normBack(dqr, dq, a.qRaw, kernels.BF16, w.qNorm, a.qInv, n*c.Heads, hd, false)
			normBack(dkr, dk, a.kRaw, kernels.BF16, w.kNorm, a.kInv, n*c.KVHeads, hd, false)
			gq, gk = dqr, dkr
		}
		o.launch(kernels.ToBF16(dqb, gq, n*qd))
		o.launch(kernels.ToBF16(dkb, gk, n*kvd))
		o.launch(kernels.ToBF16(dvb, dv, n*kvd))
		o.linearBackX(dn, dqb, g.w(w.wq), n, d, qd, 0, kernels.F32)
		o.linearBackX(dn, dkb, g.w(w.wk), n, d, kvd, 1, kernels.F32)
		o.linearBackX(dn, dvb, g.w(w.wv), n, d, kvd, 1, kernels.F32)
		o.linearBackW(g.gw(w.wq), dqb, a.xn1, n, d, qd)
		o.linearBackW(g.gw(w.wk), dkb, a.xn1, n, d, kvd)
		o.linearBackW(g.gw(w.wv), dvb, a.xn1, n, d, kvd)
		normBack(dx, dn, a.x, kernels.F32, w.attnNorm, a.inv1, n, d, true)
	}
	o.launch(kernels.EmbeddingBack(g.gw(g.embed), dx, p.tokens, n, d))
	if o.err == nil {
		o.err = ar.err
	}
	if o.err != nil {
		return fmt.Errorf("gpumodel: backward: %v", o.err)
	}
	return nil
}

// LastLogits returns the logits after seq (fp32, every row of the LM head)
// from one forward pass over it: the prefill kernels, one pass for the
// whole sequence where a decoder takes a step per token. The pass is
// Infer's (one layer's activations, not the backward's L), freed before
// it returns.
func (g *Model) LastLogits(seq []int) ([]float32, error) {
	if len(seq) == 0 {
		return nil, fmt.Errorf("gpumodel: logits after an empty sequence")
	}
	p, err := g.Infer(&model.Batch{B: 1, T: len(seq), Tokens: seq})
	if err != nil {
		return nil, err
	}
	defer p.Release()
	out, err := g.M.Alloc(int64(4 * g.Cfg.Vocab))
	if err != nil {
		return nil, fmt.Errorf("gpumodel: logits: %v", err)
	}
	defer g.M.Free(out)
	return g.rowLogits(p, p.N-1, out)
}

// rowLogits writes the LM head's fp32 output for row r of the pass to out
// ([V] on the machine) and reads it back.
func (g *Model) rowLogits(p *Pass, r int, out uintptr) ([]float32, error) {
	d, v := g.Cfg.Dim, g.Cfg.Vocab
	o := &ops{m: g.M}
	o.linear(out, p.hidden+uintptr(2*r*d), g.w(g.head), 1, d, v, 0, kernels.F32)
	if o.err != nil {
		return nil, fmt.Errorf("gpumodel: logits: %v", o.err)
	}
	raw := make([]byte, 4*v)
	if err := g.M.Read(raw, out); err != nil {
		return nil, err
	}
	return kernels.BytesF32(raw), nil
}
