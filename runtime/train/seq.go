package train

import (
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/realc-project/realc/runtime/fused/recipe"
)

// Seq is one response as the update sees it: the prompt, and the tokens
// whose log-probabilities are read (Resp[j] is predicted from
// Prompt+Resp[:j]). For recipes that read the score slot it is REAL's
// teacher-forced [cot; y] (objectives.md 1.2); otherwise the response as
// sampled, its EOS included.
type Seq struct {
	Prompt []int     `json:"prompt"`
	Resp   []int     `json:"resp"`
	Cot    [2]int    `json:"cot"`    // half-open range in Resp
	Answer [2]int    `json:"answer"` // half-open range in Resp (empty when no score)
	Slot   int       `json:"slot"`   // index in Resp of the score token (-1: none)
	Pred   *float64  `json:"pred"`   // the parsed score, nil when none
	Acc    float64   `json:"acc"`
	Trunc  float64   `json:"truncated"`
	Format float64   `json:"format_ok"`
	Gen    int       `json:"gen"` // tokens the policy generated (EOS included)
	Old    []float64 `json:"old_logp,omitempty"`
	Ref    []float64 `json:"ref_logp,omitempty"`
}

// Group is one prompt's responses.
type Group struct {
	Example int     `json:"example"` // index into the training examples
	Y       float64 `json:"y"`
	Seqs    []*Seq  `json:"seqs"`
	// pos orders groups across ranks: step*prompts_per_step + position in
	// the step (negative for a resumed buffer's groups, ahead of new ones).
	pos int
}

// parsed is where the score was found in a generated output.
type parsed struct {
	slot     int // token index of the score, -1 when none
	score    float64
	formatOK bool
}

// scorer finds the score in outputs: the recipe's marker followed by one of
// its score strings, which must be exactly one token.
type scorer struct {
	marker  string
	strs    []string
	values  []float64
	ids     []int
	pieceOf func(id int) ([]byte, error)
}

// parse reads the score after the last marker in the decoded tokens (EOS
// excluded). The score must start a token and be that token whole.
func (s *scorer) parse(toks []int) (parsed, error) {
	p := parsed{slot: -1, score: math.NaN()}
	var text []byte
	starts := make([]int, len(toks))
	for i, t := range toks {
		starts[i] = len(text)
		b, err := s.pieceOf(t)
		if err != nil {
			return p, fmt.Errorf("token %d (id %d): %v", i, t, err)
		}
		text = append(text, b...)
	}
	at := strings.LastIndex(string(text), s.marker)
	if at < 0 {
		return p, nil
	}
	off := at + len(s.marker)
	for i, st := range starts {
		if st < off {
			continue
		}
		if st > off {
			break
		}
		for k, id := range s.ids {
			if toks[i] == id {
				p.slot, p.score = i, s.values[k]
				rest := string(text[off+len(s.strs[k]):])
				p.formatOK = strings.TrimRightFunc(rest, unicode.IsSpace) == ""
			}
		}
	}
	return p, nil
}

// stripEOS returns the generated tokens without a final EOS.
func stripEOS(toks []int, eos []int, stoppedByEOS bool) []int {
	if stoppedByEOS && len(toks) > 0 {
		for _, e := range eos {
			if toks[len(toks)-1] == e {
				return toks[:len(toks)-1]
			}
		}
	}
	return toks
}

