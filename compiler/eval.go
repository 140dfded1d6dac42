package compiler

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Result is what the reference evaluator computes for one batch.
type Result struct {
	RewardNames    []string
	Rewards        map[string][]float64 // per sequence, in input order (groups, then seqs)
	AdvantageNames []string
	Advantages     map[string][]float64 // per sequence; computed for every sequence
	Kept           []bool               // per group
	Loss           float64              // 0 when no group is kept

	// GradLogits[s][t][j] = dLoss/dlogits of token t of sequence s (zeros for
	// sequences of dropped groups); GradScoreLogits[s][j] likewise at the score slot.
	GradLogits      [][][]float64
	GradScoreLogits [][]float64

	// Values holds every IR value: one number (scalar), one per group, one per
	// sequence, or one per token (sequences in order, their tokens in order).
	// Loss and grad stage values are meaningful on kept sequences only.
	Values [][]float64
}

// evaluator holds the batch layout and per-row softmax data.
type evaluator struct {
	p          *Program
	b          *Batch
	hyper      map[string]float64
	seqGroup   []int // sequence -> group
	seqInGroup []int // sequence -> index in its group
	seqPath    []string
	tokOff     []int // sequence -> first token index
	tokSeq     []int // token -> sequence
	nTok       int
	kept       []bool // per group
	vals       [][]float64
	scoreIdx   map[int]int // token id -> index in score values
	// Per token row: logsumexp and sum_j p_j z_j, filled by rowStats.
	rowLSE, rowPZ []float64
	rowDone       []bool
	// scoreCache holds scoreDist per sequence and renorm flag (callers do
	// not modify the slices).
	scoreCache map[int][2][]float64
}

// Eval runs the program's stages on a batch in float64: rewards, filter,
// advantages, loss and its gradients with respect to every row of logits.
// overrides (may be nil) replace hyperparameters after the batch's "hyper".
func Eval(p *Program, b *Batch, overrides map[string]float64) (*Result, error) {
	return EvalWith(p, b, overrides, Options{})
}

// Options tune EvalWith.
type Options struct {
	// Stage1, when set, supplies the score, filter and advantage values from an
	// earlier evaluation of the same program on the same groups and sequences,
	// as a trainer reuses its advantages over epochs: only the loss and its
	// gradients are recomputed (finite-difference tests rely on this).
	Stage1 *Result
}

