package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/model"
)

// TestDemoTaskAndModel: demo-task writes the three splits and a tokenizer in
// which every score is one token; tiny-model --tokenizer makes a Qwen3 of
// that vocabulary, with <|im_end|> as EOS and the tokenizer copied in.
func TestDemoTaskAndModel(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo-task", "--out", dir, "--train", "50", "--val", "5", "--test", "7", "--vocab", "400"}, &stdout, &stderr); code != 0 {
		t.Fatalf("demo-task: exit %d: %s", code, stderr.String())
	}
	for name, n := range map[string]int{"train": 50, "val": 5, "test": 7} {
		rows, _, err := data.ReadFile(filepath.Join(dir, name+".parquet"), data.ReadOptions{})
		if err != nil || len(rows) != n {
			t.Fatalf("%s: %d rows, %v; want %d", name, len(rows), err, n)
		}
	}
	m := filepath.Join(dir, "m")
	if code := run([]string{"tiny-model", "--tokenizer", filepath.Join(dir, "tokenizer", "tokenizer.json"), "--dim", "64", "--layers", "3", "--heads", "4", "--std", "0.02", m}, &stdout, &stderr); code != 0 {
		t.Fatalf("tiny-model: exit %d: %s", code, stderr.String())
	}
	mm, err := model.Load(m)
	if err != nil {
		t.Fatal(err)
	}
	if mm.Cfg.Vocab != 400 || mm.Cfg.Dim != 64 || mm.Cfg.Layers != 3 || mm.Cfg.HeadDim != 16 || len(mm.Cfg.EOS) != 1 || mm.Cfg.EOS[0] != 399 {
		t.Errorf("model config %+v: want vocab 400, dim 64, 3 layers, head dim 16, EOS <|im_end|> = 399", mm.Cfg)
	}
	if _, err := os.Stat(filepath.Join(m, "tokenizer.json")); err != nil {
		t.Errorf("the tokenizer was not copied: %v", err)
	}
}

func TestDemoReport(t *testing.T) {
	dir := t.TempDir()
	for name, p := range map[string]string{"a": "0.5", "b": "null"} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		js := `{"benchmarks": [{"name": "name_fruits", "items": 10, "outputs": 10, "parse_failures": 2, "metrics": {"pearson": ` + p + `, "spearman": 0.25, "kendall": 0.125, "rmse": 1.5}}]}`
		os.WriteFile(filepath.Join(dir, name, "report.json"), []byte(js), 0o644)
	}
	out := filepath.Join(dir, "report.md")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo-report", "--out", out, "warm-up=" + filepath.Join(dir, "a"), "REAL=" + filepath.Join(dir, "b")}, &stdout, &stderr); code != 0 {
		t.Fatalf("demo-report: exit %d: %s", code, stderr.String())
	}
	md, _ := os.ReadFile(out)
	for _, want := range []string{"| warm-up | name_fruits | 50.0 | 25.0 | 12.5 | 1.500 | 2/10 | 10 | 1 |", "| REAL | name_fruits | n/a | 25.0 |"} {
		if !strings.Contains(string(md), want) || !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// Several runs (seeds): mean ± population standard deviation.
	os.MkdirAll(filepath.Join(dir, "c"), 0o755)
	os.WriteFile(filepath.Join(dir, "c", "report.json"), []byte(`{"benchmarks": [{"name": "name_fruits", "items": 10, "outputs": 10, "parse_failures": 1, "metrics": {"pearson": 0.3, "spearman": 0.25, "kendall": 0.125, "rmse": 0.5}}]}`), 0o644)
	stdout.Reset()
	if code := run([]string{"demo-report", "seeds=" + filepath.Join(dir, "a") + "," + filepath.Join(dir, "c")}, &stdout, &stderr); code != 0 {
		t.Fatalf("demo-report over two runs: exit %d: %s", code, stderr.String())
	}
	if want := "| seeds | name_fruits | 40.0 ± 10.0 | 25.0 ± 0.0 | 12.5 ± 0.0 | 1.000 ± 0.500 | 3/20 | 10 | 2 |"; !strings.Contains(stdout.String(), want) {
		t.Errorf("two runs:\n%s\nwant %q", stdout.String(), want)
	}
	if code := run([]string{"demo-report", "x=" + filepath.Join(dir, "missing")}, &stdout, &stderr); code == 0 {
		t.Errorf("a missing report must fail")
	}
}
