// Package judge is realc's model-backed LLM judge for evaluation: a
// runtime/model checkpoint (a Hugging Face folder or a llama2.c .bin), its
// tokenizer and chat format behind runtime/eval's Judge, BatchJudge and
// ProbJudge interfaces, so that `realc eval` (eval.Run) can score
// benchmarks with a real model on the CPU, or, through Config.LM, with the
// model on a GPU (`BIN eval --device cuda`, a trainer's evaluation).
//
// Generate renders the judge prompt as one user turn with the chat template
// and its generation prompt, samples n CoTs with runtime/sample and returns
// their text with the byte offset of every generated token (the harness maps
// the parsed score digit to its token with eval.TokenAt). ScoreProbs reads
// the score-slot distribution by a teacher-forced forward of the prompt and
// the output up to the slot: the full-vocabulary softmax (float64 sums) of
// the model's logits at the position that predicts the slot's token, taken
// at the score token ids ("1".."5" after "So the overall score is ").
//
// Two vocabularies meet here. Sampling never draws ids past the tokenizer
// (the embedding's padding rows, see sample.Restrict), because they cannot be
// decoded; the score softmax runs over every row of the model's LM head,
// padding included, as vLLM's logprobs (REAL's engine) do.
//
// Use:
//
//	j, err := judge.Open(judge.Options{Model: "qwen3-dir", Tokenizer: "tokenizer.json"})
//	...
//	rep, err := eval.Run(ctx, j, benches, eval.Config{Sampling: s, Policy: eval.PolicyBlind, Batch: 8})
//
// RecordBenchmark writes the outputs with both score slots' probabilities as
// eval.Replay lines, so a slow CPU run can be scored again under any policy
// and mode without the model.
package judge

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/realc-project/realc/runtime/chat"
	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
	"github.com/realc-project/realc/runtime/tokenizer"
)

// Chat families (Options.Chat, Config.Chat).
const (
	ChatQwen3     = "qwen3"      // Qwen3 ChatML with its <think> generation prompt
	ChatMistralV1 = "mistral-v1" // Mistral v1 [INST] ... [/INST] (mistral-common)
	ChatNone      = "none"       // the prompt as it is, after BOS when the tokenizer has one
)

// Chats lists the chat families, for usage messages.
var Chats = []string{ChatQwen3, ChatMistralV1, ChatNone}

// DefaultScores are the score strings of REAL's judges, in value order.
var DefaultScores = []string{"1", "2", "3", "4", "5"}

// Tokenizer is what a judge needs of a tokenizer; *tokenizer.Tokenizer has
// it (and the Mistral v1 format needs that type, which knows its pieces).
type Tokenizer interface {
	// Encode tokenizes text without adding special tokens (HF
	// add_special_tokens=False); added tokens written in the text are
	// recognized.
	Encode(text string) []int
	// PieceBytes is the bytes one token stands for in decoded text.
	PieceBytes(id int) ([]byte, error)
	// VocabSize is one more than the largest id.
	VocabSize() int
	// BOS is the beginning-of-sequence id, or -1.
	BOS() int
	// EOS is the end-of-sequence id, or -1.
	EOS() int
}

// Config is how New wires a loaded model and tokenizer into a judge.
type Config struct {
	// Chat is the prompt format: ChatQwen3, ChatMistralV1 or ChatNone.
	Chat string
	// NoThink is Qwen3's enable_thinking=false: an empty <think></think>
	// block in the generation prompt.
	NoThink bool
	// ScoreIDs are the ids of the score tokens, in value order (for
	// eval.Config.Values); see tokenizer.ScoreTokenIDs.
	ScoreIDs []int
	// EOS are the ids that end an output (not part of its text).
	EOS []int
	// LM, when set, runs the model instead of New's m on the host (m is
	// then read for its configuration only, never its weights): it returns
	// the model as a sample.LM serving up to caches caches of up to maxLen
	// tokens each, and a function that releases it, e.g. a GPU decoder
	// (runtime/cuda/gpumodel.LM). Sampling and ScoreProbs' teacher-forced
	// forward both run on it; the judge keeps one such LM, made anew only
	// when a call needs more caches or tokens, until Close.
	LM LMSource
}

// LMSource makes a sample.LM for up to caches caches of up to maxLen
// tokens each; done releases it.
type LMSource func(caches, maxLen int) (lm sample.LM, done func(), err error)

