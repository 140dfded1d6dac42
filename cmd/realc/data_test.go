package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/testenv"
)

func runDataCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	old := metricsStdin
	metricsStdin = strings.NewReader(stdin)
	defer func() { metricsStdin = old }()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestMetricsCLI(t *testing.T) {
	// y = 2x: correlations 1; errors 1..5: rmse sqrt(11), mae 3
	out, errs, code := runDataCLI(t, `{"pred": [1, 2, 3, 4, 5], "gold": [2, 4, 6, 8, 10]}`, "metrics")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := fmt.Sprintf(`{"n":5,"pearson":1,"spearman":1,"kendall":1,"rmse":%s,"mae":3}`+"\n", strconv.FormatFloat(math.Sqrt(11), 'g', -1, 64))
	if out != want {
		t.Errorf("got %s want %s", out, want)
	}
	// constant pred: null correlations, a warning, exit 0
	out, errs, code = runDataCLI(t, `{"pred": [3, 3, 3], "gold": [1, 2, 3]}`, "metrics")
	if code != 0 || !strings.Contains(out, `"pearson":null,"spearman":null,"kendall":null,"rmse":1.2909944487358056,"mae":1}`) ||
		!strings.Contains(errs, "warning: pred is constant") {
		t.Errorf("constant: exit %d out %s err %s", code, out, errs)
	}
	for _, c := range []struct{ in, want string }{
		{`{"pred": [1, 2], "gold": [1]}`, "pred has 2 values but gold has 1"},
		{`{"pred": [1, null], "gold": [1, 2]}`, "stdin: pred[1] is null"},
		{`{"pred": [1, 2]}`, `want both "pred" and "gold"`},
		{`{"pred": [1], "gold": [1], "x": 1}`, `unknown field "x"`},
		{`not json`, "stdin: invalid character"},
	} {
		_, errs, code := runDataCLI(t, c.in, "metrics")
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.in, code, errs, c.want)
		}
	}
	if _, _, code := runDataCLI(t, "", "metrics", "file.json"); code != 2 {
		t.Errorf("positional argument: exit %d, want 2", code)
	}
}

// sharedDataDir is ../shared/data/prometheus; the test skips unless it holds
// vicuna_eval.json.
func sharedDataDir(t *testing.T) string {
	t.Helper()
	return filepath.Dir(testenv.SharedData(t, "prometheus", "vicuna_eval.json"))
}

