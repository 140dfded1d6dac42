package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/realc-project/realc/runtime/data"
)

func TestParseScore(t *testing.T) {
	type want struct {
		score  float64
		off    int
		ok     bool
		marker string
		reason string
	}
	nan := math.NaN()
	cases := []struct {
		in string
		w  want
	}{
		{"Feedback: fine. So the overall score is 4", want{4, 40, true, MarkerREAL, ""}},
		{"Feedback: fine. So the overall score is 4 \n", want{4, 40, true, MarkerREAL, ""}},
		{"Feedback: good [RESULT] 5", want{5, 24, true, MarkerPrometheus, ""}},
		// the later marker wins
		{"So the overall score is 2 ... [RESULT] 3", want{3, 39, true, MarkerPrometheus, ""}},
		{"So the overall score is 1. Thanks", want{1, 24, false, MarkerREAL, `text after the score: ". Thanks"`}},
		{"So the overall score is 3.", want{3, 24, false, MarkerREAL, `text after the score: "."`}},
		{"So the overall score is 10", want{nan, -1, false, MarkerREAL, "not a single digit"}},
		{"So the overall score is 4.5", want{nan, -1, false, MarkerREAL, "not a single digit"}},
		{"So the overall score is 6", want{nan, -1, false, MarkerREAL, "is not followed by a score 1..5"}},
		{"So the overall score is", want{nan, -1, false, "So the overall score is", "is not followed by a score 1..5"}},
		{"[RESULT]4", want{4, 8, false, "[RESULT]", "without its space"}},
		{"The response is good. Score: 4", want{nan, -1, false, "", "no \"So the overall score is\" or \"[RESULT]\" marker"}},
		{"", want{nan, -1, false, "", "marker"}},
	}
	for _, c := range cases {
		p := ParseScore(c.in)
		if !near(p.Score, c.w.score, 0) || p.Offset != c.w.off || p.FormatOK != c.w.ok || p.Marker != c.w.marker ||
			!strings.Contains(p.Reason, c.w.reason) || (c.w.reason == "" && p.Reason != "") {
			t.Errorf("ParseScore(%q) = %+v, want %+v", c.in, p, c.w)
		}
		if p.Offset >= 0 && c.in[p.Offset] != byte('0'+int(p.Score)) {
			t.Errorf("ParseScore(%q): offset %d holds %q", c.in, p.Offset, c.in[p.Offset])
		}
	}
}

func TestTokenAt(t *testing.T) {
	// "So the overall score is 4": tokens "So"," the"," overall"," score"," is"," ","4"
	text := "So the overall score is 4"
	starts := []int{0, 2, 6, 14, 20, 23, 24}
	p := ParseScore(text)
	if got := TokenAt(starts, p.Offset); got != 6 {
		t.Errorf("digit token %d, want 6", got)
	}
	// a tokenizer that merges " 4": the digit lies inside token 5
	if got := TokenAt([]int{0, 2, 6, 14, 20, 23}, p.Offset); got != 5 {
		t.Errorf("merged digit token %d, want 5", got)
	}
	for _, c := range []struct {
		starts []int
		off    int
		want   int
	}{{nil, 3, -1}, {starts, -1, -1}, {[]int{5, 9}, 2, -1}, {starts, 0, 0}, {starts, 1, 0}, {starts, 100, 6}} {
		if got := TokenAt(c.starts, c.off); got != c.want {
			t.Errorf("TokenAt(%v, %d) = %d, want %d", c.starts, c.off, got, c.want)
		}
	}
}