// rlSeq builds the sequence of one sampled response. With teacherForce (the
// recipe reads the score slot) it is [cot; y_tok]: the CoT up to the score
// token (REAL's blind read, the token before EOS, when no score was parsed)
// and the ground truth's score token in the slot; otherwise the tokens as
// sampled, EOS included.
func (s *scorer) rlSeq(prompt, toks []int, eos []int, stoppedByEOS, truncated bool, y float64, teacherForce bool) (*Seq, error) {
	gen := stripEOS(toks, eos, stoppedByEOS)
	p, err := s.parse(gen)
	if err != nil {
		return nil, err
	}
	sq := &Seq{Prompt: prompt, Slot: p.slot, Gen: len(toks)}
	if p.slot >= 0 {
		v := p.score
		sq.Pred = &v
		if v == y {
			sq.Acc = 1
		}
	}
	if truncated {
		sq.Trunc = 1
	}
	if p.formatOK {
		sq.Format = 1
	}
	if teacherForce {
		k := scoreIndex(s.values, y)
		if k < 0 {
			return nil, fmt.Errorf("ground truth %v is not a score value %v", y, s.values)
		}
		slot := p.slot
		if slot < 0 {
			slot = max(len(gen)-1, 0)
		}
		sq.Resp = append(append(make([]int, 0, slot+1), gen[:slot]...), s.ids[k])
		sq.Cot, sq.Answer, sq.Slot = [2]int{0, slot}, [2]int{slot, slot + 1}, slot
		return sq, nil
	}
	sq.Resp = append([]int(nil), toks...)
	if p.slot >= 0 {
		sq.Cot, sq.Answer = [2]int{0, p.slot}, [2]int{p.slot, p.slot + 1}
	} else {
		sq.Cot, sq.Answer = [2]int{0, len(gen)}, [2]int{len(gen), len(gen)}
	}
	return sq, nil
}

// sftSeq builds the supervised sequence of a gold output: its tokens and
// EOS, the score token at the slot.
func (s *scorer) sftSeq(prompt, target []int, eos int, y float64) (*Seq, error) {
	p, err := s.parse(target)
	if err != nil {
		return nil, err
	}
	if p.slot < 0 {
		return nil, fmt.Errorf("the gold output has no score token after %q", s.marker)
	}
	k := scoreIndex(s.values, y)
	resp := append(append([]int(nil), target...), eos)
	resp[p.slot] = s.ids[k]
	v := y
	return &Seq{Prompt: prompt, Resp: resp, Cot: [2]int{0, p.slot}, Answer: [2]int{p.slot, p.slot + 1}, Slot: p.slot,
		Pred: &v, Acc: 1, Format: 1, Gen: len(resp)}, nil
}

// layout flattens groups for the recipe's kernels.
func layout(m *recipe.Meta, groups []*Group, vocab int, scoreIDs []int) *recipe.Layout {
	l := &recipe.Layout{V: vocab, ScoreValues: m.ScoreValues, G: len(groups)}
	for _, id := range scoreIDs {
		l.ScoreTokens = append(l.ScoreTokens, int32(id))
	}
	for g, grp := range groups {
		l.GroupOff = append(l.GroupOff, int32(l.S))
		l.Y = append(l.Y, grp.Y)
		for j, sq := range grp.Seqs {
			l.SeqPath = append(l.SeqPath, fmt.Sprintf("group %d (example %d), response %d", g, grp.Example, j))
			l.SeqGroup = append(l.SeqGroup, int32(g))
			l.TokOff = append(l.TokOff, int32(l.T))
			for t, id := range sq.Resp {
				in := func(r [2]int) float64 {
					if t >= r[0] && t < r[1] {
						return 1
					}
					return 0
				}
				l.Tokens = append(l.Tokens, int32(id))
				l.TokSeq = append(l.TokSeq, int32(l.S))
				l.Mask = append(l.Mask, 1)
				l.Cot = append(l.Cot, in(sq.Cot))
				l.Answer = append(l.Answer, in(sq.Answer))
				if m.OldLogp {
					l.OldLogp = append(l.OldLogp, at(sq.Old, t))
				}
				if m.RefLogp {
					l.RefLogp = append(l.RefLogp, at(sq.Ref, t))
				}
			}
			l.T += len(sq.Resp)
			pred := math.NaN()
			if sq.Pred != nil {
				pred = *sq.Pred
			}
			l.Pred = append(l.Pred, pred)
			l.Acc = append(l.Acc, sq.Acc)
			l.Len = append(l.Len, float64(len(sq.Resp)))
			l.Truncated = append(l.Truncated, sq.Trunc)
			l.FormatOK = append(l.FormatOK, sq.Format)
			l.S++
		}
	}
	l.GroupOff = append(l.GroupOff, int32(l.S))
	l.TokOff = append(l.TokOff, int32(l.T))
	return l
}

func at(x []float64, i int) float64 {
	if i < len(x) {
		return x[i]
	}
	return 0
}
