package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
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
		if !ok || math.Abs(g-w) > 1e-4*(1+math.Abs(w)) {
			return path + ": numbers differ"
		}
	default:
		if got != want {
			return path + ": values differ"
		}
	}
	return ""
}
