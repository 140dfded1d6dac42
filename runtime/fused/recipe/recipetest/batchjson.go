package recipetest

import (
	"encoding/json"
	"math"

	"github.com/realc-project/realc/compiler"
)

// BatchJSON writes a batch in the eval-loss input format (what
// compiler.ParseBatch reads).
func BatchJSON(b *compiler.Batch) ([]byte, error) {
	type seq struct {
		Tokens      []int             `json:"tokens"`
		Regions     map[string][2]int `json:"regions"`
		Logits      [][]float64       `json:"logits"`
		OldLogp     []float64         `json:"old_logp,omitempty"`
		RefLogp     []float64         `json:"ref_logp,omitempty"`
		Mask        []float64         `json:"mask,omitempty"`
		ScoreLogits []float64         `json:"score_logits,omitempty"`
		Acc         float64           `json:"acc"`
		Pred        *float64          `json:"pred"`
		Truncated   float64           `json:"truncated"`
		FormatOK    float64           `json:"format_ok"`
	}
	type group struct {
		Y    float64 `json:"y"`
		Seqs []seq   `json:"seqs"`
	}
	out := struct {
		Vocab       int                `json:"vocab"`
		ScoreTokens []int              `json:"score_tokens"`
		Hyper       map[string]float64 `json:"hyper,omitempty"`
		Groups      []group            `json:"groups"`
	}{Vocab: b.Vocab, ScoreTokens: b.ScoreTokens, Hyper: b.Hyper}
	for _, g := range b.Groups {
		gg := group{Y: g.Y}
		for _, s := range g.Seqs {
			ss := seq{Tokens: s.Tokens, Regions: s.Regions, Logits: s.Logits, OldLogp: s.OldLogp, RefLogp: s.RefLogp,
				Mask: s.Mask, ScoreLogits: s.ScoreLogits, Acc: s.Acc, Truncated: s.Truncated, FormatOK: s.FormatOK}
			if !math.IsNaN(s.Pred) {
				p := s.Pred
				ss.Pred = &p
			}
			gg.Seqs = append(gg.Seqs, ss)
		}
		out.Groups = append(out.Groups, gg)
	}
	return json.Marshal(out)
}