func TestExpectedScore(t *testing.T) {
	p := []float64{0.1, 0.2, 0.3, 0.2, 0.1} // mass 0.9; 0.1 on other tokens
	// 0.1 + 0.4 + 0.9 + 0.8 + 0.5 = 2.7; renormalized 2.7 / 0.9 = 3
	if e := ExpectedScore(p, DefaultScoreValues, false); !near(e, 2.7, 1e-12) {
		t.Errorf("E = %v, want 2.7", e)
	}
	if e := ExpectedScore(p, DefaultScoreValues, true); !near(e, 3, 1e-12) {
		t.Errorf("renormalized E = %v, want 3", e)
	}
	if e := ExpectedScore([]float64{0, 0, 0, 0, 0}, DefaultScoreValues, true); !math.IsNaN(e) {
		t.Errorf("zero mass renormalized: %v", e)
	}
	if e := ExpectedScore(p[:3], DefaultScoreValues, false); !math.IsNaN(e) {
		t.Errorf("length mismatch: %v", e)
	}
	// softmax of log(1..4) = (1, 2, 3, 4)/10
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(3)), float32(math.Log(4))}
	got, err := ScoreProbs(logits, []int{3, 1})
	if err != nil || !near(got[0], 0.4, 1e-6) || !near(got[1], 0.2, 1e-6) {
		t.Errorf("ScoreProbs = %v, %v", got, err)
	}
	got, _ = ScoreProbs([]float32{1000, 1000, -1000}, []int{0, 2})
	if !near(got[0], 0.5, 1e-12) || got[1] != 0 {
		t.Errorf("large logits: %v", got)
	}
	if _, err := ScoreProbs(logits, []int{4}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary (size 4)") {
		t.Errorf("bad id: %v", err)
	}
}

// fakeJudge is the test double: item i's outputs are scripted by the prompt.
type fakeJudge struct {
	outs  map[string][]Generation
	slots []Slot
}

type fakeProbs struct{ atScore, atLast []float64 }

func (f *fakeJudge) Generate(_ context.Context, prompt string, n int, _ Sampling) ([]Generation, error) {
	g, ok := f.outs[prompt]
	if !ok || len(g) < n {
		return nil, fmt.Errorf("no script for %q", prompt)
	}
	return g[:n], nil
}

func (f *fakeJudge) ScoreProbs(_ context.Context, _ string, g Generation, s Slot) ([]float64, error) {
	f.slots = append(f.slots, s)
	fp := g.Ref.(fakeProbs)
	if s.Last {
		return fp.atLast, nil
	}
	return fp.atScore, nil
}

// onehot puts mass m on score k and 1-m elsewhere in the vocabulary.
func onehot(k int, m float64) []float64 {
	p := make([]float64, 5)
	p[k-1] = m
	return p
}

func gen(text string, atScore, atLast []float64) Generation {
	// one token per byte keeps the token index equal to the byte offset
	starts := make([]int, len(text))
	for i := range starts {
		starts[i] = i
	}
	return Generation{Text: text, TokenStarts: starts, Ref: fakeProbs{atScore, atLast}}
}

func scripted() (*fakeJudge, Benchmark) {
	f := &fakeJudge{outs: map[string][]Generation{
		// p0: both outputs parse; E = 4 (mass 1) and 2*0.5 = 1 -> mean 2.5
		"p0": {gen("So the overall score is 4", onehot(4, 1), onehot(1, 1)), gen("So the overall score is 2", onehot(2, 0.5), onehot(5, 1))},
		// p1: one output fails to parse; under count/drop the item mean is the other's: 5
		"p1": {gen("no score here", nil, onehot(3, 1)), gen("[RESULT] 5", onehot(5, 1), onehot(5, 1))},
		// p2: both fail: no prediction under count/drop; blind reads 1 and 2
		"p2": {gen("I refuse", nil, onehot(1, 1)), gen("nope", nil, onehot(2, 1))},
		// p3: parses, format broken (a period after the score)
		"p3": {gen("So the overall score is 3.", onehot(3, 1), onehot(1, 1)), gen("So the overall score is 3", onehot(3, 1), onehot(3, 1))},
	}}
	return f, Benchmark{Name: "toy", Prompts: []string{"p0", "p1", "p2", "p3"}, Gold: []float64{2, 5, 1, 4}}
}

