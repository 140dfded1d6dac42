// Package fsdp shards a runtime/model.Model over the ranks of a dist.Comm,
// as PyTorch's FSDP (full sharding) does: the parameters are grouped into
// units (the embeddings, each transformer block, the head), each unit is
// flattened in model.Params order and split evenly over the ranks with zero
// padding at the end, and every rank keeps only its shard of the float32
// parameters, of the gradients and of AdamW's two moments.
//
// A training step with a Sharded s:
//
//	s.GatherAll()                 // or Gather(u) before unit u's forward and backward
//	g := s.NewGrads()             // flat-backed gradients (or reuse one across steps)
//	... forward and backward into g, the loss normalized by global counts (dist.SumInts)
//	s.ReleaseAll()                // free the gathered parameters
//	s.ReduceGrads(g)              // reduce-scatter: the sum over ranks of g, each rank its shard
//	norm, _ := s.GradNorm()       // global L2 norm (all ranks get the same value)
//	s.Update(lr, ClipScale(norm, clip), opt)  // AdamW on the local shard
//
// Update equals train.AdamW.Update element for element (same float64
// arithmetic, float32 state): with the same summed gradient a sharded step
// is bit-identical to the unsharded one. See README.md in this folder.
package fsdp

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/model"
)

// AdamW holds torch.optim.AdamW's settings: the fields of the recipe's optim
// line (train.Optim) of the same names.
type AdamW struct {
	WeightDecay, Beta1, Beta2, Eps float64
}

// Tensor is one parameter tensor of a unit.
type Tensor struct {
	Name   string // the Hugging Face name
	Shape  []int
	Offset int // in the flat unit
	Numel  int
}

// Unit is a group of parameters flattened and sharded together.
type Unit struct {
	Name     string // "embed", "layers.N", "head"
	Tensors  []Tensor
	Numel    int // elements of the flat unit
	ShardLen int // elements per rank: ceil(Numel / world size)
	// index of each tensor in model.Params order
	params []int
}

// Padded is the flat unit's length with padding: ShardLen * world size.
func (u *Unit) Padded(world int) int { return u.ShardLen * world }

// Owned is how many of rank r's ShardLen elements are parameters (the rest
// is padding).
func (u *Unit) Owned(r int) int { return max(0, min(u.ShardLen, u.Numel-r*u.ShardLen)) }

// Sharded is a model sharded over a communicator's ranks.
type Sharded struct {
	Comm  dist.Comm
	Cfg   model.Config
	Units []*Unit
	// Model's parameter slices are views into the gathered units, nil while
	// a unit is released. Forward, Backward and generation use it as usual
	// once its units are gathered.
	Model *model.Model
	// Step counts AdamW steps (torch's state["step"]).
	Step int

	params, expAvg, expAvgSq, grads [][]float32 // per unit, ShardLen each
	full                            [][]float32 // per unit: gathered, or nil
	// dropped counts the bytes of gathered units and gradients handed back
	// since the last collection (see maybeGC).
	dropped int64
	// pool, while a PerUnit step runs, holds released unit buffers for
	// the next gather or gradient to reuse (see take).
	pool    [][]float32
	pooling bool
}