// EvalWith is Eval with options.
func EvalWith(p *Program, b *Batch, overrides map[string]float64, opt Options) (*Result, error) {
	e := &evaluator{p: p, b: b, hyper: map[string]float64{}}
	for _, h := range p.Hypers {
		e.hyper[h.Name] = h.Default
	}
	for _, src := range []struct {
		what string
		m    map[string]float64
	}{{"hyper", b.Hyper}, {"override", overrides}} {
		keys := make([]string, 0, len(src.m))
		for k := range src.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := e.hyper[k]; !ok {
				names := make([]string, 0, len(p.Hypers))
				for _, h := range p.Hypers {
					names = append(names, h.Name)
				}
				if src.what == "hyper" {
					return nil, fmt.Errorf("hyper.%s: recipe %s has no such hyperparameter (it has: %s)", k, p.Name, strings.Join(names, ", "))
				}
				return nil, fmt.Errorf("override %s: recipe %s has no such hyperparameter (it has: %s)", k, p.Name, strings.Join(names, ", "))
			}
			e.hyper[k] = src.m[k]
		}
	}
	if err := e.layout(); err != nil {
		return nil, err
	}
	e.vals = make([][]float64, len(p.Values))
	// Rewards and the filter first: they decide which groups are kept, and
	// later batch reductions range over the kept groups.
	if opt.Stage1 != nil && len(opt.Stage1.Values) != len(p.Values) {
		return nil, fmt.Errorf("internal: Options.Stage1 comes from another program")
	}
	frozen := func(v *Value) bool {
		if opt.Stage1 == nil || v.Stage > StageAdvantage {
			return false
		}
		e.vals[v.ID] = opt.Stage1.Values[v.ID]
		return true
	}
	for _, v := range p.Values {
		if v.Stage <= StageFilter && !frozen(v) {
			if err := e.eval(v); err != nil {
				return nil, err
			}
		}
	}
	e.kept = make([]bool, len(b.Groups))
	for g := range e.kept {
		e.kept[g] = p.Filter == NoID || e.at(p.Filter, AxisGroup, g) != 0
	}
	for _, v := range p.Values {
		if v.Stage > StageFilter && !frozen(v) {
			if err := e.eval(v); err != nil {
				return nil, err
			}
		}
	}
	r := &Result{Rewards: map[string][]float64{}, Advantages: map[string][]float64{}, Kept: e.kept, Values: e.vals}
	nSeq := len(e.seqGroup)
	perSeq := func(id ID) []float64 {
		out := make([]float64, nSeq)
		for s := range out {
			out[s] = e.at(id, AxisSeq, s)
		}
		return out
	}
	for _, n := range p.Rewards {
		r.RewardNames = append(r.RewardNames, n.Name)
		r.Rewards[n.Name] = perSeq(n.ID)
	}
	for _, n := range p.Advantages {
		r.AdvantageNames = append(r.AdvantageNames, n.Name)
		r.Advantages[n.Name] = perSeq(n.ID)
	}
	anyKept := false
	for _, k := range e.kept {
		anyKept = anyKept || k
	}
	if anyKept && p.Loss != NoID {
		r.Loss = e.vals[p.Loss][0]
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
			return nil, e.nonFinite(p.Loss, "the loss")
		}
	}
	e.grads(r, anyKept)
	return r, nil
}

// nonFinite explains a NaN or Inf: the first value under root that has one.
func (e *evaluator) nonFinite(root ID, what string) error {
	for _, id := range e.p.Deps(root) {
		v := e.p.Values[id]
		if v.Op == OpLeaf && v.Name == "pred" {
			continue // NaN by design when a response has no score
		}
		for i, x := range e.vals[id] {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				if v.Axis >= AxisSeq && !e.keptSeq(e.seqOf(v.Axis, i)) {
					continue
				}
				return fmt.Errorf("%s is not finite: %s is %v at %s (%s)", what, describeIR(v), x, e.where(v.Axis, i), v.Pos)
			}
		}
	}
	return fmt.Errorf("%s is not finite", what)
}

func describeIR(v *Value) string {
	if v.Label != "" {
		return v.Label
	}
	if v.Name != "" {
		return v.Name
	}
	return v.Op.String()
}

func (e *evaluator) seqOf(ax Axis, i int) int {
	if ax == AxisToken {
		return e.tokSeq[i]
	}
	return i
}

func (e *evaluator) keptSeq(s int) bool { return e.kept == nil || e.kept[e.seqGroup[s]] }

func (e *evaluator) where(ax Axis, i int) string {
	switch ax {
	case AxisGroup:
		return fmt.Sprintf("groups[%d]", i)
	case AxisSeq:
		return e.seqPath[i]
	case AxisToken:
		s := e.tokSeq[i]
		return fmt.Sprintf("%s token %d", e.seqPath[s], i-e.tokOff[s])
	}
	return "the batch"
}

