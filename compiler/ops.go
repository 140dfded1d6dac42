package compiler

import (
	"fmt"
	"math"
	"strings"
)

// The op table: everything the compiler and the emitters know about an IR op
// is declared once here, in its OpInfo. Arity and payload, grad flow, the
// value on numbers (constant folding and the reference evaluator), algebraic
// identities, the derivative, the explain form, and the Go and C expressions
// of the generated kernels. TestOpTable fails when an op lacks an entry its
// class needs; autodiff fails on an op without a derivative.

// OpClass says how an op's values are computed.
type OpClass uint8

const (
	// ClassSource values come from their payload (a constant, a
	// hyperparameter, a leaf of the batch).
	ClassSource OpClass = iota + 1
	// ClassReadout values read the policy's distribution at the score slot.
	ClassReadout
	// ClassElementwise values compute one number from one number of each
	// argument, broadcast outward to the value's axis.
	ClassElementwise
	// ClassReduction values sum or count over a batch axis.
	ClassReduction
)

func (c OpClass) String() string {
	switch c {
	case ClassSource:
		return "source"
	case ClassReadout:
		return "readout"
	case ClassElementwise:
		return "element-wise"
	case ClassReduction:
		return "reduction"
	}
	return fmt.Sprintf("class(%d)", c)
}

// MathKind is how Explain prints an op.
type MathKind uint8

const (
	// MathPayload: printed from the value's payload (a number, a name, a readout).
	MathPayload MathKind = iota + 1
	// MathInfix: a Sym b (Sym carries its own spaces).
	MathInfix
	// MathPrefix: Sym a.
	MathPrefix
	// MathCall: name(a, b, ...).
	MathCall
	// MathSum: Sym a, where a nested sum needs no parentheses.
	MathSum
	// MathAtom: Sym alone (a count).
	MathAtom
)

// MathForm is an op's explain form. Prec is the precedence of the printed
// form; Left and Right are the least precedences an operand keeps without
// parentheses (infix; a prefix or sum form reads Left only).
type MathForm struct {
	Kind              MathKind
	Sym               string
	Prec, Left, Right int
}

// OpInfo declares one op.
type OpInfo struct {
	Name  string
	Doc   string // arguments and payload, one line
	Arity int
	Class OpClass
	// Func is the language's function that lowers to this op, with its
	// usage and doc line (element-wise ops called by name); "" for ops
	// the language writes as operators or reaches through lowering.
	Func, Usage, FuncDoc string

	// NoGrad: the result carries no grad whatever its arguments'
	// (comparisons, logic, stopgrad).
	NoGrad bool
	// CondArg: argument 0 is a condition; only the others pass grad on
	// (where), and the checker refuses a condition with grad.
	CondArg bool
	// Over and To: for reductions, the axis summed over and the result's axis.
	Over, To Axis

	// Eval is the value of an element-wise op on numbers: constant folding
	// and the reference evaluator both call it.
	Eval func(x []float64) float64
	// Identity optionally replaces a value by a simpler equivalent (x+0 -> x);
	// it returns NoID when none applies. Run by the fold pass.
	Identity func(f *folder) ID
	// Deriv adds the op's contribution to the adjoints of its arguments,
	// given the adjoint a of the value v. Every op has one: zeroDeriv for
	// piecewise-constant ops, readoutDeriv for the readouts whose adjoints
	// are Program.Grads.
	Deriv func(d *differ, v *Value, a ID)
	// Math is the explain form.
	Math MathForm
	// Go and C are the op's expressions in the generated Go and CUDA code
	// (element-wise ops): $0, $1, $2 stand for the arguments; in Go,
	// math.X and recipe.X name the packages math and runtime/fused/recipe.
	Go, C string
}

// opTable is indexed by Op. It is built by init (its derivatives read the
// table back, which a package-level initializer cannot).
var opTable [numOps]OpInfo

