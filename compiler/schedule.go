package compiler

import (
	"fmt"
	"strings"
)

// The schedule pass plans a recipe's kernels once; the Go and CUDA emitters
// (package codegen) render it and `realc explain` and `realc dump --pass
// schedule` print it. It decides:
//
//   - the phases the engine runs (score, adv, rest, token) and, inside each,
//     the steps: runs of element-wise values of one axis that share a loop,
//     and reductions, each a step of its own;
//   - whether one pass over the rows gives the gradients, and why not;
//   - the values the per-row token adjoint evaluates (one-pass recipes);
//   - the value slots: the offset of every value in the vals buffer;
//   - the argument list of the CUDA stage and gradient kernels.

// Phase names, in the order the engine runs them.
const (
	PhaseScore = "score" // stages score and filter, every group kept
	PhaseAdv   = "adv"   // the advantage stage: what a trainer freezes over its epochs
	PhaseRest  = "rest"  // later values that do not read logp or entropy
	PhaseToken = "token" // the values that read logp or entropy, the loss among them
)

// Schedule is the kernel plan of a program (Program.Schedule).
type Schedule struct {
	// Phases in the order the engine runs them: score, adv, rest, token.
	Phases []Phase

	// OnePass: every token adjoint is a function of its own row's readouts
	// and of values known before the loss kernel, and no score-slot adjoint
	// reads logp or entropy, so one pass over the rows gives the gradients.
	// Otherwise Reasons says why a statistics pass comes first.
	OnePass bool
	Reasons []PassReason

	// TokenDep marks the values that read the token readouts logp or entropy.
	TokenDep []bool
	// Needed marks the values some output needs (rewards, filter,
	// advantages, loss, adjoints and the score value k of prob/logprob).
	Needed []bool
	// Stored marks the needed values a phase computes into their slots:
	// every one but constants and hyperparameters, which the kernels write
	// inline, unless the runtime reads them from their slot (an output that
	// is a constant).
	Stored []bool

	// Adjoint lists the token-dependent values the per-row token adjoint
	// evaluates from the row's logp and entropy (one-pass recipes only).
	Adjoint []ID
	// LogpAdj and EntropyAdj are the adjoints of the leaves logp and
	// entropy (NoID: none); LogpLeaf and EntropyLeaf the leaves.
	LogpAdj, EntropyAdj   ID
	LogpLeaf, EntropyLeaf ID
	// ScoreGrads are the score-slot readouts with grad and their adjoints.
	ScoreGrads []ReadoutGrad

	// What the batch must provide.
	Entropy, ScoreReadouts, OldLogp, RefLogp bool
	Regions                                  []string // cot, answer: in first-use order

	// Slots: value id lives at Slots[id] in the vals buffer, counted per
	// axis: Slots[id][ax] values of axis ax come before it. Counts are the
	// totals. SlotOffset evaluates an offset for a batch.
	Slots  [][4]int
	Counts [4]int

	// Params is the argument list every CUDA stage and gradient kernel
	// ends with (KernelParams).
	Params []KernelParam
}

// Phase is one of the engine's steps between row passes.
type Phase struct {
	Name, Doc string
	Values    []ID // in topological order
	Steps     []Step
}

// Step is a loop over one axis computing a run of element-wise values, or a
// reduction.
type Step struct {
	Reduce bool // one reduction (Values[0]); else element-wise values
	Axis   Axis // the loop's axis (a reduction: its result's axis)
	Values []ID
	// KeptOnly: a sum or count over the batch (sum_s, count_s) that ranges
	// over the sequences of kept groups (values after the filter).
	KeptOnly bool
}

// PassReason is one reason for two passes: the value that forces it and why.
type PassReason struct {
	Kind  ReasonKind
	Value ID
}

// ReasonKind says why a value forces a statistics pass.
type ReasonKind uint8