// WholeSeqLM is an LM from Config.LM that also gives the logits after a
// whole sequence from one forward pass (runtime/cuda/gpumodel.LM: the
// prefill kernels). ScoreProbs uses it when the LM has it: on a GPU one
// pass over the prompt and the output's tokens costs about what one
// decoding step does, where a cache would take a step per token.
type WholeSeqLM interface {
	sample.LM
	LastLogits(seq []int) ([]float32, error)
}

// Model is a judge over a runtime/model checkpoint: an eval.BatchJudge and
// eval.ProbJudge. It is safe for concurrent use.
type Model struct {
	M   *model.Model
	Tok Tokenizer
	cfg Config
	lm  sample.LM // the model restricted to the tokenizer's ids, for sampling

	// The last prompt's prefilled cache and the logits after it: the n
	// outputs of one item share the prompt, so ScoreProbs runs it through
	// the model once per item.
	mu         sync.Mutex
	lastPrompt []int
	lastCache  *model.KVCache
	lastLogits []float32

	// With Config.LM: the LM made last, its size, and the last prompt's
	// cache on it (ScoreProbs' prefix, cloned for each score slot).
	dev               sample.LM
	devDone           func()
	devCaches, devLen int
	devPrompt         []int
	devCache          sample.Cache
	devLogits         []float32
}

var (
	_ eval.BatchJudge = (*Model)(nil)
	_ eval.ProbJudge  = (*Model)(nil)
)

// New makes a judge of m and tok. It checks that the tokenizer fits the
// model, that every score and EOS id is inside both vocabularies, and that
// the chat family is known.
func New(m *model.Model, tok Tokenizer, c Config) (*Model, error) {
	if m == nil || tok == nil {
		return nil, fmt.Errorf("judge: a model and a tokenizer are both required")
	}
	v, tv := m.Cfg.Vocab, tok.VocabSize()
	if tv > v {
		return nil, fmt.Errorf("judge: the tokenizer has %d tokens but the model's vocabulary (vocab_size) is %d: they do not belong together", tv, v)
	}
	switch c.Chat {
	case ChatQwen3, ChatNone:
	case ChatMistralV1:
		if _, ok := tok.(*tokenizer.Tokenizer); !ok {
			return nil, fmt.Errorf("judge: chat %q encodes its pieces with a *tokenizer.Tokenizer, got %T", c.Chat, tok)
		}
	default:
		return nil, fmt.Errorf("judge: chat %q: want one of %v", c.Chat, Chats)
	}
	if len(c.ScoreIDs) == 0 {
		return nil, fmt.Errorf("judge: no score token ids")
	}
	for k, id := range c.ScoreIDs {
		if id < 0 || id >= tv {
			return nil, fmt.Errorf("judge: score token %d has id %d, outside the tokenizer's %d ids", k, id, tv)
		}
	}
	if len(c.EOS) == 0 {
		return nil, fmt.Errorf("judge: no EOS id ends an output (the model config, generation_config.json and the tokenizer name none); give one")
	}
	for _, id := range c.EOS {
		if id < 0 || id >= v {
			return nil, fmt.Errorf("judge: EOS id %d is outside the model's vocabulary [0, %d)", id, v)
		}
	}
	c.ScoreIDs, c.EOS = slices.Clone(c.ScoreIDs), slices.Clone(c.EOS)
	j := &Model{M: m, Tok: tok, cfg: c}
	j.lm = j.samplable(model.LM{M: m})
	return j, nil
}

// samplable restricts lm to the tokenizer's ids where the model's
// vocabulary is larger (padding rows no text can hold).
func (j *Model) samplable(lm sample.LM) sample.LM {
	if tv := j.Tok.VocabSize(); tv < j.M.Cfg.Vocab {
		return sample.Restrict(lm, tv)
	}
	return lm
}

// Close releases the LM a judge with Config.LM holds (a GPU's KV caches);
// the judge makes a new one if it is used again. A host judge has nothing
// to release.
func (j *Model) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.dropDevice()
}

// dropDevice releases the held prompt cache and LM (j.mu held).
func (j *Model) dropDevice() {
	j.dropDevPrompt()
	if j.devDone != nil {
		j.devDone()
	}
	j.dev, j.devDone, j.devCaches, j.devLen = nil, nil, 0, 0
}