func init() {
	opTable = [numOps]OpInfo{
		OpConst: {Name: "const", Doc: "0 args; Const", Arity: 0, Class: ClassSource, Deriv: zeroDeriv, Math: MathForm{Kind: MathPayload}},
		OpHyper: {Name: "hyper", Doc: "0 args; Name: a hyperparameter (its default is in Program.Hypers)", Arity: 0, Class: ClassSource,
			Deriv: zeroDeriv, Math: MathForm{Kind: MathPayload}},
		OpLeaf: {Name: "leaf", Doc: "0 args; Name: a leaf (see Leaves)", Arity: 0, Class: ClassSource,
			Deriv: readoutDeriv, Math: MathForm{Kind: MathPayload}},
		OpExpect: {Name: "expect", Doc: "0 args; Renorm: sum_k v_k p(tok_k) at the score slot", Arity: 0, Class: ClassReadout,
			Deriv: readoutDeriv, Math: MathForm{Kind: MathPayload}},
		OpProb: {Name: "prob", Doc: "1 arg k (a score value, no grad); Renorm: p(tok(k))", Arity: 1, Class: ClassReadout,
			Deriv: readoutDeriv, Math: MathForm{Kind: MathPayload}},
		OpLogProb: {Name: "logprob", Doc: "1 arg k (a score value, no grad); Renorm: log p(tok(k))", Arity: 1, Class: ClassReadout,
			Deriv: readoutDeriv, Math: MathForm{Kind: MathPayload}},

		OpAdd: {Name: "add", Doc: "a + b", Arity: 2, Class: ClassElementwise,
			Eval: func(x []float64) float64 { return x[0] + x[1] }, Identity: addIdentity, Deriv: addDeriv,
			Math: infix(" + ", mPrecAdd), Go: "($0 + $1)", C: "($0 + $1)"},
		OpSub: {Name: "sub", Doc: "a - b", Arity: 2, Class: ClassElementwise,
			Eval: func(x []float64) float64 { return x[0] - x[1] }, Identity: subIdentity, Deriv: subDeriv,
			Math: infix(" - ", mPrecAdd), Go: "($0 - $1)", C: "($0 - $1)"},
		OpMul: {Name: "mul", Doc: "a * b", Arity: 2, Class: ClassElementwise,
			Eval: func(x []float64) float64 { return x[0] * x[1] }, Identity: mulIdentity, Deriv: mulDeriv,
			Math: infix(" * ", mPrecMul), Go: "($0 * $1)", C: "($0 * $1)"},
		OpDiv: {Name: "div", Doc: "a / b (IEEE: recipes add their own eps)", Arity: 2, Class: ClassElementwise,
			Eval: func(x []float64) float64 { return x[0] / x[1] }, Identity: divIdentity, Deriv: divDeriv,
			Math: infix(" / ", mPrecMul), Go: "($0 / $1)", C: "($0 / $1)"},
		OpPow: {Name: "pow", Doc: "a ^ b", Arity: 2, Class: ClassElementwise,
			Eval: func(x []float64) float64 { return math.Pow(x[0], x[1]) }, Identity: powIdentity, Deriv: powDeriv,
			Math: MathForm{Kind: MathInfix, Sym: "^", Prec: mPrecPow, Left: mPrecPow + 1, Right: mPrecUnary}, Go: "math.Pow($0, $1)", C: "pow($0, $1)"},
		OpMin: {Name: "min", Doc: "the smaller of a and b; NaN if either is", Arity: 2, Class: ClassElementwise,
			Func: "min", Usage: "min(a, b)", FuncDoc: "element-wise minimum (ties split the gradient, as torch.minimum)",
			Eval: func(x []float64) float64 { return math.Min(x[0], x[1]) }, Deriv: minMaxDeriv(OpLt),
			Math: call(), Go: "math.Min($0, $1)", C: "realc_min($0, $1)"},
		OpMax: {Name: "max", Doc: "the larger of a and b; NaN if either is", Arity: 2, Class: ClassElementwise,
			Func: "max", Usage: "max(a, b)", FuncDoc: "element-wise maximum (ties split the gradient, as torch.maximum)",
			Eval: func(x []float64) float64 { return math.Max(x[0], x[1]) }, Deriv: minMaxDeriv(OpGt),
			Math: call(), Go: "math.Max($0, $1)", C: "realc_max($0, $1)"},
		OpNeg: {Name: "neg", Doc: "-a", Arity: 1, Class: ClassElementwise,
			Eval: func(x []float64) float64 { return -x[0] }, Identity: negIdentity, Deriv: negDeriv,
			Math: MathForm{Kind: MathPrefix, Sym: "-", Prec: mPrecUnary, Left: mPrecUnary}, Go: "-$0", C: "(-$0)"},
		OpExp: {Name: "exp", Doc: "e^a", Arity: 1, Class: ClassElementwise,
			Func: "exp", Usage: "exp(x)", FuncDoc: "e^x",
			Eval: func(x []float64) float64 { return math.Exp(x[0]) }, Deriv: expDeriv,
			Math: call(), Go: "math.Exp($0)", C: "exp($0)"},
		OpLog: {Name: "log", Doc: "natural log of a", Arity: 1, Class: ClassElementwise,
			Func: "log", Usage: "log(x)", FuncDoc: "natural log",
			Eval: func(x []float64) float64 { return math.Log(x[0]) }, Deriv: logDeriv,
			Math: call(), Go: "math.Log($0)", C: "log($0)"},
		OpSqrt: {Name: "sqrt", Doc: "square root of a (derivative 0 at 0)", Arity: 1, Class: ClassElementwise,
			Func: "sqrt", Usage: "sqrt(x)", FuncDoc: "square root (derivative 0 at 0)",
			Eval: func(x []float64) float64 { return math.Sqrt(x[0]) }, Deriv: sqrtDeriv,
			Math: call(), Go: "math.Sqrt($0)", C: "sqrt($0)"},
		OpAbs: {Name: "abs", Doc: "|a| (derivative 0 at 0)", Arity: 1, Class: ClassElementwise,
			Func: "abs", Usage: "abs(x)", FuncDoc: "absolute value (derivative 0 at 0)",
			Eval: func(x []float64) float64 { return math.Abs(x[0]) }, Deriv: absDeriv,
			Math: call(), Go: "math.Abs($0)", C: "fabs($0)"},
		OpStopGrad: {Name: "stopgrad", Doc: "a, without grad", Arity: 1, Class: ClassElementwise, NoGrad: true,
			Func: "stopgrad", Usage: "stopgrad(x)", FuncDoc: "x without grad",
			Eval: func(x []float64) float64 { return x[0] }, Identity: stopGradIdentity, Deriv: zeroDeriv,
			Math: call(), Go: "$0", C: "$0"},
		OpClip: {Name: "clip", Doc: "3 args x, lo, hi: torch.clamp, lo first, then hi", Arity: 3, Class: ClassElementwise,
			Func: "clip", Usage: "clip(x, lo, hi)", FuncDoc: "torch.clamp(x, lo, hi)",
			Eval: func(x []float64) float64 { return math.Min(math.Max(x[0], x[1]), x[2]) }, Deriv: clipDeriv,
			Math: call(), Go: "math.Min(math.Max($0, $1), $2)", C: "realc_min(realc_max($0, $1), $2)"},
		OpLt: compare("lt", "<", func(a, b float64) bool { return a < b }),
		OpLe: compare("le", "<=", func(a, b float64) bool { return a <= b }),
		OpGt: compare("gt", ">", func(a, b float64) bool { return a > b }),
		OpGe: compare("ge", ">=", func(a, b float64) bool { return a >= b }),
		OpEq: compare("eq", "==", func(a, b float64) bool { return a == b }),
		OpNe: compare("ne", "!=", func(a, b float64) bool { return a != b }),
		OpAnd: {Name: "and", Doc: "1 if a and b are nonzero, else 0", Arity: 2, Class: ClassElementwise, NoGrad: true,
			Eval: func(x []float64) float64 { return b2f(x[0] != 0 && x[1] != 0) }, Deriv: zeroDeriv,
			Math: MathForm{Kind: MathInfix, Sym: " && ", Prec: mPrecCmp - 1, Left: mPrecCmp, Right: mPrecCmp},
			Go:   "recipe.B2F($0 != 0 && $1 != 0)", C: "(($0 != 0.0 && $1 != 0.0) ? 1.0 : 0.0)"},
		OpOr: {Name: "or", Doc: "1 if a or b is nonzero, else 0", Arity: 2, Class: ClassElementwise, NoGrad: true,
			Eval: func(x []float64) float64 { return b2f(x[0] != 0 || x[1] != 0) }, Deriv: zeroDeriv,
			Math: MathForm{Kind: MathInfix, Sym: " || ", Prec: mPrecCmp - 2, Left: mPrecCmp - 1, Right: mPrecCmp - 1},
			Go:   "recipe.B2F($0 != 0 || $1 != 0)", C: "(($0 != 0.0 || $1 != 0.0) ? 1.0 : 0.0)"},
		OpNot: {Name: "not", Doc: "1 if a is 0, else 0", Arity: 1, Class: ClassElementwise, NoGrad: true,
			Eval: func(x []float64) float64 { return b2f(x[0] == 0) }, Deriv: zeroDeriv,
			Math: MathForm{Kind: MathPrefix, Sym: "!", Prec: mPrecUnary, Left: mPrecUnary},
			Go:   "recipe.B2F($0 == 0)", C: "(($0 == 0.0) ? 1.0 : 0.0)"},
		OpWhere: {Name: "where", Doc: "3 args cond (nonzero is true), a, b", Arity: 3, Class: ClassElementwise, CondArg: true,
			Func: "where", Usage: "where(cond, a, b)", FuncDoc: "a where cond is nonzero, else b",
			Eval: func(x []float64) float64 {
				if x[0] != 0 {
					return x[1]
				}
				return x[2]
			}, Identity: whereIdentity, Deriv: whereDeriv,
			Math: call(), Go: "recipe.Where($0, $1, $2)", C: "(($0 != 0.0) ? $1 : $2)"},

		OpSumT: {Name: "sum_t", Doc: "1 arg, token -> seq: sum over the sequence's tokens", Arity: 1, Class: ClassReduction,
			Over: AxisToken, To: AxisSeq, Identity: sumIdentity, Deriv: sumDeriv,
			Math: MathForm{Kind: MathSum, Sym: "Σ_t ", Prec: mPrecMul, Left: mPrecPow}},
		OpSumG: {Name: "sum_g", Doc: "1 arg, seq -> group: sum over the group's sequences", Arity: 1, Class: ClassReduction,
			Over: AxisSeq, To: AxisGroup, Identity: sumIdentity, Deriv: sumDeriv,
			Math: MathForm{Kind: MathSum, Sym: "Σ_g ", Prec: mPrecMul, Left: mPrecPow}},
		OpCountG: {Name: "count_g", Doc: "0 args -> group: number of sequences in the group", Arity: 0, Class: ClassReduction,
			Over: AxisSeq, To: AxisGroup, Deriv: zeroDeriv, Math: MathForm{Kind: MathAtom, Sym: "n_g", Prec: mPrecAtom}},
		OpSumS: {Name: "sum_s", Doc: "1 arg, seq -> scalar: sum over the sequences of KEPT groups", Arity: 1, Class: ClassReduction,
			Over: AxisSeq, To: AxisScalar, Identity: sumIdentity, Deriv: sumDeriv,
			Math: MathForm{Kind: MathSum, Sym: "Σ_s ", Prec: mPrecMul, Left: mPrecPow}},
		OpCountS: {Name: "count_s", Doc: "0 args -> scalar: number of sequences of kept groups", Arity: 0, Class: ClassReduction,
			Over: AxisSeq, To: AxisScalar, Deriv: zeroDeriv, Math: MathForm{Kind: MathAtom, Sym: "N", Prec: mPrecAtom}},
	}
	registerFunctions()
}

