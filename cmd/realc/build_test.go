package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/fused/recipe/recipetest"
	"github.com/realc-project/realc/runtime/testenv"
)

// TestGenMatchesCheckedIn: `realc gen recipes/real.rl --out DIR` writes what
// generated/real holds, whatever the output folder.
func TestGenMatchesCheckedIn(t *testing.T) {
	root := testenv.RepoRoot(t)
	t.Chdir(root)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"gen", "recipes/real.rl", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc gen: exit %d: %s", code, stderr.String())
	}
	entries, err := os.ReadDir(filepath.Join(root, "generated", "real"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		want, _ := os.ReadFile(filepath.Join(root, "generated", "real", e.Name()))
		got, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: realc gen output differs from generated/real (%v)", e.Name(), err)
		}
	}
}

func TestGenBuildUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"gen"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "exactly one recipe") {
		t.Fatalf("gen without a recipe: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"build", "/nonexistent/x.rl"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "x.rl") {
		t.Fatalf("build of a missing file: exit %d, %q", code, stderr.String())
	}
}

// TestBuildNewRecipeOutsideModule: a recipe file anywhere on disk builds into
// a binary whose `loss` prints what `realc eval-loss` prints, within the
// float32 tolerance of the generated kernels.
func TestBuildNewRecipeOutsideModule(t *testing.T) {
	// A new variant: absolute error instead of squared error in the extra loss.
	dir, recPath, bin := buildVariant(t, "realvariant", func(rec string) string {
		return strings.Replace(rec, "beta * mean((expect(score) - y)^2)", "beta * mean(abs(expect(score) - y))", 1)
	})
	rec, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	prog, err := compiler.Compile(recPath, rec)
	if err != nil {
		t.Fatal(err)
	}
	pr := recipetest.NewProblem(prog, recipetest.Case{V: 29, D: 8, Groups: []int{3, 2, 4}, MaxLen: 5, Seed: 9, LogitScale: 2})
	pr.Batch.Hyper = map[string]float64{"beta": 0.5}
	data, err := json.Marshal(pr.Batch)
	if err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(dir, "batch.json")
	if err := os.WriteFile(batch, data, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run([]string{"eval-loss", recPath, "--batch", batch, "--hyper", "lambda=0.7"}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc eval-loss: exit %d: %s", code, stderr.String())
	}
	want := stdout.Bytes()
	got, err := exec.Command(bin, "loss", "--batch", batch, "--lambda", "0.7").Output()
	if err != nil {
		t.Fatalf("%s loss: %v", bin, err)
	}
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("binary output is not JSON: %v\n%s", err, got)
	}
	if msg := jsonClose("", g, w); msg != "" {
		t.Fatalf("binary and eval-loss differ: %s", msg)
	}
	if !strings.Contains(string(got), `"loss"`) || !strings.Contains(string(got), `"score_logits"`) {
		t.Fatalf("binary output lacks fields: %.200s", got)
	}
	binaryRefusesLikeEvalLoss(t, dir, recPath, bin, pr.Batch)
}

// binaryRefusesLikeEvalLoss: the built binary's `loss` and `realc eval-loss`
// refuse the same bad batches in the same words (a logit past float32, an
// unknown hyperparameter, listed as "lambda, beta, lr"), and `BIN loss -h`
// shows each hyperparameter's default once and exits 0.
func binaryRefusesLikeEvalLoss(t *testing.T, dir, recPath, bin string, good *compiler.Batch) {
	name := filepath.Base(bin)
	cmd := exec.Command(bin, "loss", "-h")
	help, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(help), "help requested") {
		t.Errorf("%s loss -h: %v\n%s", name, err, help)
	}
	lines := strings.Split(string(help), "\n")
	for _, hp := range []string{"lambda", "beta", "lr"} {
		found := false
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "-"+hp+" ") && i+1 < len(lines) {
				found = true
				if n := strings.Count(lines[i+1], "(default"); n != 1 {
					t.Errorf("%s loss -h: the help of --%s shows its default %d times: %q", name, hp, n, lines[i+1])
				}
			}
		}
		if !found {
			t.Errorf("%s loss -h lacks --%s:\n%s", name, hp, help)
		}
	}
	bad := func(file string, edit func(b *compiler.Batch)) string {
		data, _ := json.Marshal(good)
		b, err := compiler.ParseBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		edit(b)
		data, err = json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		batch string
		args  []string
		want  string
	}{
		{bad("overflow.json", func(b *compiler.Batch) { b.Groups[1].Seqs[0].Logits[1][4] = 1.7e308 }), nil,
			"groups[1].seqs[0].logits[1][4]: logit 1.7e+308 overflows float32"},
		{bad("score_overflow.json", func(b *compiler.Batch) { b.Groups[0].Seqs[1].ScoreLogits[2] = -1e39 }), nil,
			"groups[0].seqs[1].score_logits[2]: logit -1e+39 overflows float32"},
		{bad("unknown_hyper.json", func(b *compiler.Batch) { b.Hyper = map[string]float64{"lamda": 1} }), nil,
			"hyper.lamda: recipe " + name + " has no such hyperparameter (it has: lambda, beta, lr)"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"eval-loss", recPath, "--batch", c.batch}, c.args...), &stdout, &stderr)
		want := c.batch + ": " + c.want
		if code != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("realc eval-loss --batch %s: exit %d, stderr %q, want %q", filepath.Base(c.batch), code, stderr.String(), want)
		}
		out, err := exec.Command(bin, append([]string{"loss", "--batch", c.batch}, c.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%s loss --batch %s: %v, output %q, want %q", name, filepath.Base(c.batch), err, out, want)
		}
	}
	// An unknown --hyper: the words of realc eval-loss.
	want := "override zz: recipe " + name + " has no such hyperparameter (it has: lambda, beta, lr)"
	var stdout, stderr bytes.Buffer
	if code := run([]string{"eval-loss", recPath, "--batch", filepath.Join(dir, "batch.json"), "--hyper", "zz=1"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("realc eval-loss --hyper zz=1: exit %d, stderr %q, want %q", code, stderr.String(), want)
	}
	out, err := exec.Command(bin, "loss", "--batch", filepath.Join(dir, "batch.json"), "--hyper", "zz=1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("%s loss --hyper zz=1: %v, output %q, want %q", name, err, out, want)
	}
}

// jsonClose compares decoded JSON, numbers within 1e-4 (absolute, plus relative).
func jsonClose(path string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return path + ": object keys differ"
		}
		for k := range w {
			if m := jsonClose(path+"."+k, g[k], w[k]); m != "" {
				return m
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path + ": array lengths differ"
		}
		for i := range w {
			if m := jsonClose(path+"["+strconv.Itoa(i)+"]", g[i], w[i]); m != "" {
				return m
			}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || !numtest.Within(g, w, 1e-4, 1e-4) {
			return path + ": numbers differ"
		}
	default:
		if got != want {
			return path + ": values differ"
		}
	}
	return ""
}