// dropDevPrompt releases ScoreProbs' prompt cache, freeing its slot.
func (j *Model) dropDevPrompt() {
	if r, ok := j.devCache.(sample.Releaser); ok {
		r.Release()
	}
	j.devPrompt, j.devCache, j.devLogits = nil, nil, nil
}

// deviceLM returns Config.LM's model for caches caches of up to maxLen
// tokens, reusing the one held when it is large enough (j.mu held).
func (j *Model) deviceLM(caches, maxLen int) (sample.LM, error) {
	if j.dev != nil && caches <= j.devCaches && maxLen <= j.devLen {
		return j.dev, nil
	}
	caches, maxLen = max(caches, j.devCaches), max(maxLen, j.devLen)
	j.dropDevice()
	lm, done, err := j.cfg.LM(caches, maxLen)
	if err != nil {
		return nil, fmt.Errorf("judge: the model for %d sequences of up to %d tokens: %v", caches, maxLen, err)
	}
	if lm.Vocab() != j.M.Cfg.Vocab {
		if done != nil {
			done()
		}
		return nil, fmt.Errorf("judge: the LM has a vocabulary of %d, the model's config %d", lm.Vocab(), j.M.Cfg.Vocab)
	}
	if done == nil {
		done = func() {}
	}
	j.dev, j.devDone, j.devCaches, j.devLen = lm, done, caches, maxLen
	return lm, nil
}

// ScoreIDs returns the score token ids, in value order.
func (j *Model) ScoreIDs() []int { return slices.Clone(j.cfg.ScoreIDs) }

// EOS returns the ids that end an output.
func (j *Model) EOS() []int { return slices.Clone(j.cfg.EOS) }

// Chat returns the chat family.
func (j *Model) Chat() string { return j.cfg.Chat }

// Encode renders a judge prompt as one user turn in the chat format, with
// the generation prompt, and tokenizes it.
func (j *Model) Encode(prompt string) ([]int, error) {
	msgs := []chat.Message{{Role: "user", Content: prompt}}
	switch j.cfg.Chat {
	case ChatQwen3:
		text, err := chat.Qwen3(msgs, chat.QwenOptions{AddGenerationPrompt: true, DisableThinking: j.cfg.NoThink})
		if err != nil {
			return nil, err
		}
		return j.Tok.Encode(text), nil
	case ChatMistralV1:
		ids, _, _, err := chat.MistralV1(j.Tok.(*tokenizer.Tokenizer), msgs)
		return ids, err
	default:
		ids := j.Tok.Encode(prompt)
		if b := j.Tok.BOS(); b >= 0 {
			ids = append([]int{b}, ids...)
		}
		return ids, nil
	}
}

// output is a Generation's Ref: what ScoreProbs needs to teacher-force it.
type output struct {
	judge  *Model
	prompt []int
	tokens []int // generated tokens, EOS excluded
	stop   sample.StopReason
}

// Tokens returns the generated token ids of g (EOS excluded) and why it
// stopped, when g came from this judge.
func (j *Model) Tokens(g eval.Generation) ([]int, sample.StopReason, bool) {
	o, ok := g.Ref.(*output)
	if !ok || o.judge != j {
		return nil, "", false
	}
	return slices.Clone(o.tokens), o.stop, true
}

// seedFor gives each prompt its own sampling stream, whatever the batch it
// is sampled in.
func seedFor(seed uint64, prompt string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	return seed ^ h.Sum64()
}

// params maps the harness's sampling settings to the sampler's.
func params(s eval.Sampling) (sample.Params, error) {
	switch {
	case s.MaxTokens < 1:
		return sample.Params{}, fmt.Errorf("sampling max_tokens is %d, want at least 1", s.MaxTokens)
	case !(s.Temperature >= 0):
		return sample.Params{}, fmt.Errorf("sampling temperature is %v, want >= 0 (0: greedy)", s.Temperature)
	case !(s.TopP >= 0 && s.TopP <= 1):
		return sample.Params{}, fmt.Errorf("sampling top_p is %v, want 0 <= top_p <= 1 (0 or 1: no cut)", s.TopP)
	}
	return sample.Params{Temperature: s.Temperature, TopP: s.TopP, Greedy: s.Temperature == 0}, nil
}

