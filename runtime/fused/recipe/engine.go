package recipe

import (
	"fmt"
	"math"
	"strings"

	"github.com/realc-project/realc/runtime/fused"
)

// Axis of a value, as compiler.Axis.
type Axis uint8

const (
	Scalar Axis = iota
	Group
	Seq
	Token
)

// Named is a recipe output bound to a name: the value with that ID.
type Named struct {
	Name string
	ID   int
}

// Hyper is a hyperparameter and its default.
type Hyper struct {
	Name    string
	Default float64
}

// Readout kinds of score-slot gradients.
const (
	Expect  = "expect"
	Prob    = "prob"
	LogProb = "logprob"
)

// ScoreGrad is one score-slot readout that carries grad: its kind, whether it
// renormalizes over the score tokens, the value of its adjoint and, for prob
// and logprob, the value k that names the score token.
type ScoreGrad struct {
	Op     string
	Renorm bool
	Adj    int
	K      int // -1 for expect
}

// Meta is what a generated program tells the engine about itself.
type Meta struct {
	Name, File  string
	Hypers      []Hyper
	ScoreValues []float64
	Rewards     []Named
	Advantages  []Named
	Filter      int // -1: keep every group
	Loss        int // -1: no loss
	Axes        []Axis
	// What the batch must provide.
	ScoreReadouts, OldLogp, RefLogp bool
	Regions                         []string
	// Token readouts with grad: the adjoint values of logp and entropy (-1: none).
	LogpAdj, EntropyAdj int
	// Entropy is set when the recipe reads the entropy at all.
	Entropy    bool
	ScoreGrads []ScoreGrad
	// OnePass: token adjoints depend only on their own row's readouts and on
	// values computed before the loss kernel, so one pass over the rows
	// gives the gradients; otherwise a statistics pass comes first.
	OnePass bool

	// What the trainer needs of the recipe's header lines.
	// ScoreStrings are the strings the model writes for ScoreValues (one
	// token each), ScoreMarker the text that precedes the score.
	ScoreStrings []string
	ScoreMarker  string
	// Rollout holds the rollout settings (n, temperature, top_p, top_k,
	// max_prompt, max_response, ...); empty for SFT recipes.
	Rollout []Setting
	// Optim is the optimizer line: its kind ("adamw") and settings.
	OptimKind string
	Optim     []Setting
	// Source is the recipe text (hashed into checkpoints, so that a resumed
	// run can tell a changed recipe).
	Source string
	// StageOne lists the values Score and Adv compute: the score, filter and
	// advantage stages, which a trainer computes once per buffer and
	// freezes over its epochs (Frozen).
	StageOne []int
}

// Setting is one key=value of a rollout or optim line: a number, a
// hyperparameter's name (its value is the hyperparameter's), or a word.
type Setting struct {
	Key   string
	Num   float64
	Hyper string
	Word  string
}

// Program is implemented by generated code: the recipe's values, stage by stage.
type Program interface {
	Meta() *Meta
	// Score computes the score and filter stages (values of stage <= filter),
	// with every group kept.
	Score(s *State) error
	// Adv computes the advantage stage (after Score and the filter).
	Adv(s *State) error
	// Rest computes the later values that do not read the token readouts
	// (loss inputs, score-slot adjoints).
	Rest(s *State) error
	// Token computes the values that read logp or entropy, the loss among them.
	Token(s *State) error
	// TokenAdjoint returns the adjoints of logp and entropy at token t from
	// that row's readouts (used when Meta().OnePass).
	TokenAdjoint(s *State, t int, logp, entropy float64) (gLogp, gEntropy float64)
}

