package compiler

import (
	"flag"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
)

// Use go test ./compiler -update to rewrite the golden files under testdata.
var update = flag.Bool("update", false, "rewrite golden files")

// repoRoot is the repository root; the package's tests read recipes/ from it.
func repoRoot(t testing.TB) string {
	t.Helper()
	return testenv.RepoRoot(t)
}

func compileRecipe(t testing.TB, name string) *Program {
	t.Helper()
	path := filepath.Join(repoRoot(t), "recipes", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile("recipes/"+name, src)
	if err != nil {
		t.Fatalf("compile %s:\n%v", name, err)
	}
	return p
}

// Score tokens of the test vocabulary: ids 3..7 carry the values 1..5.
var testScoreIDs = []int{3, 4, 5, 6, 7}

const testV = 11

// randBatch builds a batch with the given group sizes, random logits, and
// accuracies that make every group of more than one sequence "partial" unless
// allSame lists it.
func randBatch(rnd *rand.Rand, sizes []int, allSame map[int]bool) *Batch {
	b := &Batch{Vocab: testV, ScoreTokens: testScoreIDs, Hyper: map[string]float64{}}
	for g, n := range sizes {
		grp := Group{Y: float64(1 + rnd.Intn(5))}
		for j := range n {
			L := 3 + rnd.Intn(4)
			s := Seq{Regions: map[string][2]int{"cot": {0, L - 1}, "answer": {L - 1, L}}, Pred: float64(1 + rnd.Intn(5)), FormatOK: 1}
			for t := range L {
				tok := rnd.Intn(testV)
				s.Tokens = append(s.Tokens, tok)
				row := make([]float64, testV)
				for k := range row {
					row[k] = rnd.NormFloat64() * 1.5
				}
				s.Logits = append(s.Logits, row)
				lp := refLogSoftmax(row)[tok]
				s.OldLogp = append(s.OldLogp, lp+rnd.NormFloat64()*0.15)
				s.RefLogp = append(s.RefLogp, lp+rnd.NormFloat64()*0.3)
				_ = t
			}
			s.ScoreLogits = make([]float64, testV)
			for k := range s.ScoreLogits {
				s.ScoreLogits[k] = rnd.NormFloat64()
			}
			for _, id := range testScoreIDs {
				s.ScoreLogits[id] += 1.5
			}
			switch {
			case allSame[g]:
				s.Acc = 1
			case n > 1:
				s.Acc = float64(j % 2)
			default:
				s.Acc = float64(rnd.Intn(2))
			}
			grp.Seqs = append(grp.Seqs, s)
		}
		b.Groups = append(b.Groups, grp)
	}
	return b
}

func refLogSoftmax(z []float64) []float64 {
	m := math.Inf(-1)
	for _, x := range z {
		m = math.Max(m, x)
	}
	s := 0.0
	for _, x := range z {
		s += math.Exp(x - m)
	}
	out := make([]float64, len(z))
	for i, x := range z {
		out[i] = x - m - math.Log(s)
	}
	return out
}

func refSoftmax(z []float64) []float64 {
	out := refLogSoftmax(z)
	for i := range out {
		out[i] = math.Exp(out[i])
	}
	return out
}

func refEntropy(z []float64) float64 {
	p, lp := refSoftmax(z), refLogSoftmax(z)
	h := 0.0
	for i := range p {
		h -= p[i] * lp[i]
	}
	return h
}

// refE returns E = sum_k k p(tok_k) and p(tok(y)) with the full softmax.
func refE(s *Seq, y float64) (E, py float64) {
	p := refSoftmax(s.ScoreLogits)
	for k, id := range testScoreIDs {
		E += float64(k+1) * p[id]
	}
	return E, p[testScoreIDs[int(y)-1]]
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// refLOO is REAL's leave-one-out: R_i - mean of the others; 0 for one sequence.
func refLOO(r []float64) []float64 {
	out := make([]float64, len(r))
	if len(r) == 1 {
		return out
	}
	sum := 0.0
	for _, x := range r {
		sum += x
	}
	for i, x := range r {
		out[i] = x - (sum-x)/float64(len(r)-1)
	}
	return out
}

func refStd(r []float64, unbiased bool) float64 {
	m := mean(r)
	ss := 0.0
	for _, x := range r {
		ss += (x - m) * (x - m)
	}
	d := float64(len(r))
	if unbiased {
		d--
	}
	return math.Sqrt(ss / d)
}

func clip(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*(1+math.Abs(b))
}

func eval(t *testing.T, p *Program, b *Batch, over map[string]float64) *Result {
	t.Helper()
	r, err := Eval(p, b, over)
	if err != nil {
		t.Fatalf("eval %s: %v", p.Name, err)
	}
	return r
}

// flatSeqs lists the sequences in evaluation order with their group index.
func flatSeqs(b *Batch) (seqs []*Seq, group []int) {
	for g := range b.Groups {
		for j := range b.Groups[g].Seqs {
			seqs = append(seqs, &b.Groups[g].Seqs[j])
			group = append(group, g)
		}
	}
	return
}