func TestRunPolicies(t *testing.T) {
	for _, c := range []struct {
		pol       Policy
		mode      Mode
		preds     []float64 // per item, NaN = none
		used      int
		failWarns bool
	}{
		{PolicyCount, ModeRAIL, []float64{2.5, 5, math.NaN(), 3}, 3, true},
		{PolicyDrop, ModeRAIL, []float64{2.5, 5, math.NaN(), 3}, 3, false},
		// blind: the token-before-EOS distributions: p0 (1+5)/2, p1 (3+5)/2, p2 (1+2)/2, p3 (1+3)/2
		{PolicyBlind, ModeRAIL, []float64{3, 4, 1.5, 2}, 4, false},
		// decode: parsed scores; blind decode = last char digit else 0
		{PolicyCount, ModeDecode, []float64{3, 5, math.NaN(), 3}, 3, true},
		{PolicyBlind, ModeDecode, []float64{3, 2.5, 0, 1.5}, 4, false},
	} {
		f, b := scripted()
		rep, err := Run(context.Background(), f, []Benchmark{b}, Config{NCoT: 2, Policy: c.pol, Mode: c.mode})
		if err != nil {
			t.Fatal(err)
		}
		br := rep.Benchmarks[0]
		var got []float64
		var pu, gu []float64
		for _, it := range br.Results {
			got = append(got, it.Pred)
			if !math.IsNaN(it.Pred) {
				pu, gu = append(pu, it.Pred), append(gu, it.Gold)
			}
		}
		name := fmt.Sprintf("%s/%s", c.pol, c.mode)
		if d := cmp.Diff(c.preds, got, cmp.Comparer(func(a, b float64) bool { return near(a, b, 1e-12) })); d != "" {
			t.Errorf("%s: preds (-want +got):\n%s", name, d)
		}
		if br.Used != c.used || br.Items != 4 || br.Outputs != 8 || br.ParseFailures != 3 || br.FormatBroken != 1 {
			t.Errorf("%s: used %d items %d outputs %d failures %d broken %d", name, br.Used, br.Items, br.Outputs, br.ParseFailures, br.FormatBroken)
		}
		want, _ := Compute(pu, gu)
		if !near(br.Metrics.Pearson, want.Pearson, 1e-12) || !near(br.Metrics.Kendall, want.Kendall, 1e-12) || !near(br.Metrics.RMSE, want.RMSE, 1e-12) {
			t.Errorf("%s: metrics %+v, want %+v", name, br.Metrics, want)
		}
		warned := strings.Contains(strings.Join(br.Metrics.Warnings, "\n"), "3 of 8 outputs have no parsable score (items 1, 2)")
		if warned != c.failWarns {
			t.Errorf("%s: warnings %q", name, br.Metrics.Warnings)
		}
		if c.mode == ModeRAIL && c.pol != PolicyBlind {
			// the slot is the digit's token: one token per byte, so its offset
			for _, s := range f.slots {
				if s.Last || s.Token != s.Offset || s.Offset < 8 {
					t.Errorf("%s: slot %+v", name, s)
				}
			}
		}
		if c.pol == PolicyBlind && c.mode == ModeRAIL {
			for _, s := range f.slots {
				if !s.Last || s.Offset != -1 {
					t.Errorf("%s: slot %+v", name, s)
				}
			}
		}
	}
}