func TestDataConvertInspectCLI(t *testing.T) {
	src := sharedDataDir(t)
	tmp := t.TempDir()
	pq := filepath.Join(tmp, "v.parquet")
	out, errs, code := runDataCLI(t, "", "data", "convert", filepath.Join(src, "vicuna_eval.json"), pq, "--format", "prometheus")
	if code != 0 || !strings.Contains(out, "320 of 320 items written (format prometheus)") {
		t.Fatalf("convert: exit %d out %q err %q", code, out, errs)
	}
	out, errs, code = runDataCLI(t, "", "data", "inspect", pq)
	if code != 0 {
		t.Fatalf("inspect: exit %d err %q", code, errs)
	}
	var ins struct {
		Rows        int `json:"rows"`
		Columns     []struct{ Name, Type string }
		GroundTruth struct {
			N         int     `json:"n"`
			M         float64 `json:"mean"`
			S         float64 `json:"std"`
			Histogram []struct {
				Lo, Hi float64
				Count  int
			} `json:"histogram"`
		} `json:"ground_truth"`
		PromptFormats map[string]int `json:"prompt_formats"`
		Problems      []any          `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatalf("inspect output is not JSON: %v\n%s", err, out)
	}
	// vicuna: mean 4.145833..., population std 0.77967...; 3+1 items at 1 and 4/3, 1 at 5/3
	if ins.Rows != 320 || ins.GroundTruth.N != 320 || ins.PromptFormats["prometheus"] != 320 || len(ins.Problems) != 0 ||
		fmt.Sprintf("%.6f %.6f", ins.GroundTruth.M, ins.GroundTruth.S) != "4.145833 0.779679" ||
		len(ins.GroundTruth.Histogram) != 8 || ins.GroundTruth.Histogram[0].Count != 4 || len(ins.Columns) != 5 ||
		!strings.Contains(out, `"type": "struct<style: utf8, ground_truth: float64>"`) {
		t.Errorf("inspect: %+v\n%s", ins, out)
	}
	// back to JSON, in REAL's format
	js := filepath.Join(tmp, "v.json")
	if out, errs, code := runDataCLI(t, "", "data", "convert", pq, js, "--json"); code != 0 || !strings.Contains(out, `"written": 320`) {
		t.Fatalf("back: exit %d out %q err %q", code, out, errs)
	}
	items, err := data.ReadJudgeJSON(js)
	if err != nil || len(items) != 320 || !strings.Contains(items[0].Instruction, data.REALFormatLine) {
		t.Errorf("back: %d items, %v", len(items), err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"data"}, 2, "usage: realc data convert"},
		{[]string{"data", "frob"}, 2, `unknown data subcommand "frob"`},
		{[]string{"data", "convert", "a.json"}, 2, "wants IN and OUT, got 1"},
		{[]string{"data", "convert", "a.json", "b.parquet", "--format", "xml"}, 2, `format "xml": want real or prometheus`},
		{[]string{"data", "convert", filepath.Join(tmp, "none.json"), "b.parquet"}, 1, "no such file"},
		{[]string{"data", "inspect"}, 2, "wants one FILE"},
		{[]string{"data", "inspect", js + ".missing"}, 1, "no such file"},
	} {
		_, errs, code := runDataCLI(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestEvalCLI(t *testing.T) {
	tmp := t.TempDir()
	head := "###Task Description:\nx\n" + data.PrometheusFormatLine
	inst := func(s string) string {
		return head + "\n\n###The instruction to evaluate:\n" + s + "\n\n###Response to evaluate:\nR\n\n###Reference Answer (Score 5):\nA\n\n###Score Rubrics:\n[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e\n\n###Feedback: "
	}
	var items []map[string]any
	var replay strings.Builder
	gold := []int{1, 3, 4, 5}
	for i, g := range gold {
		items = append(items, map[string]any{"instruction": inst(fmt.Sprint("I", i)), "gpt4_score": g, "idx": i})
		// the judge says g, except item 3 whose output does not parse
		text := fmt.Sprintf("Feedback: ok. So the overall score is %d", g)
		if i == 3 {
			text = "Feedback: I cannot decide."
		}
		p := make([]float64, 5)
		p[g-1] = 1
		pj, _ := json.Marshal(p)
		fmt.Fprintf(&replay, `{"benchmark": "vicuna_evaluation", "index": %d, "outputs": [{"text": %q, "probs": %s}]}`+"\n", i, text, pj)
	}
	bench := filepath.Join(tmp, "vicuna_eval.json")
	b, _ := json.Marshal(items)
	os.WriteFile(bench, b, 0o644)
	rp := filepath.Join(tmp, "replay.jsonl")
	os.WriteFile(rp, []byte(replay.String()), 0o644)
	outDir := filepath.Join(tmp, "out")
	out, errs, code := runDataCLI(t, "", "eval", "--responses", rp, "--out", outDir, bench)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// predictions 1, 3, 4 = gold: correlations 100.0, rmse 0; 1 parse failure of 4; 3 of 4 items used
	if !strings.Contains(out, "vicuna_evaluation    100.0     100.0    100.0  0.000             1/4    3/4") ||
		!strings.Contains(out, "warning: vicuna_evaluation: 1 of 4 outputs have no parsable score (items 3)") {
		t.Errorf("table:\n%s", out)
	}
	if !strings.Contains(errs, "vicuna_evaluation: 4/4") {
		t.Errorf("progress lines: %q", errs)
	}
	for _, f := range []string{"report.json", "report.md", "scatter_vicuna_evaluation.png"} {
		if st, err := os.Stat(filepath.Join(outDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval", bench}, 2, "eval needs one judge: --model DIR or --responses"},
		{[]string{"eval", "--responses", rp}, 2, "at least one benchmark"},
		{[]string{"eval", "--responses", rp, "--policy", "lax", bench}, 2, `failure policy "lax"`},
		{[]string{"eval", "--responses", rp, "--n", "0", bench}, 2, "--n and --batch must be at least 1"},
		{[]string{"eval", "--responses", rp, "--n", "2", bench}, 1, "1 output(s) for vicuna_evaluation item 0, 2 asked"},
		{[]string{"eval", "--responses", rp, "--top-p", "1.5", bench}, 2, "0 < --top-p <= 1"},
	} {
		_, errs, code := runDataCLI(t, "", c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

// realc eval --model on the project's tiny random Qwen3 with the real Qwen3
// tokenizer: the random model writes no score, so under REAL's blind policy
// every output is a parse failure read at its last token, and E[score] is
// the (tiny) mass the model puts on "1".."5".
func TestEvalCLIModel(t *testing.T) {
	src := sharedDataDir(t)
	tok := testenv.SharedData(t, "tokenizers", "qwen3", "tokenizer.json")
	dir := filepath.Join(t.TempDir(), "tiny")
	if _, errs, code := runDataCLI(t, "", "tiny-model", "--vocab", "151936", dir); code != 0 {
		t.Fatalf("tiny-model: %s", errs)
	}
	b, err := os.ReadFile(tok)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
	out := filepath.Join(t.TempDir(), "out")
	stdout, errs, code := runDataCLI(t, "", "eval", "--model", dir, "--limit", "3", "--max-tokens", "6", "--policy", "blind", "--batch", "2",
		"--out", out, filepath.Join(src, "mt_bench_eval.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "3/3      3") {
		t.Errorf("table:\n%s", stdout)
	}
	var rep struct {
		Benchmarks []struct {
			Used    int `json:"used"`
			Results []struct {
				Pred    *float64 `json:"pred"`
				Outputs []struct {
					Slot int `json:"slot"`
				} `json:"outputs"`
			} `json:"results"`
		} `json:"benchmarks"`
	}
	js, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Benchmarks) != 1 || rep.Benchmarks[0].Used != 3 {
		t.Fatalf("report: %s", js)
	}
	for i, r := range rep.Benchmarks[0].Results {
		// 6 tokens unless the model sampled EOS first; the slot is the last one
		if r.Pred == nil || *r.Pred < 0 || *r.Pred > 5 || r.Outputs[0].Slot < 0 || r.Outputs[0].Slot > 5 {
			t.Errorf("item %d: %+v", i, r)
		}
	}
}

// TestDataConvertOutputExtension: OUT's extension must name the format data
// convert writes (parquet from JSON, JSON from parquet); a mismatch is refused
// with the extension named and nothing written.
func TestDataConvertOutputExtension(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	inst := "###Task Description:\nx\n" + data.PrometheusFormatLine + "\n\n###The instruction to evaluate:\nI\n\n###Response to evaluate:\nR\n\n###Reference Answer (Score 5):\nA\n\n###Score Rubrics:\n[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e\n\n###Feedback: "
	items, _ := json.Marshal([]map[string]any{{"instruction": inst, "gpt4_score": 4, "idx": 0}, {"instruction": inst, "gpt4_score": 2, "idx": 1}})
	in := "vicuna_eval.json"
	if err := os.WriteFile(in, items, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, out, want string }{
		{in, "out.json", `out.json: data convert writes verl parquet from a .json input, but OUT's extension is .json; name it out.parquet`},
		{in, "out.csv", `out.csv: data convert writes verl parquet from a .json input, but OUT's extension is .csv; name it out.parquet`},
		{in, "out", `out: data convert writes verl parquet from a .json input, but OUT's extension is missing; name it out.parquet`},
		{"x.parquet", "back.parquet", `back.parquet: data convert writes Prometheus judge JSON (an array) from a .parquet input, but OUT's extension is .parquet; name it back.json`},
		{"x.parquet", "back.jsonl", `back.jsonl: data convert writes Prometheus judge JSON (an array) from a .parquet input, but OUT's extension is .jsonl; name it back.json`},
		{"x.csv", "out.parquet", `x.csv: cannot tell the direction from the extension ".csv"`},
	} {
		_, errs, code := runDataCLI(t, "", "data", "convert", c.in, c.out)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("convert %s %s: exit %d, stderr %q, want exit 2 and %q", c.in, c.out, code, errs, c.want)
		}
		if _, err := os.Stat(c.out); err == nil {
			t.Errorf("convert %s %s wrote %s", c.in, c.out, c.out)
		}
	}
	// The matching extensions convert, both ways.
	pq := "v.parquet"
	if out, errs, code := runDataCLI(t, "", "data", "convert", in, pq); code != 0 || !strings.Contains(out, "2 of 2 items written") {
		t.Fatalf("json -> parquet: exit %d out %q err %q", code, out, errs)
	}
	back := "back.JSON"
	if out, errs, code := runDataCLI(t, "", "data", "convert", pq, back); code != 0 || !strings.Contains(out, "2 of 2 items written") {
		t.Fatalf("parquet -> json: exit %d out %q err %q", code, out, errs)
	}
	if _, err := data.ReadJudgeJSON(back); err != nil {
		t.Fatalf("the JSON written does not read back: %v", err)
	}
}
