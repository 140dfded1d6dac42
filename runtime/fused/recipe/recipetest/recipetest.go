// Package recipetest checks generated recipe kernels against the reference
// evaluator (compiler.Eval) and benchmarks them; generated kernels_test.go
// files call it, so that each generated package tests itself.
package recipetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/blas"
	"github.com/realc-project/realc/runtime/fused"
	"github.com/realc-project/realc/runtime/fused/fusedbench"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// Tolerances of the generated float32 kernels against the float64 evaluator:
// |got - want| <= Atol*scale + Rtol*|want|, scale = max |want| over the array
// compared (1 for scalars).
const (
	Rtol = 1e-4
	Atol = 1e-4
)

// ModuleRoot walks up from the working directory to the folder with go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Compile compiles the recipe a generated program came from (Meta.File,
// relative to the module root unless absolute).
func Compile(m *recipe.Meta) (*compiler.Program, error) {
	path := m.File
	if !filepath.IsAbs(path) {
		root, err := ModuleRoot()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(root, path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipe of generated program %s: %v", m.Name, err)
	}
	return compiler.Compile(m.File, src)
}

// Case is one random batch.
type Case struct {
	Name          string
	V, D          int
	Groups        []int // sequences per group
	MaxLen        int
	Seed          uint64
	PerturbHypers bool
	LogitScale    float64
	// Shift is added to every logit (log-softmax does not change): through
	// one more hidden dimension, Shift in H against 1 in W, so that both
	// entry points see it.
	Shift float64
}

// Cases are the batches MatchEvaluator runs: small vocabularies with many
// shapes, the Qwen3 vocabulary (V=151,936) on a few rows, and logits
// shifted by +-1e4 (a kernel without the max subtraction overflows exp).
func Cases() []Case {
	return []Case{
		{Name: "V37/defaults", V: 37, D: 8, Groups: []int{3, 1, 4, 2}, MaxLen: 6, Seed: 1, LogitScale: 1.5},
		{Name: "V37/hypers", V: 37, D: 8, Groups: []int{3, 4, 2, 5}, MaxLen: 5, Seed: 2, PerturbHypers: true, LogitScale: 1.5},
		{Name: "V37/shift+1e4", V: 37, D: 8, Groups: []int{3, 1, 4, 2}, MaxLen: 4, Seed: 4, PerturbHypers: true, LogitScale: 1.5, Shift: 1e4},
		{Name: "V37/shift-1e4", V: 37, D: 8, Groups: []int{3, 4, 2}, MaxLen: 4, Seed: 5, LogitScale: 1.5, Shift: -1e4},
		{Name: "V151936/hypers", V: 151936, D: 16, Groups: []int{2, 3}, MaxLen: 3, Seed: 3, PerturbHypers: true, LogitScale: 3},
	}
}

// Tol is a comparison's tolerance: |got - want| <= Atol*scale + Rtol*|want|.
type Tol struct{ Atol, Rtol float64 }

// eps32 is float32's unit roundoff.
const eps32 = 1.0 / (1 << 24)

// Tol is the tolerance of the case: Atol and Rtol, plus float32 rounding at
// the magnitude of the shifted logits (the kernels form some sums on them:
// errors of about |Shift| * 2^-24 of the largest gradient).
func (c Case) Tol() Tol {
	return Tol{Atol + 4*eps32*math.Abs(c.Shift), Rtol}
}

// Problem is a random batch together with hidden states and an LM head
// whose product gives its logits (rows: tokens, then score slots).
type Problem struct {
	Batch *compiler.Batch
	H, W  []float32
	D     int
	Hyper map[string]float64
}

// NewProblem draws a batch for program p: accuracies mixed so that some
// groups pass REAL-style filters and some do not, a few masked tokens, score
// values as ground truth, old/ref log-probs near the policy's.
func NewProblem(p *compiler.Program, c Case) *Problem {
	r := rand.New(rand.NewPCG(c.Seed, 77))
	k := len(p.Score.Values)
	b := &compiler.Batch{Vocab: c.V, Hyper: map[string]float64{}}
	perm := r.Perm(c.V)
	for i := 0; i < k && i < c.V; i++ {
		b.ScoreTokens = append(b.ScoreTokens, perm[i])
	}
	type row struct{ g, s, t int }
	var rows int
	for gi, n := range c.Groups {
		y := 0.0
		if k > 0 {
			y = p.Score.Values[r.IntN(k)]
		}
		grp := compiler.Group{Y: y}
		for j := 0; j < n; j++ {
			L := 1 + r.IntN(c.MaxLen)
			s := compiler.Seq{Regions: map[string][2]int{"cot": {0, L - 1}, "answer": {L - 1, L}}, FormatOK: 1, Pred: math.NaN()}
			for t := 0; t < L; t++ {
				s.Tokens = append(s.Tokens, r.IntN(c.V))
			}
			if L > 2 && r.IntN(3) == 0 {
				s.Mask = make([]float64, L)
				for t := range s.Mask {
					s.Mask[t] = 1
				}
				s.Mask[r.IntN(L-1)] = 0
			}
			// Group 1 all correct (dropped by "partial"), others mixed.
			switch {
			case gi == 1:
				s.Acc = 1
			case j == 0:
				s.Acc = 1
			case j == 1:
				s.Acc = 0
			default:
				s.Acc = float64(r.IntN(2))
			}
			if k > 0 && r.IntN(4) != 0 {
				s.Pred = p.Score.Values[r.IntN(k)]
			}
			s.Truncated = float64(r.IntN(2))
			rows += L + 1
			grp.Seqs = append(grp.Seqs, s)
		}
		b.Groups = append(b.Groups, grp)
	}
	// Hidden states and head; the batch logits are their product rounded to
	// float32, so both entry points see the same numbers.
	D := c.D
	if c.Shift != 0 {
		D++ // the last dimension carries the shift: h = Shift, w = 1
	}
	pr := &Problem{Batch: b, D: D, Hyper: map[string]float64{}}
	pr.W = make([]float32, c.V*D)
	for j := 0; j < c.V; j++ {
		for d := 0; d < c.D; d++ {
			pr.W[j*D+d] = float32(r.NormFloat64() * c.LogitScale / math.Sqrt(float64(c.D)))
		}
		if D > c.D {
			pr.W[j*D+c.D] = 1
		}
	}
	logits := func(h []float32) []float64 {
		z := make([]float64, c.V)
		for j := range z {
			var acc float64
			for d := 0; d < D; d++ {
				acc += float64(h[d]) * float64(pr.W[j*D+d])
			}
			z[j] = float64(float32(acc))
		}
		return z
	}
	newH := func() []float32 {
		h := make([]float32, D)
		for d := 0; d < c.D; d++ {
			h[d] = float32(r.NormFloat64())
		}
		if D > c.D {
			h[c.D] = float32(c.Shift)
		}
		return h
	}
	var hTok, hScore []float32
	for gi := range b.Groups {
		for j := range b.Groups[gi].Seqs {
			s := &b.Groups[gi].Seqs[j]
			for t := range s.Tokens {
				h := newH()
				hTok = append(hTok, h...)
				z := logits(h)
				s.Logits = append(s.Logits, z)
				lp := z[s.Tokens[t]] - lse(z)
				s.OldLogp = append(s.OldLogp, lp+0.3*r.NormFloat64())
				s.RefLogp = append(s.RefLogp, lp+0.3*r.NormFloat64())
			}
			h := newH()
			hScore = append(hScore, h...)
			s.ScoreLogits = logits(h)
		}
	}
	pr.H = append(hTok, hScore...)
	if c.PerturbHypers {
		for _, h := range p.Hypers {
			pr.Hyper[h.Name] = h.Default*1.1 + 0.3
		}
	}
	_ = rows
	return pr
}

func lse(z []float64) float64 {
	m := math.Inf(-1)
	for _, x := range z {
		m = math.Max(m, x)
	}
	var s float64
	for _, x := range z {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// MatchEvaluator runs every Case through the reference evaluator and both
// entry points of the generated program, and compares rewards, advantages,
// kept groups, the loss and every gradient.
func MatchEvaluator(t *testing.T, gp recipe.Program) {
	m := gp.Meta()
	prog, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if testing.Short() && c.V > 1000 {
				t.Skip("large vocabulary skipped with -short")
			}
			pr := NewProblem(prog, c)
			want, err := compiler.Eval(prog, pr.Batch, pr.Hyper)
			if err != nil {
				t.Fatalf("reference evaluator: %v", err)
			}
			if len(pr.Hyper) > 0 && !anyKept(want.Kept) {
				t.Fatalf("test batch keeps no group: the loss is not exercised")
			}
			tol := c.Tol()
			// Entry point 1: logits.
			out, gTok, gScore, err := recipe.EvalBatch(gp, pr.Batch, pr.Hyper)
			if err != nil {
				t.Fatalf("logits entry point: %v", err)
			}
			compareStages(t, "logits", m, out, want, tol)
			l := out.State.L
			compareRows(t, "logits: dlogits", gTok, l.V, tokenRows(want), tol)
			compareRows(t, "logits: dscore_logits", gScore, l.V, want.GradScoreLogits, tol)
			// Entry point 3: the row statistics of the logits run (a GPU's
			// row kernels compute them), the stages on the host.
			st := out.State
			out3, err := recipe.EvalStats(gp, l, out.State.Hyper, &recipe.RowStats{Logp: st.Logp, Entropy: st.Entropy, ScoreLSE: st.ScoreLSE, ScoreZ: st.ScoreZ}, nil)
			if err != nil {
				t.Fatalf("row statistics entry point: %v", err)
			}
			compareStages(t, "row statistics", m, out3, want, tol)
			// Entry point 2: hidden states and LM head.
			hv, err := recipe.HyperValues(m, pr.Hyper)
			if err != nil {
				t.Fatal(err)
			}
			n := l.T + l.S
			dw0 := make([]float32, len(pr.W))
			for i := range dw0 {
				dw0[i] = float32(i%7) * 0.25 // DW accumulates: start away from zero
			}
			g := append(tokenRows(want), want.GradScoreLogits...)
			dh := make([]float64, n*pr.D)
			dw := make([]float64, len(pr.W))
			for i := 0; i < n; i++ {
				for j, gij := range g[i] {
					if gij == 0 {
						continue
					}
					for d := 0; d < pr.D; d++ {
						dh[i*pr.D+d] += gij * float64(pr.W[j*pr.D+d])
						dw[j*pr.D+d] += gij * float64(pr.H[i*pr.D+d])
					}
				}
			}
			for _, sc := range []struct {
				name string
				o    fused.Options
			}{
				{"fused rows", fused.Options{Chunk: 5}},
				{"fused tiles", fused.Options{Schedule: fused.VocabTiles, Tile: 7}},
			} {
				fp := &fused.Problem{N: n, D: pr.D, V: l.V, H: pr.H, W: pr.W, DH: make([]float32, n*pr.D), DW: append([]float32(nil), dw0...)}
				out2, err := recipe.EvalFused(gp, l, hv, fp, sc.o)
				if err != nil {
					t.Fatalf("%s entry point: %v", sc.name, err)
				}
				compareStages(t, sc.name, m, out2, want, tol)
				compareFlat(t, sc.name+": dH", fp.DH, nil, dh, tol)
				compareFlat(t, sc.name+": dW", fp.DW, dw0, dw, tol)
			}
		})
	}
	t.Run("non-finite input", func(t *testing.T) { NonFiniteInput(t, gp, prog) })
}

