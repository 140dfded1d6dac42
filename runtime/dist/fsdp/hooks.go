package fsdp

import (
	"fmt"
	"slices"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/model"
)

// PerUnit runs one optimizer step's forward and backward passes with one
// unit gathered at a time: it is the model's Hooks (runtime/model/hook.go)
// while it is open. Before a part's forward its unit is all-gathered and
// every other unit released; before its backward the unit is gathered
// again and its gradient buffer (a padded flat array) allocated; after its
// backward the gradient is reduce-scattered, added to this rank's gradient
// shard and dropped, and the unit released. A rank therefore holds its
// shards, one unit's parameters and one unit's gradient (two of each at
// the LM head: the head's forward leaves the head's parameters and
// gradient buffer, and with tied embeddings the embedding's, for the loss
// that runs after Forward returns).
//
//	h := s.PerUnit()           // the gradient shards start at zero
//	h.Plan(mine, most)         // forward passes before the loss: this rank's, the most of any rank
//	... forward passes, the loss (prob.W = s.Model.Head, prob.DW = h.Grads().Head), backward passes on s.Model into h.Grads()
//	h.PadForwards(most)        // a rank with no data: before its share of the loss's collectives
//	h.PadBackwards(most)       // after the backward passes
//	err := h.Finish()          // the gradient shards hold the sum over ranks
//	norm, _ := s.GradNorm(); s.Update(...)
//
// Every gather and reduce-scatter is a collective, so every rank must run
// the same sequence of passes. Ranks with fewer micro-batches (or none) run
// the missing passes without data: the same gathers, and zero gradients
// reduce-scattered, which add nothing. The pattern is that of a trainer
// that forwards its micro-batches, computes the loss, then backwards each
// micro-batch, re-forwarding all but the last: Plan's lead passes run
// before this rank's first forward, PadBackwards completes the backward
// passes (one, then forward-backward pairs).
type PerUnit struct {
	s         *Sharded
	g         *model.Model // the gradient model: a unit's slices present while its gradient is built
	gflat     [][]float32  // per unit: the local gradient being built, or nil
	tmp       []float32    // reduce-scatter destination
	embed     int
	head      int
	lmHead    int // the unit holding the LM head matrix: head, or embed when tied
	layers    []int
	lead      int // passes without data to run before the first forward
	forwards  int
	backwards int
	err       error
	prevHooks model.Hooks
	closed    bool
	peakUnits int64 // most bytes of gathered parameters and gradient buffers at once
	liveGrads int64
}

// PerUnit opens a step: it releases every gathered unit, zeroes the
// gradient shards and installs itself as s.Model's hooks until Finish.
func (s *Sharded) PerUnit() *PerUnit {
	s.ReleaseAll()
	for _, g := range s.grads {
		clear(g)
	}
	h := &PerUnit{s: s, g: shell(s.Cfg), gflat: make([][]float32, len(s.Units)),
		embed: s.Unit("embed"), head: s.Unit("head"), prevHooks: s.Model.Hooks}
	h.lmHead = h.head
	if s.Cfg.TiedEmbed {
		h.lmHead = h.embed
	}
	longest := 0
	for _, u := range s.Units {
		longest = max(longest, u.ShardLen)
	}
	h.tmp = make([]float32, longest)
	for i := range s.Cfg.Layers {
		h.layers = append(h.layers, s.LayerUnit(i))
	}
	s.Model.Hooks = h
	s.pooling = true
	return h
}

// Grads is the gradient model to pass to Backward (and whose Head a fused
// loss accumulates into): its slices exist only while their unit's
// gradient is being built.
func (h *PerUnit) Grads() *model.Model { return h.g }

// Plan says that this rank will run mine forward passes before the loss
// and the busiest rank most: the difference runs, without data, before
// this rank's first forward (a rank with none calls PadForwards).
func (h *PerUnit) Plan(mine, most int) { h.lead = max(0, most-mine) }