// State holds one evaluation: every value as an array of its axis.
type State struct {
	L     *Layout
	Hyper []float64 // in Meta.Hypers order
	Vals  [][]float64
	Kept  []bool // per group; all true during the score stage
	// Score-slot statistics per sequence: log-sum-exp and the logits of the
	// score tokens (S x K).
	ScoreLSE []float64
	ScoreZ   []float64
	// Token readouts.
	Logp, Entropy []float64
	// Global, when set, turns a batch sum of this rank's sequences into the
	// sum over every rank's (an all-reduce): the generated loss stages
	// compute their normalizers and aggregates through Total, so that a
	// world of W ranks, each holding part of the mini-batch, computes world
	// size 1's loss and adjoints. Nil: the batch is this State's alone.
	Global func(float64) float64
}

// Total is a batch sum (sum_s, count_s) of the generated code: sum itself,
// or the sum over ranks when Global is set.
func (s *State) Total(sum float64) float64 {
	if s.Global == nil {
		return sum
	}
	return s.Global(sum)
}

// NewState allocates the value arrays for a layout.
func NewState(m *Meta, l *Layout, hyper []float64) *State {
	s := &State{L: l, Hyper: hyper, Vals: make([][]float64, len(m.Axes)), Kept: make([]bool, l.G)}
	for i, ax := range m.Axes {
		s.Vals[i] = make([]float64, s.Size(ax))
	}
	for g := range s.Kept {
		s.Kept[g] = true
	}
	k := len(l.ScoreTokens)
	s.ScoreLSE = make([]float64, l.S)
	s.ScoreZ = make([]float64, l.S*k)
	s.Logp = make([]float64, l.T)
	s.Entropy = make([]float64, l.T)
	return s
}

// Size is the number of elements of an axis.
func (s *State) Size(ax Axis) int {
	switch ax {
	case Group:
		return s.L.G
	case Seq:
		return s.L.S
	case Token:
		return s.L.T
	}
	return 1
}

// At reads value id (of axis ax) at index i of axis out, broadcasting outward.
func (s *State) At(id int, ax, out Axis, i int) float64 {
	return s.Vals[id][s.index(ax, out, i)]
}

func (s *State) index(ax, out Axis, i int) int {
	if ax == out {
		return i
	}
	if ax == Scalar {
		return 0
	}
	if out == Token {
		i = int(s.L.TokSeq[i])
		if ax == Seq {
			return i
		}
	}
	return int(s.L.SeqGroup[i])
}

// KeptSeq reports whether sequence i belongs to a kept group.
func (s *State) KeptSeq(i int) bool { return s.Kept[s.L.SeqGroup[i]] }

// scoreDist returns p_k of each score token at sequence i (renormalized over
// the score tokens when renorm).
func (s *State) scoreDist(i int, renorm bool, pk []float64) []float64 {
	k := len(s.L.ScoreTokens)
	pk = pk[:0]
	var tot float64
	for j := 0; j < k; j++ {
		p := math.Exp(s.ScoreZ[i*k+j] - s.ScoreLSE[i])
		pk = append(pk, p)
		tot += p
	}
	if renorm {
		for j := range pk {
			pk[j] /= tot
		}
	}
	return pk
}

// Expect is sum_k v_k p_k at the score slot of sequence i.
func (s *State) Expect(i int, renorm bool) float64 {
	var buf [16]float64
	var e float64
	for j, p := range s.scoreDist(i, renorm, buf[:0]) {
		e += s.L.ScoreValues[j] * p
	}
	return e
}

// scoreIndex maps a score value to its index among the score tokens.
func (s *State) scoreIndex(i int, k float64) (int, error) {
	for j, v := range s.L.ScoreValues {
		if v == k {
			return j, nil
		}
	}
	return 0, fmt.Errorf("%s: %v is not a score value %v, so prob/logprob cannot be read", s.L.seqPath(i), k, s.L.ScoreValues)
}

// Prob is p(tok(k)) at the score slot of sequence i.
func (s *State) Prob(i int, k float64, renorm bool) (float64, error) {
	j, err := s.scoreIndex(i, k)
	if err != nil {
		return 0, err
	}
	var buf [16]float64
	return s.scoreDist(i, renorm, buf[:0])[j], nil
}

