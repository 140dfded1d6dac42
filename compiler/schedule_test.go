package compiler

import (
	"strings"
	"testing"
)

// progOf builds a small program by hand: loss = sum_s(f(sum_t(logp))), whose
// logp adjoint reads a per-sequence sum of logp unless direct is set.
func progOf(direct bool) *Program {
	v := func(id ID, op Op, ax Axis, grad bool, args ...ID) *Value {
		return &Value{ID: id, Op: op, Axis: ax, Grad: grad, Args: args, Stage: StageLoss}
	}
	p := &Program{Name: "t", Filter: NoID}
	p.Values = []*Value{
		v(0, OpLeaf, AxisToken, true),       // logp
		v(1, OpSumT, AxisSeq, true, 0),      // sum_t logp
		v(2, OpMul, AxisSeq, true, 1, 1),    // (sum_t logp)^2
		v(3, OpSumS, AxisScalar, true, 2),   // loss
		v(4, OpConst, AxisScalar, false),    // 2
		v(5, OpMul, AxisSeq, false, 4, 1),   // adjoint of sum_t: 2 sum_t logp
		v(6, OpMul, AxisToken, false, 5, 0), // adjoint of logp (token axis, reads %5)
		v(7, OpLeaf, AxisToken, false),      // mask
		v(8, OpMul, AxisToken, false, 7, 0), // a row-local adjoint: mask * logp
	}
	p.Values[0].Name, p.Values[7].Name, p.Values[4].Const = "logp", "mask", 2
	p.Values[5].Stage, p.Values[6].Stage, p.Values[8].Stage = StageGrad, StageGrad, StageGrad
	p.Loss = 3
	adj := ID(6)
	if direct {
		adj = 8
	}
	p.Grads = []ReadoutGrad{{Readout: 0, Adjoint: adj}}
	return p
}

func TestSchedulePasses(t *testing.T) {
	s, err := NewSchedule(progOf(true))
	if err != nil {
		t.Fatal(err)
	}
	if !s.OnePass {
		t.Fatalf("a row-local adjoint must give one pass: %v", s.Reasons)
	}
	if len(s.Adjoint) != 2 || s.Adjoint[0] != 0 || s.Adjoint[1] != 8 {
		t.Fatalf("the token adjoint evaluates %v, want [0 8] (logp, then mask*logp)", s.Adjoint)
	}
	// Same program, but the adjoint reads sum_t(logp): two passes, because
	// of that statistic (and the compiler's TwoPass flag says so too).
	p := progOf(false)
	if err := schedule(p); err != nil {
		t.Fatal(err)
	}
	s = p.Schedule
	if s.OnePass || len(s.Reasons) != 1 || s.Reasons[0] != (PassReason{ReasonTokenStat, 1}) {
		t.Fatalf("OnePass=%v reasons=%v, want two passes because of the sum_t %%1", s.OnePass, s.Reasons)
	}
	if !p.TwoPass || len(p.TwoPassWhy) != 1 || p.TwoPassWhy[0] != 1 {
		t.Errorf("TwoPass=%v TwoPassWhy=%v, want the schedule's verdict", p.TwoPass, p.TwoPassWhy)
	}
	if txt := s.ReasonText(p); !strings.Contains(txt, "sum_t %1") {
		t.Errorf("reason text %q", txt)
	}
}

func TestScheduleRejectsBadIR(t *testing.T) {
	p := progOf(true)
	p.Values[2].Args = []ID{1, 5} // reads a later value
	if _, err := NewSchedule(p); err == nil || !strings.Contains(err.Error(), "not an earlier value") {
		t.Fatalf("got %v", err)
	}
	p = progOf(true)
	p.Values[2].Args = []ID{1}
	if _, err := NewSchedule(p); err == nil || !strings.Contains(err.Error(), "mul has 1 args, want 2") {
		t.Fatalf("got %v", err)
	}
}

// TestScheduleOfRecipes checks what the schedule decides for the recipes:
// phases partition the needed values in topological order, steps group
// runs of one axis, slots count every value once, and every recipe but the
// test recipes runs in one pass.
func TestScheduleOfRecipes(t *testing.T) {
	for _, name := range []string{"real.rl", "grpo.rl", "rloo.rl", "ppo.rl", "raft.rl", "tract.rl", "real_abs.rl", "sft.rl"} {
		p := compileRecipe(t, name)
		s := p.Schedule
		if s == nil || !s.OnePass {
			t.Fatalf("%s: schedule %v", name, s)
		}
		seen := map[ID]bool{}
		last := ID(-1)
		for _, ph := range s.Phases {
			var inSteps []ID
			for _, st := range ph.Steps {
				if st.Reduce != p.Values[st.Values[0]].Op.IsReduction() || (st.Reduce && len(st.Values) != 1) {
					t.Errorf("%s: step %+v", name, st)
				}
				for _, id := range st.Values {
					if !st.Reduce && p.Values[id].Axis != st.Axis {
						t.Errorf("%s: %%%d of axis %s in a loop over %s", name, id, p.Values[id].Axis, st.Axis)
					}
				}
				inSteps = append(inSteps, st.Values...)
			}
			if idList(inSteps) != idList(ph.Values) {
				t.Errorf("%s: phase %s steps %v, values %v", name, ph.Name, inSteps, ph.Values)
			}
			for _, id := range ph.Values {
				if seen[id] || !s.Stored[id] {
					t.Errorf("%s: %%%d in phase %s twice or not stored", name, id, ph.Name)
				}
				if op := p.Values[id].Op; (op == OpConst || op == OpHyper) && id != p.Loss {
					t.Errorf("%s: phase %s stores the %s %%%d, which the kernels write inline", name, ph.Name, op, id)
				}
				seen[id] = true
				if ph.Name != PhaseToken && id < last {
					t.Errorf("%s: phase %s out of order at %%%d", name, ph.Name, id)
				}
				last = max(last, id)
			}
		}
		for id, need := range s.Needed {
			if op := p.Values[id].Op; need && !seen[ID(id)] && op != OpConst && op != OpHyper {
				t.Errorf("%s: needed %%%d in no phase", name, id)
			}
		}
		var counts [4]int
		for _, v := range p.Values {
			if s.Slots[v.ID] != counts {
				t.Errorf("%s: slot of %%%d = %v, want %v", name, v.ID, s.Slots[v.ID], counts)
			}
			counts[v.Axis]++
		}
		if counts != s.Counts {
			t.Errorf("%s: counts %v, want %v", name, s.Counts, counts)
		}
		if d := Dump(p); !strings.Contains(d, "schedule: one pass") || !strings.Contains(d, "kernel arguments: double* __restrict__ vals, const double* __restrict__ hyper, int G") {
			t.Errorf("%s: dump lacks the schedule:\n%s", name, d)
		}
	}
}
