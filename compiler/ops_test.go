package compiler

import (
	"fmt"
	"strings"
	"testing"
)

// TestOpTable fails when an op lacks an entry its class needs: every op has
// a name, a doc line, an arity, a class, a derivative and an explain form;
// element-wise ops also a value on numbers and Go and C expressions that use
// each argument; reductions their axes.
func TestOpTable(t *testing.T) {
	names := map[string]Op{}
	for _, op := range Ops() {
		info := op.Info()
		where := fmt.Sprintf("op %d (%s)", op, info.Name)
		if info.Name == "" || info.Doc == "" {
			t.Errorf("%s: no name or doc line", where)
		}
		if prev, dup := names[info.Name]; dup {
			t.Errorf("%s: name also used by op %d", where, prev)
		}
		names[info.Name] = op
		if info.Arity < 0 || info.Arity > 3 {
			t.Errorf("%s: arity %d", where, info.Arity)
		}
		if info.Class == 0 {
			t.Errorf("%s: no class", where)
		}
		if info.Deriv == nil {
			t.Errorf("%s: no derivative (zeroDeriv when no gradient flows)", where)
		}
		if info.Math.Kind == 0 {
			t.Errorf("%s: no explain form", where)
		}
		switch info.Class {
		case ClassElementwise:
			if info.Eval == nil {
				t.Errorf("%s: element-wise op without Eval", where)
			}
			for _, form := range []struct{ lang, tmpl string }{{"Go", info.Go}, {"C", info.C}} {
				if form.tmpl == "" {
					t.Errorf("%s: no %s expression", where, form.lang)
				}
				for i := range 10 {
					used := strings.Contains(form.tmpl, fmt.Sprintf("$%d", i))
					if used != (i < info.Arity) {
						t.Errorf("%s: %s expression %q: $%d used=%v, arity %d", where, form.lang, form.tmpl, i, used, info.Arity)
					}
				}
			}
			switch info.Math.Kind {
			case MathInfix, MathPrefix, MathCall:
				if (info.Math.Kind == MathInfix) != (info.Arity == 2) && info.Math.Kind != MathCall {
					t.Errorf("%s: explain form %d does not fit arity %d", where, info.Math.Kind, info.Arity)
				}
			default:
				t.Errorf("%s: element-wise op with explain form %d", where, info.Math.Kind)
			}
		case ClassReduction:
			if info.Over <= info.To {
				t.Errorf("%s: reduces %s to %s", where, info.Over, info.To)
			}
			if info.Eval != nil || info.Go != "" || info.C != "" {
				t.Errorf("%s: a reduction is scheduled, not evaluated element-wise", where)
			}
		default:
			if info.Eval != nil || info.Go != "" || info.C != "" {
				t.Errorf("%s: a %s has no element-wise forms", where, info.Class)
			}
		}
		if info.Func != "" {
			if info.Class != ClassElementwise || info.Usage == "" || info.FuncDoc == "" {
				t.Errorf("%s: function %s needs an element-wise op, a usage and a doc line", where, info.Func)
			}
			if fn := functions[info.Func]; fn.usage != info.Usage {
				t.Errorf("%s: function %s not registered", where, info.Func)
			}
		}
	}
	if OpInvalid.Info().Arity != -1 || numOps.Info().Arity != -1 {
		t.Error("ops outside the table must have arity -1")
	}
}

// TestOpEval checks the table's values on numbers against the forms of the
// emitters' reference (torch.clamp, 1/0 for comparisons, where).
func TestOpEval(t *testing.T) {
	for _, c := range []struct {
		op   Op
		args []float64
		want float64
	}{
		{OpAdd, []float64{2, 3}, 5}, {OpSub, []float64{2, 3}, -1}, {OpMul, []float64{2, 3}, 6}, {OpDiv, []float64{3, 2}, 1.5},
		{OpPow, []float64{2, 3}, 8}, {OpMin, []float64{2, 3}, 2}, {OpMax, []float64{2, 3}, 3}, {OpNeg, []float64{2}, -2},
		{OpAbs, []float64{-2}, 2}, {OpStopGrad, []float64{7}, 7}, {OpClip, []float64{5, 3, 1}, 1}, {OpClip, []float64{0, -1, 1}, 0},
		{OpLt, []float64{1, 2}, 1}, {OpGe, []float64{1, 2}, 0}, {OpEq, []float64{2, 2}, 1}, {OpNe, []float64{2, 2}, 0},
		{OpAnd, []float64{1, 0}, 0}, {OpOr, []float64{1, 0}, 1}, {OpNot, []float64{0}, 1}, {OpWhere, []float64{0, 1, 2}, 2},
	} {
		got, ok := ApplyOp(c.op, c.args...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.op, c.args, got, ok, c.want)
		}
	}
	if _, ok := ApplyOp(OpSumT, 1); ok {
		t.Error("a reduction evaluated element-wise")
	}
}

// TestBackwardNeedsDerivative: an op without a derivative fails autodiff
// instead of giving a silent zero gradient.
func TestBackwardNeedsDerivative(t *testing.T) {
	saved := opTable[OpExp].Deriv
	opTable[OpExp].Deriv = nil
	defer func() { opTable[OpExp].Deriv = saved }()
	_, err := CompileUpTo("t.rl", []byte("recipe t\nloss token_mean(-exp(logp))\n"), "autodiff")
	if err == nil || !strings.Contains(err.Error(), "op exp has no derivative") {
		t.Fatalf("autodiff without exp's derivative: %v", err)
	}
}
