package codegen

import (
	"fmt"

	"github.com/realc-project/realc/compiler"
)

// plan splits a program's values into the phases the engine runs and decides
// whether one pass over the rows gives the gradients.
type plan struct {
	p *compiler.Program
	// tdep marks values that read the token readouts logp or entropy.
	tdep []bool
	// Phases, in topological order: score (stage <= filter), rest (later
	// values that do not read token readouts), token (those that do).
	score, rest, token []compiler.ID
	// adv is the part of rest in the advantage stage: with score, what a
	// trainer computes once per buffer and freezes over its epochs.
	adv []compiler.ID
	// adjoint is the set of T-dependent values TokenAdjoint evaluates.
	adjoint                []compiler.ID
	logpAdj, entAdj        compiler.ID
	logpLeaf, entLeaf      compiler.ID
	scoreGrads             []compiler.ReadoutGrad
	onePass                bool
	twoPassWhy             string
	entropy, scoreReadouts bool
	oldLogp, refLogp       bool
	regions                []string
	needed                 []bool
	usedOutsideSeg         []bool
}

func newPlan(p *compiler.Program) (*plan, error) {
	n := len(p.Values)
	pl := &plan{p: p, tdep: make([]bool, n), logpAdj: compiler.NoID, entAdj: compiler.NoID, logpLeaf: compiler.NoID, entLeaf: compiler.NoID, needed: make([]bool, n)}
	var roots []compiler.ID
	for _, r := range p.Rewards {
		roots = append(roots, r.ID)
	}
	for _, r := range p.Advantages {
		roots = append(roots, r.ID)
	}
	roots = append(roots, p.Filter, p.Loss)
	for _, g := range p.Grads {
		roots = append(roots, g.Adjoint)
		if g.Adjoint != compiler.NoID {
			// K of prob/logprob is read when applying the gradient.
			for _, a := range p.Values[g.Readout].Args {
				roots = append(roots, a)
			}
		}
	}
	for _, id := range p.Deps(roots...) {
		pl.needed[id] = true
	}
	for i, v := range p.Values {
		if ID := compiler.ID(i); ID != v.ID {
			return nil, fmt.Errorf("codegen: value %d has ID %d", i, v.ID)
		}
		for _, a := range v.Args {
			if a < 0 || int(a) >= i {
				return nil, fmt.Errorf("codegen: value %%%d reads %%%d, not an earlier value", i, a)
			}
			pl.tdep[i] = pl.tdep[i] || pl.tdep[a]
		}
		if v.Op == compiler.OpLeaf && (v.Name == "logp" || v.Name == "entropy") {
			pl.tdep[i] = true
		}
		if !pl.needed[i] {
			continue
		}
		switch {
		case v.Op == compiler.OpLeaf:
			switch v.Name {
			case "entropy":
				pl.entropy = true
			case "old_logp":
				pl.oldLogp = true
			case "ref_logp":
				pl.refLogp = true
			case "cot", "answer":
				pl.regions = appendOnce(pl.regions, v.Name)
			}
		case v.Op.IsReadout():
			pl.scoreReadouts = true
		}
		if v.Op.Arity() >= 0 && len(v.Args) != v.Op.Arity() {
			return nil, fmt.Errorf("codegen: %s has %d args, want %d (%s)", v.Op, len(v.Args), v.Op.Arity(), v.Pos)
		}
	}
	for i, v := range p.Values {
		if !pl.needed[i] {
			continue
		}
		id := compiler.ID(i)
		switch {
		case v.Stage <= compiler.StageFilter:
			pl.score = append(pl.score, id)
		case !pl.tdep[i]:
			pl.rest = append(pl.rest, id)
			if v.Stage <= compiler.StageAdvantage {
				pl.adv = append(pl.adv, id)
			}
		default:
			pl.token = append(pl.token, id)
		}
	}
	for _, g := range p.Grads {
		rv := p.Values[g.Readout]
		switch {
		case rv.Op == compiler.OpLeaf && rv.Name == "logp":
			pl.logpAdj, pl.logpLeaf = g.Adjoint, g.Readout
		case rv.Op == compiler.OpLeaf && rv.Name == "entropy":
			pl.entAdj, pl.entLeaf = g.Adjoint, g.Readout
		case rv.Op.IsReadout():
			pl.scoreGrads = append(pl.scoreGrads, g)
		default:
			return nil, fmt.Errorf("codegen: gradient of %s, which is not a readout (%s)", rv.Op, rv.Pos)
		}
	}
	pl.onePass, pl.twoPassWhy = pl.decidePasses()
	if pl.onePass {
		var adj []compiler.ID
		for _, a := range []compiler.ID{pl.logpAdj, pl.entAdj} {
			if a != compiler.NoID {
				adj = append(adj, a)
			}
		}
		for _, id := range p.Deps(adj...) {
			if pl.tdep[id] {
				pl.adjoint = append(pl.adjoint, id)
			}
		}
	}
	return pl, nil
}

// decidePasses: one pass over the rows suffices when every token adjoint is
// a function of its own row's readouts and of values known before the loss
// kernel; otherwise (a batch statistic of logp or entropy feeds an adjoint,
// or the score stage reads logp) the engine runs a statistics pass first.
func (pl *plan) decidePasses() (bool, string) {
	p := pl.p
	if p.TwoPass {
		return false, "the compiler marks the loss two-pass (an adjoint depends on a reduction of values with grad)"
	}
	for _, id := range pl.score {
		if pl.tdep[id] {
			return false, fmt.Sprintf("the score or filter stage reads the token readouts (%s)", p.Values[id].Pos)
		}
	}
	for _, g := range pl.scoreGrads {
		if g.Adjoint != compiler.NoID && pl.tdep[g.Adjoint] {
			return false, fmt.Sprintf("the score-slot adjoint of %s depends on token readouts", p.Values[g.Readout].Op)
		}
	}
	for _, a := range []compiler.ID{pl.logpAdj, pl.entAdj} {
		if a == compiler.NoID {
			continue
		}
		for _, id := range p.Deps(a) {
			v := p.Values[id]
			if pl.tdep[id] && (v.Axis != compiler.AxisToken || v.Op.IsReduction()) {
				return false, fmt.Sprintf("a token adjoint depends on %s over the batch (%s)", v.Op, v.Pos)
			}
		}
	}
	return true, ""
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// restAfterAdv is rest without adv: the loss inputs and adjoints that do not
// read logp or entropy. Advantage-stage values depend only on earlier
// stages, so computing adv first keeps the topological order.
func (pl *plan) restAfterAdv() []compiler.ID {
	in := map[compiler.ID]bool{}
	for _, id := range pl.adv {
		in[id] = true
	}
	var out []compiler.ID
	for _, id := range pl.rest {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}

// stageOne lists the values of the score and advantage stages that a
// trainer computes once per buffer: the score phase and adv.
func (pl *plan) stageOne() []compiler.ID {
	return append(append([]compiler.ID(nil), pl.score...), pl.adv...)
}
