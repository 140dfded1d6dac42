// Package recipe is the runtime side of a generated recipe: the batch layout
// its kernels read, the state its stage functions fill, and the engine that
// runs the score, filter, advantage and loss stages around the fused row
// epilogue (runtime/fused) for both entry points: logits given directly, or
// hidden states and the LM head.
package recipe

import (
	"fmt"

	"github.com/realc-project/realc/runtime/fused/batch"
)

// Layout is a batch flattened for kernels: groups of sequences of response
// tokens, every per-token array indexed by the global token index (sequences
// in order, their tokens in order), per-sequence arrays by sequence index.
type Layout struct {
	V           int
	ScoreTokens []int32   // token id of each score value
	ScoreValues []float64 // the recipe's score values
	G, S, T     int
	SeqGroup    []int32 // sequence -> group
	GroupOff    []int32 // group g owns sequences [GroupOff[g], GroupOff[g+1])
	TokOff      []int32 // sequence s owns tokens [TokOff[s], TokOff[s+1])
	TokSeq      []int32 // token -> sequence
	Tokens      []int32 // token ids: the target of each token row

	// Leaves (compiler.Leaves). Region leaves are 0/1 times the mask.
	Mask, Cot, Answer, OldLogp, RefLogp []float64 // per token; OldLogp/RefLogp nil when absent
	Pred, Acc, Len, Truncated, FormatOK []float64 // per sequence
	Y                                   []float64 // per group

	SeqPath []string // JSON path of each sequence, for messages
}

// FromBatch flattens an eval-loss batch; it also returns the fp32 logits of
// the token rows [T x V] and of the score rows [S x V] (zeros where a
// sequence has no score_logits). It checks that the batch has what meta uses.
func FromBatch(b *batch.Batch, meta *Meta) (l *Layout, tok, score []float32, err error) {
	// The same check and words as the reference evaluator (realc eval-loss):
	// a logit that is not finite in float32 is refused by its JSON path.
	if err := b.CheckLogits(); err != nil {
		return nil, nil, nil, err
	}
	l = &Layout{V: b.Vocab, ScoreValues: meta.ScoreValues, G: len(b.Groups)}
	if meta.ScoreReadouts {
		if len(b.ScoreTokens) != len(meta.ScoreValues) {
			return nil, nil, nil, fmt.Errorf("score_tokens: expected %d token ids (one per score value of recipe %s), got %d", len(meta.ScoreValues), meta.Name, len(b.ScoreTokens))
		}
	}
	for _, id := range b.ScoreTokens {
		l.ScoreTokens = append(l.ScoreTokens, int32(id))
	}
	for g, grp := range b.Groups {
		l.GroupOff = append(l.GroupOff, int32(l.S))
		l.Y = append(l.Y, grp.Y)
		for j, s := range grp.Seqs {
			path := batch.SeqPath(g, j)
			l.SeqPath = append(l.SeqPath, path)
			l.SeqGroup = append(l.SeqGroup, int32(g))
			l.TokOff = append(l.TokOff, int32(l.T))
			if meta.OldLogp && s.OldLogp == nil {
				return nil, nil, nil, fmt.Errorf("%s.old_logp: missing; recipe %s uses old_logp", path, meta.Name)
			}
			if meta.RefLogp && s.RefLogp == nil {
				return nil, nil, nil, fmt.Errorf("%s.ref_logp: missing; recipe %s uses ref_logp", path, meta.Name)
			}
			if meta.ScoreReadouts && s.ScoreLogits == nil {
				return nil, nil, nil, fmt.Errorf("%s.score_logits: missing; recipe %s reads the score slot", path, meta.Name)
			}
			for _, reg := range meta.Regions {
				if _, ok := s.Regions[reg]; !ok {
					return nil, nil, nil, fmt.Errorf("%s.regions.%s: missing; recipe %s uses the region %s", path, reg, meta.Name, reg)
				}
			}
			var n float64
			for t, id := range s.Tokens {
				m := 1.0
				if s.Mask != nil {
					m = s.Mask[t]
				}
				n += m
				in := func(reg string) float64 {
					r, ok := s.Regions[reg]
					if ok && t >= r[0] && t < r[1] {
						return m
					}
					return 0
				}
				l.Tokens = append(l.Tokens, int32(id))
				l.TokSeq = append(l.TokSeq, int32(l.S))
				l.Mask = append(l.Mask, m)
				l.Cot = append(l.Cot, in("cot"))
				l.Answer = append(l.Answer, in("answer"))
				if s.OldLogp != nil {
					l.OldLogp = append(l.OldLogp, s.OldLogp[t])
				}
				if s.RefLogp != nil {
					l.RefLogp = append(l.RefLogp, s.RefLogp[t])
				}
				if len(s.Logits) != len(s.Tokens) {
					return nil, nil, nil, fmt.Errorf("%s.logits: expected %d rows, got %d", path, len(s.Tokens), len(s.Logits))
				}
				for _, x := range s.Logits[t] {
					tok = append(tok, float32(x))
				}
			}
			if len(l.OldLogp) != 0 && len(l.OldLogp) != l.T+len(s.Tokens) {
				return nil, nil, nil, fmt.Errorf("%s.old_logp: present on some sequences only", path)
			}
			if len(l.RefLogp) != 0 && len(l.RefLogp) != l.T+len(s.Tokens) {
				return nil, nil, nil, fmt.Errorf("%s.ref_logp: present on some sequences only", path)
			}
			l.T += len(s.Tokens)
			l.Pred = append(l.Pred, s.Pred)
			l.Acc = append(l.Acc, s.Acc)
			l.Len = append(l.Len, n)
			l.Truncated = append(l.Truncated, s.Truncated)
			l.FormatOK = append(l.FormatOK, s.FormatOK)
			if s.ScoreLogits != nil {
				for _, x := range s.ScoreLogits {
					score = append(score, float32(x))
				}
			} else {
				score = append(score, make([]float32, b.Vocab)...)
			}
			l.S++
		}
	}
	l.GroupOff = append(l.GroupOff, int32(l.S))
	l.TokOff = append(l.TokOff, int32(l.T))
	return l, tok, score, l.Check()
}