const (
	// ReasonTokenStat: a token adjoint reads a batch reduction of logp or
	// entropy (Value), known only after every row has been seen.
	ReasonTokenStat ReasonKind = iota + 1
	// ReasonScoreReadsToken: the score or filter stage reads logp or
	// entropy (Value), which the engine computes after them.
	ReasonScoreReadsToken
	// ReasonScoreAdjToken: the adjoint of a score-slot readout (Value)
	// reads logp or entropy, and score rows get their gradients in the
	// same pass as token rows.
	ReasonScoreAdjToken
)

// KernelParam is one argument of the CUDA stage and gradient kernels: a
// pointer to Elem (Const: read only) or, when !Ptr, an int.
type KernelParam struct {
	Name  string
	Elem  string // double, float or int
	Ptr   bool
	Const bool
	Doc   string
}

// KernelParams is the context argument list of the CUDA stage and gradient
// kernels, in order; runtime/cuda.RunLoss passes them in this order.
var KernelParams = []KernelParam{
	{"vals", "double", true, false, "every IR value (the value slots)"},
	{"hyper", "double", true, true, "the hyperparameters, in the recipe's order"},
	{"G", "int", false, false, "groups"},
	{"S", "int", false, false, "sequences"},
	{"T", "int", false, false, "response tokens"},
	{"K", "int", false, false, "score tokens"},
	{"group_off", "int", true, true, "[G+1] group g owns sequences [group_off[g], group_off[g+1])"},
	{"seq_group", "int", true, true, "[S] sequence -> group"},
	{"tok_off", "int", true, true, "[S+1] sequence s owns tokens [tok_off[s], tok_off[s+1])"},
	{"tok_seq", "int", true, true, "[T] token -> sequence"},
	{"tokens", "int", true, true, "[T] the target token of each token row"},
	{"score_tokens", "int", true, true, "[K] the token id of each score value"},
	{"mask", "double", true, true, "[T] leaf mask (and all)"},
	{"cot", "double", true, true, "[T] leaf cot"},
	{"answer", "double", true, true, "[T] leaf answer"},
	{"old_logp", "double", true, true, "[T] leaf old_logp (zeros when absent)"},
	{"ref_logp", "double", true, true, "[T] leaf ref_logp (zeros when absent)"},
	{"pred", "double", true, true, "[S] leaf pred"},
	{"acc", "double", true, true, "[S] leaf acc"},
	{"len", "double", true, true, "[S] leaf len"},
	{"truncated", "double", true, true, "[S] leaf truncated"},
	{"format_ok", "double", true, true, "[S] leaf format_ok"},
	{"y", "double", true, true, "[G] leaf y"},
	{"score_lse", "float", true, false, "[S] log-sum-exp of each score row (row_stats)"},
	{"score_z", "float", true, false, "[S x K] the score tokens' logits of each score row (row_stats)"},
	{"tok_lse", "float", true, false, "[T] log-sum-exp of each token row (row_stats)"},
	{"tok_pz", "float", true, false, "[T] sum_j p_j z_j of each token row (row_stats)"},
	{"tok_z", "float", true, false, "[T] the target token's logit of each token row (row_stats)"},
	{"err", "int", true, false, "[1] 0, or s+1 when prob/logprob of sequence s reads a value that is no score value; -1: too many score tokens"},
}

// LeafParam is the kernel parameter holding a leaf ("" for logp and
// entropy, which come from the row statistics).
func LeafParam(leaf string) string {
	switch leaf {
	case "logp", "entropy":
		return ""
	case "all":
		return "mask"
	}
	return leaf
}

// SlotOffset evaluates a slot (or Counts) for a batch of g groups, s
// sequences and t tokens.
func SlotOffset(o [4]int, g, s, t int) int { return o[0] + o[1]*g + o[2]*s + o[3]*t }

// schedule is the schedule pass.
func schedule(p *Program) error {
	s, err := NewSchedule(p)
	if err != nil {
		return err
	}
	p.Schedule = s
	p.TwoPass, p.TwoPassWhy = !s.OnePass, nil
	for _, r := range s.Reasons {
		p.TwoPassWhy = append(p.TwoPassWhy, r.Value)
	}
	return nil
}

