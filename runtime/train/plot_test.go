package train

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const plotTestMetrics = `{"kind":"train","step":1,"loss":0.9,"grad_norm":2.5,"lr":1e-6,"reward/format/mean":0.5,"reward/format/std":0.1,"reward/accuracy/mean":0.2,"reward/accuracy/std":0.3,"kept_frac":1}
{"kind":"train","step":2,"loss":null,"grad_norm":1.5,"lr":2e-6,"reward/format/mean":0.6,"reward/accuracy/mean":null}

{"kind":"train","step":3,"grad_norm":1.2,"reward/format/mean":0.7,"reward/accuracy/mean":0.4}
{"kind":"train","step":4,"loss":0.7,"loss/kl":0.01,"grad_norm":1.1,"reward/format/mean":0.8,"reward/accuracy/mean":0.5}
{"kind":"eval","step":2,"eval/helpsteer/pearson":41.5,"eval/helpsteer/spearman":40.1,"eval/helpsteer/kendall":29.3,"eval/helpsteer/rmse":1.2,"eval/mtbench/pearson":30,"eval/mtbench/spearman":null,"eval/mtbench/kendall":21}
{"kind":"eval","step":4,"eval/helpsteer/pearson":45.5,"eval/helpsteer/spearman":44.1,"eval/helpsteer/kendall":32.3,"eval/mtbench/pearson":35,"eval/mtbench/spearman":33,"eval/mtbench/kendall":24}
`

func TestPlotRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-a")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(plotTestMetrics), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := PlotRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"loss.png", "reward.png", "grad_norm.png", "eval.png"}
	if len(paths) != len(want) {
		t.Fatalf("PlotRun wrote %v, want %v", paths, want)
	}
	for i, p := range paths {
		if p != filepath.Join(dir, want[i]) {
			t.Errorf("path %d = %s, want %s", i, p, filepath.Join(dir, want[i]))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s is not a PNG", p)
		}
		if len(b) < 5000 {
			t.Errorf("%s is only %d bytes", p, len(b))
		}
	}
	// No temporary files are left beside the plots.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left over %s", e.Name())
		}
	}
}

func TestPlotRunOnlyNonEmpty(t *testing.T) {
	dir := t.TempDir()
	// Only rollouts, no update and no eval: reward.png alone; a grad_norm
	// that is always null draws nothing.
	m := `{"kind":"train","step":1,"reward/format/mean":0.5,"grad_norm":null}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := PlotRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || filepath.Base(paths[0]) != "reward.png" {
		t.Fatalf("PlotRun wrote %v, want only reward.png", paths)
	}
	for _, f := range []string{"loss.png", "grad_norm.png", "eval.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s written with no points", f)
		}
	}
}

func TestPlotReadMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	if err := os.WriteFile(path, []byte(plotTestMetrics), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 6 { // the blank line is skipped
		t.Fatalf("%d lines, want 6", len(lines))
	}
	if lines[0]["kind"] != "train" || lines[4]["kind"] != "eval" {
		t.Errorf("kinds %v, %v", lines[0]["kind"], lines[4]["kind"])
	}
	for _, c := range []struct {
		line int
		key  string
		want float64
	}{
		{0, "step", 1},
		{0, "loss", 0.9},
		{0, "lr", 1e-6},
		{0, "reward/accuracy/std", 0.3},
		{1, "grad_norm", 1.5},
		{3, "loss/kl", 0.01},
		{4, "eval/helpsteer/pearson", 41.5},
		{5, "eval/mtbench/kendall", 24},
	} {
		if got, ok := lines[c.line][c.key].(float64); !ok || got != c.want {
			t.Errorf("line %d %q = %#v, want %v", c.line, c.key, lines[c.line][c.key], c.want)
		}
	}
	for _, c := range []struct {
		line int
		key  string
	}{{1, "loss"}, {1, "reward/accuracy/mean"}, {4, "eval/mtbench/spearman"}} {
		if got, ok := lines[c.line][c.key].(float64); !ok || !math.IsNaN(got) {
			t.Errorf("line %d %q = %#v, want NaN", c.line, c.key, lines[c.line][c.key])
		}
	}
	if _, ok := lines[2]["loss"]; ok {
		t.Errorf("line 3 has a loss, want it absent")
	}
}

func TestPlotDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.jsonl")
	m := `{"kind":"train","step":1,"loss":1}` + "\n" + `{"kind":"train","step":2,"loss":0.9}` + "\n" + `{"step": 3, ` + "\n"
	if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"ReadMetrics": func() error { _, err := ReadMetrics(path); return err },
		"PlotRun":     func() error { _, err := PlotRun(dir); return err },
	} {
		err := f()
		if err == nil || !strings.Contains(err.Error(), path+":3:") {
			t.Errorf("%s: error %v, want one naming %s:3", name, err, path)
		}
	}
	// A line that is valid JSON but not an object is damaged too.
	if err := os.WriteFile(path, []byte("{\"step\":1}\n[1,2]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Errorf("array line: error %v, want one naming %s:2", err, path)
	}
	if _, err := PlotRun(t.TempDir()); err == nil || !strings.Contains(err.Error(), "metrics.jsonl") {
		t.Errorf("missing file: error %v, want one naming metrics.jsonl", err)
	}
}

// A last line without its newline (a run being written, or killed while
// writing) is left out, not an error: `BIN plot` works on a live run.
func TestReadMetricsTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	if err := os.WriteFile(path, []byte("{\"kind\":\"train\",\"step\":1,\"loss\":2}\n{\"kind\":\"train\",\"st"), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := ReadMetrics(path)
	if err != nil || len(lines) != 1 || lines[0]["loss"] != 2.0 {
		t.Fatalf("lines %v, err %v: want the one complete line", lines, err)
	}
}