// Check validates the layout's internal consistency (for layouts built by
// hand, e.g. by a trainer), naming the first bad field.
func (l *Layout) Check() error {
	switch {
	case l.V <= 0:
		return fmt.Errorf("layout: vocabulary size %d", l.V)
	case len(l.GroupOff) != l.G+1 || len(l.Y) != l.G:
		return fmt.Errorf("layout: GroupOff has %d entries and Y %d, want %d and %d", len(l.GroupOff), len(l.Y), l.G+1, l.G)
	case len(l.TokOff) != l.S+1 || len(l.SeqGroup) != l.S:
		return fmt.Errorf("layout: TokOff has %d entries and SeqGroup %d, want %d and %d", len(l.TokOff), len(l.SeqGroup), l.S+1, l.S)
	case len(l.TokSeq) != l.T || len(l.Tokens) != l.T || len(l.Mask) != l.T || len(l.Cot) != l.T || len(l.Answer) != l.T:
		return fmt.Errorf("layout: per-token arrays must have T=%d entries", l.T)
	case len(l.Pred) != l.S || len(l.Acc) != l.S || len(l.Len) != l.S || len(l.Truncated) != l.S || len(l.FormatOK) != l.S:
		return fmt.Errorf("layout: per-sequence arrays must have S=%d entries", l.S)
	}
	for i, id := range l.ScoreTokens {
		if id < 0 || int(id) >= l.V {
			return fmt.Errorf("score_tokens[%d]: id %d outside the vocabulary [0, %d)", i, id, l.V)
		}
	}
	for t, id := range l.Tokens {
		if id < 0 || int(id) >= l.V {
			return fmt.Errorf("%s: token id %d outside the vocabulary [0, %d)", l.tokPath(t), id, l.V)
		}
	}
	return nil
}

func (l *Layout) tokPath(t int) string {
	s := int(l.TokSeq[t])
	if s < len(l.SeqPath) {
		return fmt.Sprintf("%s.tokens[%d]", l.SeqPath[s], t-int(l.TokOff[s]))
	}
	return fmt.Sprintf("token %d", t)
}

func (l *Layout) seqPath(s int) string {
	if s < len(l.SeqPath) {
		return l.SeqPath[s]
	}
	return fmt.Sprintf("sequence %d", s)
}