// NewSchedule plans the kernels of a program (the schedule pass; exported
// for emitter tests on hand-built programs).
func NewSchedule(p *Program) (*Schedule, error) {
	n := len(p.Values)
	s := &Schedule{TokenDep: make([]bool, n), Needed: make([]bool, n),
		LogpAdj: NoID, EntropyAdj: NoID, LogpLeaf: NoID, EntropyLeaf: NoID, Params: KernelParams}
	var roots []ID
	for _, r := range p.Rewards {
		roots = append(roots, r.ID)
	}
	for _, r := range p.Advantages {
		roots = append(roots, r.ID)
	}
	roots = append(roots, p.Filter, p.Loss)
	for _, g := range p.Grads {
		roots = append(roots, g.Adjoint)
		if g.Adjoint != NoID {
			// k of prob/logprob is read when applying the gradient.
			roots = append(roots, p.Values[g.Readout].Args...)
		}
	}
	for _, id := range p.Deps(roots...) {
		s.Needed[id] = true
	}
	s.Stored = make([]bool, n)
	for _, id := range roots {
		if id != NoID {
			s.Stored[id] = true
		}
	}
	for i, v := range p.Values {
		s.Stored[i] = s.Needed[i] && (s.Stored[i] || (v.Op != OpConst && v.Op != OpHyper))
	}
	for i, v := range p.Values {
		if ID(i) != v.ID {
			return nil, fmt.Errorf("schedule: value %d has ID %d", i, v.ID)
		}
		for _, a := range v.Args {
			if a < 0 || int(a) >= i {
				return nil, fmt.Errorf("schedule: value %%%d reads %%%d, not an earlier value", i, a)
			}
			s.TokenDep[i] = s.TokenDep[i] || s.TokenDep[a]
		}
		if v.Op == OpLeaf && (v.Name == "logp" || v.Name == "entropy") {
			s.TokenDep[i] = true
		}
		if !s.Needed[i] {
			continue
		}
		switch {
		case v.Op == OpLeaf:
			switch v.Name {
			case "entropy":
				s.Entropy = true
			case "old_logp":
				s.OldLogp = true
			case "ref_logp":
				s.RefLogp = true
			case "cot", "answer":
				s.Regions = appendOnce(s.Regions, v.Name)
			}
		case v.Op.IsReadout():
			s.ScoreReadouts = true
		}
		if len(v.Args) != v.Op.Arity() {
			return nil, fmt.Errorf("schedule: %s has %d args, want %d (%s)", v.Op, len(v.Args), v.Op.Arity(), v.Pos)
		}
	}
	score := &Phase{Name: PhaseScore, Doc: "the score and filter stages, every group kept"}
	adv := &Phase{Name: PhaseAdv, Doc: "the advantage stage (values a trainer freezes over its epochs)"}
	rest := &Phase{Name: PhaseRest, Doc: "the loss inputs and adjoints that do not read logp or entropy"}
	token := &Phase{Name: PhaseToken, Doc: "the values that read logp or entropy, the loss among them"}
	for i, v := range p.Values {
		if !s.Stored[i] {
			continue
		}
		id := ID(i)
		switch {
		case v.Stage <= StageFilter:
			score.Values = append(score.Values, id)
		case !s.TokenDep[i] && v.Stage <= StageAdvantage:
			adv.Values = append(adv.Values, id)
		case !s.TokenDep[i]:
			rest.Values = append(rest.Values, id)
		default:
			token.Values = append(token.Values, id)
		}
	}
	for _, ph := range []*Phase{score, adv, rest, token} {
		ph.Steps = steps(p, ph.Values)
		s.Phases = append(s.Phases, *ph)
	}
	for _, g := range p.Grads {
		rv := p.Values[g.Readout]
		switch {
		case rv.Op == OpLeaf && rv.Name == "logp":
			s.LogpAdj, s.LogpLeaf = g.Adjoint, g.Readout
		case rv.Op == OpLeaf && rv.Name == "entropy":
			s.EntropyAdj, s.EntropyLeaf = g.Adjoint, g.Readout
		case rv.Op.IsReadout():
			s.ScoreGrads = append(s.ScoreGrads, g)
		default:
			return nil, fmt.Errorf("schedule: gradient of %s, which is not a readout (%s)", rv.Op, rv.Pos)
		}
	}
	s.Reasons = s.passReasons(p, score.Values)
	s.OnePass = len(s.Reasons) == 0
	if s.OnePass {
		for _, id := range p.Deps(s.tokenAdjoints()...) {
			if s.TokenDep[id] {
				s.Adjoint = append(s.Adjoint, id)
			}
		}
	}
	for _, v := range p.Values {
		s.Slots = append(s.Slots, s.Counts)
		s.Counts[v.Axis]++
	}
	return s, nil
}

