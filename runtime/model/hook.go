package model

// Part names a group of weights that Forward and Backward use together:
// the token embeddings, one transformer block, or the head (the final norm
// and the LM head matrix).
type Part int

const (
	PartEmbed Part = iota // Embed: the token lookup (its gradient: the scatter-add)
	PartLayer             // Layers[i]
	PartHead              // FinalNorm, and Head for Logits or a fused loss
)

func (p Part) String() string {
	switch p {
	case PartEmbed:
		return "embed"
	case PartLayer:
		return "layer"
	}
	return "head"
}

// Hooks lets a caller bring each part's weights into memory just before
// Forward or Backward uses them, and its gradient out right after: a model
// sharded over ranks (runtime/dist/fsdp) all-gathers one block at a time
// and reduce-scatters its gradient once the block's backward has run. With
// Model.Hooks nil (the default) nothing is called and the passes are as
// before, bit for bit.
//
// The order is fixed. Forward: BeforeForward(PartEmbed, 0), then
// BeforeForward(PartLayer, i) for i = 0..L-1, then BeforeForward(PartHead,
// 0) before the final norm; the head's weights (FinalNorm and Head, which is
// Embed when tied) must stay usable until the next hook call, since Logits
// and a fused loss read Head after Forward returns. Backward and
// BackwardHidden: BeforeBackward/AfterBackward of PartHead (the final norm,
// and Backward's LM head product), of PartLayer i for i = L-1..0, then of
// PartEmbed (which reads no weights, only adds into g.Embed). g is the
// gradient model passed to Backward: its slices for the part must be
// present after BeforeBackward and may be dropped by AfterBackward.
//
// A hook's error stops the pass and is returned by Forward or Backward.
type Hooks interface {
	BeforeForward(p Part, layer int) error
	BeforeBackward(p Part, layer int, g *Model) error
	AfterBackward(p Part, layer int, g *Model) error
}

func (m *Model) beforeForward(p Part, layer int) error {
	if m.Hooks == nil {
		return nil
	}
	return m.Hooks.BeforeForward(p, layer)
}

func (m *Model) beforeBackward(p Part, layer int, g *Model) error {
	if m.Hooks == nil {
		return nil
	}
	return m.Hooks.BeforeBackward(p, layer, g)
}

func (m *Model) afterBackward(p Part, layer int, g *Model) error {
	if m.Hooks == nil {
		return nil
	}
	return m.Hooks.AfterBackward(p, layer, g)
}