// Generate samples n outputs for one prompt.
func (j *Model) Generate(ctx context.Context, prompt string, n int, s eval.Sampling) ([]eval.Generation, error) {
	out, err := j.GenerateBatch(ctx, []string{prompt}, n, s)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// GenerateBatch samples n outputs for each prompt. Prompts whose outputs
// may have the same length are sampled in one batch. An output stops at an
// EOS id, after s.MaxTokens tokens, or at the model's
// max_position_embeddings (as vLLM's max_model_len), whichever comes first;
// a prompt that leaves no room is an error naming it.
func (j *Model) GenerateBatch(ctx context.Context, prompts []string, n int, s eval.Sampling) ([][]eval.Generation, error) {
	if n < 1 {
		return nil, fmt.Errorf("judge: %d outputs per prompt asked, want at least 1", n)
	}
	p, err := params(s)
	if err != nil {
		return nil, fmt.Errorf("judge: %v", err)
	}
	ids := make([][]int, len(prompts))
	seeds := make([]uint64, len(prompts))
	// Prompts grouped by how many tokens they may generate.
	groups := map[int][]int{}
	var order []int
	for i, pr := range prompts {
		if ids[i], err = j.Encode(pr); err != nil {
			return nil, fmt.Errorf("judge: prompt %d of %d: %v", i, len(prompts), err)
		}
		if len(ids[i]) == 0 {
			return nil, fmt.Errorf("judge: prompt %d of %d encodes to no tokens (chat %q, no BOS): nothing to condition on", i, len(prompts), j.cfg.Chat)
		}
		seeds[i] = seedFor(s.Seed, pr)
		maxNew := s.MaxTokens
		if mp := j.M.Cfg.MaxPos; mp > 0 {
			if len(ids[i]) >= mp {
				return nil, fmt.Errorf("judge: prompt %d of %d has %d tokens with the chat template, at or past the model's max_position_embeddings %d (shorten it, or leave the item out)", i, len(prompts), len(ids[i]), mp)
			}
			maxNew = min(maxNew, mp-len(ids[i]))
		}
		if _, ok := groups[maxNew]; !ok {
			order = append(order, maxNew)
		}
		groups[maxNew] = append(groups[maxNew], i)
	}
	out := make([][]eval.Generation, len(prompts))
	if j.cfg.LM != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.dropDevPrompt() // every slot for the samples
	}
	for _, maxNew := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := groups[maxNew]
		gp, gs := make([][]int, len(idx)), make([]uint64, len(idx))
		longest := 0
		for k, i := range idx {
			gp[k], gs[k] = ids[i], seeds[i]
			longest = max(longest, len(ids[i]))
		}
		lm := j.lm
		if j.cfg.LM != nil {
			dev, err := j.deviceLM(len(idx)*n, longest+maxNew)
			if err != nil {
				return nil, err
			}
			lm = j.samplable(dev)
		}
		resps, err := sample.Generate(ctxLM{lm, ctx}, gp, sample.Options{Params: p, Seeds: gs, N: n, MaxNewTokens: maxNew, EOS: j.cfg.EOS})
		if err != nil {
			return nil, fmt.Errorf("judge: sampling: %w", err)
		}
		for k, i := range idx {
			for r, resp := range resps[k] {
				g, err := j.generation(ids[i], resp)
				if err != nil {
					return nil, fmt.Errorf("judge: prompt %d of %d, output %d: %v", i, len(prompts), r, err)
				}
				out[i] = append(out[i], g)
			}
		}
	}
	return out, nil
}

// ctxLM stops a generation between tokens once ctx is done (an
// interrupted `realc eval`).
type ctxLM struct {
	sample.LM
	ctx context.Context
}

func (l ctxLM) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	if err := l.ctx.Err(); err != nil {
		return nil, err
	}
	return l.LM.Forward(caches, toks)
}

// generation turns a sampled response into the harness's Generation: the
// text is the concatenated bytes of the tokens, so TokenStarts are exact.
func (j *Model) generation(prompt []int, r sample.Response) (eval.Generation, error) {
	toks := r.Tokens
	if r.StopReason == sample.StopEOS && len(toks) > 0 {
		toks = toks[:len(toks)-1]
	}
	var text []byte
	starts := make([]int, len(toks))
	for k, t := range toks {
		starts[k] = len(text)
		b, err := j.Tok.PieceBytes(t)
		if err != nil {
			return eval.Generation{}, fmt.Errorf("token %d (id %d): %v", k, t, err)
		}
		text = append(text, b...)
	}
	return eval.Generation{Text: string(text), TokenStarts: starts,
		Ref: &output{judge: j, prompt: prompt, tokens: slices.Clone(toks), stop: r.StopReason}}, nil
}

