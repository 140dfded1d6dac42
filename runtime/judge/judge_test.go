package judge

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/tokenizer"
)

var ctx = context.Background()

// The tiny Qwen3 judge: Open picks ChatML from the architecture, the score
// ids are Qwen3's "1".."5" (16..20), and the EOS ids are the model's own
// (vocab-1, past the tokenizer) plus the tokenizer's <|im_end|>.
func TestOpenQwen3(t *testing.T) {
	j := tinyQwenJudge(t)
	if j.Chat() != ChatQwen3 {
		t.Errorf("chat = %q, want qwen3", j.Chat())
	}
	if got := j.ScoreIDs(); !slices.Equal(got, []int{16, 17, 18, 19, 20}) {
		t.Errorf("score ids = %v, want [16 17 18 19 20]", got)
	}
	if got := j.EOS(); !slices.Equal(got, []int{151935, 151645}) {
		t.Errorf("EOS = %v, want [151935 151645] (config, then the tokenizer's <|im_end|>)", got)
	}
	ids, err := j.Encode("Rate this.")
	if err != nil {
		t.Fatal(err)
	}
	// Written out by hand from Qwen3's chat_template with add_generation_prompt.
	want := j.Tok.Encode("<|im_start|>user\nRate this.<|im_end|>\n<|im_start|>assistant\n")
	if !slices.Equal(ids, want) || ids[0] != 151644 || ids[len(ids)-1] != 198 {
		t.Errorf("prompt ids = %v, want %v (<|im_start|> ... assistant \\n)", ids, want)
	}
}

