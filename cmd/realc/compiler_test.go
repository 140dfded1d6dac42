package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/runtime/testenv"
)

func runRealc(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCheckRecipesClean(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "recipes", "*.rl"))
	if len(files) < 7 {
		t.Fatalf("found %d recipes", len(files))
	}
	code, out, errs := runRealc(append([]string{"check"}, files...)...)
	if code != 0 || errs != "" || strings.Count(out, ": ok") != len(files) {
		t.Fatalf("realc check recipes/*.rl: exit %d\n%s%s", code, out, errs)
	}
}

func TestCheckReportsDiagnostics(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.rl")
	os.WriteFile(bad, []byte("recipe bad\nloss token_mean(-lgop)\n"), 0o644)
	code, _, errs := runRealc("check", bad)
	if code != 1 || !strings.Contains(errs, `bad.rl:2:18: unknown name "lgop" (did you mean "logp"?)`) || !strings.Contains(errs, "\t                 ^") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	if code, _, _ := runRealc("check"); code != 2 {
		t.Errorf("check without files: exit %d, want 2", code)
	}
}

// TestCheckPrintsWarnings: a loss term without grad is a warning, with its
// position, that realc check prints to stderr without failing the recipe.
func TestCheckPrintsWarnings(t *testing.T) {
	f := filepath.Join(t.TempDir(), "w.rl")
	os.WriteFile(f, []byte("recipe w\nscore tokens 1=\"1\" 2=\"2\" after \"S: \"\nreward reg = -(expect(score) - y)^2\nloss token_mean(-logp) + mean(-reg)\n"), 0o644)
	code, out, errs := runRealc("check", f)
	if code != 0 || !strings.Contains(out, "w.rl: ok") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "w.rl:4:26: warning: the loss term mean(-reg) has no path to a value with grad") || !strings.Contains(errs, "\t                         ^") {
		t.Fatalf("stderr lacks the warning:\n%s", errs)
	}
}

func TestFmtWriteIsIdempotent(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.rl")
	os.WriteFile(f, []byte("recipe   x\nloss token_mean( -logp )\n"), 0o644)
	if code, _, errs := runRealc("fmt", "-w", f); code != 0 {
		t.Fatal(errs)
	}
	once, _ := os.ReadFile(f)
	if string(once) != "recipe x\nloss token_mean(-logp)\n" {
		t.Fatalf("fmt -w wrote %q", once)
	}
	code, out, _ := runRealc("fmt", "-l", f)
	if code != 0 || out != "" {
		t.Fatalf("fmt -l after fmt -w lists %q", out)
	}
}

func TestDumpAndExplain(t *testing.T) {
	real := filepath.Join(testenv.RepoRoot(t), "recipes", "real.rl")
	for _, pass := range compiler.PassNames() {
		code, out, errs := runRealc("dump", "--pass", pass, real)
		if code != 0 || !strings.Contains(out, "recipe real") {
			t.Fatalf("dump --pass %s: exit %d %s", pass, code, errs)
		}
		if pass == "check" && strings.Contains(out, "grad %") {
			t.Error("dump --pass check already shows gradients")
		}
		if pass == "schedule" && (!strings.Contains(out, "grad %") || !strings.Contains(out, "schedule: one pass") || !strings.Contains(out, "phase token")) {
			t.Errorf("dump --pass schedule shows no gradients or no schedule:\n%s", out)
		}
	}
	if code, _, errs := runRealc("dump", "--pass", "autodif", real); code != 2 || !strings.Contains(errs, `did you mean "autodiff"`) {
		t.Errorf("dump --pass autodif: exit %d %s", code, errs)
	}
	code, out, errs := runRealc("explain", real)
	if code != 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{
		"reward reg = -(expect(score) - y)^2",
		"keep 0 < mean_g(acc) < 1",
		"adv A = clip(a_reg / (std_g(a_reg, pop) + 1e-08), -1, 1) + lambda * clip(a_prob / (std_g(a_prob, pop) + 1e-08), -1, 1)",
		"dL/dlogp[t] = ",
		"dL/dexpect(score) = beta / N * (2 * (expect(score) - y))",
		"response token t: dL/dz_j = dL/dlogp[t] * ([j = tok_t] - p_j)",
		"one pass",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain real.rl lacks %q\n%s", want, out)
		}
	}
}

func TestEvalLossCommand(t *testing.T) {
	root := testenv.RepoRoot(t)
	b := &compiler.Batch{Vocab: 6, ScoreTokens: []int{1, 2, 3, 4, 5}, Hyper: map[string]float64{"beta": 0.5}}
	b.Groups = []compiler.Group{{Y: 4, Seqs: []compiler.Seq{
		{Tokens: []int{0, 3}, Regions: map[string][2]int{"cot": {0, 1}, "answer": {1, 2}}, Logits: [][]float64{{0, 1, 0, 0, 0, 0}, {0, 0, 0, 2, 0, 0}},
			ScoreLogits: []float64{0, 0, 0, 1, 2, 0}, Acc: 1, Pred: 4},
		{Tokens: []int{5, 1}, Regions: map[string][2]int{"cot": {0, 1}, "answer": {1, 2}}, Logits: [][]float64{{1, 0, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 0}},
			ScoreLogits: []float64{0, 1, 0, 0, 0, 0}, Acc: 0, Pred: math.NaN()},
	}}}
	data, _ := json.Marshal(b)
	path := filepath.Join(t.TempDir(), "batch.json")
	os.WriteFile(path, data, 0o644)
	code, out, errs := runRealc("eval-loss", filepath.Join(root, "recipes", "real.rl"), "--batch", path, "--hyper", "lambda=0.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Rewards    map[string][]float64
		Advantages map[string][]float64
		Kept       []bool
		Loss       float64
		Grad       struct {
			Logits      [][][]float64
			ScoreLogits [][]float64 `json:"score_logits"`
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	p, _ := compiler.Compile("real.rl", mustRead(t, filepath.Join(root, "recipes", "real.rl")))
	want, err := compiler.Eval(p, b, map[string]float64{"lambda": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got.Loss != want.Loss || len(got.Kept) != 1 || !got.Kept[0] || got.Rewards["reg"][1] != want.Rewards["reg"][1] ||
		got.Advantages["A"][0] != want.Advantages["A"][0] || got.Grad.ScoreLogits[0][4] != want.GradScoreLogits[0][4] ||
		got.Grad.Logits[1][0][5] != want.GradLogits[1][0][5] {
		t.Errorf("eval-loss output differs from compiler.Eval:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"vocab": 6, "score_tokens": [1,2,3,4,5], "groups": [{"y": 4, "seqs": [{"tokens": [0], "logits": [[1,2]]}]}]}`), 0o644)
	code, _, errs = runRealc("eval-loss", filepath.Join(root, "recipes", "real.rl"), "--batch", bad)
	if code != 1 || !strings.Contains(errs, "groups[0].seqs[0].logits[0]: expected 6 floats (vocab), got 2") {
		t.Errorf("bad batch: exit %d: %s", code, errs)
	}
	if code, _, _ := runRealc("eval-loss", filepath.Join(root, "recipes", "real.rl")); code != 2 {
		t.Errorf("eval-loss without --batch: exit %d, want 2", code)
	}
}

func mustRead(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
