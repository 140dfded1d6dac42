package compiler

import (
	"fmt"
	"strings"

	"github.com/realc-project/realc/dsl"
)

// ID names one IR value: its index in Program.Values. NoID marks an absent value.
type ID int32

// NoID is the ID of an absent value (no filter, no adjoint).
const NoID ID = -1

// Axis is the shape class of a value. Broadcasting goes outward only: a scalar
// is used at every group, a group value at each of its sequences, a sequence
// value at each of its tokens. Values are ordered Scalar < Group < Seq < Token.
type Axis uint8

const (
	AxisScalar Axis = iota // one number for the whole batch
	AxisGroup              // one number per group (prompt)
	AxisSeq                // one number per sequence (response)
	AxisToken              // one number per response token
)

func (a Axis) String() string {
	switch a {
	case AxisScalar:
		return "scalar"
	case AxisGroup:
		return "group"
	case AxisSeq:
		return "seq"
	case AxisToken:
		return "token"
	}
	return fmt.Sprintf("axis(%d)", a)
}

// Stage is the earliest recipe stage that needs a value. Stages run in this
// order: score (rewards, no grad), filter (which groups train), advantage (no
// grad), loss (grad), grad (adjoints of the loss, see Program.Grads).
// A value of an earlier stage used by a later one is carried over (for the
// loss kernel: advantages and rewards are per-sequence inputs).
type Stage uint8

const (
	StageScore Stage = iota
	StageFilter
	StageAdvantage
	StageLoss
	StageGrad
)

func (s Stage) String() string {
	switch s {
	case StageScore:
		return "score"
	case StageFilter:
		return "filter"
	case StageAdvantage:
		return "advantage"
	case StageLoss:
		return "loss"
	case StageGrad:
		return "grad"
	}
	return fmt.Sprintf("stage(%d)", s)
}

// Op is the operation of a value. The set is closed and small on purpose: an
// emitter translates each value into one statement. Surface functions of the
// language (mean_g, std_g, loo, token_mean, ...) are lowered by the checker into
// these primitives; Value.Label keeps the surface form for explanations.
//
// Each op is declared once, in the op table (ops.go): its arity and payload,
// class, grad flow, value on numbers, identities, derivative, explain form
// and Go and C expressions; Op.Info returns the entry.
//
// Element-wise ops broadcast their arguments to the value's Axis (the largest
// axis among the arguments). Divisions and logs are IEEE: the recipes add their
// own eps where the reference does.
type Op uint8

const (
	OpInvalid Op = iota
	OpConst
	OpHyper
	OpLeaf
	OpExpect
	OpProb
	OpLogProb
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpPow
	OpMin
	OpMax
	OpNeg
	OpExp
	OpLog
	OpSqrt
	OpAbs
	OpStopGrad
	OpClip
	OpLt
	OpLe
	OpGt
	OpGe
	OpEq
	OpNe
	OpAnd
	OpOr
	OpNot
	OpWhere
	OpSumT
	OpSumG
	OpCountG
	OpSumS
	OpCountS
	numOps
)

// Leaf describes a quantity the runtime provides.
type Leaf struct {
	Name string
	Axis Axis
	Grad bool   // logp and entropy carry grad (through the logits of the token's row)
	Doc  string // one line, for diagnostics and explain
}

// Leaves lists every leaf name, in a stable order. Token leaves are defined on
// response tokens; regions (cot, answer, all) and mask are 0/1.
var Leaves = []Leaf{
	{"logp", AxisToken, true, "log-probability of the sampled token under the policy: log softmax(logits[t])[tokens[t]]"},
	{"entropy", AxisToken, true, "entropy of the policy at the token: logsumexp(z) - sum_j p_j z_j"},
	{"old_logp", AxisToken, false, "log-probability under the rollout (behaviour) policy"},
	{"ref_logp", AxisToken, false, "log-probability under the reference policy"},
	{"mask", AxisToken, false, "1 on valid response tokens"},
	{"cot", AxisToken, false, "1 on the chain-of-thought tokens (region cot)"},
	{"answer", AxisToken, false, "1 on the answer slot (region answer)"},
	{"all", AxisToken, false, "1 on every valid response token (same as mask)"},
	{"y", AxisGroup, false, "ground-truth score of the prompt"},
	{"pred", AxisSeq, false, "score parsed from the response (NaN if none)"},
	{"acc", AxisSeq, false, "1 if pred equals y, else 0"},
	{"len", AxisSeq, false, "number of valid response tokens"},
	{"truncated", AxisSeq, false, "1 if the response hit max_response"},
	{"format_ok", AxisSeq, false, "1 if the response ends in the answer marker and a score"},
}

