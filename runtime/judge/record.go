package judge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/realc-project/realc/runtime/eval"
)

// Recorded is one output in the form eval.Replay reads back (one element of
// a replay line's "outputs"), so that a slow model run can be scored again
// under every policy and mode without the model.
type Recorded struct {
	Text string `json:"text"`
	// Probs is the score-token distribution at the parsed score's slot;
	// absent when no score parses.
	Probs []float64 `json:"probs,omitempty"`
	// ProbsLast is the distribution at the last generated token (REAL's
	// blind slot).
	ProbsLast   []float64 `json:"probs_last"`
	TokenStarts []int     `json:"token_starts"`
}

// ReplayItem is one line of an eval.Replay file.
type ReplayItem struct {
	Benchmark string     `json:"benchmark"`
	Index     int        `json:"index"`
	Outputs   []Recorded `json:"outputs"`
}

// Record reads both score slots of g, the parsed one (as the count and drop
// policies do) and the blind one, and returns g in replay form.
func (j *Model) Record(ctx context.Context, prompt string, g eval.Generation) (Recorded, error) {
	r := Recorded{Text: g.Text, TokenStarts: g.TokenStarts}
	if r.TokenStarts == nil {
		r.TokenStarts = []int{}
	}
	var err error
	if p := eval.ParseScore(g.Text); !math.IsNaN(p.Score) {
		slot := eval.Slot{Token: eval.TokenAt(g.TokenStarts, p.Offset), Offset: p.Offset}
		if r.Probs, err = j.ScoreProbs(ctx, prompt, g, slot); err != nil {
			return r, err
		}
	}
	r.ProbsLast, err = j.ScoreProbs(ctx, prompt, g, eval.Slot{Token: len(g.TokenStarts) - 1, Offset: -1, Last: true})
	return r, err
}

// RecordBenchmark samples n outputs for every item of b, batch prompts at a
// time, and writes them to w as eval.Replay lines (`realc eval --responses`
// plays them back). eval.Replay expects five score tokens, so the judge
// must have five.
func (j *Model) RecordBenchmark(ctx context.Context, w io.Writer, b eval.Benchmark, n int, s eval.Sampling, batch int) error {
	if len(j.cfg.ScoreIDs) != len(eval.DefaultScoreValues) {
		return fmt.Errorf("judge: a replay file holds %d score probabilities per slot, this judge has %d score tokens", len(eval.DefaultScoreValues), len(j.cfg.ScoreIDs))
	}
	batch = max(batch, 1)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for start := 0; start < len(b.Prompts); start += batch {
		end := min(start+batch, len(b.Prompts))
		gens, err := j.GenerateBatch(ctx, b.Prompts[start:end], n, s)
		if err != nil {
			return fmt.Errorf("%s items %d..%d: %v", b.Name, start, end-1, err)
		}
		for k, gs := range gens {
			i := start + k
			item := ReplayItem{Benchmark: b.Name, Index: i}
			for _, g := range gs {
				r, err := j.Record(ctx, b.Prompts[i], g)
				if err != nil {
					return fmt.Errorf("%s item %d: %v", b.Name, i, err)
				}
				item.Outputs = append(item.Outputs, r)
			}
			if err := enc.Encode(item); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}
