package compiler

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// The gradient tests compare the evaluator's dlogits (adjoints from autodiff,
// chained to the logits by the fixed readout rules) with central finite
// differences of the loss, perturbing every logit of every response token and
// of every score slot. Score, filter and advantage values stay frozen at their
// unperturbed values (Options.Stage1), as in training: they are constants.
func checkGradFD(t testing.TB, p *Program, b *Batch, over map[string]float64) {
	t.Helper()
	base, err := Eval(p, b, over)
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		r, err := EvalWith(p, b, over, Options{Stage1: base})
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	const h = 1e-5
	fd := func(x *float64) float64 {
		old := *x
		*x = old + h
		up := loss()
		*x = old - h
		down := loss()
		*x = old
		return (up - down) / (2 * h)
	}
	seqs, _ := flatSeqs(b)
	checked, nonzero := 0, 0
	for s, sq := range seqs {
		for tt := range sq.Logits {
			for j := range sq.Logits[tt] {
				want := fd(&sq.Logits[tt][j])
				got := base.GradLogits[s][tt][j]
				if !numtest.Within(got, want, 1e-6, 1e-6) {
					t.Errorf("%s: dL/dlogits seq %d token %d [%d] = %.10g, finite difference %.10g", p.Name, s, tt, j, got, want)
				}
				checked++
				if got != 0 {
					nonzero++
				}
			}
		}
		for j := range sq.ScoreLogits {
			want := fd(&sq.ScoreLogits[j])
			got := base.GradScoreLogits[s][j]
			if !numtest.Within(got, want, 1e-6, 1e-6) {
				t.Errorf("%s: dL/dscore_logits seq %d [%d] = %.10g, finite difference %.10g", p.Name, s, j, got, want)
			}
			checked++
			if got != 0 {
				nonzero++
			}
		}
	}
	if nonzero == 0 {
		t.Errorf("%s: every gradient is zero; the test would not see a wrong one", p.Name)
	}
	t.Logf("%s: %d partial derivatives checked, %d nonzero", p.Name, checked, nonzero)
}

func TestGradientsFiniteDifferences(t *testing.T) {
	cases := []struct {
		recipe string
		over   map[string]float64
	}{
		{"real.rl", map[string]float64{"beta": 0.3, "lambda": 0.7}},
		{"real.rl", nil},
		{"real_abs.rl", map[string]float64{"beta": 0.3}},
		{"grpo.rl", nil},
		{"rloo.rl", nil},
		{"ppo.rl", map[string]float64{"ent_coef": 0.05}},
		{"raft.rl", nil},
		{"tract.rl", nil},
	}
	for i, c := range cases {
		t.Run(c.recipe, func(t *testing.T) {
			p := compileRecipe(t, c.recipe)
			b := randBatch(rand.New(rand.NewSource(int64(10+i))), []int{3, 2, 1, 3}, map[int]bool{3: true})
			checkGradFD(t, p, b, c.over)
			// Dropped groups (REAL drops group 3, all correct) get zeros.
			r, _ := Eval(p, b, c.over)
			for s := range r.GradLogits {
				if g := groupOfSeq(b, s); !r.Kept[g] {
					for _, row := range r.GradLogits[s] {
						for _, x := range row {
							if x != 0 {
								t.Fatalf("seq %d of dropped group %d has a nonzero gradient", s, g)
							}
						}
					}
				}
			}
		})
	}
}

func groupOfSeq(b *Batch, s int) int {
	_, grp := flatSeqs(b)
	return grp[s]
}

// TestGradientsAllOps differentiates a recipe that uses every op and
// reduction with grad, including renormalized readouts and batch statistics
// of grad values (which make the plan two-pass).
func TestGradientsAllOps(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "ops.rl"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile("testdata/ops.rl", src)
	if err != nil {
		t.Fatal(err)
	}
	if !p.TwoPass {
		t.Error("ops.rl reads std_g and loo of grad values in adjoints: the plan must be two-pass")
	}
	if ex := Explain(p); !strings.Contains(ex, "two passes: the adjoints read batch statistics of grad values") {
		t.Errorf("explain does not announce the two passes:\n%s", ex)
	}
	b := randBatch(rand.New(rand.NewSource(7)), []int{3, 2, 2, 4}, nil)
	// Unequal masks exercise mean_t and seq_mean_token_mean denominators.
	b.Groups[0].Seqs[1].Mask = make([]float64, len(b.Groups[0].Seqs[1].Tokens))
	for i := range b.Groups[0].Seqs[1].Mask {
		b.Groups[0].Seqs[1].Mask[i] = float64(i % 2)
	}
	checkGradFD(t, p, b, nil)
}

// TestGradientsAllOpsGroupOfOne is TestGradientsAllOps with a group of one
// sequence, where ops.rl's std_g(e, pop) and std_g(s, unbiased) are 0 for
// every input (std_g is 0 for a group of one), so their true derivative,
// and the finite difference, is 0: sqrt's derivative at 0 must be 0 there,
// not +Inf (which times the zero derivative of the sum of squares was NaN in
// every gradient of that sequence).
func TestGradientsAllOpsGroupOfOne(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "ops.rl"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile("testdata/ops.rl", src)
	if err != nil {
		t.Fatal(err)
	}
	b := randBatch(rand.New(rand.NewSource(7)), []int{3, 2, 1, 4}, nil)
	checkGradFD(t, p, b, nil)
}

func TestOnePassPlan(t *testing.T) {
	for _, name := range []string{"real.rl", "grpo.rl", "rloo.rl", "ppo.rl", "raft.rl", "tract.rl", "real_abs.rl"} {
		if p := compileRecipe(t, name); p.TwoPass {
			t.Errorf("%s: plan is two-pass, want one pass (its adjoints read only per-row values and counts)", name)
		}
	}
}