func infix(sym string, prec int) MathForm {
	return MathForm{Kind: MathInfix, Sym: sym, Prec: prec, Left: prec, Right: prec + 1}
}

func call() MathForm { return MathForm{Kind: MathCall, Prec: mPrecAtom} }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// compare declares a comparison: 1 or 0, no grad.
func compare(name, sym string, f func(a, b float64) bool) OpInfo {
	return OpInfo{Name: name, Doc: "1 if a " + sym + " b, else 0", Arity: 2, Class: ClassElementwise, NoGrad: true,
		Eval: func(x []float64) float64 { return b2f(f(x[0], x[1])) }, Deriv: zeroDeriv,
		Math: MathForm{Kind: MathInfix, Sym: " " + sym + " ", Prec: mPrecCmp, Left: mPrecAdd, Right: mPrecAdd},
		Go:   "recipe.B2F($0 " + sym + " $1)", C: "(($0 " + sym + " $1) ? 1.0 : 0.0)"}
}

// Info returns the op's table entry (the zero OpInfo for an unknown op).
func (o Op) Info() *OpInfo {
	if o > OpInvalid && o < numOps {
		return &opTable[o]
	}
	return &OpInfo{Arity: -1}
}

// Ops lists every op, in order.
func Ops() []Op {
	out := make([]Op, 0, numOps-1)
	for o := OpInvalid + 1; o < numOps; o++ {
		out = append(out, o)
	}
	return out
}