// LogProb is log p(tok(k)) at the score slot of sequence i.
func (s *State) LogProb(i int, k float64, renorm bool) (float64, error) {
	j, err := s.scoreIndex(i, k)
	if err != nil {
		return 0, err
	}
	if renorm {
		var buf [16]float64
		return math.Log(s.scoreDist(i, true, buf[:0])[j]), nil
	}
	return s.ScoreZ[i*len(s.L.ScoreTokens)+j] - s.ScoreLSE[i], nil
}

// Output is the result of one evaluation.
type Output struct {
	Meta       *Meta
	State      *State
	Rewards    [][]float64 // per reward (Meta.Rewards order), per sequence
	Advantages [][]float64
	Kept       []bool
	Loss       float64
}

func (s *State) keep(m *Meta) {
	for g := range s.Kept {
		s.Kept[g] = m.Filter < 0 || s.Vals[m.Filter][g] != 0
	}
}

func (s *State) output(m *Meta) (*Output, error) {
	o := &Output{Meta: m, State: s, Kept: s.Kept}
	perSeq := func(id int) []float64 {
		out := make([]float64, s.L.S)
		for i := range out {
			out[i] = s.At(id, m.Axes[id], Seq, i)
		}
		return out
	}
	for _, n := range m.Rewards {
		o.Rewards = append(o.Rewards, perSeq(n.ID))
	}
	for _, n := range m.Advantages {
		o.Advantages = append(o.Advantages, perSeq(n.ID))
	}
	if m.Loss >= 0 && s.anyKept() {
		o.Loss = s.Vals[m.Loss][0]
		if math.IsNaN(o.Loss) || math.IsInf(o.Loss, 0) {
			return nil, fmt.Errorf("recipe %s: the loss is not finite (%v)", m.Name, o.Loss)
		}
	}
	return o, nil
}

func (s *State) anyKept() bool {
	for _, k := range s.Kept {
		if k {
			return true
		}
	}
	return false
}

// HyperValues returns the defaults overridden by over, or an error naming an
// unknown hyperparameter.
func HyperValues(m *Meta, over map[string]float64) ([]float64, error) {
	h := make([]float64, len(m.Hypers))
	for i, hp := range m.Hypers {
		h[i] = hp.Default
	}
	for _, k := range sortedKeys(over) {
		v := over[k]
		found := false
		for i, hp := range m.Hypers {
			if hp.Name == k {
				h[i], found = v, true
			}
		}
		if !found {
			names := make([]string, len(m.Hypers))
			for i, hp := range m.Hypers {
				names[i] = hp.Name
			}
			return nil, fmt.Errorf("hyper.%s: recipe %s has no such hyperparameter (it has: %s)", k, m.Name, strings.Join(names, ", "))
		}
	}
	return h, nil
}

// rowKernel is the fused.Kernel of a program: rows [0, T) are token rows,
// rows [T, T+S) score rows (offset by base when only score rows are run).
type rowKernel struct {
	p        Program
	m        *Meta
	s        *State
	base     int  // row index of the first row handed to this kernel
	grad     bool // compute coefficients (else only record statistics)
	onePass  bool
	tokRows  bool // token rows are part of this run
	scoreIDs []int32
}

func (k *rowKernel) Entropy() bool { return k.m.Entropy }

func (k *rowKernel) Gather(r int, dst []int32) []int32 {
	r += k.base
	if r < k.s.L.T {
		return append(dst, k.s.L.Tokens[r])
	}
	return append(dst, k.s.L.ScoreTokens...)
}

