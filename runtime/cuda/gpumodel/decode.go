package gpumodel

import (
	"fmt"
	"math"
	"slices"

	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/model"
)

// Decoder decodes B sequences together, one token each per Step, over KV
// caches of MaxLen positions per sequence and layer (bf16). Sequence b's
// next token goes to position Len(b).
type Decoder struct {
	g                                               *Model
	B, Max                                          int
	slotLen                                         int       // Max + 1: a scratch position for idle slots
	kc, vc                                          []uintptr // per layer [B, Max, KVD]
	lens                                            []int
	ar                                              *arena
	x, xn, q, qn, k, kn, v, attn, gate, up, act, hn uintptr
	logits                                          uintptr // fp32 [B, V]
	tok, pos, after, cos, sin                       uintptr
}

// NewDecoder allocates caches for B sequences of up to maxLen tokens.
func (g *Model) NewDecoder(B, maxLen int) (*Decoder, error) {
	c := &g.Cfg
	d, qd, kvd, hid, hd := c.Dim, c.QDim(), c.KVDim(), c.Hidden, c.HeadDim
	pad := func(b int) int64 { return int64((b + 255) &^ 255) }
	slotLen := maxLen + 1
	bytes := int64(c.Layers)*2*pad(2*B*slotLen*kvd) + pad(4*B*d) + 2*pad(2*B*d) + 2*pad(2*B*qd) + 3*pad(2*B*kvd) + pad(2*B*qd) +
		3*pad(2*B*hid) + pad(4*B*c.Vocab) + 3*pad(4*B) + 2*pad(4*B*hd/2) + pad(2*B*kvd) + 4096
	ar, err := newArena(g.M, bytes)
	if err != nil {
		return nil, fmt.Errorf("gpumodel: KV caches: %v", err)
	}
	dc := &Decoder{g: g, B: B, Max: maxLen, slotLen: slotLen, lens: make([]int, B), ar: ar}
	for range c.Layers {
		dc.kc, dc.vc = append(dc.kc, ar.get(2*B*slotLen*kvd)), append(dc.vc, ar.get(2*B*slotLen*kvd))
	}
	dc.x, dc.xn, dc.hn = ar.get(4*B*d), ar.get(2*B*d), ar.get(2*B*d)
	dc.q, dc.qn, dc.attn = ar.get(2*B*qd), ar.get(2*B*qd), ar.get(2*B*qd)
	dc.k, dc.kn, dc.v = ar.get(2*B*kvd), ar.get(2*B*kvd), ar.get(2*B*kvd)
	dc.gate, dc.up, dc.act = ar.get(2*B*hid), ar.get(2*B*hid), ar.get(2*B*hid)
	dc.logits = ar.get(4 * B * c.Vocab)
	dc.tok, dc.pos, dc.after = ar.get(4*B), ar.get(4*B), ar.get(4*B)
	dc.cos, dc.sin = ar.get(4*B*hd/2), ar.get(4*B*hd/2)
	if ar.err != nil {
		ar.free()
		return nil, fmt.Errorf("gpumodel: KV caches: %v", ar.err)
	}
	return dc, nil
}

// Len is the number of tokens cached for sequence b.
func (dc *Decoder) Len(b int) int { return dc.lens[b] }

// Reset empties every cache.
func (dc *Decoder) Reset() { clear(dc.lens) }

// Free releases the caches.
func (dc *Decoder) Free() { dc.ar.free() }

// CopySlot makes sequence dst a copy of sequence src (its cached keys and
// values and its length): a prefilled prompt shared by several samples.
func (dc *Decoder) CopySlot(dst, src int) error {
	if dst < 0 || dst >= dc.B || src < 0 || src >= dc.B {
		return fmt.Errorf("gpumodel: copying sequence %d to %d of %d", src, dst, dc.B)
	}
	if dst != src {
		kvd := dc.g.Cfg.KVDim()
		slot, n := uintptr(2*dc.slotLen*kvd), int64(2*dc.lens[src]*kvd)
		for li := range dc.kc {
			for _, c := range []uintptr{dc.kc[li], dc.vc[li]} {
				if err := dc.g.M.Copy(c+uintptr(dst)*slot, c+uintptr(src)*slot, n); err != nil {
					return err
				}
			}
		}
	}
	dc.lens[dst] = dc.lens[src]
	return nil
}

// SetLen sets sequence b's length to n <= Len(b) (n = 0 frees it).
func (dc *Decoder) SetLen(b, n int) { dc.lens[b] = min(dc.lens[b], max(n, 0)) }