// layout indexes the batch and checks it has what the program reads.
func (e *evaluator) layout() error {
	p, b := e.p, e.b
	uses := map[string]ID{}
	readouts := false
	for _, v := range p.Values {
		if v.Op == OpLeaf {
			if _, ok := uses[v.Name]; !ok {
				uses[v.Name] = v.ID
			}
		}
		readouts = readouts || v.Op.IsReadout()
	}
	if readouts {
		if len(b.ScoreTokens) != len(p.Score.Values) {
			vals := make([]string, len(p.Score.Values))
			for i, v := range p.Score.Values {
				vals[i] = fmtNum(v)
			}
			return fmt.Errorf("score_tokens: expected %d token ids (for the recipe's score values %s), got %d", len(p.Score.Values), strings.Join(vals, ", "), len(b.ScoreTokens))
		}
		e.scoreIdx = map[int]int{}
		for i, id := range b.ScoreTokens {
			e.scoreIdx[id] = i
		}
	}
	if err := validateBatch(b); err != nil {
		return err
	}
	for g, grp := range b.Groups {
		for j, s := range grp.Seqs {
			path := SeqPath(g, j)
			sIdx := len(e.seqGroup)
			e.seqGroup = append(e.seqGroup, g)
			e.seqInGroup = append(e.seqInGroup, j)
			e.seqPath = append(e.seqPath, path)
			e.tokOff = append(e.tokOff, e.nTok)
			for range s.Tokens {
				e.tokSeq = append(e.tokSeq, sIdx)
			}
			e.nTok += len(s.Tokens)
			need := func(name string, have bool) error {
				if id, ok := uses[name]; ok && !have {
					return fmt.Errorf("%s.%s: missing; recipe %s uses %s (%s)", path, name, p.Name, name, p.Values[id].Pos)
				}
				return nil
			}
			if err := need("old_logp", s.OldLogp != nil); err != nil {
				return err
			}
			if err := need("ref_logp", s.RefLogp != nil); err != nil {
				return err
			}
			if readouts && s.ScoreLogits == nil {
				return fmt.Errorf("%s.score_logits: missing; recipe %s reads the score slot", path, p.Name)
			}
			for _, reg := range []string{"cot", "answer"} {
				if _, ok := s.Regions[reg]; !ok {
					if err := need(reg, false); err != nil {
						return fmt.Errorf("%s.regions.%s: missing; recipe %s uses the region %s (%s)", path, reg, p.Name, reg, p.Values[uses[reg]].Pos)
					}
				}
			}
		}
	}
	return nil
}

func (e *evaluator) size(ax Axis) int {
	switch ax {
	case AxisScalar:
		return 1
	case AxisGroup:
		return len(e.b.Groups)
	case AxisSeq:
		return len(e.seqGroup)
	}
	return e.nTok
}

// at reads value id at index i of axis out (broadcasting outward).
func (e *evaluator) at(id ID, out Axis, i int) float64 {
	ax := e.p.Values[id].Axis
	return e.vals[id][e.index(ax, out, i)]
}

func (e *evaluator) index(ax, out Axis, i int) int {
	if ax == out {
		return i
	}
	if ax == AxisScalar {
		return 0
	}
	if out == AxisToken {
		i = e.tokSeq[i]
		if ax == AxisSeq {
			return i
		}
	}
	// out is seq (or was token) and ax is group.
	return e.seqGroup[i]
}

func (e *evaluator) seq(s int) *Seq {
	return &e.b.Groups[e.seqGroup[s]].Seqs[e.seqInGroup[s]]
}