// steps splits a phase's values into loops and reductions: runs of
// element-wise values of one axis share a loop; a reduction is a step.
func steps(p *Program, ids []ID) []Step {
	var out []Step
	for i := 0; i < len(ids); {
		v := p.Values[ids[i]]
		if v.Op.IsReduction() {
			out = append(out, Step{Reduce: true, Axis: v.Axis, Values: ids[i : i+1 : i+1],
				KeptOnly: (v.Op == OpSumS || v.Op == OpCountS) && v.Stage > StageFilter})
			i++
			continue
		}
		j := i
		for j < len(ids) && !p.Values[ids[j]].Op.IsReduction() && p.Values[ids[j]].Axis == v.Axis {
			j++
		}
		out = append(out, Step{Axis: v.Axis, Values: ids[i:j:j]})
		i = j
	}
	return out
}

func (s *Schedule) tokenAdjoints() []ID {
	var adj []ID
	for _, a := range []ID{s.LogpAdj, s.EntropyAdj} {
		if a != NoID {
			adj = append(adj, a)
		}
	}
	return adj
}

// passReasons lists why one pass over the rows would not do: the score or
// filter stage reads logp or entropy; a score-slot adjoint reads them; a
// token adjoint reads a batch reduction of them.
func (s *Schedule) passReasons(p *Program, score []ID) []PassReason {
	var out []PassReason
	for _, id := range score {
		if s.TokenDep[id] && p.Values[id].Op == OpLeaf {
			out = append(out, PassReason{ReasonScoreReadsToken, id})
		}
	}
	for _, g := range s.ScoreGrads {
		if g.Adjoint != NoID && s.TokenDep[g.Adjoint] {
			out = append(out, PassReason{ReasonScoreAdjToken, g.Readout})
		}
	}
	for _, id := range p.Deps(s.tokenAdjoints()...) {
		if s.TokenDep[id] && p.Values[id].Op.IsReduction() {
			out = append(out, PassReason{ReasonTokenStat, id})
		}
	}
	return out
}

// Phase returns the phase of that name.
func (s *Schedule) Phase(name string) *Phase {
	for i := range s.Phases {
		if s.Phases[i].Name == name {
			return &s.Phases[i]
		}
	}
	return nil
}

// StageOne lists the values of the score and advantage stages that a
// trainer computes once per buffer and freezes over its epochs.
func (s *Schedule) StageOne() []ID {
	return append(append([]ID(nil), s.Phase(PhaseScore).Values...), s.Phase(PhaseAdv).Values...)
}

// ReasonText says in words why p needs two passes ("" for one pass): the
// emitters put it in generated comments.
func (s *Schedule) ReasonText(p *Program) string {
	var parts []string
	var stats []string
	for _, r := range s.Reasons {
		v := p.Values[r.Value]
		switch r.Kind {
		case ReasonScoreReadsToken:
			parts = append(parts, fmt.Sprintf("the score or filter stage reads %s (%s)", v.Name, v.Pos))
		case ReasonScoreAdjToken:
			parts = append(parts, fmt.Sprintf("the adjoint of the score-slot %s (%s) reads logp or entropy", v.Op, v.Pos))
		case ReasonTokenStat:
			stats = append(stats, fmt.Sprintf("%s %%%d (%s)", v.Op, r.Value, v.Pos))
		}
	}
	if len(stats) > 0 {
		parts = append(parts, "a token adjoint reads batch sums of logp or entropy: "+strings.Join(stats, ", "))
	}
	return strings.Join(parts, "; ")
}