func (o Op) String() string {
	if n := o.Info().Name; n != "" {
		return n
	}
	if o == OpInvalid {
		return "invalid"
	}
	return fmt.Sprintf("op(%d)", o)
}

// IsReadout reports whether o reads the policy's distribution at the score slot.
func (o Op) IsReadout() bool { return o.Info().Class == ClassReadout }

// IsReduction reports whether o sums or counts over a batch axis.
func (o Op) IsReduction() bool { return o.Info().Class == ClassReduction }

// IsElementwise reports whether o computes one number from one of each argument.
func (o Op) IsElementwise() bool { return o.Info().Class == ClassElementwise }

// Arity is the number of Args a value of this op has (-1: not an op).
func (o Op) Arity() int { return o.Info().Arity }

// applyOp evaluates an element-wise op on numbers; ok is false for ops that
// are not element-wise.
func applyOp(op Op, x []float64) (float64, bool) {
	f := op.Info().Eval
	if f == nil {
		return 0, false
	}
	return f(x), true
}

// ApplyOp evaluates an element-wise op on float64 arguments, exactly as the
// reference evaluator does (for emitter tests).
func ApplyOp(op Op, args ...float64) (float64, bool) {
	if op.Arity() != len(args) {
		return 0, false
	}
	return applyOp(op, args)
}

