package compiler

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	b := randBatch(rand.New(rand.NewSource(8)), []int{2, 1}, nil)
	b.Groups[1].Seqs[0].Pred = nan()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	// NaN != NaN: compare pred separately.
	if p := got.Groups[1].Seqs[0].Pred; p == p {
		t.Errorf("pred null read back as %v, want NaN", p)
	}
	got.Groups[1].Seqs[0].Pred, b.Groups[1].Seqs[0].Pred = 0, 0
	if !reflect.DeepEqual(got, b) {
		t.Errorf("batch changed through JSON")
	}
}

func nan() float64 { var z float64; return z / z }

func TestBatchErrorsNameTheJSONPath(t *testing.T) {
	b := randBatch(rand.New(rand.NewSource(9)), []int{1, 2}, nil)
	data, _ := json.Marshal(b)
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	seq := func(d map[string]any, g, s int) map[string]any {
		return d["groups"].([]any)[g].(map[string]any)["seqs"].([]any)[s].(map[string]any)
	}
	cases := []struct {
		name string
		edit func(d map[string]any)
		want string
	}{
		{"short logits row", func(d map[string]any) {
			row := seq(d, 1, 0)["logits"].([]any)
			row[2] = row[2].([]any)[:testV-1]
		}, "groups[1].seqs[0].logits[2]: expected 11 floats (vocab), got 10"},
		{"string in logits", func(d map[string]any) { seq(d, 0, 0)["logits"].([]any)[0].([]any)[3] = "x" },
			"groups[0].seqs[0].logits[0][3]: expected a number, got a string"},
		{"token out of vocab", func(d map[string]any) { seq(d, 1, 1)["tokens"].([]any)[0] = 11 },
			"groups[1].seqs[1].tokens[0]: expected an integer in [0, 10], got 11"},
		{"missing y", func(d map[string]any) { delete(d["groups"].([]any)[1].(map[string]any), "y") },
			"groups[1].y: missing"},
		{"region past the end", func(d map[string]any) { seq(d, 0, 0)["regions"].(map[string]any)["cot"] = []any{0, 99} },
			"groups[0].seqs[0].regions.cot[1]: expected an integer in"},
		{"unknown field", func(d map[string]any) { seq(d, 0, 0)["logit"] = 1 },
			"groups[0].seqs[0].logit: unknown field"},
		{"old_logp length", func(d map[string]any) { seq(d, 1, 0)["old_logp"] = []any{1.0} },
			"groups[1].seqs[0].old_logp: expected"},
		{"score_logits length", func(d map[string]any) { seq(d, 1, 1)["score_logits"] = []any{1.0} },
			"groups[1].seqs[1].score_logits: expected 11 floats (vocab), got 1"},
		{"no groups", func(d map[string]any) { d["groups"] = []any{} }, "groups: empty"},
		{"vocab missing", func(d map[string]any) { delete(d, "vocab") }, "vocab: missing"},
		{"duplicate score token", func(d map[string]any) { d["score_tokens"].([]any)[1] = 3 },
			"score_tokens[1]: token id 3 repeats score_tokens[0]"},
	}
	for _, c := range cases {
		var d map[string]any
		json.Unmarshal(data, &d)
		c.edit(d)
		bad, _ := json.Marshal(d)
		_, err := ParseBatch(bad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := ParseBatch([]byte(`{"vocab": 3,`)); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("truncated JSON: %v", err)
	}
}

func TestEvalErrors(t *testing.T) {
	real := compileRecipe(t, "real.rl")
	grpo := compileRecipe(t, "grpo.rl")
	cases := []struct {
		name string
		p    *Program
		edit func(b *Batch)
		over map[string]float64
		want string
	}{
		{"y not a score value", real, func(b *Batch) { b.Groups[1].Y = 3.5 }, nil,
			"groups[1].y: 3.5 is not a score value (1, 2, 3, 4, 5), so prob(score, y) cannot be read"},
		{"missing old_logp", grpo, func(b *Batch) { b.Groups[0].Seqs[1].OldLogp = nil }, nil,
			"groups[0].seqs[1].old_logp: missing; recipe grpo uses old_logp"},
		{"score token count", real, func(b *Batch) { b.ScoreTokens = b.ScoreTokens[:4] }, nil,
			"score_tokens: expected 5 token ids (for the recipe's score values 1, 2, 3, 4, 5), got 4"},
		{"unknown hyper in batch", real, func(b *Batch) { b.Hyper["lamda"] = 1 }, nil,
			"hyper.lamda: recipe real has no such hyperparameter (it has: lambda, beta, lr)"},
		{"unknown override", real, func(b *Batch) {}, map[string]float64{"betta": 1},
			"override betta: recipe real has no such hyperparameter"},
		{"missing score logits", real, func(b *Batch) { b.Groups[0].Seqs[0].ScoreLogits = nil }, nil,
			"groups[0].seqs[0].score_logits: missing"},
		{"short logits row built in Go", real, func(b *Batch) { b.Groups[0].Seqs[0].Logits[1] = b.Groups[0].Seqs[0].Logits[1][:3] }, nil,
			"groups[0].seqs[0].logits[1]: expected 11 floats (vocab), got 3"},
		{"region past the end built in Go", real, func(b *Batch) { b.Groups[1].Seqs[1].Regions["cot"] = [2]int{0, 99} }, nil,
			"groups[1].seqs[1].regions.cot: [0, 99) is not a range"},
		{"missing region", real, func(b *Batch) { delete(b.Groups[0].Seqs[0].Regions, "cot") }, nil,
			"groups[0].seqs[0].regions.cot: missing; recipe real uses the region cot"},
		// The kernels compute in float32: a logit past its range is refused,
		// as the generated binary refuses it (runtime/fused/recipe.FromBatch).
		{"logit overflowing float32", real, func(b *Batch) { b.Groups[0].Seqs[1].Logits[2][2] = 1.7e308 }, nil,
			"groups[0].seqs[1].logits[2][2]: logit 1.7e+308 overflows float32, the precision of the generated kernels (|logit| <= 3.4028235e+38)"},
		{"negative logit overflowing float32", real, func(b *Batch) { b.Groups[1].Seqs[0].Logits[0][0] = -1e39 }, nil,
			"groups[1].seqs[0].logits[0][0]: logit -1e+39 overflows float32"},
		{"NaN logit built in Go", real, func(b *Batch) { b.Groups[1].Seqs[1].Logits[2][5] = nan() }, nil,
			"groups[1].seqs[1].logits[2][5]: logit NaN is not finite"},
		{"score logit overflowing float32", real, func(b *Batch) { b.Groups[0].Seqs[0].ScoreLogits[4] = 5e38 }, nil,
			"groups[0].seqs[0].score_logits[4]: logit 5e+38 overflows float32"},
	}
	for _, c := range cases {
		b := randBatch(rand.New(rand.NewSource(10)), []int{2, 2}, nil)
		c.edit(b)
		_, err := Eval(c.p, b, c.over)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestNoKeptGroup(t *testing.T) {
	p := compileRecipe(t, "real.rl")
	b := randBatch(rand.New(rand.NewSource(11)), []int{2, 2}, map[int]bool{0: true, 1: true})
	r := eval(t, p, b, nil)
	if r.Kept[0] || r.Kept[1] || r.Loss != 0 {
		t.Fatalf("all-correct groups: kept %v loss %v, want none kept and loss 0", r.Kept, r.Loss)
	}
	for _, row := range r.GradScoreLogits {
		for _, x := range row {
			if x != 0 {
				t.Fatal("nonzero gradient with no kept group")
			}
		}
	}
}

// TestExampleBatch keeps testdata/batch_example.json, the batch the docs use
// (realc eval-loss recipes/real.rl --batch compiler/testdata/batch_example.json),
// readable by every recipe. go test ./compiler -update rewrites it.
func TestExampleBatch(t *testing.T) {
	path := filepath.Join("testdata", "batch_example.json")
	if *update {
		b := randBatch(rand.New(rand.NewSource(2026)), []int{3, 3}, nil)
		for g := range b.Groups {
			b.Groups[g].Y = float64(2 + 2*g)
		}
		data, err := json.MarshalIndent(b, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "recipes", "*.rl"))
	for _, f := range files {
		r := eval(t, compileRecipe(t, filepath.Base(f)), b, nil)
		if r.Loss == 0 {
			t.Errorf("%s: loss 0 on the example batch; it would not show anything", f)
		}
	}
}