func (k *rowKernel) Row(r int, st *fused.Stats, c *fused.Coef) float64 {
	r += k.base
	s, l := k.s, k.s.L
	if r < l.T {
		logp := st.LogP(0)
		ent := 0.0
		if k.m.Entropy {
			ent = st.Entropy()
		}
		s.Logp[r], s.Entropy[r] = logp, ent
		if !k.grad || !s.KeptSeq(int(l.TokSeq[r])) {
			return 0
		}
		var gl, ge float64
		if k.onePass {
			gl, ge = k.p.TokenAdjoint(s, r, logp, ent)
		} else {
			if k.m.LogpAdj >= 0 {
				gl = s.At(k.m.LogpAdj, k.m.Axes[k.m.LogpAdj], Token, r)
			}
			if k.m.EntropyAdj >= 0 {
				ge = s.At(k.m.EntropyAdj, k.m.Axes[k.m.EntropyAdj], Token, r)
			}
		}
		// dz_j = gl([j=t] - p_j) - ge p_j (z_j - sum p z), on z shifted by
		// the row max (fused.Kernel).
		c.Alpha = -gl + ge*st.PZShift
		c.Beta = -ge
		if gl != 0 {
			c.Add(st.Idx[0], gl)
		}
		return 0
	}
	i := r - l.T
	kk := len(l.ScoreTokens)
	if !k.grad {
		s.ScoreLSE[i] = st.LSE
		for j := 0; j < kk; j++ {
			s.ScoreZ[i*kk+j] = float64(st.Z[j])
		}
		return 0
	}
	if !s.KeptSeq(i) {
		return 0
	}
	for _, g := range k.m.ScoreGrads {
		a := s.At(g.Adj, k.m.Axes[g.Adj], Seq, i)
		if a == 0 {
			continue
		}
		var buf [16]float64
		pk := s.scoreDist(i, g.Renorm, buf[:0])
		switch g.Op {
		case Expect:
			var e float64
			for j, p := range pk {
				e += l.ScoreValues[j] * p
			}
			// dE/dz_j = q_j (v_j - E); full softmax: -E p_j off the score tokens.
			if !g.Renorm {
				c.Alpha += -a * e
				for j, p := range pk {
					c.Add(l.ScoreTokens[j], a*p*l.ScoreValues[j])
				}
			} else {
				for j, q := range pk {
					c.Add(l.ScoreTokens[j], a*q*(l.ScoreValues[j]-e))
				}
			}
		case Prob, LogProb:
			kv := s.At(g.K, k.m.Axes[g.K], Seq, i)
			j, _ := s.scoreIndex(i, kv) // the forward pass has reported a bad k
			scale := a
			if g.Op == Prob {
				scale *= pk[j]
			}
			if !g.Renorm {
				c.Alpha += -scale
				c.Add(l.ScoreTokens[j], scale)
			} else {
				for jj, q := range pk {
					d := -q
					if jj == j {
						d++
					}
					c.Add(l.ScoreTokens[jj], scale*d)
				}
			}
		}
	}
	return 0
}

// run evaluates the stages around the row passes; rows(k, n0, n, grad) runs
// the kernel over rows [n0, n0+n) of the T+S rows.
func run(p Program, l *Layout, hyper []float64, frozen *Frozen, rows func(k *rowKernel, r0, n int) error) (*Output, error) {
	m := p.Meta()
	if len(hyper) != len(m.Hypers) {
		return nil, fmt.Errorf("recipe %s: %d hyperparameter values, want %d", m.Name, len(hyper), len(m.Hypers))
	}
	s := NewState(m, l, hyper)
	base := &rowKernel{p: p, m: m, s: s, onePass: m.OnePass}
	// Score-slot statistics (S rows).
	if l.S > 0 && len(l.ScoreTokens) > 0 && m.ScoreReadouts {
		k := *base
		k.base = l.T
		if err := rows(&k, l.T, l.S); err != nil {
			return nil, err
		}
	}
	if !m.OnePass && l.T > 0 {
		k := *base
		if err := rows(&k, 0, l.T); err != nil {
			return nil, err
		}
	}
	if frozen != nil {
		if err := frozen.apply(m, s); err != nil {
			return nil, err
		}
	} else {
		if err := p.Score(s); err != nil {
			return nil, err
		}
		s.keep(m)
		if err := p.Adv(s); err != nil {
			return nil, err
		}
	}
	if err := p.Rest(s); err != nil {
		return nil, err
	}
	if !m.OnePass {
		if err := p.Token(s); err != nil {
			return nil, err
		}
	}
	// Gradient pass over every row (one-pass: also the token statistics).
	k := *base
	k.grad = true
	if err := rows(&k, 0, l.T+l.S); err != nil {
		return nil, err
	}
	if m.OnePass {
		if err := p.Token(s); err != nil {
			return nil, err
		}
	}
	return s.output(m)
}

