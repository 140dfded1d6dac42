package train

import (
	"errors"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// globalLoss is the recipe's program with its batch sums (recipe.State.Total)
// computed over every rank where a world of one sums over the whole batch:
// recipe.State.Global is an all-reduce (a rank-order sum: every rank gets
// the same bits).
//
//   - While stage one runs (beginStageOne to end: the step's scoring, the
//     buffer's score pass), the score, filter and advantage stages' sums:
//     a filter or advantage with a batch statistic (ppo's advantage
//     whitened over the batch's tokens) sees the world's kept groups, as
//     world size 1 sees the step's or the buffer's.
//   - While a distributed optimizer step runs (begin to end), the loss
//     stages' (Rest, Token): the normalizers and aggregates of the
//     mini-batch.
//
// Outside them (evaluation, a frozen stage one) it is the program itself.
// Group statistics never cross ranks: a group lives on one rank.
//
// Every rank must make the same all-reduces: the stages of each rank's
// groups, or of an empty batch on a rank without any, call Total once per
// batch sum of the recipe whatever the batch.
//
// A rank whose stage fails between its first and its last sum (a
// non-finite logit in the gradient pass between Rest and Token, say) leaves
// the others waiting in their next sum: abort answers it with a failure
// flag (each sum carries one), so that they stop there with errPeerFailed,
// make no further collective of the pass, and reach agree, which names the
// failed rank and its error.
type globalLoss struct {
	recipe.Program
	comm     dist.Comm
	active   bool  // the loss stages' sums are global
	stageOne bool  // the score, filter and advantage stages' sums are global
	started  bool  // the global stages began: their collectives have started
	done     bool  // the last global stage returned without error: they have all been made
	err      error // the first failed all-reduce, or errPeerFailed
	calls    int   // the sums of this pass so far
	// perPass is the number of sums a completed pass of each kind made
	// (loss, stage one; 0: none completed yet): a rank whose failure comes
	// after its last sum sends no flag, since no rank waits in a sum then.
	perPass [2]int
}

// errPeerFailed is the error of a rank that learned in a global sum that
// another rank's pass failed; agree reports that rank's error instead.
var errPeerFailed = errors.New("another rank failed during this pass")

func (p *globalLoss) begin() {
	p.active, p.stageOne, p.started, p.done, p.err, p.calls = true, false, false, false, nil, 0
}

func (p *globalLoss) beginStageOne() {
	p.active, p.stageOne, p.started, p.done, p.err, p.calls = false, true, false, false, nil, 0
}

func (p *globalLoss) end() {
	if p.done {
		p.perPass[p.kind()] = p.calls
	}
	p.active, p.stageOne = false, false
}

func (p *globalLoss) kind() int {
	if p.stageOne {
		return 1
	}
	return 0
}

func (p *globalLoss) sum(x float64) float64 {
	if p.err != nil {
		return x
	}
	p.calls++
	s, err := dist.SumF64(p.comm, x, 0)
	if err != nil {
		p.err = err
		return x
	}
	if s[1] > 0 {
		p.err = errPeerFailed
		return x
	}
	return s[0]
}

// abort is called by a rank whose pass failed after it started its global
// sums (started) and before they were all made (done): unless a sum
// failed or brought the news of another rank's failure (then every rank
// knows already), or this rank made as many sums as a completed pass, it
// answers the others' next sum with the failure flag.
func (p *globalLoss) abort() {
	if !p.started || p.done || p.err != nil {
		return
	}
	if n := p.perPass[p.kind()]; n > 0 && p.calls >= n {
		return
	}
	p.err = errPeerFailed // no further sums on this rank
	dist.SumF64(p.comm, 0, 1)
}

// first runs a pass's first stage with global sums (global: the pass's
// sums are the world's), or stage itself with this rank's sums.
func (p *globalLoss) first(global bool, s *recipe.State, stage func(*recipe.State) error) error {
	if !global {
		s.Global = nil
		return stage(s)
	}
	p.started = true
	s.Global = p.sum
	if err := stage(s); err != nil {
		return err
	}
	return p.err
}

// last runs a pass's last stage with global sums, as first does; its
// success means every sum of the pass was made (done).
func (p *globalLoss) last(global bool, s *recipe.State, stage func(*recipe.State) error) error {
	if !global {
		s.Global = nil
		return stage(s)
	}
	s.Global = p.sum
	err := stage(s)
	if err == nil {
		err = p.err
	}
	p.done = err == nil
	return err
}

func (p *globalLoss) Score(s *recipe.State) error { return p.first(p.stageOne, s, p.Program.Score) }
func (p *globalLoss) Adv(s *recipe.State) error   { return p.last(p.stageOne, s, p.Program.Adv) }

// Rest and Token of a stage-one pass (not active) use this rank's batch alone.
func (p *globalLoss) Rest(s *recipe.State) error  { return p.first(p.active, s, p.Program.Rest) }
func (p *globalLoss) Token(s *recipe.State) error { return p.last(p.active, s, p.Program.Token) }