// NonFiniteInput plants a NaN or an infinity in one logit (the logits entry
// point) and in the hidden states or the LM head (the fused entry point,
// both schedules) of a small batch and requires an error, with no NaN or
// infinity added to dW: a poisoned input must stop the step, not flow into a
// parameter update.
func NonFiniteInput(t testing.TB, gp recipe.Program, prog *compiler.Program) {
	m := gp.Meta()
	c := Cases()[0]
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		pr := NewProblem(prog, c)
		row := pr.Batch.Groups[0].Seqs[0].Logits[0]
		row[(pr.Batch.Groups[0].Seqs[0].Tokens[0]+1)%c.V] = bad
		if _, _, _, err := recipe.EvalBatch(gp, pr.Batch, pr.Hyper); err == nil {
			t.Errorf("logits entry point: a logit %v gave no error", bad)
		}
		hv, err := recipe.HyperValues(m, pr.Hyper)
		if err != nil {
			t.Fatal(err)
		}
		l, _, _, err := recipe.FromBatch(NewProblem(prog, c).Batch, m)
		if err != nil {
			t.Fatal(err)
		}
		n := l.T + l.S
		for _, where := range []string{"H", "W"} {
			for _, sc := range []struct {
				name string
				o    fused.Options
			}{
				{"fused rows", fused.Options{Chunk: 5}},
				{"fused tiles", fused.Options{Schedule: fused.VocabTiles, Tile: 7}},
			} {
				fp := &fused.Problem{N: n, D: pr.D, V: l.V, H: append([]float32(nil), pr.H...), W: append([]float32(nil), pr.W...),
					DH: make([]float32, n*pr.D), DW: make([]float32, len(pr.W))}
				if where == "H" {
					fp.H[(n-1)*pr.D] = float32(bad) // the last row: after the first chunks
				} else {
					fp.W[(l.V/2)*pr.D] = float32(bad)
				}
				if _, err := recipe.EvalFused(gp, l, hv, fp, sc.o); err == nil {
					t.Errorf("%s: %v in %s gave no error", sc.name, bad, where)
				}
				if i := numtest.FirstNonFinite(fp.DW); i >= 0 {
					t.Errorf("%s: %v in %s: dW[%d] = %v", sc.name, bad, where, i, fp.DW[i])
				}
			}
		}
	}
}

