package traintest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

// Setup is a tiny judge, its data and replayed rollouts in a temporary folder.
type Setup struct {
	Dir, Model, Data, Rollouts string
	Y                          []float64
}

// NewSetup writes the tiny judge, 6 training rows and 16 responses per row.
func NewSetup(t testing.TB) *Setup {
	t.Helper()
	s := &Setup{Dir: t.TempDir()}
	s.Model = filepath.Join(s.Dir, "judge")
	s.Data = filepath.Join(s.Dir, "train.parquet")
	s.Rollouts = filepath.Join(s.Dir, "rollouts.jsonl")
	if err := WriteJudge(s.Model, 7); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.Y, err = WriteData(s.Data, 6); err != nil {
		t.Fatal(err)
	}
	if err := WriteRollouts(s.Rollouts, s.Y, 16); err != nil {
		t.Fatal(err)
	}
	return s
}

// Config is a small run of recipe m on the setup: 3 prompts a step, n=4
// replayed responses each; hyperparameters at their defaults except that
// zero coefficients become 0.25, so that every loss term is exercised.
func (s *Setup) Config(m *recipe.Meta, out string) train.Config {
	c := train.Config{Model: s.Model, Train: []string{s.Data}, Out: out, Seed: 3, PromptsPerStep: 3, EvalPolicy: "blind", Quiet: true,
		Rollout: train.Rollout{N: 4, Temperature: 1, TopP: 1, TopK: -1, MaxPrompt: 512, MaxResponse: 64},
		Optim:   train.Optim{LR: 1e-3, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1, Epochs: 2, MiniBatch: 8, Schedule: "constant"}}
	for _, h := range m.Hypers {
		v := h.Default
		if v == 0 {
			v = 0.25
		}
		c.Hyper = append(c.Hyper, v)
	}
	if train.IsRL(m) {
		c.Rollouts = s.Rollouts
	}
	return c
}

// Check runs every trainer check on a generated recipe program.
func Check(t *testing.T, p recipe.Program) {
	m := p.Meta()
	s := NewSetup(t)
	t.Run("gradients", func(t *testing.T) { checkGradients(t, p, s) })
	t.Run("frozen stage one", func(t *testing.T) { checkFrozen(t, p, s) })
	t.Run("resume", func(t *testing.T) { checkResume(t, p, s) })
	t.Run("bad input", func(t *testing.T) { checkBadInput(t, p, s) })
	if !train.IsRL(m) {
		t.Run("generate-cot", func(t *testing.T) { checkGenerateCoT(t, p, s) })
	}
	_ = m
}

