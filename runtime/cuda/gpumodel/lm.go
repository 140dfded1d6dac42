package gpumodel

import (
	"fmt"
	"slices"

	"github.com/realc-project/realc/runtime/sample"
)

// LM is a sample.LM over a Decoder: each cache is one of the decoder's B
// sequence slots, Clone copies a slot (a prompt prefilled once, shared by n
// samples), Release frees it. Forward prefills the empty caches given
// several tokens in forward passes (Decoder.PrefillMany), and steps the
// other caches together, one token per step, the slots without a token
// idle (Decoder.StepSome).
type LM struct {
	dc   *Decoder
	used []bool
	// PrefillRows bounds one prefill pass's rows (prompts batched
	// together, padding included); NewLM sets DefaultPrefillRows.
	PrefillRows int
}

// NewLM serves up to B caches of up to maxLen tokens each.
func (g *Model) NewLM(B, maxLen int) (*LM, error) {
	dc, err := g.NewDecoder(B, maxLen)
	if err != nil {
		return nil, err
	}
	return &LM{dc: dc, used: make([]bool, B), PrefillRows: DefaultPrefillRows}, nil
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
// its last token. The empty caches given two or more tokens (prompts) are
// prefilled, in forward passes of batches of similar lengths (at most
// PrefillRows rows each, prefillGroups); the others take decoding steps
// together, as many as the longest needs.
func (lm *LM) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	B := lm.dc.B
	slots := make([]int, len(caches))
	prefill := make([]bool, len(caches))
	seen := make(map[int]bool, len(caches))
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
		if seen[sc.slot] {
			return nil, fmt.Errorf("gpumodel: cache %d appears twice in one Forward", i)
		}
		seen[sc.slot] = true
		slots[i] = sc.slot
		if prefill[i] = sc.Len() == 0 && len(toks[i]) > 1; !prefill[i] {
			steps = max(steps, len(toks[i]))
		}
	}
	out := make([][]float32, len(caches))
	for _, group := range prefillGroups(prefill, toks, lm.PrefillRows) {
		seqs, ts := make([]int, len(group)), make([][]int, len(group))
		for j, i := range group {
			seqs[j], ts[j] = slots[i], toks[i]
		}
		logits, err := lm.dc.PrefillMany(seqs, ts)
		if err != nil {
			return nil, err
		}
		for j, i := range group {
			out[i] = logits[j]
		}
	}
	step, active := make([]int, B), make([]bool, B)
	for j := 0; j < steps; j++ {
		clear(active)
		for i, s := range slots {
			if !prefill[i] && j < len(toks[i]) {
				step[s], active[s] = toks[i][j], true
			}
		}
		logits, err := lm.dc.StepSome(step, active)
		if err != nil {
			return nil, err
		}
		for i, s := range slots {
			if !prefill[i] && j == len(toks[i])-1 {
				out[i] = logits[s]
			}
		}
	}
	return out, nil
}

// DefaultPrefillRows is LM.PrefillRows unless set: 8,192 rows are a
// quarter GiB of Qwen3-8B's activations in an Infer pass.
const DefaultPrefillRows = 8192

// prefillGroups splits the caches to prefill (the indices i with
// prefill[i]) into the batches of one pass each: shortest prompts first,
// a batch taking the next prompt while its rows (the batch's size times
// its longest prompt, padding included) stay within maxRows and at most a
// quarter above its prompts' tokens. A prompt longer than maxRows is a
// pass of its own.
func prefillGroups(prefill []bool, toks [][]int, maxRows int) [][]int {
	var idx []int
	for i, p := range prefill {
		if p {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return len(toks[a]) - len(toks[b]) })
	var groups [][]int
	var cur []int
	tokens := 0
	for _, i := range idx {
		n := len(toks[i])
		if rows := (len(cur) + 1) * n; len(cur) > 0 && (rows > maxRows || 4*rows > 5*(tokens+n)) {
			groups, cur, tokens = append(groups, cur), nil, 0
		}
		cur, tokens = append(cur, i), tokens+n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// LastLogits returns the logits after seq from one forward pass over it
// (Model.LastLogits), using none of the decoder's slots: a judge's score
// slot costs one prefill pass, not a decoding step per token.
func (lm *LM) LastLogits(seq []int) ([]float32, error) { return lm.dc.g.LastLogits(seq) }

var _ sample.LM = (*LM)(nil)