// Forwards and Backwards count the passes run so far (with and without
// data).
func (h *PerUnit) Forwards() int  { return h.forwards }
func (h *PerUnit) Backwards() int { return h.backwards }

// PeakBytes is the most memory gathered parameters, local gradient
// buffers and pooled buffers took at once during the step (besides the
// shards).
func (h *PerUnit) PeakBytes() int64 { return h.peakUnits }

func (h *PerUnit) fail(err error) error {
	if h.err == nil {
		h.err = err
	}
	return h.err
}

// partUnit is the unit of a model part.
func (h *PerUnit) partUnit(p model.Part, layer int) int {
	switch p {
	case model.PartEmbed:
		return h.embed
	case model.PartLayer:
		return h.layers[layer]
	}
	return h.head
}

// only gathers the units in need and releases every other one.
func (h *PerUnit) only(need ...int) error {
	for u := range h.s.Units {
		if h.s.full[u] != nil && !slices.Contains(need, u) {
			h.s.Release(u)
		}
	}
	for _, u := range need {
		if err := h.s.Gather(u); err != nil {
			return h.fail(err)
		}
	}
	h.note()
	return nil
}

func (h *PerUnit) note() {
	n := h.s.GatheredBytes() + h.liveGrads
	for _, b := range h.s.pool {
		n += 4 * int64(cap(b))
	}
	h.peakUnits = max(h.peakUnits, n)
}

// grad allocates unit u's local gradient buffer (zero) unless it exists.
func (h *PerUnit) grad(u int) {
	if h.gflat[u] != nil {
		return
	}
	flat := h.s.take(h.s.Units[u].Padded(h.s.Comm.Size()))
	clear(flat)
	h.gflat[u] = flat
	h.liveGrads += 4 * int64(len(flat))
	h.s.pointInto(h.g, u, flat)
	h.note()
}

// reduce reduce-scatters unit u's local gradient, adds it to this rank's
// shard and drops it.
func (h *PerUnit) reduce(u int) error {
	flat := h.gflat[u]
	if flat == nil {
		return nil
	}
	unit := h.s.Units[u]
	dst := h.tmp[:unit.ShardLen]
	if err := h.s.Comm.ReduceScatter(dst, flat, dist.Sum); err != nil {
		return h.fail(fmt.Errorf("fsdp: reducing the gradients of unit %s: %w", unit.Name, err))
	}
	for j, v := range dst {
		h.s.grads[u][j] += v
	}
	h.gflat[u] = nil
	h.liveGrads -= 4 * int64(len(flat))
	h.s.pointInto(h.g, u, nil)
	h.s.put(flat)
	return nil
}

func (h *PerUnit) check() error {
	if h.closed {
		return fmt.Errorf("fsdp: a pass ran on the sharded model after its step's Finish")
	}
	return h.err
}

// BeforeForward implements model.Hooks.
func (h *PerUnit) BeforeForward(p model.Part, layer int) error {
	if err := h.check(); err != nil {
		return err
	}
	if p == model.PartEmbed {
		for h.lead > 0 {
			h.lead--
			h.forwards++
			if err := h.forwardWithoutData(); err != nil {
				return err
			}
		}
		h.forwards++
	}
	return h.beforeForward(p, layer)
}

func (h *PerUnit) beforeForward(p model.Part, layer int) error {
	if p != model.PartHead {
		return h.only(h.partUnit(p, layer))
	}
	if err := h.only(h.head, h.lmHead); err != nil {
		return err
	}
	// The loss after Forward adds the LM head's gradient (prob.DW).
	h.grad(h.lmHead)
	return nil
}

// BeforeBackward implements model.Hooks.
func (h *PerUnit) BeforeBackward(p model.Part, layer int, g *model.Model) error {
	if err := h.check(); err != nil {
		return err
	}
	if g != h.g {
		return h.fail(fmt.Errorf("fsdp: a backward pass into a gradient model other than the step's (PerUnit.Grads)"))
	}
	if p == model.PartHead {
		h.backwards++
	}
	return h.beforeBackward(p, layer)
}

