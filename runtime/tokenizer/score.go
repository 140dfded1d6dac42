package tokenizer

import (
	"fmt"
	"slices"
)

// scoreContext is the text a judge writes before its score (Prometheus style).
const scoreContext = "So the overall score is "

// ScoreTokenIDs returns, for each score string ("1".."5"), the one token id
// the tokenizer gives it when it follows "So the overall score is " (Qwen3:
// "1" -> 16; Mistral: "1" -> 28740, after a separate "▁" token). The context's
// tokens must be unchanged and the score must add exactly one token: otherwise
// the score cannot be read from a single next-token distribution, and that is
// an error.
func (t *Tokenizer) ScoreTokenIDs(scores []string) ([]int, error) {
	base := t.Encode(scoreContext)
	out := make([]int, len(scores))
	for i, s := range scores {
		ids := t.Encode(scoreContext + s)
		if s == "" || len(ids) != len(base)+1 || !slices.Equal(ids[:len(base)], base) {
			return nil, fmt.Errorf("tokenizer %s: score %q is not a single token after %q (the text encodes to %q)",
				t.source, s, scoreContext, t.Tokens(ids))
		}
		out[i] = ids[len(base)]
	}
	return out, nil
}