func (e *evaluator) eval(v *Value) error {
	n := e.size(v.Axis)
	out := make([]float64, n)
	e.vals[v.ID] = out
	switch v.Op {
	case OpConst:
		out[0] = v.Const
	case OpHyper:
		out[0] = e.hyper[v.Name]
	case OpLeaf:
		e.leaf(v, out)
	case OpExpect, OpProb, OpLogProb:
		for s := range out {
			x, err := e.readout(v, s)
			if err != nil {
				return err
			}
			out[s] = x
		}
	case OpSumT:
		for s := range out {
			sum := 0.0
			for t := range len(e.seq(s).Tokens) {
				sum += e.at(v.Args[0], AxisToken, e.tokOff[s]+t)
			}
			out[s] = sum
		}
	case OpSumG:
		for s, g := range e.seqGroup {
			out[g] += e.at(v.Args[0], AxisSeq, s)
		}
	case OpCountG:
		for _, g := range e.seqGroup {
			out[g]++
		}
	case OpSumS:
		for s := range e.seqGroup {
			if e.keptSeq(s) {
				out[0] += e.at(v.Args[0], AxisSeq, s)
			}
		}
	case OpCountS:
		for s := range e.seqGroup {
			if e.keptSeq(s) {
				out[0]++
			}
		}
	default:
		xs := make([]float64, len(v.Args))
		for i := range out {
			for j, a := range v.Args {
				xs[j] = e.at(a, v.Axis, i)
			}
			r, ok := applyOp(v.Op, xs)
			if !ok {
				return fmt.Errorf("internal: op %s cannot be evaluated", v.Op)
			}
			out[i] = r
		}
	}
	return nil
}

func (e *evaluator) leaf(v *Value, out []float64) {
	for s := range e.seqGroup {
		sq := e.seq(s)
		g := e.seqGroup[s]
		mask := func(t int) float64 {
			if sq.Mask == nil {
				return 1
			}
			return sq.Mask[t]
		}
		switch v.Name {
		case "y":
			out[g] = e.b.Groups[g].Y
			continue
		case "pred":
			out[s] = sq.Pred
			continue
		case "acc":
			out[s] = sq.Acc
			continue
		case "truncated":
			out[s] = sq.Truncated
			continue
		case "format_ok":
			out[s] = sq.FormatOK
			continue
		case "len":
			for t := range sq.Tokens {
				out[s] += mask(t)
			}
			continue
		}
		for t, tok := range sq.Tokens {
			i := e.tokOff[s] + t
			switch v.Name {
			case "logp":
				lse, _ := e.rowStats(i, sq.Logits[t])
				out[i] = sq.Logits[t][tok] - lse
			case "entropy":
				lse, pz := e.rowStats(i, sq.Logits[t])
				out[i] = lse - pz
			case "old_logp":
				out[i] = sq.OldLogp[t]
			case "ref_logp":
				out[i] = sq.RefLogp[t]
			case "mask", "all":
				out[i] = mask(t)
			case "cot", "answer":
				r := sq.Regions[v.Name]
				if t >= r[0] && t < r[1] {
					out[i] = mask(t)
				}
			}
		}
	}
}

// rowStats returns logSumExp of token row i, computed once per row: with a
// realistic vocabulary the exponentials dominate the evaluator's time.
func (e *evaluator) rowStats(i int, z []float64) (lse, pz float64) {
	if e.rowLSE == nil {
		e.rowLSE = make([]float64, e.nTok)
		e.rowPZ = make([]float64, e.nTok)
		e.rowDone = make([]bool, e.nTok)
	}
	if !e.rowDone[i] {
		e.rowLSE[i], e.rowPZ[i] = logSumExp(z)
		e.rowDone[i] = true
	}
	return e.rowLSE[i], e.rowPZ[i]
}

// logSumExp returns logsumexp(z) and sum_j softmax(z)_j z_j.
func logSumExp(z []float64) (lse, pz float64) {
	m := math.Inf(-1)
	for _, x := range z {
		m = math.Max(m, x)
	}
	sum, sz := 0.0, 0.0
	for _, x := range z {
		w := math.Exp(x - m)
		sum += w
		sz += w * x
	}
	return m + math.Log(sum), sz / sum
}

