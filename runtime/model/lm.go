package model

import (
	"fmt"

	"github.com/realc-project/realc/runtime/sample"
)

// LM adapts a Model to runtime/sample's LM interface: its caches are
// *KVCache, and Forward is one batched Step.
type LM struct{ M *Model }

var (
	_ sample.IntoLM   = LM{}
	_ sample.Cache    = (*KVCache)(nil)
	_ sample.Reserver = (*KVCache)(nil)
)

// Vocab is the vocabulary size.
func (l LM) Vocab() int { return l.M.Cfg.Vocab }

// NewCache returns an empty *KVCache.
func (l LM) NewCache() sample.Cache { return l.M.NewKVCache() }

// Forward appends toks[i] to caches[i] (each a *KVCache of this model) and
// returns the logits after each sequence's last new token.
func (l LM) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	return l.ForwardInto(nil, caches, toks)
}

// ForwardInto is Forward writing the logits into dst when it is large enough
// (see Model.StepInto).
func (l LM) ForwardInto(dst []float32, caches []sample.Cache, toks [][]int) ([][]float32, error) {
	kv := make([]*KVCache, len(caches))
	for i, c := range caches {
		k, ok := c.(*KVCache)
		if !ok || k == nil {
			return nil, fmt.Errorf("model: cache %d is a %T, not a *model.KVCache from this model's NewCache", i, c)
		}
		if k.owner != l.M {
			return nil, fmt.Errorf("model: cache %d was made by another model", i)
		}
		kv[i] = k
	}
	return l.M.StepInto(dst, kv, toks)
}

// Clone returns an independent copy (see CloneKV), as sample.Cache.
func (c *KVCache) Clone() sample.Cache { return c.CloneKV() }
