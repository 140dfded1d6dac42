package compiler

import (
	"fmt"
	"math"
)

// Pass is one step of the compiler after parsing.
type Pass struct {
	Name string
	Doc  string
	Run  func(*Program) error // nil for check, which builds the Program
}

// always wraps a pass that cannot fail.
func always(f func(*Program)) func(*Program) error {
	return func(p *Program) error { f(p); return nil }
}

// Passes is the pipeline, in order. `realc dump --pass NAME` prints the IR
// after any of them.
var Passes = []Pass{
	{"check", "resolve names, check axes and grad flags, lower surface functions to IR", nil},
	{"fold", "fold constants and algebraic identities (x*1, x+0, --x ...)", always(fold)},
	{"cse", "merge common subexpressions", always(cse)},
	{"dce", "drop values no stage needs", always(dce)},
	{"autodiff", "reverse-mode adjoints of the loss for every grad readout", autodiff},
	{"simplify", "fold, cse and dce again over forward and adjoint values", always(func(p *Program) { fold(p); cse(p); dce(p) })},
	{"schedule", "plan the kernels: phases, loops and reductions, one or two passes, value slots, kernel arguments", schedule},
}

// passOrder lists constraints {a, b}: a must run before b.
var passOrder = [][2]string{
	{"check", "fold"}, {"fold", "cse"}, {"cse", "dce"}, {"check", "autodiff"},
	{"autodiff", "simplify"}, {"simplify", "schedule"}, {"autodiff", "schedule"},
}

func init() {
	if err := checkPassOrder(Passes, passOrder); err != nil {
		panic(err)
	}
}

func checkPassOrder(ps []Pass, order [][2]string) error {
	idx := map[string]int{}
	for i, p := range ps {
		if _, dup := idx[p.Name]; dup {
			return fmt.Errorf("compiler: pass %s listed twice", p.Name)
		}
		idx[p.Name] = i
	}
	if len(ps) == 0 || ps[0].Name != "check" {
		return fmt.Errorf("compiler: the first pass must be check")
	}
	for _, c := range order {
		a, okA := idx[c[0]]
		b, okB := idx[c[1]]
		if !okA || !okB {
			return fmt.Errorf("compiler: pass order names unknown pass %s or %s", c[0], c[1])
		}
		if a >= b {
			return fmt.Errorf("compiler: passes %s and %s out of order", c[0], c[1])
		}
	}
	return nil
}

// PassNames lists the passes in order.
func PassNames() []string {
	out := make([]string, len(Passes))
	for i, p := range Passes {
		out[i] = p.Name
	}
	return out
}

