package train_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// binEval runs `BIN eval args...` of a test recipe in process.
func binEval(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = train.Main(newTestProg(true, false), nil, append([]string{"eval"}, args...), &o, &e)
	return o.String(), e.String(), code
}

// tableOf is a command's table: its output without the "wrote" line,
// which names the --out folder.
func tableOf(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "wrote ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// `BIN eval` on the CPU is `realc eval --model` with the recipe's score
// strings: on the tiny judge and its data as a benchmark, the same table and
// the same report.json; a checkpoint's step-N folder and its run's OUT
// folder evaluate as the model folder they hold; bad input gets errors that
// say what to do.
func TestEvalCommand(t *testing.T) {
	s := traintest.NewSetup(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	realc := filepath.Join(dir, "realc")
	build := exec.Command("go", "build", "-o", realc, "./cmd/realc")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/realc: %v\n%s", err, out)
	}
	flags := []string{"--n", "2", "--max-tokens", "12", "--seed", "5", "--temperature", "1", "--top-p", "0.95", "--policy", "blind", "--limit", "5", "--batch", "3"}
	outRealc, outBin := filepath.Join(dir, "realc-out"), filepath.Join(dir, "bin-out")
	cmd := exec.Command(realc, append(append([]string{"eval", "--model", s.Model, "--out", outRealc}, flags...), s.Data)...)
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("realc eval: %v\n%s", err, want)
	}
	got, stderr, code := binEval(t, append(append([]string{"--model", s.Model, "--out", outBin, "--quiet"}, flags...), s.Data)...)
	if code != 0 {
		t.Fatalf("BIN eval: exit %d\n%s", code, stderr)
	}
	if tableOf(got) != tableOf(string(want)) || !strings.Contains(got, "tiny_judge") {
		t.Errorf("BIN eval printed\n%s\nrealc eval\n%s", got, want)
	}
	for _, f := range []string{"report.json", "report.md", "scatter_tiny_judge.png"} {
		a, errA := os.ReadFile(filepath.Join(outRealc, f))
		b, errB := os.ReadFile(filepath.Join(outBin, f))
		if errA != nil || errB != nil || (f != "scatter_tiny_judge.png" && !bytes.Equal(a, b)) {
			t.Errorf("%s: realc eval's and BIN eval's differ (%v, %v)", f, errA, errB)
		}
	}
	t.Logf("the table of both:\n%s", got)

	// A run's checkpoint of the same weights.
	m, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	step, err := train.SaveCheckpoint(run, 2, train.CheckpointFiles{Model: m, CopyFrom: s.Model, State: []byte("{}")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{step, run} {
		// The benchmark before the flags, BIN train's flag names.
		got, stderr, code := binEval(t, s.Data, "--model", where, "--quiet", "--n", "2", "--eval-max-tokens", "12", "--seed", "5", "--temperature", "1", "--top-p", "0.95", "--eval-policy", "blind", "--eval-limit", "5", "--batch", "3")
		if code != 0 || tableOf(got) != tableOf(string(want)) {
			t.Errorf("BIN eval --model %s: exit %d, printed\n%s%s\nwant\n%s", where, code, got, stderr, want)
		}
	}

	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{s.Data}, 2, "eval needs --model DIR"},
		{[]string{"--model", s.Model}, 2, "at least one benchmark file"},
		{[]string{"--model", s.Model, "--device", "gpu", s.Data}, 2, "want cpu, cuda or cuda:N"},
		{[]string{"--model", s.Model, "--policy", "maybe", s.Data}, 2, "--policy"},
		{[]string{"--model", empty, s.Data}, 1, "neither a model folder (no config.json) nor a run's folder"},
	} {
		_, stderr, code := binEval(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("BIN eval %v: exit %d, %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if !cuda.Enabled {
		_, stderr, code := binEval(t, "--model", s.Model, "--device", "cuda", s.Data)
		if code != 1 || !strings.Contains(stderr, "built without the cuda tag: rebuild it with `realc build --tags cuda") {
			t.Errorf("--device cuda without the cuda tag: exit %d, %q", code, stderr)
		}
	}
	// A damaged checkpoint is named, not loaded.
	if err := os.WriteFile(filepath.Join(step, "model.safetensors"), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := binEval(t, "--model", step, s.Data); code != 1 || !strings.Contains(stderr, "model.safetensors is truncated") {
		t.Errorf("a truncated checkpoint: exit %d, %q", code, stderr)
	}
}