// take returns a buffer of n elements (contents undefined): during a
// PerUnit step the smallest pooled one that fits, so that a step reuses
// the same few buffers instead of leaving each released unit to the
// collector (whose garbage, and the fragmentation of units of different
// sizes, measured 1.5-3.5 largest units of extra resident memory).
func (s *Sharded) take(n int) []float32 {
	best := -1
	for i, b := range s.pool {
		if cap(b) >= n && (best < 0 || cap(b) < cap(s.pool[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := s.pool[best][:n]
		s.pool = append(s.pool[:best], s.pool[best+1:]...)
		return b
	}
	s.maybeGC()
	if s.pooling {
		// Every pooled buffer fits any unit, so that a step needs as many
		// as it has units and gradients live at once, whatever their sizes.
		return make([]float32, n, max(n, int(s.LargestUnitBytes()/4)))
	}
	return make([]float32, n)
}

// put hands a released buffer back: to the pool during a PerUnit step,
// else to the collector.
func (s *Sharded) put(b []float32) {
	if s.pooling {
		s.pool = append(s.pool, b)
		return
	}
	s.dropped += 4 * int64(cap(b))
}

// maybeGC runs the garbage collector before a large allocation once the
// buffers dropped since the last run add up to the largest unit: the
// gathered units and gradients are float arrays without pointers, so a
// collection costs little, and it lets the next unit reuse the memory of
// the last instead of growing the heap to twice what is live (GOGC=100).
func (s *Sharded) maybeGC() {
	if s.dropped >= max(s.LargestUnitBytes(), 16<<20) {
		runtime.GC()
		s.dropped = 0
	}
}

// unitName is the unit of a Hugging Face parameter name.
func unitName(name string) string {
	switch {
	case name == "model.embed_tokens.weight":
		return "embed"
	case strings.HasPrefix(name, "model.layers."):
		rest := strings.TrimPrefix(name, "model.layers.")
		i := strings.IndexByte(rest, '.')
		return "layers." + rest[:i]
	}
	return "head" // model.norm.weight, lm_head.weight
}

// shell is a model with the config and no weights: its Params lists the
// names and shapes without allocating.
func shell(cfg model.Config) *model.Model {
	return &model.Model{Cfg: cfg, Layers: make([]model.Layer, cfg.Layers)}
}

// fields lists pointers to m's parameter slices in model.Params order.
func fields(m *model.Model) []*[]float32 {
	fs := []*[]float32{&m.Embed}
	for i := range m.Layers {
		l := &m.Layers[i]
		fs = append(fs, &l.AttnNorm, &l.Wq, &l.Wk, &l.Wv, &l.Wo)
		if m.Cfg.QKNorm {
			fs = append(fs, &l.QNorm, &l.KNorm)
		}
		fs = append(fs, &l.FFNNorm, &l.Gate, &l.Up, &l.Down)
	}
	fs = append(fs, &m.FinalNorm)
	if !m.Cfg.TiedEmbed {
		fs = append(fs, &m.Head)
	}
	return fs
}

// checkFields verifies that fields(m) is model.Params order, so that a
// change in runtime/model fails loudly here instead of mixing tensors up.
func checkFields(m *model.Model) error {
	ps, fs := m.Params(), fields(m)
	if len(ps) != len(fs) {
		return fmt.Errorf("fsdp: model.Params lists %d tensors, fsdp knows %d: update fsdp.fields for runtime/model", len(ps), len(fs))
	}
	for i, p := range ps {
		f := *fs[i]
		if len(p.Data) != len(f) || (len(f) > 0 && unsafe.SliceData(f) != unsafe.SliceData(p.Data)) {
			return fmt.Errorf("fsdp: model.Params[%d] (%s) is not the field fsdp maps there: update fsdp.fields for runtime/model", i, p.Name)
		}
	}
	return nil
}

// Layout groups cfg's parameters into units for a world of w ranks:
// "embed", "layers.0" ... "layers.L-1", "head" (model.norm and, untied,
// lm_head), each flattened in model.Params order.
func Layout(cfg model.Config, w int) ([]*Unit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w < 1 {
		return nil, fmt.Errorf("fsdp: world size %d", w)
	}
	var units []*Unit
	byName := map[string]*Unit{}
	for i, p := range shell(cfg).Params() {
		name := unitName(p.Name)
		u := byName[name]
		if u == nil {
			u = &Unit{Name: name}
			byName[name] = u
			units = append(units, u)
		}
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		u.Tensors = append(u.Tensors, Tensor{Name: p.Name, Shape: p.Shape, Offset: u.Numel, Numel: n})
		u.params = append(u.params, i)
		u.Numel += n
	}
	for _, u := range units {
		u.ShardLen = (u.Numel + w - 1) / w
	}
	return units, nil
}

func newSharded(c dist.Comm, cfg model.Config) (*Sharded, error) {
	units, err := Layout(cfg, c.Size())
	if err != nil {
		return nil, err
	}
	s := &Sharded{Comm: c, Cfg: cfg, Units: units, Model: shell(cfg)}
	n := len(units)
	s.params, s.expAvg, s.expAvgSq, s.grads = make([][]float32, n), make([][]float32, n), make([][]float32, n), make([][]float32, n)
	s.full = make([][]float32, n)
	for i, u := range units {
		s.params[i] = make([]float32, u.ShardLen)
		s.expAvg[i] = make([]float32, u.ShardLen)
		s.expAvgSq[i] = make([]float32, u.ShardLen)
		s.grads[i] = make([]float32, u.ShardLen)
	}
	return s, nil
}

// New shards m, whose weights every rank holds identically (each loaded the
// same checkpoint, say), and releases m's weights: the caller must drop m.
// Only rank-local memory is used; there is no communication.
func New(c dist.Comm, m *model.Model) (*Sharded, error) {
	if err := checkFields(m); err != nil {
		return nil, err
	}
	s, err := newSharded(c, m.Cfg)
	if err != nil {
		return nil, err
	}
	s.Model.Cfg = m.Cfg
	fs := fields(m)
	r := c.Rank()
	for ui, u := range s.Units {
		lo := r * u.ShardLen
		for k, t := range u.Tensors {
			src := *fs[u.params[k]]
			copyRange(s.params[ui], lo, src, t.Offset)
		}
	}
	for _, f := range fs {
		*f = nil
	}
	m.Head = nil
	return s, nil
}

// copyRange copies the part of src (at offset off of the flat unit) that
// falls in the shard dst (starting at flat index lo).
func copyRange(dst []float32, lo int, src []float32, off int) {
	a, b := max(lo, off), min(lo+len(dst), off+len(src))
	if a < b {
		copy(dst[a-lo:b-lo], src[a-off:b-off])
	}
}

// Load shards the tensors of src (model.LoadHFFrom's reader), one tensor at
// a time: no rank ever holds more than one tensor of full weights (none
// when src can decode part of a tensor, as LoadHF's reader does). Every rank
// reads the same files.
func Load(c dist.Comm, cfg model.Config, src model.WeightReader) (*Sharded, error) {
	s, err := newSharded(c, cfg)
	if err != nil {
		return nil, err
	}
	r := c.Rank()
	for ui, u := range s.Units {
		lo := r * u.ShardLen
		for _, t := range u.Tensors {
			shape, ok := src.Shape(t.Name)
			if !ok {
				return nil, fmt.Errorf("fsdp: tensor %s is missing", t.Name)
			}
			if !equalInts(shape, t.Shape) {
				return nil, fmt.Errorf("%s: tensor %s has shape %v, the config implies %v", src.Where(t.Name), t.Name, shape, t.Shape)
			}
			a, b := max(lo, t.Offset), min(lo+u.ShardLen, t.Offset+t.Numel)
			if a >= b {
				continue // none of it is ours
			}
			if rr, ok := src.(rangeReader); ok {
				if err := rr.Float32Range(t.Name, a-t.Offset, s.params[ui][a-lo:b-lo]); err != nil {
					return nil, fmt.Errorf("%s: %v", src.Where(t.Name), err)
				}
				continue
			}
			buf := make([]float32, t.Numel)
			if err := src.Float32Into(t.Name, buf); err != nil {
				return nil, fmt.Errorf("%s: tensor %s: %v", src.Where(t.Name), t.Name, err)
			}
			copyRange(s.params[ui], lo, buf, t.Offset)
		}
	}
	return s, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Unit returns the index of the unit named name ("embed", "layers.3",
// "head"), or -1.
func (s *Sharded) Unit(name string) int {
	for i, u := range s.Units {
		if u.Name == name {
			return i
		}
	}
	return -1
}

// LayerUnit is the index of transformer block i's unit.
func (s *Sharded) LayerUnit(i int) int { return s.Unit("layers." + strconv.Itoa(i)) }

// Gather all-gathers unit u and points the model's slices into it. It is a
// no-op when u is already gathered.
func (s *Sharded) Gather(u int) error {
	if s.full[u] != nil {
		return nil
	}
	unit := s.Units[u]
	full := s.take(unit.Padded(s.Comm.Size()))
	if err := s.Comm.AllGather(full, s.params[u]); err != nil {
		s.put(full)
		return fmt.Errorf("fsdp: gathering unit %s: %w", unit.Name, err)
	}
	s.full[u] = full
	s.point(u, full)
	return nil
}

// point sets unit u's model slices to views of flat (nil: release). The
// views keep flat's capacity so that adjacent q/k/v and gate/up still
// multiply as one matrix (model's fusedView).
func (s *Sharded) point(u int, flat []float32) { s.pointInto(s.Model, u, flat) }

// pointInto sets unit u's slices of m (the model or a gradient model).
func (s *Sharded) pointInto(m *model.Model, u int, flat []float32) {
	unit := s.Units[u]
	fs := fields(m)
	for k, t := range unit.Tensors {
		if flat == nil {
			*fs[unit.params[k]] = nil
		} else {
			*fs[unit.params[k]] = flat[t.Offset : t.Offset+t.Numel]
		}
	}
	if s.Cfg.TiedEmbed && unit.Name == "embed" {
		m.Head = m.Embed
	}
}

// Release drops unit u's gathered parameters.
func (s *Sharded) Release(u int) {
	if s.full[u] != nil {
		s.put(s.full[u])
	}
	s.full[u] = nil
	s.point(u, nil)
}

// GatherAll gathers every unit (the model is then whole: Forward, Backward
// and generation work unchanged).
func (s *Sharded) GatherAll() error {
	for u := range s.Units {
		if err := s.Gather(u); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseAll releases every unit.
func (s *Sharded) ReleaseAll() {
	for u := range s.Units {
		s.Release(u)
	}
}

// Gathered reports whether unit u is gathered.
func (s *Sharded) Gathered(u int) bool { return s.full[u] != nil }

// NewGrads returns a zero gradient model whose slices are views of one
// padded flat array per unit (q/k/v and gate/up adjacent, as model.New lays
// them out), so that ReduceGrads sends them without a copy. With tied
// embeddings its Head is its Embed.
func (s *Sharded) NewGrads() *model.Model {
	s.maybeGC()
	g := shell(s.Cfg)
	fs := fields(g)
	for _, unit := range s.Units {
		flat := make([]float32, unit.Padded(s.Comm.Size()))
		for k, t := range unit.Tensors {
			*fs[unit.params[k]] = flat[t.Offset : t.Offset+t.Numel]
		}
	}
	if s.Cfg.TiedEmbed {
		g.Head = g.Embed
	}
	return g
}

// flatOf returns unit u's gradients in g as one padded flat array: g's own
// storage when g came from NewGrads, else a copy.
func (s *Sharded) flatOf(u int, g *model.Model) []float32 {
	unit := s.Units[u]
	fs := fields(g)
	first := *fs[unit.params[0]]
	padded := unit.Padded(s.Comm.Size())
	if cap(first) >= padded {
		flat := first[:padded]
		ok := true
		for k, t := range unit.Tensors {
			f := *fs[unit.params[k]]
			if len(f) != t.Numel || unsafe.SliceData(f) != &flat[t.Offset] {
				ok = false
				break
			}
		}
		if ok {
			return flat
		}
	}
	flat := make([]float32, padded)
	for k, t := range unit.Tensors {
		copy(flat[t.Offset:t.Offset+t.Numel], *fs[unit.params[k]])
	}
	return flat
}

// ReduceGrads reduce-scatters g (this rank's gradients, model.Params
// layout, any model of the right shape): afterwards this rank's gradient
// shards hold the sum over ranks. The shards are overwritten, not added to:
// accumulate micro-batches in g. Drop g afterwards (NewGrads next step) so
// that only the shards stay resident; reusing it keeps a full gradient. Normalize the loss by global counts
// (dist.SumInts) so that the sum is the gradient of the global loss.
func (s *Sharded) ReduceGrads(g *model.Model) error {
	for u := range s.Units {
		if err := s.ReduceUnitGrads(u, g); err != nil {
			return err
		}
	}
	return nil
}

// ReduceUnitGrads reduce-scatters unit u's gradients (for a backward that
// reduces each unit as soon as it is done, then frees it).
func (s *Sharded) ReduceUnitGrads(u int, g *model.Model) error {
	flat := s.flatOf(u, g)
	if err := s.Comm.ReduceScatter(s.grads[u], flat, dist.Sum); err != nil {
		return fmt.Errorf("fsdp: reducing the gradients of unit %s: %w", s.Units[u].Name, err)
	}
	s.dropped += 4 * int64(len(flat))
	return nil
}

// GradNorm is the global L2 norm of the reduced gradients: each rank's
// squared norm in float64, summed over ranks in rank order (the same value
// on every rank).
func (s *Sharded) GradNorm() (float64, error) {
	var sq float64
	for _, g := range s.grads {
		for _, v := range g {
			sq += float64(v) * float64(v)
		}
	}
	tot, err := dist.SumF64(s.Comm, sq)
	if err != nil {
		return 0, fmt.Errorf("fsdp: grad norm: %w", err)
	}
	return math.Sqrt(tot[0]), nil
}

// ClipScale is torch.nn.utils.clip_grad_norm_'s factor (train.ClipScale):
// clip/(norm+1e-6) when the norm exceeds clip (clip <= 0: no clipping),
// else 1.
func ClipScale(norm, clip float64) float64 {
	if clip > 0 && norm > clip {
		return clip / (norm + 1e-6)
	}
	return 1
}

// Update takes one AdamW step on this rank's shards with the reduced
// gradients scaled by gradScale, at learning rate lr: train.AdamW.Update's
// arithmetic on the shard. Gathered units are released (they are stale).
func (s *Sharded) Update(lr, gradScale float64, o AdamW) {
	s.ReleaseAll()
	s.Step++
	bc1 := 1 - math.Pow(o.Beta1, float64(s.Step))
	bc2 := 1 - math.Pow(o.Beta2, float64(s.Step))
	r := s.Comm.Rank()
	for u, unit := range s.Units {
		n := unit.Owned(r)
		p, gg, mm, vv := s.params[u][:n], s.grads[u][:n], s.expAvg[u][:n], s.expAvgSq[u][:n]
		for j := range p {
			x := float64(p[j])
			gr := float64(gg[j]) * gradScale
			x *= 1 - lr*o.WeightDecay
			mj := o.Beta1*float64(mm[j]) + (1-o.Beta1)*gr
			vj := o.Beta2*float64(vv[j]) + (1-o.Beta2)*gr*gr
			mm[j], vv[j] = float32(mj), float32(vj)
			x -= lr * (mj / bc1) / (math.Sqrt(vj/bc2) + o.Eps)
			p[j] = float32(x)
		}
	}
}

// Shard returns this rank's shards of unit u: parameters, gradients and the
// two moments (ShardLen each; past Owned(rank) is padding). They are the
// live state, not copies.
func (s *Sharded) Shard(u int) (params, grads, expAvg, expAvgSq []float32) {
	return s.params[u], s.grads[u], s.expAvg[u], s.expAvgSq[u]
}

// ShardBytes is the bytes of this rank's persistent state: parameter,
// gradient and moment shards (4 x 4 bytes per element).
func (s *Sharded) ShardBytes() int64 {
	var n int64
	for _, u := range s.Units {
		n += int64(u.ShardLen)
	}
	return 16 * n
}

// GatheredBytes is the bytes of the units gathered now.
func (s *Sharded) GatheredBytes() int64 {
	var n int64
	for _, f := range s.full {
		n += int64(len(f))
	}
	return 4 * n
}

// LargestUnitBytes is the bytes of the largest gathered unit (padded).
func (s *Sharded) LargestUnitBytes() int64 {
	var n int
	for _, u := range s.Units {
		n = max(n, u.Padded(s.Comm.Size()))
	}
	return 4 * int64(n)
}