// LookupLeaf returns the leaf of that name.
func LookupLeaf(name string) (Leaf, bool) {
	for _, l := range Leaves {
		if l.Name == name {
			return l, true
		}
	}
	return Leaf{}, false
}

// Pos is a source position, printed file:line:col.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Value is one IR value (an SSA definition). Args refer to earlier values only:
// Program.Values is in topological order.
type Value struct {
	ID     ID
	Op     Op
	Args   []ID
	Axis   Axis
	Grad   bool  // depends on a grad leaf or readout without a stopgrad in between
	Stage  Stage // earliest stage that needs the value
	Const  float64
	Name   string // OpHyper, OpLeaf: the name; otherwise the recipe name bound to it, if any
	Renorm bool   // readouts: softmax renormalized over the score tokens (default: full vocabulary)
	Label  string // surface form for explanations, e.g. "std_g(reg, pop)"; may be empty
	Pos    Pos    // where the value comes from in the recipe
}

// Setting is one key=value of a rollout or optim line. Exactly one of Num,
// Hyper (a hyperparameter name, value given by Program.Hypers or an override)
// or Word (an identifier such as a schedule name) is set.
type Setting struct {
	Key   string
	Num   float64
	Hyper string
	Word  string
	Pos   Pos
}

// Hyper is a hyperparameter: a named constant with a default, overridable by
// trainer flags and by the eval-loss batch.
type Hyper struct {
	Name    string
	Default float64
	Pos     Pos
}

// ScoreSpec says how the score is read: the score values, the strings the
// model writes for them, and the marker that precedes the score.
type ScoreSpec struct {
	Values  []float64
	Strings []string
	Marker  string
	Pos     Pos
}

// Named is a recipe output bound to a name (a reward or an advantage).
type Named struct {
	Name string
	ID   ID
	Pos  Pos
}

// Optim is the optimizer line: its kind ("adamw") and settings (lr, weight_decay,
// clip, epochs, buffer, mini_batch, schedule, warmup, beta1, beta2, eps).
type Optim struct {
	Kind     string
	Settings []Setting
	Pos      Pos
}

// ReadoutGrad is the adjoint of the loss with respect to one grad readout:
// the leaves logp and entropy (per token), and expect/prob/logprob at the score
// slot (per sequence). Adjoint is an IR value of the readout's axis in stage
// StageGrad (or a constant), computed from forward values.
//
// The chain from a readout to the logits is fixed (design.md), z = logits of the
// row, p = softmax(z), q = softmax over the score tokens only (renorm):
//
//	logp (token t):    dlogp/dz_j = [j=tok_t] - p_j
//	entropy:           dH/dz_j    = -p_j (z_j - sum_k p_k z_k)
//	expect:            dE/dz_j    = p_j (v(j) - E)        renorm: q_j (v(j) - E) on score tokens, 0 elsewhere
//	prob(k):           dp/dz_j    = p(k) ([j=k] - p_j)    renorm: q(k) ([j=k] - q_j) on score tokens
//	logprob(k):        dlogp/dz_j = [j=k] - p_j           renorm: [j=k] - q_j on score tokens
//
// where v(j) is the score value of token j (0 for other tokens). dlogits of a
// row is the sum over its readouts of Adjoint times the rule.
type ReadoutGrad struct {
	Readout ID
	Adjoint ID
}

