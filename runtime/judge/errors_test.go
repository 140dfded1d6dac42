package judge

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/model"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	data := sharedData(t)
	bin := filepath.Join(data, "models", "stories260K", "stories260K.bin")
	llamaTok := filepath.Join(data, "tokenizers", "llama2", "tokenizer.model")
	qtok := qwenTokenizer(t)
	tiny := tinyQwenDir(t)

	_, err := Open(Options{})
	wantErr(t, err, "no model path")
	_, err = Open(Options{Model: filepath.Join(t.TempDir(), "absent")})
	wantErr(t, err, "absent")
	_, err = Open(Options{Model: bin})
	wantErr(t, err, "stories260K.bin", "llama2.c", "give a tokenizer")
	_, err = Open(Options{Model: bin, Tokenizer: llamaTok})
	wantErr(t, err, "32000 tokens", "vocab_size 512", "tokenizer.model")
	_, err = Open(Options{Model: tiny, Tokenizer: qtok, Chat: "chatml"})
	wantErr(t, err, `chat "chatml"`, "qwen3", "mistral-v1", "none")
	_, err = Open(Options{Model: tiny, Tokenizer: qtok, Scores: []string{"1", "10"}})
	wantErr(t, err, "tokenizer.json", "10")

	// A Llama folder does not say its chat format.
	cfg := model.TinyQwen3Config(151936)
	cfg.Arch, cfg.QKNorm = model.Llama, false
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Model: dir, Tokenizer: qtok})
	wantErr(t, err, dir, "llama", "choose one of")
	j, err := Open(Options{Model: dir, Tokenizer: qtok, Chat: ChatNone, EOS: []int{7, 151645}})
	if err != nil {
		t.Fatal(err)
	}
	// The tokenizer has no BOS: the prompt is its text alone. Extra EOS ids
	// join the model's and the tokenizer's once each.
	if ids, _ := j.Encode("hi"); !slices.Equal(ids, j.Tok.Encode("hi")) {
		t.Errorf("chat none: %v", ids)
	}
	if got := j.EOS(); !slices.Equal(got, []int{151935, 151645, 7}) {
		t.Errorf("EOS %v, want [151935 151645 7]", got)
	}
	_, err = j.Generate(ctx, "", 1, eval.Sampling{Temperature: 1, MaxTokens: 2})
	wantErr(t, err, "prompt 0 of 1 encodes to no tokens", `chat "none"`)
}

func TestNewErrors(t *testing.T) {
	m := storiesModel(t)
	ok := Config{Chat: ChatNone, ScoreIDs: []int{4, 5}, EOS: []int{1}}
	big := model.NewTinyQwen3(256, 1)
	for _, c := range []struct {
		m    *model.Model
		cfg  Config
		want []string
	}{
		{big, ok, []string{"512 tokens", "vocabulary (vocab_size) is 256"}},
		{m, Config{Chat: ChatMistralV1, ScoreIDs: ok.ScoreIDs, EOS: ok.EOS}, []string{"mistral-v1", "judge.byteTok"}},
		{m, Config{Chat: "", ScoreIDs: ok.ScoreIDs, EOS: ok.EOS}, []string{`chat ""`}},
		{m, Config{Chat: ChatNone, EOS: ok.EOS}, []string{"no score token ids"}},
		{m, Config{Chat: ChatNone, ScoreIDs: []int{4, 512}, EOS: ok.EOS}, []string{"score token 1 has id 512"}},
		{m, Config{Chat: ChatNone, ScoreIDs: ok.ScoreIDs}, []string{"no EOS id"}},
		{m, Config{Chat: ChatNone, ScoreIDs: ok.ScoreIDs, EOS: []int{-1}}, []string{"EOS id -1"}},
	} {
		_, err := New(c.m, byteTok{}, c.cfg)
		wantErr(t, err, c.want...)
	}
}

