package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Sampling holds the settings for sampling CoTs (REAL's validation: one CoT,
// temperature 1.0, top-p 0.9).
type Sampling struct {
	Temperature float64 `json:"temperature"`
	TopP        float64 `json:"top_p"`
	MaxTokens   int     `json:"max_tokens"`
	Seed        uint64  `json:"seed"`
}

// DefaultSampling is REAL's validation sampling.
var DefaultSampling = Sampling{Temperature: 1.0, TopP: 0.9, MaxTokens: 1024, Seed: 1}

// Generation is one sampled output of a judge.
type Generation struct {
	Text string
	// TokenStarts[i] is the byte offset in Text where generated token i
	// starts (EOS excluded); nil when the judge cannot tell.
	TokenStarts []int
	// Ref is the judge's own data about this output (for ScoreProbs).
	Ref any
}

// Slot says where the score is read.
type Slot struct {
	// Token is the index of the generated token that holds the score digit
	// (the distribution wanted is the one predicting it, i.e. the logits at
	// Token-1 of the generated part), or -1 when unknown.
	Token int
	// Offset is the byte offset of the score digit in the text, -1 for Last.
	Offset int
	// Last is REAL's blind read: the last generated token (the one before EOS).
	Last bool
}

// Judge samples outputs for judge prompts.
type Judge interface {
	// Generate samples n outputs for one judge prompt (the user turn; the chat
	// template is the judge's business).
	Generate(ctx context.Context, prompt string, n int, s Sampling) ([]Generation, error)
}

// BatchJudge is a Judge that samples for several prompts in one call (an
// engine that batches on the GPU); Run uses it when Config.Batch > 1.
type BatchJudge interface {
	Judge
	// GenerateBatch returns n outputs for each prompt, in order.
	GenerateBatch(ctx context.Context, prompts []string, n int, s Sampling) ([][]Generation, error)
}

// ProbJudge is a Judge that also gives the score-slot distribution, for the
// RAIL expected score.
type ProbJudge interface {
	Judge
	// ScoreProbs returns the full-vocabulary softmax probabilities of the
	// score tokens (in the order of the score values, "1".."5") at slot of g,
	// teacher-forced on prompt + g under the model.
	ScoreProbs(ctx context.Context, prompt string, g Generation, slot Slot) ([]float64, error)
}

// Replay is a ProbJudge that plays back recorded outputs (from another
// engine, or an earlier run), for scoring without a model. Each line of its
// JSON Lines file is one item:
//
//	{"benchmark": "mt_bench_evaluation", "index": 0,
//	 "outputs": [{"text": "Feedback: ... So the overall score is 4",
//	              "probs": [p1, p2, p3, p4, p5], "probs_last": [...], "token_starts": [0, 9, ...]}]}
//
// benchmark is the benchmark's name (its data_source, or the file's base
// name), index the item's position in the benchmark file. probs is the
// score-token distribution at the parsed score slot, probs_last at the token
// before EOS (for the blind policy); both are optional (decode mode needs
// neither).
type Replay struct {
	items map[string][]replayOutput // key: benchmark + "\x00" + index
	bench string                    // the item the next Generate plays back (SetItem)
	index int
}

type replayOutput struct {
	Text        string    `json:"text"`
	Probs       []float64 `json:"probs"`
	ProbsLast   []float64 `json:"probs_last"`
	TokenStarts []int     `json:"token_starts"`
}

// ItemSetter is implemented by judges that need to know which benchmark item
// a prompt belongs to (Replay); the harness calls SetItem before Generate.
type ItemSetter interface {
	SetItem(benchmark string, index int)
}

// LoadReplay reads a replay file. Errors name the line and field.
func LoadReplay(path string) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &Replay{items: map[string][]replayOutput{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var rec struct {
			Benchmark *string        `json:"benchmark"`
			Index     *int           `json:"index"`
			Outputs   []replayOutput `json:"outputs"`
		}
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %v (want {\"benchmark\", \"index\", \"outputs\": [{\"text\", \"probs\", \"probs_last\", \"token_starts\"}]})", path, line, err)
		}
		if rec.Benchmark == nil || rec.Index == nil {
			return nil, fmt.Errorf("%s:%d: missing \"benchmark\" or \"index\"", path, line)
		}
		if len(rec.Outputs) == 0 {
			return nil, fmt.Errorf("%s:%d: \"outputs\" is empty", path, line)
		}
		for k, o := range rec.Outputs {
			for _, ps := range []struct {
				name string
				p    []float64
			}{{"probs", o.Probs}, {"probs_last", o.ProbsLast}} {
				if ps.p != nil && len(ps.p) != len(DefaultScoreValues) {
					return nil, fmt.Errorf("%s:%d: outputs[%d].%s has %d values, want %d (one per score token)", path, line, k, ps.name, len(ps.p), len(DefaultScoreValues))
				}
			}
		}
		key := replayKey(*rec.Benchmark, *rec.Index)
		if _, dup := r.items[key]; dup {
			return nil, fmt.Errorf("%s:%d: item %s #%d appears twice", path, line, *rec.Benchmark, *rec.Index)
		}
		r.items[key] = rec.Outputs
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return r, nil
}

func replayKey(bench string, index int) string { return fmt.Sprintf("%s\x00%d", bench, index) }

// SetItem selects the item the next Generate plays back.
func (r *Replay) SetItem(bench string, index int) { r.bench, r.index = bench, index }

// Generate returns the first n recorded outputs of the current item.
func (r *Replay) Generate(_ context.Context, _ string, n int, _ Sampling) ([]Generation, error) {
	outs, ok := r.items[replayKey(r.bench, r.index)]
	if !ok {
		return nil, fmt.Errorf("replay has no outputs for %s item %d", r.bench, r.index)
	}
	if len(outs) < n {
		return nil, fmt.Errorf("replay has %d output(s) for %s item %d, %d asked (lower --n)", len(outs), r.bench, r.index, n)
	}
	gs := make([]Generation, n)
	for i := range gs {
		o := outs[i]
		gs[i] = Generation{Text: o.Text, TokenStarts: o.TokenStarts, Ref: &outs[i]}
	}
	return gs, nil
}

// ScoreProbs returns the recorded distribution for the slot.
func (r *Replay) ScoreProbs(_ context.Context, _ string, g Generation, slot Slot) ([]float64, error) {
	o, ok := g.Ref.(*replayOutput)
	if !ok {
		return nil, fmt.Errorf("generation was not produced by this replay")
	}
	p := o.Probs
	if slot.Last {
		p = o.ProbsLast
	}
	if p == nil {
		name := "probs"
		if slot.Last {
			name = "probs_last"
		}
		return nil, fmt.Errorf("replay output for %s item %d has no %q (use --mode decode, or record it)", r.bench, r.index, name)
	}
	return p, nil
}
