package train

import (
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
type globalLoss struct {
	recipe.Program
	comm     dist.Comm
	active   bool  // the loss stages' sums are global
	stageOne bool  // the score, filter and advantage stages' sums are global
	started  bool  // the global stages began: their collectives have started
	done     bool  // the last global stage returned without error: they have all been made
	err      error // the first failed all-reduce
}

func (p *globalLoss) begin() {
	p.active, p.stageOne, p.started, p.done, p.err = true, false, false, false, nil
}
func (p *globalLoss) beginStageOne() {
	p.active, p.stageOne, p.started, p.done, p.err = false, true, false, false, nil
}
func (p *globalLoss) end() { p.active, p.stageOne = false, false }

func (p *globalLoss) sum(x float64) float64 {
	if p.err != nil {
		return x
	}
	s, err := dist.SumF64(p.comm, x)
	if err != nil {
		p.err = err
		return x
	}
	return s[0]
}

func (p *globalLoss) Score(s *recipe.State) error {
	if !p.stageOne {
		return p.Program.Score(s)
	}
	p.started = true
	s.Global = p.sum
	if err := p.Program.Score(s); err != nil {
		return err
	}
	return p.err
}

func (p *globalLoss) Adv(s *recipe.State) error {
	if !p.stageOne {
		return p.Program.Adv(s)
	}
	s.Global = p.sum
	err := p.Program.Adv(s)
	if err == nil {
		err = p.err
	}
	p.done = err == nil
	return err
}

func (p *globalLoss) Rest(s *recipe.State) error {
	if !p.active {
		s.Global = nil // a stage-one pass's loss stages: this rank's batch alone
		return p.Program.Rest(s)
	}
	p.started = true
	s.Global = p.sum
	if err := p.Program.Rest(s); err != nil {
		return err
	}
	return p.err
}

func (p *globalLoss) Token(s *recipe.State) error {
	if !p.active {
		s.Global = nil
		return p.Program.Token(s)
	}
	s.Global = p.sum
	err := p.Program.Token(s)
	if err == nil {
		err = p.err
	}
	p.done = err == nil
	return err
}