// Expand fills an expression template ($0, $1, ... stand for args), as the
// emitters do with OpInfo.Go and OpInfo.C.
func Expand(tmpl string, args []string) string {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '$' && i+1 < len(tmpl) && tmpl[i+1] >= '0' && tmpl[i+1] <= '9' {
			b.WriteString(args[tmpl[i+1]-'0'])
			i++
			continue
		}
		b.WriteByte(tmpl[i])
	}
	return b.String()
}

// Identities (the fold pass). A folder holds the value being rebuilt and its
// already rebuilt arguments.
type folder struct {
	b    *rebuilder
	v    *Value
	args []*Value
}

// keep replaces v by its argument i. The argument may have a smaller axis;
// broadcasting makes that equivalent. It inherits v's name.
func (f *folder) keep(i int) ID {
	if a := f.args[i]; f.v.Name != "" && a.Name == "" && a.Op != OpLeaf && a.Op != OpHyper {
		a.Name = f.v.Name
	}
	return f.v.Args[i]
}

func (f *folder) zero() ID {
	return f.b.add(&Value{Op: OpConst, Const: 0, Axis: AxisScalar, Pos: f.v.Pos})
}

// neg replaces v by -(argument i).
func (f *folder) neg(i int) ID {
	a := f.args[i]
	return f.b.add(&Value{Op: OpNeg, Args: []ID{f.v.Args[i]}, Axis: a.Axis, Grad: a.Grad, Pos: f.v.Pos, Name: f.v.Name, Label: f.v.Label})
}

func (f *folder) is(i int, x float64) bool { return isConst(f.args[i], x) }

func addIdentity(f *folder) ID {
	switch {
	case f.is(1, 0):
		return f.keep(0)
	case f.is(0, 0):
		return f.keep(1)
	}
	return NoID
}