// EvalLogits runs a program on logits given directly: tok [T x V] (row t
// predicted token t) and score [S x V] (the score slot of each sequence). Both
// are overwritten with the gradient of the loss (zero rows for sequences of
// dropped groups).
func EvalLogits(p Program, l *Layout, hyper []float64, tok, score []float32) (*Output, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	if len(tok) != l.T*l.V || len(score) != l.S*l.V {
		return nil, fmt.Errorf("recipe: logits have %d and %d values, want T*V = %d and S*V = %d", len(tok), len(score), l.T*l.V, l.S*l.V)
	}
	return run(p, l, hyper, nil, func(k *rowKernel, r0, n int) error {
		loss := make([]float64, n)
		// Rows [r0, r0+n) may straddle token and score rows: run each part.
		for r := r0; r < r0+n; {
			var buf []float32
			var lo, cnt int
			if r < l.T {
				lo, cnt, buf = r, min(r0+n, l.T)-r, tok
			} else {
				lo, cnt, buf = r-l.T, r0+n-r, score
			}
			kk := *k
			kk.base = r
			if err := fused.Epilogue(&kk, buf[lo*l.V:(lo+cnt)*l.V], 0, cnt, l.V, k.grad, loss[:cnt]); err != nil {
				return err
			}
			r += cnt
		}
		return nil
	})
}

// EvalFused runs a program on hidden states: prob.H holds T token rows then
// S score rows (N = T+S), prob.W the LM head. prob.DH is overwritten and
// prob.DW accumulated with the gradients of the loss.
func EvalFused(p Program, l *Layout, hyper []float64, prob *fused.Problem, o fused.Options) (*Output, error) {
	return EvalFusedFrozen(p, l, hyper, prob, o, nil)
}

// EvalFusedFrozen is EvalFused with the score, filter and advantage stages
// taken from frozen (an earlier evaluation, sliced to this layout's groups)
// instead of computed: only the loss and its gradients are evaluated, as
// REAL reuses its advantages over the epochs of an update (objectives.md
// 1.4). Readouts the loss reads are its own values, so they stay live.
func EvalFusedFrozen(p Program, l *Layout, hyper []float64, prob *fused.Problem, o fused.Options, frozen *Frozen) (*Output, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	if prob.N != l.T+l.S || prob.V != l.V {
		return nil, fmt.Errorf("recipe: problem has N=%d rows and V=%d, want T+S = %d+%d and V=%d", prob.N, prob.V, l.T, l.S, l.V)
	}
	if o.Chunk <= 0 {
		o.Chunk = fused.DefaultChunk
	}
	if o.Schedule == fused.RowChunks && len(o.Scratch) < o.Chunk*l.V {
		o.Scratch = make([]float32, o.Chunk*l.V) // shared by the statistics and gradient passes
	}
	return run(p, l, hyper, frozen, func(k *rowKernel, r0, n int) error {
		sub := *prob
		sub.N = n
		sub.H = prob.H[r0*prob.D : (r0+n)*prob.D]
		if sub.DH != nil {
			sub.DH = prob.DH[r0*prob.D : (r0+n)*prob.D]
		}
		kk := *k
		kk.base = r0
		_, err := fused.Run(&sub, &kk, k.grad, o)
		return err
	})
}

