package eval

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/realc-project/realc/runtime/sample"
)

// LMJudge is a ProbJudge (and BatchJudge) over a causal language model
// behind runtime/sample's LM interface: it samples outputs with
// sample.Generate and reads the score slot by a teacher-forced forward of
// [prompt; output up to the slot]. The tokenizer and chat template stay the
// caller's, passed in as functions.
type LMJudge struct {
	LM sample.LM
	// Encode turns a judge prompt (the user turn) into the model's prompt
	// token ids, chat template and generation prompt included.
	Encode func(prompt string) ([]int, error)
	// Piece returns the bytes token id stands for (tokenizer.PieceBytes);
	// they are concatenated into the output text, so TokenStarts are exact.
	Piece func(id int) ([]byte, error)
	// EOS ends an output (and is not part of its text).
	EOS []int
	// ScoreIDs are the ids of the score tokens "1".."5", in value order.
	ScoreIDs []int

	// The last prompt's prefilled cache and its next-token logits: the n
	// outputs of an item share them, so the prompt runs through the model
	// once per item, not once per output.
	mu         sync.Mutex
	lastPrompt []int
	lastCache  sample.Cache
	lastLogits []float32
}

// lmOutput is what ScoreProbs needs of one generated output.
type lmOutput struct {
	prompt []int
	tokens []int // generated tokens, EOS excluded
}

// seedFor gives each prompt its own sampling stream, the same however the
// prompts are batched.
func seedFor(seed uint64, prompt string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	return seed ^ h.Sum64()
}

// Generate samples n outputs for one prompt.
func (j *LMJudge) Generate(ctx context.Context, prompt string, n int, s Sampling) ([]Generation, error) {
	out, err := j.GenerateBatch(ctx, []string{prompt}, n, s)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// GenerateBatch samples n outputs for each prompt in one batched generation.
func (j *LMJudge) GenerateBatch(_ context.Context, prompts []string, n int, s Sampling) ([][]Generation, error) {
	ids := make([][]int, len(prompts))
	seeds := make([]uint64, len(prompts))
	for i, p := range prompts {
		var err error
		if ids[i], err = j.Encode(p); err != nil {
			return nil, fmt.Errorf("encoding prompt %d: %v", i, err)
		}
		seeds[i] = seedFor(s.Seed, p)
	}
	resps, err := sample.Generate(j.LM, ids, sample.Options{
		Params:       sample.Params{Temperature: s.Temperature, TopP: s.TopP},
		Seeds:        seeds,
		N:            n,
		MaxNewTokens: s.MaxTokens,
		EOS:          j.EOS,
	})
	if err != nil {
		return nil, err
	}
	out := make([][]Generation, len(prompts))
	for i, rs := range resps {
		for _, r := range rs {
			toks := r.Tokens
			if r.StopReason == sample.StopEOS && len(toks) > 0 {
				toks = toks[:len(toks)-1]
			}
			var text []byte
			starts := make([]int, len(toks))
			for k, t := range toks {
				starts[k] = len(text)
				b, err := j.Piece(t)
				if err != nil {
					return nil, err
				}
				text = append(text, b...)
			}
			out[i] = append(out[i], Generation{Text: string(text), TokenStarts: starts, Ref: &lmOutput{ids[i], toks}})
		}
	}
	return out, nil
}

// ScoreProbs runs the prompt and the output up to the slot through the model
// and returns the full-vocabulary probabilities of the score tokens at the
// position that predicts the slot's token.
func (j *LMJudge) ScoreProbs(_ context.Context, _ string, g Generation, slot Slot) ([]float64, error) {
	o, ok := g.Ref.(*lmOutput)
	if !ok {
		return nil, fmt.Errorf("generation was not produced by this LMJudge")
	}
	t := slot.Token
	if slot.Last {
		t = len(o.tokens) - 1
	}
	if t < 0 || t >= len(o.tokens) {
		return nil, fmt.Errorf("score slot %d is outside the output's %d tokens", t, len(o.tokens))
	}
	cache, logits, err := j.prefill(o.prompt)
	if err != nil {
		return nil, err
	}
	if t > 0 {
		out, err := j.LM.Forward([]sample.Cache{cache}, [][]int{o.tokens[:t]})
		if err != nil {
			return nil, err
		}
		logits = out[0]
	}
	return ScoreProbs(logits, j.ScoreIDs)
}

// prefill returns a fresh copy of the prompt's cache and the logits after
// the prompt, running the prompt only when it differs from the last one.
func (j *LMJudge) prefill(prompt []int) (sample.Cache, []float32, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lastCache == nil || !slices.Equal(prompt, j.lastPrompt) {
		c := j.LM.NewCache()
		out, err := j.LM.Forward([]sample.Cache{c}, [][]int{prompt})
		if err != nil {
			return nil, nil, err
		}
		j.lastPrompt, j.lastCache, j.lastLogits = prompt, c, out[0]
	}
	return j.lastCache.Clone(), j.lastLogits, nil
}