func subIdentity(f *folder) ID {
	switch {
	case f.is(1, 0):
		return f.keep(0)
	case f.is(0, 0):
		return f.neg(1)
	}
	return NoID
}

// mulIdentity folds x*0 = 0 too: see fold.
func mulIdentity(f *folder) ID {
	switch {
	case f.is(1, 1):
		return f.keep(0)
	case f.is(0, 1):
		return f.keep(1)
	case f.is(0, 0) || f.is(1, 0):
		return f.zero()
	case f.is(0, -1):
		return f.neg(1)
	}
	return NoID
}

func divIdentity(f *folder) ID {
	switch {
	case f.is(1, 1):
		return f.keep(0)
	case f.is(0, 0):
		return f.zero()
	}
	return NoID
}

func powIdentity(f *folder) ID {
	if f.is(1, 1) {
		return f.keep(0)
	}
	return NoID
}

func negIdentity(f *folder) ID {
	if f.args[0].Op == OpNeg {
		return f.args[0].Args[0]
	}
	return NoID
}

func stopGradIdentity(f *folder) ID {
	if !f.args[0].Grad {
		return f.keep(0)
	}
	return NoID
}

func whereIdentity(f *folder) ID {
	if f.args[0].Op == OpConst {
		if f.args[0].Const != 0 {
			return f.keep(1)
		}
		return f.keep(2)
	}
	if f.v.Args[1] == f.v.Args[2] {
		return f.keep(1)
	}
	return NoID
}

func sumIdentity(f *folder) ID {
	if f.is(0, 0) {
		return f.zero()
	}
	return NoID
}

// Derivatives (the autodiff pass): each adds, for every argument with grad,
// its contribution adjoint * d value / d argument.

// zeroDeriv: no gradient flows through the op (constants, hyperparameters,
// counts, comparisons and logic, stopgrad); their values carry no grad.
func zeroDeriv(*differ, *Value, ID) {}

// readoutDeriv: the chain stops at a readout (a grad leaf or a score-slot
// readout); its adjoint is the result, Program.Grads.
func readoutDeriv(*differ, *Value, ID) {}

func addDeriv(d *differ, v *Value, a ID) {
	for i := range 2 {
		if d.grad(v, i) {
			d.accum(v.Args[i], a)
		}
	}
}

func subDeriv(d *differ, v *Value, a ID) {
	if d.grad(v, 0) {
		d.accum(v.Args[0], a)
	}
	if d.grad(v, 1) {
		d.accum(v.Args[1], d.op(OpNeg, a))
	}
}

func mulDeriv(d *differ, v *Value, a ID) {
	if d.grad(v, 0) {
		d.accum(v.Args[0], d.op(OpMul, a, v.Args[1]))
	}
	if d.grad(v, 1) {
		d.accum(v.Args[1], d.op(OpMul, a, v.Args[0]))
	}
}

func divDeriv(d *differ, v *Value, a ID) {
	if d.grad(v, 0) {
		d.accum(v.Args[0], d.op(OpDiv, a, v.Args[1]))
	}
	if d.grad(v, 1) { // d(x/y)/dy = -(x/y)/y
		d.accum(v.Args[1], d.op(OpNeg, d.op(OpDiv, d.op(OpMul, a, v.ID), v.Args[1])))
	}
}

func powDeriv(d *differ, v *Value, a ID) {
	x, y := v.Args[0], v.Args[1]
	if d.grad(v, 0) { // y x^(y-1)
		d.accum(x, d.op(OpMul, a, d.op(OpMul, y, d.op(OpPow, x, d.op(OpSub, y, d.konst(1))))))
	}
	if d.grad(v, 1) { // x^y log x
		d.accum(y, d.op(OpMul, a, d.op(OpMul, v.ID, d.op(OpLog, x))))
	}
}

func negDeriv(d *differ, v *Value, a ID) { d.accum(v.Args[0], d.op(OpNeg, a)) }

func expDeriv(d *differ, v *Value, a ID) { d.accum(v.Args[0], d.op(OpMul, a, v.ID)) }

func logDeriv(d *differ, v *Value, a ID) { d.accum(v.Args[0], d.op(OpDiv, a, v.Args[0])) }