// Prefill fills sequence b's empty cache with toks in one forward pass (the
// prefill attention kernel, Infer's activations) instead of a decoding
// step per token: each layer's keys (after RoPE) and values, bf16 as the
// decoding step writes them, are copied into the sequence's rows 0 to
// len(toks)-1, its length becomes len(toks), and it returns the logits
// after the last token (fp32, length Vocab). The pass's activations are
// freed before it returns.
func (dc *Decoder) Prefill(b int, toks []int) ([]float32, error) {
	out, err := dc.PrefillMany([]int{b}, [][]int{toks})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PrefillMany is Prefill of several empty sequences, seqs[i] with
// toks[i], in one forward pass over a batch of len(seqs) rows as long as
// the longest prompt, the shorter ones padded at the end (masked keys that
// no prompt token attends to, so each prompt's rows are its own pass's).
func (dc *Decoder) PrefillMany(seqs []int, toks [][]int) ([][]float32, error) {
	g := dc.g
	c := &g.Cfg
	if len(seqs) == 0 || len(toks) != len(seqs) {
		return nil, fmt.Errorf("gpumodel: prefill of %d sequences with %d token lists", len(seqs), len(toks))
	}
	T := 0
	for i, b := range seqs {
		switch {
		case b < 0 || b >= dc.B:
			return nil, fmt.Errorf("gpumodel: prefill of sequence %d of %d", b, dc.B)
		case dc.lens[b] != 0:
			return nil, fmt.Errorf("gpumodel: prefill of sequence %d, which already holds %d tokens (a prefill starts an empty cache; append with Step)", b, dc.lens[b])
		case len(toks[i]) == 0 || len(toks[i]) > dc.Max:
			return nil, fmt.Errorf("gpumodel: prefill of %d tokens into sequence %d (1 to %d fit)", len(toks[i]), b, dc.Max)
		case slices.Contains(seqs[:i], b):
			return nil, fmt.Errorf("gpumodel: sequence %d prefilled twice at once", b)
		}
		T = max(T, len(toks[i]))
	}
	B, kvd, d, V := len(seqs), c.KVDim(), c.Dim, c.Vocab
	batch := &model.Batch{B: B, T: T, Tokens: make([]int, B*T)}
	last := make([]int32, B) // each prompt's last row of the pass
	for i, ts := range toks {
		copy(batch.Tokens[i*T:], ts)
		last[i] = int32(i*T + len(ts) - 1)
		if len(ts) < T {
			if batch.Mask == nil {
				batch.Mask = make([]bool, B*T)
				for r := range batch.Mask {
					batch.Mask[r] = true
				}
			}
			for r := i*T + len(ts); r < (i+1)*T; r++ {
				batch.Mask[r] = false
			}
		}
	}
	slot := uintptr(2 * dc.slotLen * kvd)
	p, err := g.forward(batch, false, func(o *ops, li int, k, v uintptr) {
		for i, b := range seqs {
			row, n := uintptr(2*i*T*kvd), 2*len(toks[i])*kvd
			o.copy(dc.kc[li]+uintptr(b)*slot, k+row, n)
			o.copy(dc.vc[li]+uintptr(b)*slot, v+row, n)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("gpumodel: prefill of sequences %v: %v", seqs, err)
	}
	defer p.Release()
	// The last rows' hidden states, gathered, through the LM head at once
	// (outside the pass's arena, which holds its estimate exactly).
	pad := func(n int) int { return (n + 255) &^ 255 }
	scratch, err := g.M.Alloc(int64(pad(4*B) + pad(2*B*d) + 4*B*V))
	if err != nil {
		return nil, fmt.Errorf("gpumodel: prefill logits: %v", err)
	}
	defer g.M.Free(scratch)
	rows, hid, logits := scratch, scratch+uintptr(pad(4*B)), scratch+uintptr(pad(4*B)+pad(2*B*d))
	o := &ops{m: g.M, err: g.M.Write(rows, kernels.I32Bytes(last))}
	o.launch(kernels.GatherRows(hid, p.hidden, rows, B, d))
	o.linear(logits, hid, g.w(g.head), B, d, V, 0, kernels.F32)
	raw := make([]byte, 4*B*V)
	if o.err == nil {
		o.err = g.M.Read(raw, logits)
	}
	if o.err != nil {
		return nil, fmt.Errorf("gpumodel: prefill logits: %v", o.err)
	}
	all := kernels.BytesF32(raw)
	out := make([][]float32, B)
	for i, b := range seqs {
		out[i] = all[i*V : (i+1)*V : (i+1)*V]
		dc.lens[b] = len(toks[i])
	}
	return out, nil
}

// Step appends toks[b] to sequence b for every b and returns each
// sequence's logits after it (fp32, length Vocab).
func (dc *Decoder) Step(toks []int) ([][]float32, error) { return dc.StepSome(toks, nil) }

// StepSome is Step for the sequences with active[b] (nil: all): the others
// run on token 0 at a position that is not counted, so their caches and
// lengths stay as they were (their logits are meaningless).
func (dc *Decoder) StepSome(toks []int, active []bool) ([][]float32, error) {
	g := dc.g
	c := &g.Cfg
	B := dc.B
	d, hd, qd, kvd, hid := c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	if len(toks) != B || (active != nil && len(active) != B) {
		return nil, fmt.Errorf("gpumodel: %d tokens (%d active flags) for %d sequences", len(toks), len(active), B)
	}
	tok, pos, after := make([]int32, B), make([]int32, B), make([]int32, B)
	posInt := make([]int, B)
	for b, t := range toks {
		if active != nil && !active[b] {
			// The scratch position past Max when the sequence is full.
			tok[b], pos[b], after[b], posInt[b] = 0, int32(dc.lens[b]), int32(dc.lens[b]+1), dc.lens[b]
			continue
		}
		if t < 0 || t >= c.Vocab {
			return nil, fmt.Errorf("gpumodel: token %d of sequence %d is outside the vocabulary [0, %d)", t, b, c.Vocab)
		}
		if dc.lens[b] >= dc.Max {
			return nil, fmt.Errorf("gpumodel: sequence %d is full (%d tokens)", b, dc.Max)
		}
		tok[b], pos[b], after[b], posInt[b] = int32(t), int32(dc.lens[b]), int32(dc.lens[b]+1), dc.lens[b]
	}
	cos, sin := ropeTables(posInt, c)
	o := &ops{m: g.M}
	for _, w := range []struct {
		p    uintptr
		data []byte
	}{{dc.tok, kernels.I32Bytes(tok)}, {dc.pos, kernels.I32Bytes(pos)}, {dc.after, kernels.I32Bytes(after)}, {dc.cos, kernels.F32Bytes(cos)}, {dc.sin, kernels.F32Bytes(sin)}} {
		if o.err == nil {
			o.err = g.M.Write(w.p, w.data)
		}
	}
	stride := int64(dc.slotLen * kvd)
	dec := kernels.Decode{B: B, H: c.Heads, KVH: c.KVHeads, HD: hd, Window: c.SlidingWindow, SeqStride: stride, Scale: float32(1 / math.Sqrt(float64(hd)))}
	o.launch(kernels.Embedding(dc.x, g.w(g.embed), dc.tok, B, d))
	for li := range g.layers {
		w := &g.layers[li]
		o.launch(kernels.RMSNorm(dc.xn, 0, dc.x, g.w(w.attnNorm), kernels.F32, B, d, c.NormEps))
		o.linear(dc.q, dc.xn, g.w(w.wq), B, d, qd, 0, kernels.BF16)
		o.linear(dc.k, dc.xn, g.w(w.wk), B, d, kvd, 0, kernels.BF16)
		o.linear(dc.v, dc.xn, g.w(w.wv), B, d, kvd, 0, kernels.BF16)
		q, k := dc.q, dc.k
		if c.QKNorm {
			o.launch(kernels.RMSNorm(dc.qn, 0, dc.q, g.w(w.qNorm), kernels.BF16, B*c.Heads, hd, c.NormEps))
			o.launch(kernels.RMSNorm(dc.kn, 0, dc.k, g.w(w.kNorm), kernels.BF16, B*c.KVHeads, hd, c.NormEps))
			q, k = dc.qn, dc.kn
		}
		o.launch(kernels.RoPE(q, dc.cos, dc.sin, kernels.BF16, B, c.Heads, hd, false))
		o.launch(kernels.RoPE(k, dc.cos, dc.sin, kernels.BF16, B, c.KVHeads, hd, false))
		o.launch(kernels.KVAppend(dc.kc[li], dc.vc[li], k, dc.v, dc.pos, B, kvd, stride))
		o.launch(kernels.AttentionDecode(dc.attn, q, dc.kc[li], dc.vc[li], dc.after, dec))
		o.linear(dc.x, dc.attn, g.w(w.wo), B, qd, d, 1, kernels.F32)
		o.launch(kernels.RMSNorm(dc.xn, 0, dc.x, g.w(w.ffnNorm), kernels.F32, B, d, c.NormEps))
		o.linear(dc.gate, dc.xn, g.w(w.gate), B, d, hid, 0, kernels.BF16)
		o.linear(dc.up, dc.xn, g.w(w.up), B, d, hid, 0, kernels.BF16)
		o.launch(kernels.SwiGLU(dc.act, dc.gate, dc.up, B*hid))
		o.linear(dc.x, dc.act, g.w(w.down), B, hid, d, 1, kernels.F32)
	}
	o.launch(kernels.RMSNorm(dc.hn, 0, dc.x, g.w(g.finalNorm), kernels.F32, B, d, c.NormEps))
	o.linear(dc.logits, dc.hn, g.w(g.head), B, d, c.Vocab, 0, kernels.F32)
	if o.err != nil {
		return nil, fmt.Errorf("gpumodel: decoding step: %v", o.err)
	}
	raw := make([]byte, 4*B*c.Vocab)
	if err := g.M.Read(raw, dc.logits); err != nil {
		return nil, err
	}
	all := kernels.BytesF32(raw)
	out := make([][]float32, B)
	for b := range out {
		out[b] = all[b*c.Vocab : (b+1)*c.Vocab : (b+1)*c.Vocab]
		if active == nil || active[b] {
			dc.lens[b]++
		}
	}
	return out, nil
}