// scoreDist returns the score-slot distribution restricted to the score
// tokens: p_k for each score value (full-vocabulary softmax, or renormalized
// over the score tokens), and the full softmax p.
func (e *evaluator) scoreDist(s int, renorm bool) (pk []float64, p []float64) {
	key := 2 * s
	if renorm {
		key++
	}
	if c, ok := e.scoreCache[key]; ok {
		return c[0], c[1]
	}
	defer func() {
		if e.scoreCache == nil {
			e.scoreCache = map[int][2][]float64{}
		}
		e.scoreCache[key] = [2][]float64{pk, p}
	}()
	z := e.seq(s).ScoreLogits
	lse, _ := logSumExp(z)
	p = make([]float64, len(z))
	for j, x := range z {
		p[j] = math.Exp(x - lse)
	}
	pk = make([]float64, len(e.b.ScoreTokens))
	tot := 0.0
	for k, id := range e.b.ScoreTokens {
		pk[k] = p[id]
		tot += p[id]
	}
	if renorm {
		for k := range pk {
			pk[k] /= tot
		}
	}
	return pk, p
}

// scoreIndex maps the value k of prob/logprob to its score token.
func (e *evaluator) scoreIndex(v *Value, s int) (int, error) {
	k := e.at(v.Args[0], AxisSeq, s)
	for i, sv := range e.p.Score.Values {
		if sv == k {
			return i, nil
		}
	}
	vals := make([]string, len(e.p.Score.Values))
	for i, x := range e.p.Score.Values {
		vals[i] = fmtNum(x)
	}
	where := e.seqPath[s]
	if a := e.p.Values[v.Args[0]]; a.Op == OpLeaf && a.Name == "y" {
		where = fmt.Sprintf("groups[%d].y", e.seqGroup[s])
	}
	return 0, fmt.Errorf("%s: %v is not a score value (%s), so %s cannot be read (%s)", where, k, strings.Join(vals, ", "), describeIR(v), v.Pos)
}

func (e *evaluator) readout(v *Value, s int) (float64, error) {
	pk, _ := e.scoreDist(s, v.Renorm)
	switch v.Op {
	case OpExpect:
		sum := 0.0
		for k, x := range pk {
			sum += e.p.Score.Values[k] * x
		}
		return sum, nil
	case OpProb, OpLogProb:
		k, err := e.scoreIndex(v, s)
		if err != nil {
			return 0, err
		}
		if v.Op == OpProb {
			return pk[k], nil
		}
		if v.Renorm {
			return math.Log(pk[k]), nil
		}
		z := e.seq(s).ScoreLogits
		lse, _ := logSumExp(z)
		return z[e.b.ScoreTokens[k]] - lse, nil
	}
	return 0, nil
}

// grads applies the fixed readout rules (see ReadoutGrad) to the adjoints.
func (e *evaluator) grads(r *Result, anyKept bool) {
	nSeq := len(e.seqGroup)
	r.GradLogits = make([][][]float64, nSeq)
	r.GradScoreLogits = make([][]float64, nSeq)
	V := e.b.Vocab
	for s := range nSeq {
		sq := e.seq(s)
		r.GradLogits[s] = make([][]float64, len(sq.Tokens))
		for t := range sq.Tokens {
			r.GradLogits[s][t] = make([]float64, V)
		}
		r.GradScoreLogits[s] = make([]float64, V)
	}
	if !anyKept {
		return
	}
	for _, g := range e.p.Grads {
		v := e.p.Values[g.Readout]
		for s := range nSeq {
			if !e.keptSeq(s) {
				continue
			}
			sq := e.seq(s)
			if v.Op == OpLeaf {
				for t, tok := range sq.Tokens {
					a := e.at(g.Adjoint, AxisToken, e.tokOff[s]+t)
					if a == 0 {
						continue
					}
					z := sq.Logits[t]
					lse, pz := e.rowStats(e.tokOff[s]+t, z)
					row := r.GradLogits[s][t]
					for j, x := range z {
						pj := math.Exp(x - lse)
						if v.Name == "logp" {
							d := -pj
							if j == tok {
								d += 1
							}
							row[j] += a * d
						} else { // entropy
							row[j] += a * (-pj * (x - pz))
						}
					}
				}
				continue
			}
			a := e.at(g.Adjoint, AxisSeq, s)
			if a == 0 {
				continue
			}
			e.scoreGrad(v, s, a, r.GradScoreLogits[s])
		}
	}
}