// sqrtDeriv: 0.5 / sqrt(x), and 0 at x = 0, where it is +Inf: the central
// difference there is 0 for sqrt of a sum of squares (std_g of a group of
// one, or of equal values), which is how sqrt appears in recipes, and +Inf
// times a zero adjoint would be NaN.
func sqrtDeriv(d *differ, v *Value, a ID) {
	d.accum(v.Args[0], d.op(OpWhere, d.op(OpGt, v.ID, d.konst(0)), d.op(OpDiv, d.half(a), v.ID), d.konst(0)))
}

// absDeriv: sign(x), 0 at 0 (torch).
func absDeriv(d *differ, v *Value, a ID) {
	x, zero := v.Args[0], d.konst(0)
	d.accum(x, d.op(OpWhere, d.op(OpGt, x, zero), a, d.op(OpWhere, d.op(OpLt, x, d.konst(0)), d.op(OpNeg, a), d.konst(0))))
}

// minMaxDeriv: torch.minimum/maximum: the chosen side (win: OpLt for min,
// OpGt for max) gets the gradient, ties split it.
func minMaxDeriv(win Op) func(d *differ, v *Value, a ID) {
	return func(d *differ, v *Value, a ID) {
		x, y := v.Args[0], v.Args[1]
		tie := d.op(OpEq, x, y)
		if d.grad(v, 0) {
			d.accum(x, d.op(OpWhere, d.op(win, x, y), a, d.op(OpWhere, tie, d.half(a), d.konst(0))))
		}
		if d.grad(v, 1) {
			d.accum(y, d.op(OpWhere, d.op(win, y, x), a, d.op(OpWhere, tie, d.half(a), d.konst(0))))
		}
	}
}

// clipDeriv: torch.clamp: gradient to x where lo <= x <= hi; to lo where
// x < lo, to hi where x > hi (and x >= lo).
func clipDeriv(d *differ, v *Value, a ID) {
	x, lo, hi := v.Args[0], v.Args[1], v.Args[2]
	if d.grad(v, 0) {
		in := d.op(OpAnd, d.op(OpGe, x, lo), d.op(OpLe, x, hi))
		d.accum(x, d.op(OpWhere, in, a, d.konst(0)))
	}
	if d.grad(v, 1) {
		d.accum(lo, d.op(OpWhere, d.op(OpAnd, d.op(OpLt, x, lo), d.op(OpLe, lo, hi)), a, d.konst(0)))
	}
	if d.grad(v, 2) {
		d.accum(hi, d.op(OpWhere, d.op(OpOr, d.op(OpGt, x, hi), d.op(OpGt, lo, hi)), a, d.konst(0)))
	}
}

func whereDeriv(d *differ, v *Value, a ID) {
	if d.grad(v, 1) {
		d.accum(v.Args[1], d.op(OpWhere, v.Args[0], a, d.konst(0)))
	}
	if d.grad(v, 2) {
		d.accum(v.Args[2], d.op(OpWhere, v.Args[0], d.konst(0), a))
	}
}

// sumDeriv: the adjoint of a sum is broadcast back to each summand. A summand
// of a smaller axis was itself broadcast into the sum, so it gets the adjoint
// times the number of times it was counted.
func sumDeriv(d *differ, v *Value, a ID) {
	x := d.val(v.Args[0])
	if x.Axis == v.Op.Info().Over {
		d.accum(v.Args[0], a)
		return
	}
	var count ID
	switch v.Op {
	case OpSumT: // tokens of the sequence
		count = d.add(&Value{Op: OpSumT, Args: []ID{d.konst(1)}, Axis: AxisSeq})
	case OpSumG:
		count = d.add(&Value{Op: OpCountG, Axis: AxisGroup})
	default:
		if x.Axis == AxisScalar {
			count = d.add(&Value{Op: OpCountS, Axis: AxisScalar})
		} else { // a group value counted once per sequence of the group
			count = d.add(&Value{Op: OpCountG, Axis: AxisGroup})
		}
	}
	d.accum(v.Args[0], d.op(OpMul, a, count))
}
