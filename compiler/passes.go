package compiler

import (
	"fmt"
	"math"
)

// Pass is one step of the compiler after parsing.
type Pass struct {
	Name string
	Doc  string
	Run  func(*Program) // nil for check, which builds the Program
}

// Passes is the pipeline, in order. `realc dump --pass NAME` prints the IR
// after any of them.
var Passes = []Pass{
	{"check", "resolve names, check axes and grad flags, lower surface functions to IR", nil},
	{"fold", "fold constants and algebraic identities (x*1, x+0, --x ...)", fold},
	{"cse", "merge common subexpressions", cse},
	{"dce", "drop values no stage needs", dce},
	{"autodiff", "reverse-mode adjoints of the loss for every grad readout", autodiff},
	{"simplify", "fold, cse and dce again over forward and adjoint values", func(p *Program) { fold(p); cse(p); dce(p) }},
	{"plan", "decide one or two passes for the fused loss kernel", plan},
}

// passOrder lists constraints {a, b}: a must run before b.
var passOrder = [][2]string{
	{"check", "fold"}, {"fold", "cse"}, {"cse", "dce"}, {"check", "autodiff"},
	{"autodiff", "simplify"}, {"simplify", "plan"}, {"autodiff", "plan"},
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
		if allConst && !v.Op.IsReduction() && !v.Op.IsReadout() && v.Op != OpStopGrad {
			xs := make([]float64, len(args))
			for i, a := range args {
				xs[i] = a.Const
			}
			if r, ok := applyOp(v.Op, xs); ok && !math.IsNaN(r) && !math.IsInf(r, 0) {
				return b.add(&Value{Op: OpConst, Const: r, Axis: AxisScalar, Pos: v.Pos, Name: v.Name, Label: v.Label})
			}
		}
		keep := func(i int) ID {
			// Replacing v by its argument: the argument may have a smaller
			// axis; broadcasting makes that equivalent.
			if v.Name != "" && args[i].Name == "" && args[i].Op != OpLeaf && args[i].Op != OpHyper {
				args[i].Name = v.Name
			}
			return v.Args[i]
		}
		zero := func() ID { return b.add(&Value{Op: OpConst, Const: 0, Axis: AxisScalar, Pos: v.Pos}) }
		switch v.Op {
		case OpAdd:
			if isConst(args[1], 0) {
				return keep(0)
			}
			if isConst(args[0], 0) {
				return keep(1)
			}
		case OpSub:
			if isConst(args[1], 0) {
				return keep(0)
			}
			if isConst(args[0], 0) {
				return b.add(&Value{Op: OpNeg, Args: []ID{v.Args[1]}, Axis: args[1].Axis, Grad: args[1].Grad, Pos: v.Pos, Name: v.Name, Label: v.Label})
			}
		case OpMul:
			if isConst(args[1], 1) {
				return keep(0)
			}
			if isConst(args[0], 1) {
				return keep(1)
			}
			if isConst(args[0], 0) || isConst(args[1], 0) {
				return zero()
			}
			if isConst(args[0], -1) {
				return b.add(&Value{Op: OpNeg, Args: []ID{v.Args[1]}, Axis: args[1].Axis, Grad: args[1].Grad, Pos: v.Pos, Name: v.Name, Label: v.Label})
			}
		case OpDiv:
			if isConst(args[1], 1) {
				return keep(0)
			}
			if isConst(args[0], 0) {
				return zero()
			}
		case OpPow:
			if isConst(args[1], 1) {
				return keep(0)
			}
		case OpNeg:
			if args[0].Op == OpNeg {
				return args[0].Args[0]
			}
		case OpStopGrad:
			if !args[0].Grad {
				return keep(0)
			}
		case OpWhere:
			if args[0].Op == OpConst {
				if args[0].Const != 0 {
					return keep(1)
				}
				return keep(2)
			}
			if v.Args[1] == v.Args[2] {
				return keep(1)
			}
		case OpSumT, OpSumG, OpSumS:
			if isConst(args[0], 0) {
				return zero()
			}
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

// applyOp evaluates an element-wise op on numbers; ok is false for ops that
// are not element-wise.
func applyOp(op Op, x []float64) (float64, bool) {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	switch op {
	case OpAdd:
		return x[0] + x[1], true
	case OpSub:
		return x[0] - x[1], true
	case OpMul:
		return x[0] * x[1], true
	case OpDiv:
		return x[0] / x[1], true
	case OpPow:
		return math.Pow(x[0], x[1]), true
	case OpMin:
		return math.Min(x[0], x[1]), true
	case OpMax:
		return math.Max(x[0], x[1]), true
	case OpNeg:
		return -x[0], true
	case OpExp:
		return math.Exp(x[0]), true
	case OpLog:
		return math.Log(x[0]), true
	case OpSqrt:
		return math.Sqrt(x[0]), true
	case OpAbs:
		return math.Abs(x[0]), true
	case OpStopGrad:
		return x[0], true
	case OpClip:
		// torch.clamp: min first, then max.
		return math.Min(math.Max(x[0], x[1]), x[2]), true
	case OpLt:
		return b2f(x[0] < x[1]), true
	case OpLe:
		return b2f(x[0] <= x[1]), true
	case OpGt:
		return b2f(x[0] > x[1]), true
	case OpGe:
		return b2f(x[0] >= x[1]), true
	case OpEq:
		return b2f(x[0] == x[1]), true
	case OpNe:
		return b2f(x[0] != x[1]), true
	case OpAnd:
		return b2f(x[0] != 0 && x[1] != 0), true
	case OpOr:
		return b2f(x[0] != 0 || x[1] != 0), true
	case OpNot:
		return b2f(x[0] == 0), true
	case OpWhere:
		if x[0] != 0 {
			return x[1], true
		}
		return x[2], true
	}
	return 0, false
}

// ApplyOp evaluates an element-wise op on float64 arguments, exactly as the
// reference evaluator does (for emitter tests).
func ApplyOp(op Op, args ...float64) (float64, bool) {
	if op.Arity() != len(args) {
		return 0, false
	}
	return applyOp(op, args)
}
