package compiler

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// The float64 evaluator at large and extreme logits. Log-softmax, and so
// every readout, is invariant under a shift of a row's logits by a
// constant; without the max subtraction in logSumExp, exp overflows at +710
// and the sum underflows to zero below -745.

// cloneBatch copies b deeply enough that its logits can be changed.
func cloneBatch(b *Batch) *Batch {
	c := *b
	c.Groups = make([]Group, len(b.Groups))
	for g, grp := range b.Groups {
		c.Groups[g] = grp
		c.Groups[g].Seqs = make([]Seq, len(grp.Seqs))
		for j, s := range grp.Seqs {
			s.Logits = make([][]float64, len(s.Logits))
			for t, row := range grp.Seqs[j].Logits {
				s.Logits[t] = append([]float64(nil), row...)
			}
			s.ScoreLogits = append([]float64(nil), s.ScoreLogits...)
			c.Groups[g].Seqs[j] = s
		}
	}
	return &c
}

// eachRow calls f on every token row and score row of b.
func eachRow(b *Batch, f func(row []float64)) {
	for g := range b.Groups {
		for j := range b.Groups[g].Seqs {
			s := &b.Groups[g].Seqs[j]
			for _, row := range s.Logits {
				f(row)
			}
			f(s.ScoreLogits)
		}
	}
}

func shiftedBatch(b *Batch, c float64) *Batch {
	out := cloneBatch(b)
	eachRow(out, func(row []float64) {
		for i := range row {
			row[i] += c
		}
	})
	return out
}

// sameResult compares everything Eval returns, with tolerance atol+rtol*|want|
// (scaled by the largest |want| of each array for the gradients).
func sameResult(t testing.TB, what string, got, want *Result, atol, rtol float64) {
	t.Helper()
	numtest.Close(t, what+": loss", got.Loss, want.Loss, atol, rtol)
	for g := range want.Kept {
		if got.Kept[g] != want.Kept[g] {
			t.Errorf("%s: kept[%d] = %v, want %v", what, g, got.Kept[g], want.Kept[g])
		}
	}
	for name, w := range want.Rewards {
		numtest.AllClose(t, what+": reward "+name, got.Rewards[name], w, atol, rtol)
	}
	for name, w := range want.Advantages {
		numtest.AllClose(t, what+": advantage "+name, got.Advantages[name], w, atol, rtol)
	}
	var gGot, gWant []float64
	for s := range want.GradLogits {
		for tt := range want.GradLogits[s] {
			gGot, gWant = append(gGot, got.GradLogits[s][tt]...), append(gWant, want.GradLogits[s][tt]...)
		}
		gGot, gWant = append(gGot, got.GradScoreLogits[s]...), append(gWant, want.GradScoreLogits[s]...)
	}
	numtest.AllClose(t, what+": dlogits", gGot, gWant, atol*math.Max(1, numtest.MaxAbs(gWant)), rtol)
}