// ScoreProbs returns the full-vocabulary softmax probabilities of the score
// tokens at slot of g: the distribution after the prompt and the output's
// tokens before the slot's token. The blind slot (slot.Last) is the last
// generated token, the one before EOS; an output that is EOS alone has no
// such token, and its slot is the first position (the one that produced
// the EOS), so that REAL's blind policy still scores every output.
func (j *Model) ScoreProbs(_ context.Context, _ string, g eval.Generation, slot eval.Slot) ([]float64, error) {
	o, ok := g.Ref.(*output)
	if !ok || o.judge != j {
		return nil, fmt.Errorf("judge: this generation was not produced by this judge (Ref %T)", g.Ref)
	}
	t := slot.Token
	if slot.Last {
		t = max(len(o.tokens)-1, 0)
	}
	if t < 0 || (t >= len(o.tokens) && !(slot.Last && t == 0)) {
		return nil, fmt.Errorf("judge: score slot %d is outside the output's %d tokens", t, len(o.tokens))
	}
	logits, err := j.logitsAt(o.prompt, o.tokens[:t])
	if err != nil {
		return nil, err
	}
	return eval.ScoreProbs(logits, j.cfg.ScoreIDs)
}

// logitsAt returns the model's logits (every row of the LM head) after
// prompt followed by toks.
func (j *Model) logitsAt(prompt, toks []int) ([]float32, error) {
	if j.cfg.LM != nil {
		return j.deviceLogitsAt(prompt, toks)
	}
	cache, logits, err := j.prefill(prompt)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return logits, nil
	}
	out, err := j.M.Step([]*model.KVCache{cache}, [][]int{toks})
	if err != nil {
		return nil, fmt.Errorf("judge: teacher-forced forward: %v", err)
	}
	return out[0], nil
}

// prefill returns a copy of the prompt's cache and the logits after the
// prompt, running the prompt only when it differs from the last one.
func (j *Model) prefill(prompt []int) (*model.KVCache, []float32, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lastCache == nil || !slices.Equal(prompt, j.lastPrompt) {
		c := j.M.NewKVCache()
		out, err := j.M.Step([]*model.KVCache{c}, [][]int{prompt})
		if err != nil {
			return nil, nil, fmt.Errorf("judge: prompt forward: %v", err)
		}
		j.lastPrompt, j.lastCache, j.lastLogits = prompt, c, out[0]
	}
	return j.lastCache.CloneKV(), j.lastLogits, nil
}

// deviceLogitsAt is logitsAt on Config.LM's model: one pass over the
// prompt and tokens when the LM is a WholeSeqLM; else the prompt's cache is
// kept (the n outputs of an item share it) and cloned for the output's
// tokens, the clone released after.
func (j *Model) deviceLogitsAt(prompt, toks []int) ([]float32, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	lm, err := j.deviceLM(2, len(prompt)+len(toks))
	if err != nil {
		return nil, err
	}
	if w, ok := lm.(WholeSeqLM); ok {
		out, err := w.LastLogits(slices.Concat(prompt, toks))
		if err != nil {
			return nil, fmt.Errorf("judge: teacher-forced forward: %v", err)
		}
		return out, nil
	}
	if j.devCache == nil || !slices.Equal(prompt, j.devPrompt) {
		j.dropDevPrompt()
		c := lm.NewCache()
		out, err := lm.Forward([]sample.Cache{c}, [][]int{prompt})
		if err != nil {
			if r, ok := c.(sample.Releaser); ok {
				r.Release()
			}
			return nil, fmt.Errorf("judge: prompt forward: %v", err)
		}
		j.devPrompt, j.devCache, j.devLogits = slices.Clone(prompt), c, slices.Clone(out[0])
	}
	if len(toks) == 0 {
		return j.devLogits, nil
	}
	c := j.devCache.Clone()
	if r, ok := c.(sample.Releaser); ok {
		defer r.Release()
	}
	out, err := lm.Forward([]sample.Cache{c}, [][]int{toks})
	if err != nil {
		return nil, fmt.Errorf("judge: teacher-forced forward: %v", err)
	}
	return slices.Clone(out[0]), nil
}