// scoreGrad adds a * d(readout)/dz to row.
func (e *evaluator) scoreGrad(v *Value, s int, a float64, row []float64) {
	pk, p := e.scoreDist(s, v.Renorm)
	vals := e.p.Score.Values
	ids := e.b.ScoreTokens
	// q_j: the distribution the readout uses, over the whole row (renorm: 0
	// outside the score tokens).
	q := p
	if v.Renorm {
		q = make([]float64, len(p))
		for k, id := range ids {
			q[id] = pk[k]
		}
	}
	switch v.Op {
	case OpExpect:
		E := 0.0
		for k := range pk {
			E += vals[k] * pk[k]
		}
		vj := make([]float64, len(p))
		for k, id := range ids {
			vj[id] = vals[k]
		}
		for j := range row {
			row[j] += a * q[j] * (vj[j] - E)
		}
	case OpProb, OpLogProb:
		k, _ := e.scoreIndex(v, s)
		id := ids[k]
		scale := a
		if v.Op == OpProb {
			scale *= pk[k]
		}
		for j := range row {
			if v.Renorm && q[j] == 0 && j != id {
				continue
			}
			d := -q[j]
			if j == id {
				d += 1
			}
			row[j] += scale * d
		}
	}
}

// validateBatch checks the shapes of a batch built in Go (ParseBatch checks
// the same while reading JSON), so that Eval never indexes out of range.
func validateBatch(b *Batch) error {
	if b.Vocab < 1 {
		return fmt.Errorf("vocab: %d, want at least 1", b.Vocab)
	}
	for i, id := range b.ScoreTokens {
		if id < 0 || id >= b.Vocab {
			return fmt.Errorf("score_tokens[%d]: id %d is outside the vocabulary [0, %d)", i, id, b.Vocab)
		}
	}
	if len(b.Groups) == 0 {
		return fmt.Errorf("groups: empty: a batch needs at least one group")
	}
	for g, grp := range b.Groups {
		if len(grp.Seqs) == 0 {
			return fmt.Errorf("groups[%d].seqs: empty: a group needs at least one response", g)
		}
		for j, s := range grp.Seqs {
			path := SeqPath(g, j)
			L := len(s.Tokens)
			for t, tok := range s.Tokens {
				if tok < 0 || tok >= b.Vocab {
					return fmt.Errorf("%s.tokens[%d]: id %d is outside the vocabulary [0, %d)", path, t, tok, b.Vocab)
				}
			}
			if len(s.Logits) != L {
				return fmt.Errorf("%s.logits: expected %d rows (one per token), got %d", path, L, len(s.Logits))
			}
			for t, row := range s.Logits {
				if len(row) != b.Vocab {
					return fmt.Errorf("%s.logits[%d]: expected %d floats (vocab), got %d", path, t, b.Vocab, len(row))
				}
			}
			for _, f := range []struct {
				name string
				xs   []float64
			}{{"old_logp", s.OldLogp}, {"ref_logp", s.RefLogp}, {"mask", s.Mask}} {
				if f.xs != nil && len(f.xs) != L {
					return fmt.Errorf("%s.%s: expected %d floats (one per token), got %d", path, f.name, L, len(f.xs))
				}
			}
			if s.ScoreLogits != nil && len(s.ScoreLogits) != b.Vocab {
				return fmt.Errorf("%s.score_logits: expected %d floats (vocab), got %d", path, b.Vocab, len(s.ScoreLogits))
			}
			for name, r := range s.Regions {
				if r[0] < 0 || r[0] > r[1] || r[1] > L {
					return fmt.Errorf("%s.regions.%s: [%d, %d) is not a range of the %d tokens", path, name, r[0], r[1], L)
				}
			}
		}
	}
	return b.CheckLogits()
}