func (h *PerUnit) beforeBackward(p model.Part, layer int) error {
	u := h.partUnit(p, layer)
	var err error
	switch p {
	case model.PartEmbed:
		err = h.only() // the embedding's backward reads no parameters
	case model.PartHead:
		// Backward multiplies by the LM head (tied: the embedding). It
		// follows a forward, whose head step gathered both: no transfer.
		err = h.only(u, h.lmHead)
	default:
		err = h.only(u)
	}
	if err != nil {
		return err
	}
	h.grad(u)
	if p == model.PartHead {
		h.grad(h.lmHead) // Backward's LM head product (tied: into the embedding's)
	}
	return nil
}

// AfterBackward implements model.Hooks.
func (h *PerUnit) AfterBackward(p model.Part, layer int, _ *model.Model) error {
	if err := h.check(); err != nil {
		return err
	}
	u := h.partUnit(p, layer)
	if err := h.reduce(u); err != nil {
		return err
	}
	if h.s.full[u] != nil {
		h.s.Release(u)
	}
	return nil
}

// forwardWithoutData makes the collectives of one forward pass.
func (h *PerUnit) forwardWithoutData() error {
	if err := h.beforeForward(model.PartEmbed, 0); err != nil {
		return err
	}
	for i := range h.layers {
		if err := h.beforeForward(model.PartLayer, i); err != nil {
			return err
		}
	}
	return h.beforeForward(model.PartHead, 0)
}

// backwardWithoutData makes the collectives of one backward pass (zero
// gradients, unless a loss added the LM head's).
func (h *PerUnit) backwardWithoutData() error {
	h.backwards++
	parts := []struct {
		p model.Part
		i int
	}{{model.PartHead, 0}}
	for i := len(h.layers) - 1; i >= 0; i-- {
		parts = append(parts, struct {
			p model.Part
			i int
		}{model.PartLayer, i})
	}
	parts = append(parts, struct {
		p model.Part
		i int
	}{model.PartEmbed, 0})
	for _, pt := range parts {
		if err := h.beforeBackward(pt.p, pt.i); err != nil {
			return err
		}
		if err := h.AfterBackward(pt.p, pt.i, h.g); err != nil {
			return err
		}
	}
	return nil
}

// PadForwards runs forward passes without data until n have run.
func (h *PerUnit) PadForwards(n int) error {
	if err := h.check(); err != nil {
		return err
	}
	h.lead = 0
	for h.forwards < n {
		h.forwards++
		if err := h.forwardWithoutData(); err != nil {
			return err
		}
	}
	return nil
}

// PadBackwards completes the backward phase to n backward passes: one
// backward without data if none ran, then forward-backward pairs.
func (h *PerUnit) PadBackwards(n int) error {
	if err := h.check(); err != nil {
		return err
	}
	if h.backwards == 0 && n > 0 {
		if err := h.backwardWithoutData(); err != nil {
			return err
		}
	}
	for h.backwards < n {
		h.forwards++
		if err := h.forwardWithoutData(); err != nil {
			return err
		}
		if err := h.backwardWithoutData(); err != nil {
			return err
		}
	}
	return nil
}

// Finish closes the step: it releases every unit, restores the model's
// previous hooks and returns the first error of the step. A gradient
// buffer no backward reduced (a loss without backward) is dropped.
func (h *PerUnit) Finish() error {
	if h.closed {
		return h.err
	}
	h.closed = true
	h.s.ReleaseAll()
	for u, f := range h.gflat {
		if f != nil {
			h.gflat[u] = nil
			h.s.pointInto(h.g, u, nil)
			h.s.put(f)
		}
	}
	h.liveGrads = 0
	// The pool goes to the collector: between steps a rank holds its
	// shards only.
	h.s.pooling = false
	for _, b := range h.s.pool {
		h.s.put(b)
	}
	h.s.pool = nil
	h.s.Model.Hooks = h.prevHooks
	return h.err
}