func passIndex(name string) int {
	for i, p := range Passes {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// roots returns every root ID of the program.
func (p *Program) roots() []ID {
	var r []ID
	for _, n := range p.Rewards {
		r = append(r, n.ID)
	}
	for _, n := range p.Lets {
		r = append(r, n.ID)
	}
	r = append(r, p.Filter)
	for _, n := range p.Advantages {
		r = append(r, n.ID)
	}
	r = append(r, p.Loss)
	for _, g := range p.Grads {
		r = append(r, g.Readout, g.Adjoint)
	}
	for _, id := range p.TwoPassWhy {
		r = append(r, id)
	}
	return r
}

// remapRoots rewrites every root through m.
func (p *Program) remapRoots(m func(ID) ID) {
	for i := range p.Rewards {
		p.Rewards[i].ID = m(p.Rewards[i].ID)
	}
	for i := range p.Lets {
		p.Lets[i].ID = m(p.Lets[i].ID)
	}
	p.Filter = m(p.Filter)
	for i := range p.Advantages {
		p.Advantages[i].ID = m(p.Advantages[i].ID)
	}
	p.Loss = m(p.Loss)
	for i := range p.Grads {
		p.Grads[i].Readout = m(p.Grads[i].Readout)
		p.Grads[i].Adjoint = m(p.Grads[i].Adjoint)
	}
	for i := range p.TwoPassWhy {
		p.TwoPassWhy[i] = m(p.TwoPassWhy[i])
	}
}

// rewrite rebuilds the value list: each old value, with its args already
// mapped, is passed to f, which returns the new ID to use for it (a new value
// appended with b.add, or an existing one). Roots are remapped.
type rebuilder struct {
	p    *Program
	vals []*Value
	memo map[string]ID // for cse
}

func (b *rebuilder) add(v *Value) ID {
	v.ID = ID(len(b.vals))
	b.vals = append(b.vals, v)
	return v.ID
}

func (b *rebuilder) val(id ID) *Value { return b.vals[id] }

func rewrite(p *Program, f func(b *rebuilder, v *Value) ID) {
	b := &rebuilder{p: p, memo: map[string]ID{}}
	m := make([]ID, len(p.Values))
	for i, old := range p.Values {
		v := *old
		v.Args = make([]ID, len(old.Args))
		for j, a := range old.Args {
			v.Args[j] = m[a]
		}
		m[i] = f(b, &v)
	}
	p.Values = b.vals
	p.remapRoots(func(id ID) ID {
		if id == NoID {
			return NoID
		}
		return m[id]
	})
	assignStages(p)
}

// assignStages sets each value's Stage to the earliest stage of a root that
// needs it.
func assignStages(p *Program) {
	const none = Stage(255)
	st := make([]Stage, len(p.Values))
	for i := range st {
		st[i] = none
	}
	mark := func(id ID, s Stage) {
		if id != NoID && s < st[id] {
			st[id] = s
		}
	}
	for _, n := range p.Rewards {
		mark(n.ID, StageScore)
	}
	mark(p.Filter, StageFilter)
	for _, n := range p.Advantages {
		mark(n.ID, StageAdvantage)
	}
	mark(p.Loss, StageLoss)
	for _, n := range p.Lets {
		mark(n.ID, StageLoss)
	}
	for _, g := range p.Grads {
		mark(g.Readout, StageLoss)
		mark(g.Adjoint, StageGrad)
	}
	for i := len(p.Values) - 1; i >= 0; i-- {
		if st[i] == none {
			st[i] = StageGrad
		}
		for _, a := range p.Values[i].Args {
			mark(a, st[i])
		}
	}
	for i, v := range p.Values {
		v.Stage = st[i]
	}
}

func isConst(v *Value, x float64) bool { return v.Op == OpConst && v.Const == x }

// fold evaluates ops over constants and applies identities that hold for
// every finite input: x+0, x-0, x*1, x/1, x^1, --x, stopgrad of a no-grad
// value, and x*0 = 0 for values that carry no NaN by construction (constants,
// hyperparameters, adjoints); the forward recipe never multiplies by a literal 0
// except by choice, and then 0 is what it means.
func fold(p *Program) {
	rewrite(p, func(b *rebuilder, v *Value) ID {
		args := make([]*Value, len(v.Args))
		allConst := len(v.Args) > 0
		for i, a := range v.Args {
			args[i] = b.val(a)
			allConst = allConst && args[i].Op == OpConst
		}
		if allConst && v.Op.IsElementwise() && v.Op != OpStopGrad {
			xs := make([]float64, len(args))
			for i, a := range args {
				xs[i] = a.Const
			}
			if r, ok := applyOp(v.Op, xs); ok && !math.IsNaN(r) && !math.IsInf(r, 0) {
				return b.add(&Value{Op: OpConst, Const: r, Axis: AxisScalar, Pos: v.Pos, Name: v.Name, Label: v.Label})
			}
		}
		if id := identity(b, v, args); id != NoID {
			return id
		}
		return b.add(v)
	})
}

// cse merges values with the same op, payload and args.
func cse(p *Program) {
	rewrite(p, func(b *rebuilder, v *Value) ID {
		key := fmt.Sprintf("%d|%v|%d|%v|%x|%s|%v", v.Op, v.Args, v.Axis, v.Grad, math.Float64bits(v.Const), leafName(v), v.Renorm)
		if id, ok := b.memo[key]; ok {
			if v.Name != "" && b.vals[id].Name == "" {
				b.vals[id].Name = v.Name
			}
			if b.vals[id].Label == "" {
				b.vals[id].Label = v.Label
			}
			return id
		}
		id := b.add(v)
		b.memo[key] = id
		return id
	})
}

func leafName(v *Value) string {
	if v.Op == OpLeaf || v.Op == OpHyper {
		return v.Name
	}
	return ""
}

// dce keeps only the values some root needs.
func dce(p *Program) {
	need := make([]bool, len(p.Values))
	for _, r := range p.roots() {
		if r != NoID {
			need[r] = true
		}
	}
	for i := len(p.Values) - 1; i >= 0; i-- {
		if need[i] {
			for _, a := range p.Values[i].Args {
				need[a] = true
			}
		}
	}
	rewrite(p, func(b *rebuilder, v *Value) ID {
		if !need[v.ID] {
			return NoID
		}
		return b.add(v)
	})
}

// identity applies the op's identity (the op table's Identity), if any:
// the ID to use for v, or NoID.
func identity(b *rebuilder, v *Value, args []*Value) ID {
	f := v.Op.Info().Identity
	if f == nil {
		return NoID
	}
	return f(&folder{b: b, v: v, args: args})
}
