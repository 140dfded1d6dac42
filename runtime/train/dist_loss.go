package train

import (
	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// globalLoss is the recipe's program with its loss stages (Rest, Token)
// computing batch sums over every rank while a distributed optimizer step
// runs (begin to end): recipe.State.Global is an all-reduce (a rank-order
// sum: every rank gets the same bits). Outside a step (stage-one scoring,
// the buffer's score pass, evaluation) it is the program itself: those run
// on one rank's groups with group statistics that never cross ranks.
//
// Every rank must make the same all-reduces: the loss of each rank's
// groups, or of an empty batch on a rank without any, calls Total once per
// batch sum of the recipe whatever the batch.
type globalLoss struct {
	recipe.Program
	comm    dist.Comm
	active  bool
	started bool  // Rest began: the loss's collectives have started
	done    bool  // Token returned without error: they have all been made
	err     error // the first failed all-reduce
}

func (p *globalLoss) begin() { p.active, p.started, p.done, p.err = true, false, false, nil }
func (p *globalLoss) end()   { p.active = false }

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

func (p *globalLoss) Rest(s *recipe.State) error {
	if !p.active {
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