// Frozen holds the stage-one values (Meta.StageOne) and kept groups of some
// groups of an evaluation (State.Freeze).
type Frozen struct {
	G, S, T int
	Vals    map[int][]float64
	Kept    []bool
}

// Freeze slices the stage-one values and kept flags of groups [g0, g1) out
// of an evaluation; scalars are taken whole (a batch statistic of the
// evaluation, as verl computes advantages over the whole batch).
func (s *State) Freeze(m *Meta, g0, g1 int) *Frozen {
	l := s.L
	s0, s1 := int(l.GroupOff[g0]), int(l.GroupOff[g1])
	t0, t1 := int(l.TokOff[s0]), int(l.TokOff[s1])
	f := &Frozen{G: g1 - g0, S: s1 - s0, T: t1 - t0, Vals: map[int][]float64{}, Kept: append([]bool(nil), s.Kept[g0:g1]...)}
	for _, id := range m.StageOne {
		v := s.Vals[id]
		switch m.Axes[id] {
		case Group:
			v = v[g0:g1]
		case Seq:
			v = v[s0:s1]
		case Token:
			v = v[t0:t1]
		}
		f.Vals[id] = append([]float64(nil), v...)
	}
	return f
}

func (f *Frozen) apply(m *Meta, s *State) error {
	if f.G != s.L.G || f.S != s.L.S || f.T != s.L.T {
		return fmt.Errorf("recipe %s: frozen stage-one values are for %d groups, %d sequences and %d tokens, the batch has %d, %d and %d", m.Name, f.G, f.S, f.T, s.L.G, s.L.S, s.L.T)
	}
	for _, id := range m.StageOne {
		v, ok := f.Vals[id]
		if !ok || len(v) != len(s.Vals[id]) {
			return fmt.Errorf("recipe %s: frozen value %d is missing or has the wrong size", m.Name, id)
		}
		copy(s.Vals[id], v)
	}
	copy(s.Kept, f.Kept)
	return nil
}

// RowStats are the row statistics a loss reads, computed elsewhere (a GPU's
// row kernels): per token row its log-probability and entropy, per score
// row its log-sum-exp and the logits of the score tokens (S x K).
type RowStats struct {
	Logp, Entropy    []float64
	ScoreLSE, ScoreZ []float64
}

// EvalStats runs the stages of a program on row statistics given directly
// (the score, filter and advantage stages taken from frozen when it is not
// nil): the values, rewards, advantages, kept groups and loss of EvalFused
// without its row passes. The gradients are left to whoever computed the
// statistics (they follow from Output.State).
func EvalStats(p Program, l *Layout, hyper []float64, st *RowStats, frozen *Frozen) (*Output, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	k := len(l.ScoreTokens)
	if len(st.Logp) != l.T || len(st.Entropy) != l.T || len(st.ScoreLSE) != l.S || len(st.ScoreZ) != l.S*k {
		return nil, fmt.Errorf("recipe: row statistics for %d/%d token rows and %d/%d score rows, want T = %d, S = %d (K = %d)",
			len(st.Logp), len(st.Entropy), len(st.ScoreLSE), len(st.ScoreZ), l.T, l.S, k)
	}
	return run(p, l, hyper, frozen, func(rk *rowKernel, r0, n int) error {
		s := rk.s
		for r := r0; r < r0+n; r++ {
			if r < l.T {
				s.Logp[r] = st.Logp[r]
				if rk.m.Entropy {
					s.Entropy[r] = st.Entropy[r]
				}
				continue
			}
			i := r - l.T
			s.ScoreLSE[i] = st.ScoreLSE[i]
			copy(s.ScoreZ[i*k:(i+1)*k], st.ScoreZ[i*k:(i+1)*k])
		}
		return nil
	})
}