func anyKept(k []bool) bool {
	for _, x := range k {
		if x {
			return true
		}
	}
	return false
}

func tokenRows(r *compiler.Result) [][]float64 {
	var rows [][]float64
	for _, s := range r.GradLogits {
		rows = append(rows, s...)
	}
	return rows
}

// closeTo is |got - want| <= tol.Atol*scale + tol.Rtol*|want|; a NaN or an
// infinity only matches the same value (the evaluator's NaN where a
// response has no score).
func closeTo(got, want, scale float64, tol Tol) bool {
	return numtest.Within(got, want, tol.Atol*scale, tol.Rtol)
}

func maxAbs(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		if !math.IsNaN(x) {
			m = math.Max(m, math.Abs(x))
		}
	}
	return math.Max(m, 1e-30)
}

func compareStages(t testing.TB, what string, m *recipe.Meta, out *recipe.Output, want *compiler.Result, tol Tol) {
	t.Helper()
	for i, n := range m.Rewards {
		compareVec(t, fmt.Sprintf("%s: reward %s", what, n.Name), out.Rewards[i], want.Rewards[n.Name], tol)
	}
	for i, n := range m.Advantages {
		compareVec(t, fmt.Sprintf("%s: advantage %s", what, n.Name), out.Advantages[i], want.Advantages[n.Name], tol)
	}
	for g := range want.Kept {
		if out.Kept[g] != want.Kept[g] {
			t.Fatalf("%s: kept[%d] = %v, want %v", what, g, out.Kept[g], want.Kept[g])
		}
	}
	if !closeTo(out.Loss, want.Loss, math.Max(1, math.Abs(want.Loss)), tol) {
		t.Fatalf("%s: loss %.9g, want %.9g", what, out.Loss, want.Loss)
	}
}

