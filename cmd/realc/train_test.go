package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/codegen"
	"github.com/realc-project/realc/runtime/testenv"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// TestBuildAndTrainNewRecipe: a recipe written into a temporary folder
// builds into a trainer that trains two steps (sampled rollouts, scoring, an
// update, a checkpoint, metrics) with no Go edited.
func TestBuildAndTrainNewRecipe(t *testing.T) {
	// A REAL variant that trains every group (no filter) with an absolute-error reward.
	dir, _, bin := buildVariant(t, "realtrain", func(rec string) string {
		rec = strings.Replace(rec, "reward reg = -(expect(score) - y)^2", "reward reg = -abs(expect(score) - y)", 1)
		return strings.Replace(rec, "filter 0 < mean_g(acc) < 1\n", "", 1)
	})
	s := traintest.NewSetup(t)
	out := filepath.Join(dir, "run")
	cmd := exec.Command(bin, "train", "--model", s.Model, "--train", s.Data, "--val", s.Data, "--eval-max-tokens", "16",
		"--out", out, "--steps", "2", "--prompts-per-step", "3", "--n", "4", "--max_response", "24",
		"--buffer", "3", "--mini_batch", "8", "--epochs", "1", "--lr", "1e-3", "--beta", "0.5", "--seed", "5")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s train: %v\n%s", bin, err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var train, evals int
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("metrics.jsonl: %v: %s", err, line)
		}
		switch v["kind"] {
		case "train":
			train++
			if v["step"] == float64(2) {
				if l, ok := v["loss"].(float64); !ok || l == 0 {
					t.Errorf("step 2 updated (buffer of 3 groups, 3 prompts a step) but has loss %v", v["loss"])
				}
			}
		case "eval":
			evals++
		}
	}
	if train != 2 || evals != 1 {
		t.Errorf("metrics.jsonl: %d train lines and %d eval lines, want 2 and 1", train, evals)
	}
	for _, f := range []string{"config.yaml", "latest", "step-2/config.json", "step-2/tokenizer.json", "step-2/trainer_state.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run folder lacks %s: %v", f, err)
		}
	}
}

// buildVariant writes recipes/real.rl renamed to name and changed by edit
// into a temporary folder, outside the module, and builds it with `realc
// build`; it returns the folder, the recipe's path and the binary's.
func buildVariant(t *testing.T, name string, edit func(string) string) (dir, recPath, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH")
	}
	root := testenv.RepoRoot(t)
	t.Chdir(root)
	src, err := os.ReadFile(filepath.Join(root, "recipes", "real.rl"))
	if err != nil {
		t.Fatal(err)
	}
	rec := edit(strings.Replace(string(src), "recipe real\n", "recipe "+name+"\n", 1))
	dir = t.TempDir()
	recPath = filepath.Join(dir, name+".rl")
	if err := os.WriteFile(recPath, []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, name)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"build", recPath, "-o", bin, "--out", filepath.Join(dir, "gen")}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc build: exit %d: %s", code, stderr.String())
	}
	return dir, recPath, bin
}

// TestBuildUserRecipeNeverOverwritesShipped: a user recipe named like a
// shipped one (grpo) builds from a folder outside the repository, against
// the checkout realc comes from, into the user cache; generated/grpo stays
// as it was, and `realc gen` inside the checkout does the same.
func TestBuildUserRecipeNeverOverwritesShipped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH")
	}
	root := testenv.RepoRoot(t)
	shipped, err := os.ReadFile(filepath.Join(root, "generated", "grpo", "kernels_cpu.go"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "recipes", "grpo.rl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	// The go tool's own build cache lives under the user cache too: keep it.
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", cache)
	rec := filepath.Join(dir, "mine.rl")
	if err := os.WriteFile(rec, []byte(strings.Replace(string(src), "kl_coef = 0.01", "kl_coef = 0.02", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	old := codegen.SelfRoot
	codegen.SelfRoot = func() (string, error) { return root, nil }
	defer func() { codegen.SelfRoot = old }()
	t.Chdir(dir)
	bin := filepath.Join(dir, "mygrpo")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"build", rec, "-o", bin}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc build outside the checkout: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), cache) {
		t.Errorf("realc build should say it generated into the cache %s: %s", cache, stdout.String())
	}
	if out, err := exec.Command(bin, "help").Output(); err != nil || !strings.Contains(string(out), "trainer of recipe grpo") {
		t.Errorf("%s help: %v\n%s", bin, err, out)
	}
	t.Chdir(root)
	stdout.Reset()
	if code := run([]string{"gen", rec}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), cache) {
		t.Errorf("realc gen of a user recipe inside the checkout: exit %d, %s%s", code, stdout.String(), stderr.String())
	}
	now, _ := os.ReadFile(filepath.Join(root, "generated", "grpo", "kernels_cpu.go"))
	if !bytes.Equal(now, shipped) {
		t.Fatalf("generated/grpo was overwritten by a user recipe named grpo")
	}
}
