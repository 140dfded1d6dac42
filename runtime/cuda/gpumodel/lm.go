package gpumodel

import (
	"fmt"

	"github.com/realc-project/realc/runtime/sample"
)

// LM is a sample.LM over a Decoder: each cache is one of the decoder's B
// sequence slots, Clone copies a slot (a prompt prefilled once, shared by n
// samples), Release frees it. Forward steps every slot together, one token
// per step, the slots without a token idle (Decoder.StepSome).
type LM struct {
	dc   *Decoder
	used []bool
}

// NewLM serves up to B caches of up to maxLen tokens each.
func (g *Model) NewLM(B, maxLen int) (*LM, error) {
	dc, err := g.NewDecoder(B, maxLen)
	if err != nil {
		return nil, err
	}
	return &LM{dc: dc, used: make([]bool, B)}, nil
}

// Free releases the decoder's caches.
func (lm *LM) Free() { lm.dc.Free() }

// Vocab is the model's vocabulary size.
func (lm *LM) Vocab() int { return lm.dc.g.Cfg.Vocab }

// slotCache is one slot; slot -1 means none was free (Forward reports it).
type slotCache struct {
	lm   *LM
	slot int
}

func (lm *LM) claim() *slotCache {
	for b, u := range lm.used {
		if !u {
			lm.used[b] = true
			lm.dc.SetLen(b, 0)
			return &slotCache{lm: lm, slot: b}
		}
	}
	return &slotCache{lm: lm, slot: -1}
}

// NewCache claims a free slot.
func (lm *LM) NewCache() sample.Cache { return lm.claim() }

func (c *slotCache) Len() int {
	if c.slot < 0 {
		return 0
	}
	return c.lm.dc.Len(c.slot)
}

// Clone claims a free slot holding a copy of this one.
func (c *slotCache) Clone() sample.Cache {
	d := c.lm.claim()
	if d.slot >= 0 && c.slot >= 0 {
		if err := c.lm.dc.CopySlot(d.slot, c.slot); err != nil {
			d.Release()
			d.slot = -1
		}
	}
	return d
}

// Release frees the slot.
func (c *slotCache) Release() {
	if c.slot >= 0 {
		c.lm.used[c.slot] = false
		c.slot = -1
	}
}

// Forward appends toks[i] to caches[i] and returns each one's logits after
// its last token.
func (lm *LM) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	B := lm.dc.B
	slots := make([]int, len(caches))
	steps := 0
	for i, c := range caches {
		sc, ok := c.(*slotCache)
		if !ok || sc.lm != lm {
			return nil, fmt.Errorf("gpumodel: cache %d is not one of this LM's", i)
		}
		if sc.slot < 0 {
			return nil, fmt.Errorf("gpumodel: more than %d caches at once (the decoder's slots)", B)
		}
		if sc.Len()+len(toks[i]) > lm.dc.Max {
			return nil, fmt.Errorf("gpumodel: cache %d would hold %d tokens, past %d", i, sc.Len()+len(toks[i]), lm.dc.Max)
		}
		slots[i] = sc.slot
		steps = max(steps, len(toks[i]))
	}
	out := make([][]float32, len(caches))
	step, active := make([]int, B), make([]bool, B)
	for j := 0; j < steps; j++ {
		clear(active)
		for i, s := range slots {
			if j < len(toks[i]) {
				step[s], active[s] = toks[i][j], true
			}
		}
		logits, err := lm.dc.StepSome(step, active)
		if err != nil {
			return nil, err
		}
		for i, s := range slots {
			if j == len(toks[i])-1 {
				out[i] = logits[s]
			}
		}
	}
	return out, nil
}

// LastLogits returns the logits after seq from one forward pass over it
// (Model.LastLogits), using none of the decoder's slots: a judge's score
// slot costs one prefill pass, not a decoding step per token.
func (lm *LM) LastLogits(seq []int) ([]float32, error) { return lm.dc.g.LastLogits(seq) }

var _ sample.LM = (*LM)(nil)