// ScoreProbs at every slot of sampled outputs equals a float64 softmax of
// the model's full (no KV cache) forward logits over all 151,936 rows: the
// 267 padding rows past the tokenizer count in the denominator, as in vLLM.
func TestScoreProbsMatchesFullForward(t *testing.T) {
	j := tinyQwenJudge(t)
	const prompt = "Score the answer from 1 to 5."
	gens, err := j.Generate(ctx, prompt, 2, eval.Sampling{Temperature: 1, TopP: 0.9, MaxTokens: 8, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	pids, _ := j.Encode(prompt)
	checked := 0
	for gi, g := range gens {
		toks, _, ok := j.Tokens(g)
		if !ok {
			t.Fatal("Tokens does not recognize the judge's own generation")
		}
		if len(toks) == 0 {
			continue
		}
		for _, slot := range []eval.Slot{{Token: 0}, {Token: len(toks) / 2}, {Token: len(toks) - 1, Last: true}} {
			got, err := j.ScoreProbs(ctx, prompt, g, slot)
			if err != nil {
				t.Fatal(err)
			}
			row := fullForwardLast(t, j.M, slices.Concat(pids, toks[:slot.Token]))
			want := softmaxAt(row, j.ScoreIDs())
			restricted := softmaxAt(row[:j.Tok.VocabSize()], j.ScoreIDs())
			sum := 0.0
			for k := range want {
				if !closeRel(got[k], want[k], 2e-5) {
					t.Errorf("output %d slot %d: p[%d] = %.9g, full softmax %.9g", gi, slot.Token, k, got[k], want[k])
				}
				if closeRel(got[k], restricted[k], 2e-5) {
					t.Errorf("output %d slot %d: p[%d] = %.9g matches the softmax without the padding rows (%.9g)", gi, slot.Token, k, got[k], restricted[k])
				}
				if !(got[k] > 0 && got[k] < 1) {
					t.Errorf("p[%d] = %v, want in (0, 1)", k, got[k])
				}
				sum += got[k]
			}
			if sum > 1 {
				t.Errorf("score probabilities sum to %v > 1", sum)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("both outputs were EOS alone; nothing checked")
	}
}

// The same seed gives the same outputs, whether the prompt is sampled alone
// or in a batch; another seed gives other outputs.
func TestDeterminism(t *testing.T) {
	j := tinyQwenJudge(t)
	s := eval.Sampling{Temperature: 1, TopP: 0.9, MaxTokens: 8, Seed: 11}
	prompts := []string{"First prompt.", "A second, longer prompt to judge."}
	a, err := j.GenerateBatch(ctx, prompts, 2, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.Generate(ctx, prompts[1], 2, s)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		if a[1][k].Text != b[k].Text || !slices.Equal(a[1][k].TokenStarts, b[k].TokenStarts) {
			t.Errorf("output %d: batched %q, alone %q", k, a[1][k].Text, b[k].Text)
		}
	}
	if a[1][0].Text == a[1][1].Text {
		t.Errorf("the two outputs of one prompt are equal (%q): each should have its own stream", a[1][0].Text)
	}
	s.Seed = 12
	c, err := j.Generate(ctx, prompts[1], 2, s)
	if err != nil {
		t.Fatal(err)
	}
	if c[0].Text == b[0].Text && c[1].Text == b[1].Text {
		t.Errorf("seeds 11 and 12 gave the same outputs %q", b[0].Text)
	}
	// The text is the tokens' bytes, each starting at its TokenStarts.
	for _, g := range slices.Concat(a[0], a[1]) {
		toks, _, _ := j.Tokens(g)
		if len(toks) != len(g.TokenStarts) {
			t.Fatalf("%d tokens, %d starts", len(toks), len(g.TokenStarts))
		}
		for k, id := range toks {
			piece, _ := j.Tok.PieceBytes(id)
			if !strings.HasPrefix(g.Text[g.TokenStarts[k]:], string(piece)) {
				t.Errorf("token %d (id %d, %q) is not at byte %d of %q", k, id, piece, g.TokenStarts[k], g.Text)
			}
			if id >= j.Tok.VocabSize() {
				t.Errorf("sampled id %d past the tokenizer's %d ids", id, j.Tok.VocabSize())
			}
		}
	}
}

// stories260K, a trained Llama in llama2.c format, with a byte-level test
// double for its missing vocabulary: greedy decoding from BOS reproduces
// run.c's ids, and ScoreProbs at slots 0..3 of that output equals the
// softmax of run.c's printed logits at positions 0..3.
func TestStoriesAgainstRunC(t *testing.T) {
	m := storiesModel(t)
	dir := filepath.Join(sharedData(t), "models", "stories260K")
	var ref struct {
		Greedy []int `json:"greedy_ids"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "reference_greedy_ids.runc.json"))
	if err != nil {
		t.Skip(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	scoreIDs := []int{13, 264, 283, 401, 461} // ids run.c puts mass on, so the check is not of zeros
	j, err := New(m, byteTok{}, Config{Chat: ChatNone, ScoreIDs: scoreIDs, EOS: EOSIDs(m.Cfg.EOS, byteTok{}.EOS(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	gens, err := j.Generate(ctx, "", 1, eval.Sampling{Temperature: 0, MaxTokens: 16, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	toks, stop, _ := j.Tokens(gens[0])
	if !slices.Equal(toks, ref.Greedy[:16]) || stop != "length" {
		t.Fatalf("greedy from BOS = %v (%s), run.c %v", toks, stop, ref.Greedy[:16])
	}
	if !strings.HasPrefix(gens[0].Text, "<461><461><401>") {
		t.Errorf("text %q, want the pieces of 461 461 401 ...", gens[0].Text)
	}
	f, err := os.Open(filepath.Join(dir, "reference_logits_pos0-3.runc.jsonl"))
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	rows := 0
	for sc.Scan() {
		var r struct {
			Pos    int       `json:"pos"`
			Logits []float32 `json:"logits"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		got, err := j.ScoreProbs(ctx, "", gens[0], eval.Slot{Token: r.Pos})
		if err != nil {
			t.Fatal(err)
		}
		want := softmaxAt(r.Logits, scoreIDs)
		for k := range want {
			if !closeRel(got[k], want[k], 1e-4) {
				t.Errorf("pos %d: p[%d] = %.9g, run.c softmax %.9g", r.Pos, k, got[k], want[k])
			}
		}
		rows++
	}
	if rows != 4 {
		t.Fatalf("%d reference rows, want 4", rows)
	}
}

// Sampled stories260K outputs, with the test double: ScoreProbs at the
// blind slot equals the full forward's softmax, and the outputs repeat per
// seed.
func TestStoriesSampled(t *testing.T) {
	m := storiesModel(t)
	scoreIDs := []int{3 + '1', 3 + '2', 3 + '3', 3 + '4', 3 + '5'}
	j, err := New(m, byteTok{}, Config{Chat: ChatNone, ScoreIDs: scoreIDs, EOS: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	s := eval.Sampling{Temperature: 0.8, TopP: 0.95, MaxTokens: 12, Seed: 5}
	g1, err := j.Generate(ctx, "Once", 3, s)
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := j.Generate(ctx, "Once", 3, s)
	for k := range g1 {
		if g1[k].Text != g2[k].Text {
			t.Errorf("output %d: %q then %q with the same seed", k, g1[k].Text, g2[k].Text)
		}
		toks, _, _ := j.Tokens(g1[k])
		got, err := j.ScoreProbs(ctx, "Once", g1[k], eval.Slot{Token: len(g1[k].TokenStarts) - 1, Offset: -1, Last: true})
		if err != nil {
			t.Fatal(err)
		}
		seq := slices.Concat([]int{1}, byteTok{}.Encode("Once"), toks[:max(len(toks)-1, 0)])
		want := softmaxAt(fullForwardLast(t, m, seq), scoreIDs)
		for i := range want {
			if !closeRel(got[i], want[i], 2e-5) {
				t.Errorf("output %d: p[%d] = %.9g, full forward %.9g", k, i, got[i], want[i])
			}
		}
	}
}

// eval.Run end to end on three MT-Bench items with the tiny Qwen3: REAL's
// blind policy and RAIL scores give a finite table, and each prediction is
// E[score] of the judge's own ScoreProbs at the last token.
func TestHarnessMTBench(t *testing.T) {
	j := tinyQwenJudge(t)
	bench, err := eval.LoadBenchmark(filepath.Join(sharedData(t), "prometheus", "mt_bench_eval.json"), eval.LoadOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := eval.Sampling{Temperature: 1, TopP: 0.9, MaxTokens: 8, Seed: 1}
	rep, err := eval.Run(ctx, j, []eval.Benchmark{bench}, eval.Config{NCoT: 1, Sampling: s, Policy: eval.PolicyBlind, Mode: eval.ModeRAIL, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	br := rep.Benchmarks[0]
	if br.Items != 3 || br.Used != 3 || br.Outputs != 3 {
		t.Fatalf("items %d used %d outputs %d, want 3 3 3", br.Items, br.Used, br.Outputs)
	}
	for _, v := range []float64{br.Metrics.Pearson, br.Metrics.Spearman, br.Metrics.Kendall, br.Metrics.RMSE, br.Metrics.MAE} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("metrics %+v: not all finite", br.Metrics)
			break
		}
	}
	table := rep.Table()
	if !strings.Contains(table, "mt_bench") || strings.Contains(table, "n/a") {
		t.Errorf("table:\n%s", table)
	}
	for i, it := range br.Results {
		g, err := j.Generate(ctx, bench.Prompts[i], 1, s)
		if err != nil {
			t.Fatal(err)
		}
		p, err := j.ScoreProbs(ctx, bench.Prompts[i], g[0], eval.Slot{Token: len(g[0].TokenStarts) - 1, Offset: -1, Last: true})
		if err != nil {
			t.Fatal(err)
		}
		want := eval.ExpectedScore(p, eval.DefaultScoreValues, false)
		if !closeRel(it.Pred, want, 1e-12) || !(it.Pred > 0 && it.Pred < 5) {
			t.Errorf("item %d: pred %v, E[score] of the regenerated output %v", i, it.Pred, want)
		}
	}
	// The decode mode under the count policy needs no probabilities: the
	// random model writes no score, so every output is a parse failure.
	rep, err = eval.Run(ctx, j, []eval.Benchmark{bench}, eval.Config{Sampling: s, Policy: eval.PolicyCount, Mode: eval.ModeDecode, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if br := rep.Benchmarks[0]; br.ParseFailures != 3 || br.Used != 0 {
		t.Errorf("decode/count: %d parse failures, %d used; want 3 and 0", br.ParseFailures, br.Used)
	}
}

// A Mistral model (tiny, random, at the Mistral vocabulary) gets the v1
// [INST] format from Open, BOS first.
func TestOpenMistral(t *testing.T) {
	tokPath := filepath.Join(sharedData(t), "tokenizers", "mistral-7b-v0.1-v0.2", "tokenizer.json")
	if _, err := os.Stat(tokPath); err != nil {
		t.Skip(err)
	}
	cfg := model.TinyQwen3Config(32000)
	cfg.Arch, cfg.QKNorm, cfg.BOS, cfg.EOS = model.Mistral, false, 1, []int{2}
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(1, 0.2)
	dir := t.TempDir()
	if err := m.SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	j, err := Open(Options{Model: dir, Tokenizer: tokPath})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := j.Encode("Rate it.")
	if err != nil {
		t.Fatal(err)
	}
	tok := j.Tok.(*tokenizer.Tokenizer)
	if want := append([]int{1}, tok.Encode("[INST] Rate it. [/INST]")...); j.Chat() != ChatMistralV1 || !slices.Equal(ids, want) {
		t.Errorf("chat %s ids %v, want mistral-v1 %v", j.Chat(), ids, want)
	}
	if got := j.ScoreIDs(); !slices.Equal(got, []int{28740, 28750, 28770, 28781, 28782}) {
		t.Errorf("score ids %v, want Mistral's digits 28740 28750 28770 28781 28782", got)
	}
	if _, err := j.Generate(ctx, "Rate it.", 1, eval.Sampling{Temperature: 1, MaxTokens: 4}); err != nil {
		t.Fatal(err)
	}
}
