package train

import (
	"github.com/realc-project/realc/runtime/fused"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
)

// micro is a micro-batch: sequences forwarded together, padded on the right
// to the longest.
type micro struct {
	seqs []*Seq
	T    int // padded length of the forward (prompt + response - 1)
}

func inputLen(s *Seq) int { return len(s.Prompt) + len(s.Resp) - 1 }

// planMicros splits seqs, in order, into micro-batches of at most maxTokens
// padded tokens (B*T); a sequence longer than that goes alone. maxTokens <= 0
// means one micro-batch.
func planMicros(seqs []*Seq, maxTokens int) []micro {
	var out []micro
	cur := micro{}
	for _, s := range seqs {
		L := inputLen(s)
		if len(cur.seqs) > 0 && maxTokens > 0 && (len(cur.seqs)+1)*max(cur.T, L) > maxTokens {
			out = append(out, cur)
			cur = micro{}
		}
		cur.seqs = append(cur.seqs, s)
		cur.T = max(cur.T, L)
	}
	if len(cur.seqs) > 0 {
		out = append(out, cur)
	}
	return out
}

func (mb micro) batch() *model.Batch {
	b := &model.Batch{B: len(mb.seqs), T: mb.T, Tokens: make([]int, len(mb.seqs)*mb.T), Mask: make([]bool, len(mb.seqs)*mb.T)}
	for i, s := range mb.seqs {
		row := b.Tokens[i*mb.T:]
		n := copy(row, s.Prompt)
		copy(row[n:], s.Resp[:len(s.Resp)-1])
		for t := 0; t < inputLen(s); t++ {
			b.Mask[i*mb.T+t] = true
		}
	}
	return b
}

// rowMap says, for each of the layout's T token rows and S score rows,
// which micro-batch holds its hidden state and at which row.
type rowMap struct {
	micro []int32
	row   []int32
}

func mapRows(micros []micro) rowMap {
	var rm rowMap
	var score rowMap
	for mi, mb := range micros {
		for b, s := range mb.seqs {
			base := b*mb.T + len(s.Prompt) - 1
			for j := range s.Resp {
				rm.micro = append(rm.micro, int32(mi))
				rm.row = append(rm.row, int32(base+j))
			}
			slot := max(s.Slot, 0)
			score.micro = append(score.micro, int32(mi))
			score.row = append(score.row, int32(base+slot))
		}
	}
	rm.micro = append(rm.micro, score.micro...)
	rm.row = append(rm.row, score.row...)
	return rm
}

// Evaluator runs a recipe over groups of sequences on a model: forward per
// micro-batch, the fused loss from hidden states over the whole mini-batch
// (its normalizers and group statistics see every sequence), then backward
// per micro-batch.
type Evaluator struct {
	Prog      recipe.Program
	Hyper     []float64
	ScoreIDs  []int
	MaxTokens int // padded tokens per micro-batch (0: one micro-batch)
	Fused     fused.Options
}

// Eval runs the recipe on groups under m. With g non-nil it adds the loss's
// parameter gradients into g. Micro-batches other than the last are
// forwarded twice when there are several (their activations are not kept).
func (e *Evaluator) Eval(m *model.Model, g *model.Model, groups []*Group) (*recipe.Output, error) {
	out, _, err := e.eval(m, g, groups, false, nil)
	return out, err
}

// EvalFrozen is Eval with the score, filter and advantage stages taken from
// frozen (State.Freeze of a Score over these groups, or a larger set of
// groups they are a slice of): REAL's advantages, computed once per buffer.
func (e *Evaluator) EvalFrozen(m *model.Model, g *model.Model, groups []*Group, frozen *recipe.Frozen) (*recipe.Output, error) {
	out, _, err := e.eval(m, g, groups, false, frozen)
	return out, err
}

// Score is the no-gradient pass of stage 1: from the same forward it also
// reads every response token's log-prob (stored as the sequences' old_logp
// when the recipe reads it) and entropy, which it returns per token.
func (e *Evaluator) Score(m *model.Model, groups []*Group) (*recipe.Output, []float64, error) {
	return e.eval(m, nil, groups, true, nil)
}