func TestReportOutputs(t *testing.T) {
	f, b := scripted()
	b2 := Benchmark{Name: "toy/2", Prompts: []string{"p0", "p3"}, Gold: []float64{1, 1}} // constant gold
	var prog bytes.Buffer
	rep, err := Run(context.Background(), f, []Benchmark{b, b2}, Config{NCoT: 2, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prog.String(), "toy/2: 6/6 (") {
		t.Errorf("progress lines: %q", prog.String())
	}
	tab := rep.Table()
	// toy: preds 2.5, 5, 3 vs gold 2, 5, 4
	m, _ := Compute([]float64{2.5, 5, 3}, []float64{2, 5, 4})
	row := fmt.Sprintf("%.1f", 100*m.Pearson)
	for _, want := range []string{"Benchmark  Pearson  Spearman  Kendall", "toy   ", row, "3/8", "3/4", "toy/2", "n/a", "Avg", "warning: toy/2: gold is constant"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	md := rep.Markdown()
	if !strings.HasPrefix(md, "| Benchmark | Pearson | Spearman | Kendall | RMSE | Parse failures | Items |\n|---|---:|") ||
		!strings.Contains(md, "| toy | "+row+" |") {
		t.Errorf("markdown:\n%s", md)
	}
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Benchmarks []struct {
			Name    string `json:"name"`
			Metrics struct {
				Pearson *float64 `json:"pearson"`
				N       int      `json:"n"`
			} `json:"metrics"`
			Results []struct {
				Pred *float64 `json:"pred"`
			} `json:"results"`
		} `json:"benchmarks"`
		Average map[string]*float64 `json:"average"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("report JSON does not parse: %v\n%s", err, js)
	}
	if len(doc.Benchmarks) != 2 || doc.Benchmarks[0].Metrics.Pearson == nil || !near(*doc.Benchmarks[0].Metrics.Pearson, m.Pearson, 1e-12) ||
		doc.Benchmarks[1].Metrics.Pearson != nil || doc.Benchmarks[0].Results[2].Pred != nil || doc.Average["pearson"] != nil {
		t.Errorf("JSON: %s", js)
	}
	dir := t.TempDir()
	paths, err := rep.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{filepath.Join(dir, "report.json"), filepath.Join(dir, "report.md"), filepath.Join(dir, "scatter_toy.png"), filepath.Join(dir, "scatter_toy_2.png")}
	if d := cmp.Diff(wantPaths, paths); d != "" {
		t.Errorf("paths (-want +got):\n%s", d)
	}
	fh, err := os.Open(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("scatter is not a PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X < 300 || sz.Y < 300 {
		t.Errorf("scatter is %v", sz)
	}
}

func TestRunNeedsProbsForRAIL(t *testing.T) {
	type textOnly struct{ Judge }
	f, b := scripted()
	_, err := Run(context.Background(), textOnly{f}, []Benchmark{b}, Config{})
	if err == nil || !strings.Contains(err.Error(), "use the decode mode") {
		t.Errorf("err = %v", err)
	}
	rep, err := Run(context.Background(), textOnly{f}, []Benchmark{b}, Config{NCoT: 2, Mode: ModeDecode})
	if err != nil || rep.Benchmarks[0].Used != 3 {
		t.Errorf("decode with a text-only judge: %v %+v", err, rep.Benchmarks[0])
	}
}

func TestReplay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.jsonl")
	lines := `{"benchmark": "toy", "index": 0, "outputs": [{"text": "So the overall score is 4", "probs": [0, 0, 0, 1, 0], "probs_last": [1, 0, 0, 0, 0]}]}
{"benchmark": "toy", "index": 1, "outputs": [{"text": "[RESULT] 2", "probs": [0, 0.5, 0, 0, 0]}]}

{"benchmark": "toy", "index": 2, "outputs": [{"text": "So the overall score is 5", "probs": [0, 0, 0, 0, 1]}]}
`
	os.WriteFile(path, []byte(lines), 0o644)
	r, err := LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	b := Benchmark{Name: "toy", Prompts: []string{"a", "b", "c"}, Gold: []float64{4, 1, 5}}
	rep, err := Run(context.Background(), r, []Benchmark{b}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var preds []float64
	for _, it := range rep.Benchmarks[0].Results {
		preds = append(preds, it.Pred)
	}
	if d := cmp.Diff([]float64{4, 1, 5}, preds); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// blind needs probs_last, which item 1 lacks
	if _, err := Run(context.Background(), r, []Benchmark{b}, Config{Policy: PolicyBlind}); err == nil || !strings.Contains(err.Error(), `toy item 1: replay output for toy item 1 has no "probs_last"`) {
		t.Errorf("blind: %v", err)
	}
	if _, err := Run(context.Background(), r, []Benchmark{b}, Config{NCoT: 2}); err == nil || !strings.Contains(err.Error(), "1 output(s) for toy item 0, 2 asked") {
		t.Errorf("n=2: %v", err)
	}
	for _, c := range []struct{ body, want string }{
		{`{"benchmark": "t", "outputs": [{"text": "x"}]}`, `r.jsonl:1: missing "benchmark" or "index"`},
		{`{"benchmark": "t", "index": 0, "outputs": [{"text": "x", "probs": [1, 2]}]}`, "r.jsonl:1: outputs[0].probs has 2 values, want 5"},
		{`{"benchmark": "t", "index": 0, "outputs": [{"txt": "x"}]}`, `r.jsonl:1: json: unknown field "txt"`},
		{"{\"benchmark\": \"t\", \"index\": 0, \"outputs\": [{\"text\": \"x\"}]}\n{\"benchmark\": \"t\", \"index\": 0, \"outputs\": [{\"text\": \"x\"}]}", "r.jsonl:2: item t #0 appears twice"},
		{`{"benchmark": "t", "index": 0, "outputs": []}`, `r.jsonl:1: "outputs" is empty`},
	} {
		os.WriteFile(path, []byte(c.body), 0o644)
		if _, err := LoadReplay(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

func TestLoadBenchmark(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "mt_bench_eval.json")
	// a two-item judge file in the Prometheus format
	head := "###Task Description:\nx\n" + data.PrometheusFormatLine
	inst := func(s string) string {
		return head + "\n\n###The instruction to evaluate:\n" + s + "\n\n###Response to evaluate:\nR\n\n###Reference Answer (Score 5):\nA\n\n###Score Rubrics:\n[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e\n\n###Feedback: "
	}
	body, _ := json.Marshal([]map[string]any{{"instruction": inst("I0"), "gpt4_score": []int{1, 2, 3}, "idx": 1}, {"instruction": inst("I1"), "gpt4_score": 5, "idx": 2}})
	os.WriteFile(js, body, 0o644)
	b, err := LoadBenchmark(js, LoadOptions{Format: data.FormatREAL})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "mt_bench_evaluation" || len(b.Prompts) != 2 || !cmp.Equal(b.Gold, []float64{2, 5}) ||
		!strings.Contains(b.Prompts[0], data.REALFormatLine) || !strings.Contains(b.Prompts[1], "\nI1\n") {
		t.Errorf("%+v", b)
	}
	pq := filepath.Join(dir, "b.parquet")
	if _, err := data.Convert(js, pq, data.ConvertOptions{Format: data.FormatPrometheus}); err != nil {
		t.Fatal(err)
	}
	b2, err := LoadBenchmark(pq, LoadOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if b2.Name != "mt_bench_evaluation" || len(b2.Prompts) != 1 || b2.Gold[0] != 2 || b2.Prompts[0] != inst("I0") {
		t.Errorf("%+v", b2)
	}
	if _, err := LoadBenchmark(filepath.Join(dir, "x.txt"), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "want a .json") {
		t.Errorf("txt: %v", err)
	}
}

// batchingJudge adds GenerateBatch to the test double and records the sizes.
type batchingJudge struct {
	*fakeJudge
	sizes []int
}

func (b *batchingJudge) GenerateBatch(ctx context.Context, prompts []string, n int, s Sampling) ([][]Generation, error) {
	b.sizes = append(b.sizes, len(prompts))
	var out [][]Generation
	for _, p := range prompts {
		g, err := b.Generate(ctx, p, n, s)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

func TestRunBatched(t *testing.T) {
	f, b := scripted()
	one, err := Run(context.Background(), f, []Benchmark{b}, Config{NCoT: 2})
	if err != nil {
		t.Fatal(err)
	}
	bj := &batchingJudge{fakeJudge: f}
	batched, err := Run(context.Background(), bj, []Benchmark{b}, Config{NCoT: 2, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]int{3, 1}, bj.sizes); d != "" {
		t.Errorf("batch sizes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(one.Benchmarks[0].Results, batched.Benchmarks[0].Results, cmp.Comparer(func(a, b float64) bool { return near(a, b, 0) })); d != "" {
		t.Errorf("batched results differ (-one +batched):\n%s", d)
	}
}