func TestSamplingErrors(t *testing.T) {
	j, err := New(storiesModel(t), byteTok{}, Config{Chat: ChatNone, ScoreIDs: []int{4}, EOS: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	good := eval.Sampling{Temperature: 1, TopP: 1, MaxTokens: 4}
	for _, c := range []struct {
		n    int
		s    eval.Sampling
		want string
	}{
		{0, good, "0 outputs per prompt"},
		{1, eval.Sampling{Temperature: 1, MaxTokens: 0}, "max_tokens is 0"},
		{1, eval.Sampling{Temperature: -1, MaxTokens: 4}, "temperature is -1"},
		{1, eval.Sampling{Temperature: 1, TopP: 1.5, MaxTokens: 4}, "top_p is 1.5"},
	} {
		_, err := j.Generate(ctx, "x", c.n, c.s)
		wantErr(t, err, c.want)
	}
	// stories260K's seq_len (max_position_embeddings) is 512.
	_, err = j.GenerateBatch(ctx, []string{"ok", strings.Repeat("a", 511)}, 1, good)
	wantErr(t, err, "prompt 1 of 2 has 512 tokens", "max_position_embeddings 512")
}

// Outputs stop at max_position_embeddings, as vLLM's max_model_len: a
// 506-token prompt gets at most 6 new tokens while a short prompt in the
// same batch gets its 16, the same as sampled alone.
func TestMaxPositionCap(t *testing.T) {
	j, err := New(storiesModel(t), byteTok{}, Config{Chat: ChatNone, ScoreIDs: []int{4}, EOS: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	s := eval.Sampling{Temperature: 1, MaxTokens: 16, Seed: 2}
	long := strings.Repeat("b", 505)
	out, err := j.GenerateBatch(ctx, []string{"Once", long, "Once"}, 2, s)
	if err != nil {
		t.Fatal(err)
	}
	alone, _ := j.Generate(ctx, "Once", 2, s)
	for k := range 2 {
		lt, stop, _ := j.Tokens(out[1][k])
		if len(lt) > 6 || (len(lt) < 6 && stop != "eos") {
			t.Errorf("long prompt output %d: %d tokens (%s), want 6 or an EOS before", k, len(lt), stop)
		}
		st, stop, _ := j.Tokens(out[0][k])
		if len(st) != 16 && stop != "eos" {
			t.Errorf("short prompt output %d: %d tokens (%s)", k, len(st), stop)
		}
		if out[0][k].Text != alone[k].Text || out[2][k].Text != alone[k].Text {
			t.Errorf("output %d: %q and %q in the batch, %q alone", k, out[0][k].Text, out[2][k].Text, alone[k].Text)
		}
	}
}

func TestScoreProbsSlots(t *testing.T) {
	m := storiesModel(t)
	ids := []int{3 + '1', 3 + '5'}
	j, err := New(m, byteTok{}, Config{Chat: ChatNone, ScoreIDs: ids, EOS: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(m, byteTok{}, Config{Chat: ChatNone, ScoreIDs: ids, EOS: []int{1, 2}})
	g, err := j.Generate(ctx, "Once", 1, eval.Sampling{Temperature: 1, MaxTokens: 3, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.ScoreProbs(ctx, "Once", g[0], eval.Slot{Token: 0})
	wantErr(t, err, "not produced by this judge")
	_, err = j.ScoreProbs(ctx, "Once", eval.Generation{Text: "x"}, eval.Slot{Token: 0})
	wantErr(t, err, "not produced by this judge")
	n := len(g[0].TokenStarts)
	_, err = j.ScoreProbs(ctx, "Once", g[0], eval.Slot{Token: n})
	wantErr(t, err, "outside the output's")
	_, err = j.ScoreProbs(ctx, "Once", g[0], eval.Slot{Token: -1})
	wantErr(t, err, "score slot -1")

	// An output that is EOS alone: the blind slot is the position after the
	// prompt (the one that sampled the EOS).
	prompt, _ := j.Encode("Once")
	empty := eval.Generation{Ref: &output{judge: j, prompt: prompt}}
	got, err := j.ScoreProbs(ctx, "Once", empty, eval.Slot{Token: -1, Offset: -1, Last: true})
	if err != nil {
		t.Fatal(err)
	}
	want := softmaxAt(fullForwardLast(t, m, prompt), ids)
	for k := range want {
		if !closeRel(got[k], want[k], 2e-5) {
			t.Errorf("p[%d] = %.9g, want %.9g", k, got[k], want[k])
		}
	}
	_, err = j.ScoreProbs(ctx, "Once", empty, eval.Slot{Token: 0})
	wantErr(t, err, "outside the output's 0 tokens")
}

// Goroutines sharing one judge (and its prompt cache) get what they get
// alone.
func TestConcurrentScoreProbs(t *testing.T) {
	j, err := New(storiesModel(t), byteTok{}, Config{Chat: ChatNone, ScoreIDs: []int{4, 5, 6}, EOS: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	s := eval.Sampling{Temperature: 1, MaxTokens: 6, Seed: 3}
	prompts := []string{"Once", "Tom had", "The sun"}
	gens, err := j.GenerateBatch(ctx, prompts, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	slot := func(g eval.Generation) eval.Slot {
		return eval.Slot{Token: len(g.TokenStarts) - 1, Offset: -1, Last: true}
	}
	want := make([][]float64, len(prompts))
	for i := range prompts {
		if want[i], err = j.ScoreProbs(ctx, prompts[i], gens[i][0], slot(gens[i][0])); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan string, 3*len(prompts))
	var wg sync.WaitGroup
	for range 3 {
		for i := range prompts {
			wg.Go(func() {
				got, err := j.ScoreProbs(ctx, prompts[i], gens[i][0], slot(gens[i][0]))
				if err != nil || !slices.Equal(got, want[i]) {
					errs <- fmt.Sprintf("prompt %d: %v (%v), alone %v", i, got, err, want[i])
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