func (e *Evaluator) eval(m *model.Model, g *model.Model, groups []*Group, score bool, frozen *recipe.Frozen) (*recipe.Output, []float64, error) {
	meta := e.Prog.Meta()
	var seqs []*Seq
	for _, grp := range groups {
		seqs = append(seqs, grp.Seqs...)
	}
	l := layout(meta, groups, m.Cfg.Vocab, e.ScoreIDs)
	micros := planMicros(seqs, e.MaxTokens)
	rm := mapRows(micros)
	d := m.Cfg.Dim
	n := l.T + l.S
	H, last, err := hiddenRows(m, micros, rm, n)
	if err != nil {
		return nil, nil, err
	}
	var entropy []float64
	if score {
		var logp []float64
		if logp, entropy, err = tokenStats(m, H[:l.T*d], l.Tokens, e.Fused); err != nil {
			return nil, nil, err
		}
		if meta.OldLogp {
			off := 0
			for _, s := range seqs {
				s.Old = logp[off : off+len(s.Resp)]
				off += len(s.Resp)
			}
			l.OldLogp = logp
		}
	}
	prob := &fused.Problem{N: n, D: d, V: m.Cfg.Vocab, H: H, W: m.Head}
	if g != nil {
		prob.DH = make([]float32, n*d)
		prob.DW = g.Head
	}
	out, err := recipe.EvalFusedFrozen(e.Prog, l, e.Hyper, prob, e.Fused, frozen)
	if err != nil {
		return nil, nil, err
	}
	if g == nil {
		last.Release()
		return out, entropy, nil
	}
	for mi := len(micros) - 1; mi >= 0; mi-- {
		mb := micros[mi]
		p := last
		if mi != len(micros)-1 {
			if p, err = m.Forward(mb.batch()); err != nil {
				return nil, nil, err
			}
		}
		dh := make([]float32, mb.T*len(mb.seqs)*d)
		for r := 0; r < n; r++ {
			if int(rm.micro[r]) != mi {
				continue
			}
			dst := dh[int(rm.row[r])*d : int(rm.row[r]+1)*d]
			for k, v := range prob.DH[r*d : (r+1)*d] {
				dst[k] += v
			}
		}
		err := m.BackwardHidden(p, dh, g)
		p.Release() // its activations go back to the model's scratch for the next micro-batch
		if err != nil {
			return nil, nil, err
		}
	}
	return out, nil, nil
}

// hiddenRows forwards every micro-batch and gathers the final hidden state
// of the first n rows of rm (the token rows come first, then the score
// rows) into one [n x D] array; it also returns the last micro-batch's pass
// (the caller releases it) and releases the others once their rows are copied.
func hiddenRows(m *model.Model, micros []micro, rm rowMap, n int) ([]float32, *model.Pass, error) {
	d := m.Cfg.Dim
	H := make([]float32, n*d)
	var last *model.Pass
	for mi, mb := range micros {
		p, err := m.Forward(mb.batch())
		if err != nil {
			return nil, nil, err
		}
		hid := p.Hidden()
		for r := 0; r < n; r++ {
			if int(rm.micro[r]) == mi {
				copy(H[r*d:(r+1)*d], hid[int(rm.row[r])*d:])
			}
		}
		if mi < len(micros)-1 {
			p.Release()
		} else {
			last = p
		}
	}
	return H, last, nil
}

// logpKernel reads every token row's log-probability and entropy.
type logpKernel struct {
	tokens  []int32
	logp    []float64
	entropy []float64
}

func (k *logpKernel) Entropy() bool                     { return true }
func (k *logpKernel) Gather(r int, dst []int32) []int32 { return append(dst, k.tokens[r]) }
func (k *logpKernel) Row(r int, st *fused.Stats, _ *fused.Coef) float64 {
	k.logp[r], k.entropy[r] = st.LogP(0), st.Entropy()
	return 0
}

// tokenStats returns log p(tokens[r]) and the entropy of every row r of the
// hidden states H through the LM head (no gradient, chunked as the fused
// loss is, so [rows x vocab] never exists).
func tokenStats(m *model.Model, H []float32, tokens []int32, o fused.Options) (logp, entropy []float64, err error) {
	k := &logpKernel{tokens: tokens, logp: make([]float64, len(tokens)), entropy: make([]float64, len(tokens))}
	prob := &fused.Problem{N: len(tokens), D: m.Cfg.Dim, V: m.Cfg.Vocab, H: H, W: m.Head}
	if _, err := fused.Run(prob, k, false, o); err != nil {
		return nil, nil, err
	}
	return k.logp, k.entropy, nil
}

// TokenLogp returns log p of every response token of seqs under m (no
// gradient), e.g. the reference model's ref_logp.
func TokenLogp(m *model.Model, seqs []*Seq, maxTokens int, o fused.Options) ([][]float64, error) {
	micros := planMicros(seqs, maxTokens)
	var tokens []int32
	for _, mb := range micros {
		for _, s := range mb.seqs {
			for _, id := range s.Resp {
				tokens = append(tokens, int32(id))
			}
		}
	}
	H, last, err := hiddenRows(m, micros, mapRows(micros), len(tokens))
	if err != nil {
		return nil, err
	}
	last.Release()
	flat, _, err := tokenStats(m, H, tokens, o)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(seqs))
	off := 0
	for i, s := range seqs {
		out[i] = flat[off : off+len(s.Resp)]
		off += len(s.Resp)
	}
	return out, nil
}

// runs lists the maximal ranges [r0, r1) of the first n rows that
// micro-batch mi holds (its token rows, then its score rows).
func (rm rowMap) runs(mi, n int) [][2]int {
	var out [][2]int
	for r := 0; r < n; r++ {
		if int(rm.micro[r]) != mi {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k][1] == r {
			out[k][1]++
		} else {
			out = append(out, [2]int{r, r + 1})
		}
	}
	return out
}