func compareVec(t testing.TB, what string, got, want []float64, tol Tol) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := math.Max(1, maxAbs(want))
	for i := range want {
		if !closeTo(got[i], want[i], scale, tol) {
			t.Fatalf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

func compareRows(t testing.TB, what string, got []float32, v int, want [][]float64, tol Tol) {
	t.Helper()
	if len(got) != len(want)*v {
		t.Fatalf("%s: %d values, want %d rows of %d", what, len(got), len(want), v)
	}
	var flat []float64
	for _, r := range want {
		flat = append(flat, r...)
	}
	compareFlat(t, what, got, nil, flat, tol)
}

// compareFlat compares got - base with want (a NaN or an infinity in got
// fails unless want has the same there).
func compareFlat(t testing.TB, what string, got, base []float32, want []float64, tol Tol) {
	t.Helper()
	if len(got) != len(want) || base != nil && len(base) != len(want) {
		t.Fatalf("%s: %d values (base %d), want %d", what, len(got), len(base), len(want))
	}
	scale := maxAbs(want)
	for i, w := range want {
		g := float64(got[i])
		slack := 0.0
		if base != nil {
			g -= float64(base[i])
			slack = 2.4e-7 * math.Abs(float64(base[i])) // float32 rounding of base + gradient
		}
		if !numtest.Within(g, w, slack+tol.Atol*scale, tol.Rtol) {
			t.Fatalf("%s[%d] = %.9g, want %.9g (max |want| %.3g)", what, i, g, w, scale)
		}
	}
}

// BenchLoss benchmarks the generated loss at N=1024 rows (8 sequences of 127
// tokens and their 8 score slots), D=512, V=151,936: the fused entry point
// against the naive schedule (all logits, then the logits entry point, then
// the backward GEMMs) and against its GEMMs alone.
func BenchLoss(b *testing.B, gp recipe.Program) {
	m := gp.Meta()
	s := fusedbench.Qwen3
	layouts := map[int]*recipe.Layout{}
	layout := func(n int) *recipe.Layout {
		if layouts[n] == nil {
			sh := s
			sh.N = n
			layouts[n] = BenchLayout(m, sh)
		}
		return layouts[n]
	}
	over := map[string]float64{}
	for _, h := range m.Hypers {
		over[h.Name] = h.Default*1.1 + 0.3
	}
	hv, err := recipe.HyperValues(m, over)
	if err != nil {
		b.Fatal(err)
	}
	fusedbench.Compare(b, s,
		func(p *fused.Problem, o fused.Options) error {
			_, err := recipe.EvalFused(gp, layout(p.N), hv, p, o)
			return err
		},
		func(p *fused.Problem, gemm blas.Func) error {
			l := layout(p.N)
			z := make([]float32, p.N*p.V)
			gemm(false, true, p.N, p.V, p.D, 1, p.H, p.D, p.W, p.D, 0, z, p.V)
			if _, err := recipe.EvalLogits(gp, l, hv, z[:l.T*l.V], z[l.T*l.V:]); err != nil {
				return err
			}
			gemm(false, false, p.N, p.D, p.V, 1, z, p.V, p.W, p.D, 0, p.DH, p.D)
			gemm(true, false, p.V, p.D, p.N, 1, z, p.V, p.H, p.D, 1, p.DW, p.D)
			return nil
		})
}

// BenchLayout is a batch layout of s.N rows: 2 groups of 4 sequences with
// mixed accuracy, (N-8)/8 tokens each, CoT then one answer token.
func BenchLayout(m *recipe.Meta, s fusedbench.Shape) *recipe.Layout {
	r := rand.New(rand.NewPCG(5, 5))
	const G, per = 2, 4
	S := G * per
	L := (s.N - S) / S
	l := &recipe.Layout{V: s.V, ScoreValues: m.ScoreValues, G: G, S: S, T: S * L}
	for k := range m.ScoreValues {
		l.ScoreTokens = append(l.ScoreTokens, int32(16+k))
	}
	for g := 0; g <= G; g++ {
		l.GroupOff = append(l.GroupOff, int32(g*per))
	}
	for i := 0; i < S; i++ {
		l.SeqGroup = append(l.SeqGroup, int32(i/per))
		l.TokOff = append(l.TokOff, int32(i*L))
		l.Pred = append(l.Pred, m.ScoreValues[r.IntN(len(m.ScoreValues))])
		l.Acc = append(l.Acc, float64(i%2))
		l.Len = append(l.Len, float64(L))
		l.Truncated = append(l.Truncated, 0)
		l.FormatOK = append(l.FormatOK, 1)
		for t := 0; t < L; t++ {
			l.TokSeq = append(l.TokSeq, int32(i))
			l.Tokens = append(l.Tokens, int32(r.IntN(s.V)))
			l.Mask = append(l.Mask, 1)
			l.Cot = append(l.Cot, recipe.B2F(t < L-1))
			l.Answer = append(l.Answer, recipe.B2F(t == L-1))
			l.OldLogp = append(l.OldLogp, -12+r.NormFloat64())
			l.RefLogp = append(l.RefLogp, -12+r.NormFloat64())
		}
	}
	l.TokOff = append(l.TokOff, int32(S*L))
	for g := 0; g < G; g++ {
		l.Y = append(l.Y, m.ScoreValues[g%len(m.ScoreValues)])
	}
	return l
}