// recipeFiles are the shipped recipes and the all-ops test recipe.
func recipeFiles(t *testing.T) []*Program {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(repoRoot(t), "recipes", "*.rl"))
	var progs []*Program
	for _, p := range paths {
		progs = append(progs, compileRecipe(t, filepath.Base(p)))
	}
	src, err := os.ReadFile(filepath.Join("testdata", "ops.rl"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile("testdata/ops.rl", src)
	if err != nil {
		t.Fatal(err)
	}
	return append(progs, p)
}

// TestEvalShiftInvariance: every recipe's rewards, advantages, kept groups,
// loss and gradients are the same for logits + c, c up to +-1e4, within the
// float64 rounding of the shifted logits.
func TestEvalShiftInvariance(t *testing.T) {
	for i, p := range recipeFiles(t) {
		t.Run(p.Name, func(t *testing.T) {
			// No group of one: see TestGradientsAllOps for std_g there.
			b := randBatch(rand.New(rand.NewSource(int64(40+i))), []int{3, 2, 4}, map[int]bool{2: true})
			over := map[string]float64{}
			base := eval(t, p, b, over)
			if !numtest.AllFinite(t, "unshifted loss", []float64{base.Loss}) {
				return
			}
			for _, c := range []float64{100, -100, 1000, -1000, 1e4, -1e4} {
				r, err := Eval(p, shiftedBatch(b, c), over)
				if err != nil {
					t.Errorf("shift %g: %v", c, err)
					continue
				}
				// Rounding of z + c: |c| * 2^-52 per logit, amplified by
				// the recipe's arithmetic.
				sameResult(t, fmt.Sprintf("shift %g", c), r, base, 1e-10+1e-12*math.Abs(c), 1e-10+1e-12*math.Abs(c))
			}
		})
	}
}

// TestEvalExtremeLogits: rows at the edges of float32 give the answer of an
// equivalent moderate row (the same probabilities to float64 precision), or
// an error: never a NaN or an infinity in a result.
//   - the target token (and the first score token) at +MaxFloat32 takes all
//     the probability, as it does at 800 above the rest;
//   - a non-target logit at -MaxFloat32 or -Inf has probability 0, as it has
//     at 800 below the rest;
//   - a row of equal logits at 1e4 is the uniform distribution, as at 0.
func TestEvalExtremeLogits(t *testing.T) {
	maxF := float64(math.MaxFloat32)
	type edit func(row []float64, target int)
	setTo := func(f func(row []float64) float64, at func(target int) int) edit {
		return func(row []float64, target int) { row[at(target)] = f(row) }
	}
	rowMax := func(row []float64) float64 {
		m := math.Inf(-1)
		for _, x := range row {
			m = math.Max(m, x)
		}
		return m
	}
	rowMin := func(row []float64) float64 {
		m := math.Inf(1)
		for _, x := range row {
			m = math.Min(m, x)
		}
		return m
	}
	tgt := func(target int) int { return target }
	// A non-target, non-score id: the score tokens are 3..7.
	other := func(target int) int {
		for _, j := range []int{0, 1, 2, 8, 9, 10} {
			if j != target {
				return j
			}
		}
		return -1
	}
	cases := []struct {
		name          string
		extreme, same edit
		errorOK       bool // an error is an acceptable answer
		scoreRows     bool // edit the score rows too
	}{
		// Token rows only: a score row with all its mass on one score value
		// makes the log-probability of the others -Inf (an error, rightly).
		{"target at +MaxFloat32", setTo(func([]float64) float64 { return maxF }, tgt),
			setTo(func(r []float64) float64 { return rowMax(r) + 800 }, tgt), false, false},
		{"a logit at -MaxFloat32", setTo(func([]float64) float64 { return -maxF }, other),
			setTo(func(r []float64) float64 { return rowMin(r) - 800 }, other), false, true},
		{"a logit at -Inf", setTo(func([]float64) float64 { return math.Inf(-1) }, other),
			setTo(func(r []float64) float64 { return rowMin(r) - 800 }, other), true, true},
		// Token rows only: equal score rows make every reward equal and the
		// advantages' std normalization amplifies rounding a millionfold.
		{"flat at 1e4", func(row []float64, _ int) {
			for i := range row {
				row[i] = 1e4
			}
		}, func(row []float64, _ int) {
			for i := range row {
				row[i] = 0
			}
		}, false, false},
	}
	for i, p := range recipeFiles(t) {
		b := randBatch(rand.New(rand.NewSource(int64(60+i))), []int{3, 2, 4}, map[int]bool{2: true})
		for _, c := range cases {
			what := p.Name + ": " + c.name
			apply := func(e edit) *Batch {
				out := cloneBatch(b)
				for g := range out.Groups {
					for j := range out.Groups[g].Seqs {
						s := &out.Groups[g].Seqs[j]
						for tt, row := range s.Logits {
							e(row, s.Tokens[tt])
						}
						if c.scoreRows {
							e(s.ScoreLogits, testScoreIDs[0])
						}
					}
				}
				return out
			}
			want, err := Eval(p, apply(c.same), nil)
			if err != nil {
				t.Errorf("%s: the moderate equivalent: %v", what, err)
				continue
			}
			got, err := Eval(p, apply(c.extreme), nil)
			if err != nil {
				if !c.errorOK || !strings.Contains(err.Error(), "not finite") {
					t.Errorf("%s: %v", what, err)
				} else {
					t.Logf("%s: %v (an error is a right answer)", what, err)
				}
				continue
			}
			sameResult(t, what, got, want, 1e-9, 1e-9)
		}
	}
}