// Format prints the schedule of p, as `realc dump --pass schedule` shows it.
func (s *Schedule) Format(p *Program) string {
	var b strings.Builder
	if s.OnePass {
		b.WriteString("schedule: one pass over the rows\n")
	} else {
		b.WriteString("schedule: two passes over the rows (statistics, then gradients):\n")
		for _, r := range s.Reasons {
			fmt.Fprintf(&b, "  %s %%%d\n", map[ReasonKind]string{ReasonTokenStat: "token adjoint reads the batch statistic",
				ReasonScoreReadsToken: "score stage reads", ReasonScoreAdjToken: "score-slot adjoint reads logp or entropy:"}[r.Kind], r.Value)
		}
	}
	for _, ph := range s.Phases {
		fmt.Fprintf(&b, "phase %s (%s): %d values\n", ph.Name, ph.Doc, len(ph.Values))
		for _, st := range ph.Steps {
			switch {
			case st.Reduce && st.KeptOnly:
				fmt.Fprintf(&b, "  reduce %s over kept groups: %s\n", st.Axis, idList(st.Values))
			case st.Reduce:
				fmt.Fprintf(&b, "  reduce %s: %s\n", st.Axis, idList(st.Values))
			default:
				fmt.Fprintf(&b, "  loop %s: %s\n", st.Axis, idList(st.Values))
			}
		}
	}
	adj := func(id ID) string {
		if id == NoID {
			return "none"
		}
		return fmt.Sprintf("%%%d", id)
	}
	fmt.Fprintf(&b, "token adjoint: dL/dlogp %s, dL/dentropy %s", adj(s.LogpAdj), adj(s.EntropyAdj))
	if s.OnePass {
		fmt.Fprintf(&b, ", per row from %s", idList(s.Adjoint))
	} else {
		b.WriteString(", from the token phase")
	}
	b.WriteByte('\n')
	for _, g := range s.ScoreGrads {
		fmt.Fprintf(&b, "score-slot adjoint: %%%d of %%%d\n", g.Adjoint, g.Readout)
	}
	var uses []string
	for _, u := range []struct {
		on   bool
		name string
	}{{s.ScoreReadouts, "score rows"}, {s.Entropy, "entropy"}, {s.OldLogp, "old_logp"}, {s.RefLogp, "ref_logp"}} {
		if u.on {
			uses = append(uses, u.name)
		}
	}
	uses = append(uses, s.Regions...)
	if len(uses) > 0 {
		fmt.Fprintf(&b, "batch provides: %s\n", strings.Join(uses, ", "))
	}
	fmt.Fprintf(&b, "slots: %d scalar + %d per group + %d per sequence + %d per token\n", s.Counts[0], s.Counts[1], s.Counts[2], s.Counts[3])
	for ax := AxisScalar; ax <= AxisToken; ax++ {
		var ids []ID
		for _, v := range p.Values {
			if v.Axis == ax {
				ids = append(ids, v.ID)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", ax, idList(ids))
		}
	}
	var params []string
	for _, kp := range s.Params {
		params = append(params, kp.C())
	}
	fmt.Fprintf(&b, "kernel arguments: %s\n", strings.Join(params, ", "))
	return b.String()
}

// C is the parameter's C declaration.
func (kp KernelParam) C() string {
	if !kp.Ptr {
		return kp.Elem + " " + kp.Name
	}
	c := ""
	if kp.Const {
		c = "const "
	}
	return c + kp.Elem + "* __restrict__ " + kp.Name
}

func idList(ids []ID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%%%d", id)
	}
	return strings.Join(parts, " ")
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}