func newTrainer(t testing.TB, p recipe.Program, c train.Config) *train.Trainer {
	t.Helper()
	tr, err := train.New(p, c, []byte("{}\n"), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// program compiles the recipe a generated program carries.
func program(t testing.TB, m *recipe.Meta) *compiler.Program {
	t.Helper()
	prog, err := compiler.Compile(m.File, []byte(m.Source))
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// unfused evaluates the groups the plain way: a forward of every sequence,
// the full logits, compiler.Eval on them (Stage1 frozen when given), and
// model.Backward of its logit gradients into g (nil: no backward).
func unfused(t testing.TB, prog *compiler.Program, m *recipe.Meta, hyper []float64, pol *model.Model, scoreIDs []int, groups []*train.Group, stage1 *compiler.Result, g *model.Model) *compiler.Result {
	t.Helper()
	var seqs []*train.Seq
	for _, grp := range groups {
		seqs = append(seqs, grp.Seqs...)
	}
	T := 0
	for _, s := range seqs {
		T = max(T, len(s.Prompt)+len(s.Resp)-1)
	}
	V := pol.Cfg.Vocab
	b := &model.Batch{B: len(seqs), T: T, Tokens: make([]int, len(seqs)*T), Mask: make([]bool, len(seqs)*T)}
	for i, s := range seqs {
		full := append(append([]int(nil), s.Prompt...), s.Resp...)
		copy(b.Tokens[i*T:], full[:len(full)-1])
		for k := 0; k < len(full)-1; k++ {
			b.Mask[i*T+k] = true
		}
	}
	pass, err := pol.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	logits := pol.Logits(pass)
	row := func(r int) []float64 {
		out := make([]float64, V)
		for j := range out {
			out[j] = float64(logits[r*V+j])
		}
		return out
	}
	batch := &compiler.Batch{Vocab: V, ScoreTokens: scoreIDs, Hyper: map[string]float64{}}
	for i, h := range m.Hypers {
		batch.Hyper[h.Name] = hyper[i]
	}
	si := 0
	for _, grp := range groups {
		cg := compiler.Group{Y: grp.Y}
		for _, s := range grp.Seqs {
			base := si*T + len(s.Prompt) - 1
			cs := compiler.Seq{Tokens: s.Resp, Regions: map[string][2]int{"cot": s.Cot, "answer": s.Answer},
				Acc: s.Acc, Pred: math.NaN(), Truncated: s.Trunc, FormatOK: s.Format}
			if s.Pred != nil {
				cs.Pred = *s.Pred
			}
			for j := range s.Resp {
				cs.Logits = append(cs.Logits, row(base+j))
			}
			if m.OldLogp {
				cs.OldLogp = s.Old
			}
			if m.RefLogp {
				cs.RefLogp = s.Ref
			}
			cs.ScoreLogits = row(base + max(s.Slot, 0))
			cg.Seqs = append(cg.Seqs, cs)
			si++
		}
		batch.Groups = append(batch.Groups, cg)
	}
	res, err := compiler.EvalWith(prog, batch, nil, compiler.Options{Stage1: stage1})
	if err != nil {
		t.Fatal(err)
	}
	if g == nil {
		return res
	}
	d := make([]float32, len(seqs)*T*V)
	for i, s := range seqs {
		base := i*T + len(s.Prompt) - 1
		for j := range s.Resp {
			for k, v := range res.GradLogits[i][j] {
				d[(base+j)*V+k] += float32(v)
			}
		}
		slot := base + max(s.Slot, 0)
		for k, v := range res.GradScoreLogits[i] {
			d[slot*V+k] += float32(v)
		}
	}
	if err := pol.Backward(pass, d, g); err != nil {
		t.Fatal(err)
	}
	return res
}

// compareGrads fails when a gradient differs beyond atol + rtol*max|want|
// of its tensor, or when either side is not finite.
func compareGrads(t testing.TB, what string, got, want *model.Model, rtol, atol float64) {
	t.Helper()
	wp := want.Params()
	for i, p := range got.Params() {
		scale := 0.0
		for _, v := range wp[i].Data {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		bad := 0
		for j, v := range p.Data {
			a, b := float64(v), float64(wp[i].Data[j])
			if math.IsNaN(a) || math.IsInf(a, 0) || math.IsNaN(b) || math.IsInf(b, 0) || !(math.Abs(a-b) <= atol+rtol*scale) {
				if bad < 3 {
					t.Errorf("%s: %s[%d] = %g, want %g (tensor max |g| %g)", what, p.Name, j, a, b, scale)
				}
				bad++
			}
		}
	}
}

func keptAny(groups []*train.Group, r *compiler.Result) bool {
	for _, k := range r.Kept {
		if k {
			return true
		}
	}
	return false
}

// firstStep makes a trainer on the setup and returns what step 0 trains on.
func firstStep(t *testing.T, p recipe.Program, s *Setup) (*recipe.Meta, *compiler.Program, train.Config, *model.Model, *train.Evaluator, []*train.Group) {
	t.Helper()
	m := p.Meta()
	c := s.Config(m, filepath.Join(t.TempDir(), "out"))
	tr := newTrainer(t, p, c)
	groups, err := tr.StepGroups(0)
	if err != nil {
		t.Fatal(err)
	}
	return m, program(t, m), c, tr.Policy(), tr.Evaluator(), groups
}

func checkGradients(t *testing.T, p recipe.Program, s *Setup) {
	m, prog, c, pol, ev, groups := firstStep(t, p, s)
	fusedG := pol.NewGrads()
	out, err := ev.Eval(pol, fusedG, groups)
	if err != nil {
		t.Fatal(err)
	}
	plainG := pol.NewGrads()
	r0 := unfused(t, prog, m, c.Hyper, pol, ev.ScoreIDs, groups, nil, plainG)
	if !keptAny(groups, r0) {
		t.Fatalf("no group kept: the test rollouts must give mixed accuracy")
	}
	if d := math.Abs(out.Loss - r0.Loss); !(d <= 1e-4*math.Max(1, math.Abs(r0.Loss))) {
		t.Errorf("loss: fused %v, reference %v", out.Loss, r0.Loss)
	}
	if train.GradNorm(plainG) == 0 {
		t.Fatalf("the reference gradient is zero: the check would prove nothing")
	}
	compareGrads(t, "fused vs unfused", fusedG, plainG, 2e-3, 1e-6)

	// Micro-batches of at most 120 padded tokens accumulate to the same gradient.
	micro := *ev
	micro.MaxTokens = 120
	microG := pol.NewGrads()
	if _, err := micro.Eval(pol, microG, groups); err != nil {
		t.Fatal(err)
	}
	compareGrads(t, "micro-batches vs whole", microG, fusedG, 1e-4, 1e-7)

	// Central finite differences on the largest entries of a few tensors,
	// with the score and advantage stages frozen at θ (they carry no gradient).
	params, grads := pol.Params(), plainG.Params()
	for _, pi := range []int{0, 2, len(params) / 2, len(params) - 2} {
		best := 0
		for j, v := range grads[pi].Data {
			if math.Abs(float64(v)) > math.Abs(float64(grads[pi].Data[best])) {
				best = j
			}
		}
		x := params[pi].Data
		orig := x[best]
		const h = 1e-2
		x[best] = orig + h
		lp := unfused(t, prog, m, c.Hyper, pol, ev.ScoreIDs, groups, r0, nil).Loss
		x[best] = orig - h
		lm := unfused(t, prog, m, c.Hyper, pol, ev.ScoreIDs, groups, r0, nil).Loss
		x[best] = orig
		fd := (lp - lm) / (2 * h)
		an := float64(grads[pi].Data[best])
		if !(math.Abs(fd-an) <= 0.05*math.Abs(an)+1e-4) {
			t.Errorf("finite differences: %s[%d]: analytic %g, central difference %g", params[pi].Name, best, an, fd)
		}
	}
}

// checkFrozen: after an optimizer step the trainer's gradient keeps the
// score, filter and advantage stages of the policy before it (REAL's stage 1,
// once per buffer) while the loss's own readouts move, as
// compiler.EvalWith(Stage1) does on the unfused path.
func checkFrozen(t *testing.T, p recipe.Program, s *Setup) {
	m, prog, c, pol, ev, groups := firstStep(t, p, s)
	out0, _, err := ev.Score(pol, groups)
	if err != nil {
		t.Fatal(err)
	}
	frozen := out0.State.Freeze(m, 0, len(groups))
	r0 := unfused(t, prog, m, c.Hyper, pol, ev.ScoreIDs, groups, nil, nil)
	g0 := pol.NewGrads()
	if _, err := ev.Eval(pol, g0, groups); err != nil {
		t.Fatal(err)
	}
	train.NewAdamW(pol).Update(pol, g0, 1, 3e-2, c.Optim)
	got := pol.NewGrads()
	out, err := ev.EvalFrozen(pol, got, groups, frozen)
	if err != nil {
		t.Fatal(err)
	}
	want := pol.NewGrads()
	r1 := unfused(t, prog, m, c.Hyper, pol, ev.ScoreIDs, groups, r0, want)
	if d := math.Abs(out.Loss - r1.Loss); !(d <= 1e-4*math.Max(1, math.Abs(r1.Loss))) {
		t.Errorf("loss after a step, stage one frozen: fused %v, reference %v", out.Loss, r1.Loss)
	}
	for i, n := range m.Advantages {
		for j, a := range out.Advantages[i] {
			if w := r0.Advantages[n.Name][j]; !(math.Abs(a-w) <= 1e-4*math.Max(1, math.Abs(w))) {
				t.Fatalf("advantage %s[%d] after a step: %v, want the frozen %v", n.Name, j, a, w)
			}
		}
	}
	compareGrads(t, "after a step, stage one frozen", got, want, 2e-3, 1e-6)
}

// checkResume trains 4 steps straight, and 2 steps then 2 more resumed from
// the checkpoint: parameters, metrics (timings aside) and trace must agree
// bit for bit.
func checkResume(t *testing.T, p recipe.Program, s *Setup) {
	m := p.Meta()
	dir := t.TempDir()
	run := func(out string, steps int, resume bool) *train.Trainer {
		c := s.Config(m, out)
		c.Steps, c.SaveEvery = steps, 2
		c.Trace = filepath.Join(out, "trace.jsonl")
		if resume {
			c.Resume = out
		}
		tr := newTrainer(t, p, c)
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a := run(filepath.Join(dir, "a"), 4, false)
	run(filepath.Join(dir, "b"), 2, false)
	// A changed hyperparameter is refused, naming both values.
	c := s.Config(m, filepath.Join(dir, "b"))
	c.Steps, c.Resume = 4, c.Out
	c.Hyper = append([]float64(nil), c.Hyper...)
	c.Hyper[0] += 0.5
	if _, err := train.New(p, c, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "hyperparameters differ") || !strings.Contains(err.Error(), "--allow-change") {
		t.Errorf("resume with hyperparameter %s changed: %v", m.Hypers[0].Name, err)
	}
	b := run(filepath.Join(dir, "b"), 4, true)
	if a.Steps() != 4 || b.Steps() != 4 {
		t.Fatalf("steps: %d and %d, want 4", a.Steps(), b.Steps())
	}
	bp := b.Policy().Params()
	for i, pa := range a.Policy().Params() {
		for j, v := range pa.Data {
			if math.Float32bits(v) != math.Float32bits(bp[i].Data[j]) {
				t.Fatalf("resumed run differs: %s[%d] = %v, uninterrupted %v", pa.Name, j, bp[i].Data[j], v)
			}
		}
	}
	// A damaged checkpoint is refused on resume, naming the file and the
	// previous complete checkpoint.
	st := filepath.Join(dir, "b", "step-4", "model.safetensors")
	raw, err := os.ReadFile(st)
	if err != nil {
		t.Fatal(err)
	}
	copy(raw[len(raw)/2:], make([]byte, 64))
	os.WriteFile(st, raw, 0o644)
	c = s.Config(m, filepath.Join(dir, "b"))
	c.Steps, c.Resume = 6, c.Out
	if _, err := train.New(p, c, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), "step-2") {
		t.Errorf("resume from a damaged checkpoint: %v", err)
	}
	for _, f := range []string{"metrics.jsonl", "trace.jsonl"} {
		la, lb := readLines(t, filepath.Join(dir, "a", f)), readLines(t, filepath.Join(dir, "b", f))
		if len(la) != len(lb) || len(la) == 0 {
			t.Fatalf("%s: %d lines uninterrupted, %d resumed", f, len(la), len(lb))
		}
		for i := range la {
			if !bytes.Equal(la[i], lb[i]) {
				t.Errorf("%s line %d differs:\n uninterrupted %s\n resumed       %s", f, i+1, la[i], lb[i])
			}
		}
	}
}

// readLines returns a JSONL file's lines with timing fields removed.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for k := range v {
			// Timings and the process's memory (mem/peak_rss_mib) are the
			// only fields that may differ between the two runs.
			if bytes.HasPrefix([]byte(k), []byte("time/")) || bytes.HasPrefix([]byte(k), []byte("tokens_per_s/")) || bytes.HasPrefix([]byte(k), []byte("mem/")) {
				delete(v, k)
			}
		}
		nb, _ := json.Marshal(v)
		out = append(out, nb)
	}
	return out
}

// checkGenerateCoT: TRACT's stage 2 data step writes one CoT per training
// row, cut at the marker and ended with the ground truth's score.
func checkGenerateCoT(t *testing.T, p recipe.Program, s *Setup) {
	m := p.Meta()
	out := filepath.Join(t.TempDir(), "cot.parquet")
	var stdout, stderr bytes.Buffer
	code := train.Main(p, nil, []string{"generate-cot", "--model", s.Model, "--train", s.Data, "--out", out, "--max-tokens", "20"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("generate-cot: exit %d: %s", code, stderr.String())
	}
	rows, _, err := data.ReadFile(out, data.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(s.Y) {
		t.Fatalf("%d rows written, want %d", len(rows), len(s.Y))
	}
	for i, r := range rows {
		a, _ := r.Extra.String("answer")
		want := m.ScoreMarker + m.ScoreStrings[int(s.Y[i])-1]
		if !strings.HasSuffix(a, want) || strings.Count(a, m.ScoreMarker) != 1 {
			t.Errorf("row %d: answer %q does not end with %q once", i, a, want)
		}
	}
}