// Program is a checked, lowered, differentiated recipe.
type Program struct {
	Name    string // recipe name
	File    string // source file as given to Compile
	Score   ScoreSpec
	Rollout []Setting // n, temperature, top_p, top_k, max_prompt, max_response, repetition_penalty
	Hypers  []Hyper
	Optim   Optim

	// Values holds every value of every stage in topological order.
	Values []*Value

	Rewards    []Named // score stage: per-sequence rewards, in recipe order
	Lets       []Named // named intermediates (let), for explanations
	Filter     ID      // group axis, nonzero = the group trains; NoID = keep all groups
	Advantages []Named // advantage stage, per sequence
	Loss       ID      // scalar loss

	// Grads holds one entry per grad readout of the loss stage, in value order.
	Grads []ReadoutGrad

	// TwoPass is set when a fused loss kernel must first compute statistics
	// over every row, then the gradients (!Schedule.OnePass); TwoPassWhy
	// names the values that force it (Schedule.Reasons).
	TwoPass    bool
	TwoPassWhy []ID

	// Schedule is the kernel plan (the schedule pass; nil before it).
	Schedule *Schedule

	// Source is the recipe text, for diagnostics and explanations.
	Source []byte

	// Warnings are the checker's diagnostics of severity dsl.Warning, in
	// source order: the recipe compiles, but probably not as meant (a loss
	// term without grad is a constant).
	Warnings []*dsl.Diagnostic
}

// Value returns the value of that ID.
func (p *Program) Value(id ID) *Value { return p.Values[id] }

// Hyper returns the hyperparameter of that name.
func (p *Program) Hyper(name string) (Hyper, bool) {
	for _, h := range p.Hypers {
		if h.Name == name {
			return h, true
		}
	}
	return Hyper{}, false
}

// HyperIndex returns the index of the hyperparameter of that name in
// Program.Hypers (the order generated code passes them in), or -1.
func (p *Program) HyperIndex(name string) int {
	for i, h := range p.Hypers {
		if h.Name == name {
			return i
		}
	}
	return -1
}

func findSetting(ss []Setting, key string) (Setting, bool) {
	for _, s := range ss {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// RolloutSetting returns the rollout setting of that key.
func (p *Program) RolloutSetting(key string) (Setting, bool) { return findSetting(p.Rollout, key) }

// OptimSetting returns the optim setting of that key.
func (p *Program) OptimSetting(key string) (Setting, bool) { return findSetting(p.Optim.Settings, key) }

// Deps returns the IDs that roots depend on (roots included), in topological order.
func (p *Program) Deps(roots ...ID) []ID {
	seen := make([]bool, len(p.Values))
	var mark func(ID)
	mark = func(id ID) {
		if id == NoID || seen[id] {
			return
		}
		seen[id] = true
		for _, a := range p.Values[id].Args {
			mark(a)
		}
	}
	for _, r := range roots {
		mark(r)
	}
	var out []ID
	for i, s := range seen {
		if s {
			out = append(out, ID(i))
		}
	}
	return out
}

// String prints a value as one line of IR: "%7 = mul %3 %5 : seq grad @file:line:col".
func (v *Value) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%%%d = %s", v.ID, v.Op)
	switch v.Op {
	case OpConst:
		fmt.Fprintf(&b, " %s", fmtNum(v.Const))
	case OpHyper, OpLeaf:
		fmt.Fprintf(&b, " %s", v.Name)
	}
	for _, a := range v.Args {
		fmt.Fprintf(&b, " %%%d", a)
	}
	if v.Renorm {
		b.WriteString(" renorm")
	}
	fmt.Fprintf(&b, " : %s", v.Axis)
	if v.Grad {
		b.WriteString(" grad")
	}
	fmt.Fprintf(&b, " [%s]", v.Stage)
	if v.Name != "" && v.Op != OpHyper && v.Op != OpLeaf {
		fmt.Fprintf(&b, " (%s)", v.Name)
	}
	if v.Pos.Line > 0 {
		fmt.Fprintf(&b, " @%s", v.Pos)
	}
	return b.String()
}

// fmtNum prints a float64 in the shortest form that reads back exactly.
func fmtNum(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%v", f), ".0") }
