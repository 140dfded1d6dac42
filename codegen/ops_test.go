package codegen

import (
	"github.com/dave/jennifer/jen"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
)

// progOf builds a small program by hand: loss = sum_s(f(sum_t(logp))), whose
// logp adjoint reads a per-sequence sum of logp unless direct is set.
func progOf(direct bool) *compiler.Program {
	v := func(id compiler.ID, op compiler.Op, ax compiler.Axis, grad bool, args ...compiler.ID) *compiler.Value {
		return &compiler.Value{ID: id, Op: op, Axis: ax, Grad: grad, Args: args, Stage: compiler.StageLoss}
	}
	p := &compiler.Program{Name: "t", Filter: compiler.NoID}
	p.Values = []*compiler.Value{
		v(0, compiler.OpLeaf, compiler.AxisToken, true),       // logp
		v(1, compiler.OpSumT, compiler.AxisSeq, true, 0),      // sum_t logp
		v(2, compiler.OpMul, compiler.AxisSeq, true, 1, 1),    // (sum_t logp)^2
		v(3, compiler.OpSumS, compiler.AxisScalar, true, 2),   // loss
		v(4, compiler.OpConst, compiler.AxisScalar, false),    // 2
		v(5, compiler.OpMul, compiler.AxisSeq, false, 4, 1),   // adjoint of sum_t: 2 sum_t logp
		v(6, compiler.OpMul, compiler.AxisToken, false, 5, 0), // adjoint of logp (token axis, reads %5)
		v(7, compiler.OpLeaf, compiler.AxisToken, false),      // mask
		v(8, compiler.OpMul, compiler.AxisToken, false, 7, 0), // a row-local adjoint: mask * logp
	}
	p.Values[0].Name, p.Values[7].Name, p.Values[4].Const = "logp", "mask", 2
	p.Values[5].Stage, p.Values[6].Stage, p.Values[8].Stage = compiler.StageGrad, compiler.StageGrad, compiler.StageGrad
	p.Loss = 3
	adj := compiler.ID(6)
	if direct {
		adj = 8
	}
	p.Grads = []compiler.ReadoutGrad{{Readout: 0, Adjoint: adj}}
	return p
}

func TestPlanPasses(t *testing.T) {
	pl, err := newPlan(progOf(true))
	if err != nil {
		t.Fatal(err)
	}
	if !pl.onePass {
		t.Fatalf("a row-local adjoint must give one pass: %s", pl.twoPassWhy)
	}
	if len(pl.adjoint) != 2 || pl.adjoint[0] != 0 || pl.adjoint[1] != 8 {
		t.Fatalf("TokenAdjoint evaluates %v, want [0 8] (logp, then mask*logp)", pl.adjoint)
	}
	// Same program, but the adjoint reads sum_t(logp): two passes, even
	// though the program's TwoPass flag is not set.
	pl, err = newPlan(progOf(false))
	if err != nil {
		t.Fatal(err)
	}
	if pl.onePass || !strings.Contains(pl.twoPassWhy, "sum_t over the batch") {
		t.Fatalf("onePass=%v why=%q, want two passes because of sum_t", pl.onePass, pl.twoPassWhy)
	}
	p := progOf(true)
	p.TwoPass = true
	if pl, _ := newPlan(p); pl.onePass {
		t.Fatal("the compiler's TwoPass flag must be honoured")
	}
}

func TestPlanRejectsBadIR(t *testing.T) {
	p := progOf(true)
	p.Values[2].Args = []compiler.ID{1, 5} // reads a later value
	if _, err := newPlan(p); err == nil || !strings.Contains(err.Error(), "not an earlier value") {
		t.Fatalf("got %v", err)
	}
}

// TestOpForms renders every element-wise op's Go form (the op table's
// template) into a file that must format, with its packages imported.
func TestOpForms(t *testing.T) {
	f := jen.NewFile("main")
	for _, op := range compiler.Ops() {
		if !op.IsElementwise() {
			continue
		}
		args := []jen.Code{jen.Id("a"), jen.Id("b"), jen.Id("c")}[:op.Arity()]
		f.Func().Id("f_" + op.String()).Params(jen.List(jen.Id("a"), jen.Id("b"), jen.Id("c")).Float64()).Float64().Block(jen.Return(opExpr(op, args)))
	}
	out, err := render(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"math.Min(math.Max(a, b), c)", "recipe.Where(a, b, c)", "recipe.B2F(a != 0 && b != 0)", "return -a", "return (a + b)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered forms lack %q:\n%s", want, out)
		}
	}
}
