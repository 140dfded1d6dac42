package compiler

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/realc-project/realc/dsl"
)

// ctx is where an expression is checked.
type ctx struct {
	stage Stage
	// nogradReadouts: the score stage reads the policy in a no-grad forward
	// (REAL's stage 1, under inference mode), so its readouts and token leaves
	// carry no grad there.
	nogradReadouts bool
	// batch: reductions over the kept sequences (token_mean, mean, ...) are
	// allowed. They are not in rewards and filters, which decide what is kept.
	batch bool
	what  string // "reward reg", "the filter", ... for messages
}

// def is a named definition: let, reward or adv.
type def struct {
	kind string
	stmt *dsl.DefStmt
	id   ID // rewards and advantages: their value once checked
	done bool
}

type checker struct {
	src   *dsl.Source
	errs  dsl.ErrorList
	warns dsl.ErrorList
	prog  *Program
	defs  map[string]*def
	order map[string]int // statement index of each definition
	cur   int            // index of the statement being checked
	// letMemo caches a let's value per context key, letBusy detects cycles.
	letMemo  map[string]ID
	letBusy  map[string]bool
	hasScore bool
	// hyperLine is the line of the first hyper statement (0: none), for
	// the hint to declare an unknown name there.
	hyperLine int
	maxResp   float64
	// broken names the statements that failed to parse: the checker keeps
	// quiet about what they would have defined.
	brokenKind map[string]bool
	brokenName map[string]bool
}

func (c *checker) errorf(pos dsl.Pos, format string, args ...any) {
	c.errs = append(c.errs, c.src.Errorf(pos, format, args...))
}

func (c *checker) warnf(pos dsl.Pos, format string, args ...any) {
	c.warns = append(c.warns, c.src.Warnf(pos, format, args...))
}

func irPos(p dsl.Pos) Pos { return Pos{File: p.File, Line: p.Line, Col: p.Col} }

func toDsl(p Pos) dsl.Pos { return dsl.Pos{File: p.File, Line: p.Line, Col: p.Col} }

// add appends a value (no folding, no sharing: the fold and cse passes do that).
func (c *checker) add(v *Value) ID {
	v.ID = ID(len(c.prog.Values))
	c.prog.Values = append(c.prog.Values, v)
	return v.ID
}

func (c *checker) val(id ID) *Value { return c.prog.Values[id] }

func (c *checker) konst(x float64, pos Pos) ID {
	return c.add(&Value{Op: OpConst, Const: x, Axis: AxisScalar, Pos: pos})
}

// op builds an element-wise value; its axis is the largest of its arguments',
// its grad flag the OR of theirs (comparisons and logic carry no grad).
func (c *checker) op(op Op, pos Pos, label string, args ...ID) ID {
	v := &Value{Op: op, Args: args, Pos: pos, Label: label}
	for _, a := range args {
		av := c.val(a)
		v.Axis = max(v.Axis, av.Axis)
		v.Grad = v.Grad || av.Grad
	}
	switch info := op.Info(); {
	case info.NoGrad:
		v.Grad = false
	case info.CondArg: // the condition's grad does not flow
		v.Grad = false
		for _, a := range args[1:] {
			v.Grad = v.Grad || c.val(a).Grad
		}
	}
	return c.add(v)
}

// reduce builds a reduction to axis ax.
func (c *checker) reduce(op Op, pos Pos, label string, ax Axis, arg ID) ID {
	v := &Value{Op: op, Axis: ax, Pos: pos, Label: label}
	if arg != NoID {
		v.Args = []ID{arg}
		v.Grad = c.val(arg).Grad
	}
	return c.add(v)
}

func (c *checker) leaf(name string, x ctx, pos Pos) ID {
	l, _ := LookupLeaf(name)
	return c.add(&Value{Op: OpLeaf, Name: name, Axis: l.Axis, Grad: l.Grad && !x.nogradReadouts, Pos: pos})
}

// Compile parses, checks, lowers and differentiates a recipe. Errors come back
// as a dsl.ErrorList (every error found, in source order).
func Compile(filename string, src []byte) (*Program, error) {
	return CompileUpTo(filename, src, "")
}

// CompileUpTo runs the passes up to and including the named one ("" = all).
func CompileUpTo(filename string, src []byte, lastPass string) (*Program, error) {
	if lastPass != "" && passIndex(lastPass) < 0 {
		return nil, fmt.Errorf("unknown pass %q%s; passes are %s", lastPass, dsl.Suggest(lastPass, PassNames()), strings.Join(PassNames(), ", "))
	}
	f, perr := dsl.Parse(filename, src)
	prog, err := Check(f, src)
	if perr != nil {
		// Report the parse errors and what the checker finds in the
		// statements that did parse, all at once.
		all := append(dsl.ErrorList{}, perr.(dsl.ErrorList)...)
		if el, ok := err.(dsl.ErrorList); ok {
			all = append(all, el...)
		}
		return nil, all.Err()
	}
	if err != nil {
		return nil, err
	}
	if lastPass == "check" {
		return prog, nil
	}
	for _, p := range Passes[1:] {
		if err := p.Run(prog); err != nil {
			return nil, err
		}
		if p.Name == lastPass {
			break
		}
	}
	return prog, nil
}

var settingKeys = map[string][]string{
	"rollout": {"n", "temperature", "top_p", "top_k", "max_prompt", "max_response", "repetition_penalty"},
	"optim":   {"lr", "weight_decay", "beta1", "beta2", "eps", "clip", "epochs", "buffer", "mini_batch", "schedule", "warmup"},
}

var integerSettings = map[string]bool{"n": true, "top_k": true, "max_prompt": true, "max_response": true, "epochs": true, "buffer": true, "mini_batch": true}

// Check resolves names and types and builds the IR of a parsed recipe (the
// "check" pass).
func Check(f *dsl.File, src []byte) (*Program, error) {
	c := &checker{
		src:        &dsl.Source{File: f.Name, Text: src},
		prog:       &Program{File: f.Name, Filter: NoID, Loss: NoID, Source: src},
		defs:       map[string]*def{},
		order:      map[string]int{},
		letMemo:    map[string]ID{},
		letBusy:    map[string]bool{},
		brokenKind: map[string]bool{},
		brokenName: map[string]bool{},
	}
	for _, b := range f.Broken {
		c.brokenKind[b.Kind] = true
		if b.Name != "" {
			c.brokenName[b.Name] = true
		}
	}
	c.declarations(f)
	c.stages(f)
	assignStages(c.prog)
	if w := c.warns.Err(); w != nil {
		c.prog.Warnings = w.(dsl.ErrorList)
	}
	return c.prog, c.errs.Err()
}

// reserved names cannot be redefined.
func reserved(name string) string {
	if _, ok := LookupLeaf(name); ok {
		return "the leaf " + name
	}
	if name == "score" || name == "renorm" || name == "pop" || name == "unbiased" {
		return "the reserved name " + name
	}
	if _, ok := functions[name]; ok {
		return "the function " + name
	}
	for _, k := range dsl.Keywords {
		if k == name {
			return "the keyword " + name
		}
	}
	return ""
}

// declarations checks the metadata statements and collects names.
func (c *checker) declarations(f *dsl.File) {
	var first = map[string]dsl.Pos{}
	once := func(kind string, pos dsl.Pos) bool {
		if p, ok := first[kind]; ok {
			c.errorf(pos, "a second %s statement; the first is at line %d", kind, p.Line)
			return false
		}
		first[kind] = pos
		return true
	}
	namePos := map[string]dsl.Pos{}
	declare := func(id dsl.Ident, what string) bool {
		if r := reserved(id.Name); r != "" {
			c.errorf(id.Pos, "%s %s shadows %s; choose another name", what, id.Name, r)
			return false
		}
		if p, ok := namePos[id.Name]; ok {
			c.errorf(id.Pos, "%s is already defined at line %d", id.Name, p.Line)
			return false
		}
		namePos[id.Name] = id.Pos
		return true
	}
	// Hyperparameters first: settings may refer to them wherever they are.
	for _, s := range f.Stmts {
		if h, ok := s.(*dsl.HyperStmt); ok {
			if c.hyperLine == 0 {
				c.hyperLine = h.Pos.Line
			}
			for _, it := range h.Items {
				if declare(it.Name, "hyper") {
					c.prog.Hypers = append(c.prog.Hypers, Hyper{Name: it.Name.Name, Default: it.Value.Val, Pos: irPos(it.Name.Pos)})
				}
			}
		}
	}
	for i, s := range f.Stmts {
		switch s := s.(type) {
		case *dsl.RecipeStmt:
			if once("recipe", s.Pos) {
				c.prog.Name = s.Name.Name
			}
		case *dsl.ScoreStmt:
			if once("score", s.Pos) {
				c.scoreSpec(s)
			}
		case *dsl.SettingsStmt:
			if once(s.Kind, s.Pos) {
				c.settings(s)
			}
		case *dsl.DefStmt:
			if declare(s.Name, s.Kind) {
				c.defs[s.Name.Name] = &def{kind: s.Kind, stmt: s, id: NoID}
				c.order[s.Name.Name] = i
			}
		case *dsl.ExprStmt:
			once(s.Kind, s.Pos)
		}
	}
	if _, ok := first["recipe"]; !ok && !c.brokenKind["recipe"] {
		c.errorf(dsl.Pos{File: f.Name, Line: 1, Col: 1}, "missing recipe statement: start the file with `recipe NAME`")
	}
	if _, ok := first["loss"]; !ok && !c.brokenKind["loss"] {
		c.errorf(dsl.Pos{File: f.Name, Line: 1, Col: 1}, "missing loss statement: a recipe needs `loss EXPR`")
	}
}

func (c *checker) scoreSpec(s *dsl.ScoreStmt) {
	c.hasScore = true
	sp := &c.prog.Score
	sp.Pos = irPos(s.Pos)
	seenV := map[float64]dsl.Pos{}
	seenS := map[string]dsl.Pos{}
	for _, t := range s.Tokens {
		if p, ok := seenV[t.Value.Val]; ok {
			c.errorf(t.Pos, "score value %s appears twice (first at column %d)", t.Value.Text, p.Col)
			continue
		}
		if p, ok := seenS[t.Str]; ok {
			c.errorf(t.Pos, "score string %q appears twice (first at column %d)", t.Str, p.Col)
			continue
		}
		if t.Str == "" {
			c.errorf(t.Pos, "score string for %s is empty", t.Value.Text)
			continue
		}
		seenV[t.Value.Val], seenS[t.Str] = t.Pos, t.Pos
		sp.Values = append(sp.Values, t.Value.Val)
		sp.Strings = append(sp.Strings, t.Str)
	}
	if len(s.Tokens) < 2 {
		c.errorf(s.Pos, "score needs at least two tokens, e.g. score tokens 1=\"1\" 2=\"2\" after \"MARKER\"")
	}
	if !s.HasMarker {
		c.errorf(s.Pos, "score needs its answer marker: add after \"So the overall score is \" (or the recipe's marker)")
	} else if s.Marker == "" {
		c.errorf(s.MarkerPos, "the answer marker is empty")
	}
	sp.Marker = s.Marker
}

func (c *checker) settings(s *dsl.SettingsStmt) {
	keys := settingKeys[s.Kind]
	var out []Setting
	seen := map[string]bool{}
	if s.Kind == "optim" {
		c.prog.Optim.Pos = irPos(s.Pos)
		c.prog.Optim.Kind = s.Name.Name
		if s.Name.Name != "adamw" {
			c.errorf(s.Name.Pos, "unknown optimizer %q%s; realc has adamw", s.Name.Name, dsl.Suggest(s.Name.Name, []string{"adamw"}))
		}
	}
	for _, st := range s.Settings {
		k := st.Key.Name
		known := false
		for _, kk := range keys {
			known = known || kk == k
		}
		if !known {
			c.errorf(st.Key.Pos, "unknown %s setting %q%s; known: %s", s.Kind, k, dsl.Suggest(k, keys), strings.Join(keys, ", "))
			continue
		}
		if seen[k] {
			c.errorf(st.Key.Pos, "%s %s is set twice", s.Kind, k)
			continue
		}
		seen[k] = true
		set := Setting{Key: k, Pos: irPos(st.Key.Pos)}
		switch {
		case k == "schedule":
			if st.Ident == nil || (st.Ident.Name != "constant" && st.Ident.Name != "cosine" && st.Ident.Name != "linear") {
				c.errorf(st.Key.Pos, "schedule must be constant, cosine or linear")
				continue
			}
			set.Word = st.Ident.Name
		case st.Ident != nil:
			if s.Kind == "rollout" {
				c.errorf(st.Ident.Pos, "rollout %s must be a number, not the name %s", k, st.Ident.Name)
				continue
			}
			if _, ok := c.prog.Hyper(st.Ident.Name); !ok {
				if hint := dsl.SuggestFit(st.Ident.Name, c.hyperNames(), nil); hint != "" {
					c.errorf(st.Ident.Pos, "unknown hyperparameter %q for %s%s", st.Ident.Name, k, hint)
				} else {
					c.errorf(st.Ident.Pos, "unknown hyperparameter %q for %s: %s", st.Ident.Name, k, c.declareHyper(st.Ident.Name))
				}
				continue
			}
			set.Hyper = st.Ident.Name
		default:
			v := st.Num.Val
			if msg := checkSetting(k, v); msg != "" {
				c.errorf(st.Num.Pos, "%s %s %s", s.Kind, k, msg)
				continue
			}
			set.Num = v
			if k == "max_response" {
				c.maxResp = v
			}
		}
		out = append(out, set)
	}
	if s.Kind == "rollout" {
		c.prog.Rollout = out
	} else {
		c.prog.Optim.Settings = out
	}
}

func checkSetting(k string, v float64) string {
	if integerSettings[k] && v != math.Trunc(v) {
		return fmt.Sprintf("must be an integer, got %v", v)
	}
	switch k {
	case "n", "max_prompt", "max_response", "epochs", "buffer", "mini_batch":
		if v < 1 {
			return fmt.Sprintf("must be at least 1, got %v", v)
		}
	case "temperature", "lr", "eps", "clip":
		if v <= 0 {
			return fmt.Sprintf("must be positive, got %v", v)
		}
	case "top_p", "beta1", "beta2":
		if v <= 0 || v > 1 {
			return fmt.Sprintf("must be in (0, 1], got %v", v)
		}
	case "weight_decay", "warmup", "repetition_penalty":
		if v < 0 {
			return fmt.Sprintf("must not be negative, got %v", v)
		}
	case "top_k":
		if v < -1 || v == 0 {
			return fmt.Sprintf("must be -1 (off) or at least 1, got %v", v)
		}
	}
	return ""
}

// declareHyper says how to declare name as a hyperparameter: on the
// recipe's hyper line where it has one.
func (c *checker) declareHyper(name string) string {
	if c.hyperLine > 0 {
		return fmt.Sprintf("add `%s = VALUE` to the hyper line (line %d)", name, c.hyperLine)
	}
	return fmt.Sprintf("declare it on a hyper line: `hyper %s = VALUE`", name)
}

func (c *checker) hyperNames() []string {
	var out []string
	for _, h := range c.prog.Hypers {
		out = append(out, h.Name)
	}
	return out
}

// stages checks rewards, filter, advantages, lets and the loss, building IR.
func (c *checker) stages(f *dsl.File) {
	for i, s := range f.Stmts {
		c.cur = i
		switch s := s.(type) {
		case *dsl.DefStmt:
			d := c.defs[s.Name.Name]
			if d == nil || d.stmt != s {
				continue // duplicate, already reported
			}
			c.definition(d)
		case *dsl.ExprStmt:
			if s.Kind == "filter" {
				if c.prog.Filter != NoID {
					continue
				}
				x := ctx{stage: StageFilter, what: "the filter"}
				id := c.expr(s.X, x)
				if id == NoID {
					continue
				}
				v := c.val(id)
				if v.Axis > AxisGroup {
					c.errorf(s.X.Start(), "the filter must give one value per group, but it is per %s; reduce it with mean_g, e.g. filter 0 < mean_g(acc) < 1", v.Axis)
					continue
				}
				if c.noGrad(id, x, s.X.Start()) {
					c.prog.Filter = id
				}
			} else {
				if c.prog.Loss != NoID {
					continue
				}
				x := ctx{stage: StageLoss, batch: true, what: "the loss"}
				id := c.expr(s.X, x)
				if id == NoID {
					continue
				}
				v := c.val(id)
				if v.Axis != AxisScalar {
					c.errorf(s.X.Start(), "the loss must be a scalar, but it is per %s; aggregate it with token_mean, seq_mean_token_sum, seq_mean_token_mean, seq_mean_token_sum_norm or mean", v.Axis)
					continue
				}
				if !v.Grad {
					c.errorf(s.X.Start(), "the loss does not depend on the policy: use logp, entropy or a score readout (expect, prob, logprob) outside stopgrad")
					continue
				}
				c.constantTerms(s.X, id)
				c.prog.Loss = id
			}
		}
	}
}

func (c *checker) definition(d *def) {
	s := d.stmt
	var x ctx
	switch d.kind {
	case "reward":
		x = ctx{stage: StageScore, nogradReadouts: true, what: "reward " + s.Name.Name}
	case "adv":
		x = ctx{stage: StageAdvantage, batch: true, what: "advantage " + s.Name.Name}
	case "let":
		// Checked here for its own errors as a loss-stage value; each use
		// re-checks it in the user's context.
		id := c.letValue(d, ctx{stage: StageLoss, batch: true, what: "let " + s.Name.Name}, s.Name.Pos)
		if id != NoID {
			c.prog.Lets = append(c.prog.Lets, Named{Name: s.Name.Name, ID: id, Pos: irPos(s.Name.Pos)})
		}
		d.done = true
		return
	}
	id := c.expr(s.X, x)
	d.done = true
	if id == NoID {
		return
	}
	v := c.val(id)
	if v.Axis == AxisToken {
		c.errorf(s.X.Start(), "%s is per token; a %s is one value per sequence: reduce it with sum_t or mean_t", x.what, map[string]string{"reward": "reward", "adv": "advantage"}[d.kind])
		return
	}
	if !c.noGrad(id, x, s.X.Start()) {
		return
	}
	if v.Op != OpLeaf && v.Op != OpHyper && v.Name == "" {
		v.Name = s.Name.Name
	}
	d.id = id
	n := Named{Name: s.Name.Name, ID: id, Pos: irPos(s.Name.Pos)}
	if d.kind == "reward" {
		c.prog.Rewards = append(c.prog.Rewards, n)
	} else {
		c.prog.Advantages = append(c.prog.Advantages, n)
	}
}

// constantTerms warns about each term of the loss (an operand of its
// top-level sums and differences) that has no path to a value with grad:
// such a term is a constant, adds nothing to the gradient, and is most likely
// a mistake (mean(-reg) reads a reward, and rewards carry no grad). e is the
// loss expression and id its value, built by expr without folding, so the
// two trees match node for node.
func (c *checker) constantTerms(e dsl.Expr, id ID) {
	v := c.val(id)
	switch e := e.(type) {
	case *dsl.Paren:
		c.constantTerms(e.X, id)
		return
	case *dsl.Binary:
		if (e.Op == "+" && v.Op == OpAdd) || (e.Op == "-" && v.Op == OpSub) {
			c.constantTerms(e.X, v.Args[0])
			c.constantTerms(e.Y, v.Args[1])
			return
		}
	case *dsl.Unary:
		if e.Op == "-" && v.Op == OpNeg {
			c.constantTerms(e.X, v.Args[0])
			return
		}
	}
	if v.Grad {
		return
	}
	if _, ok := e.(*dsl.Num); ok {
		c.warnf(e.Start(), "the loss term %s is a constant: it adds nothing to the gradient", dsl.FormatExpr(e))
		return
	}
	c.warnf(e.Start(), "the loss term %s has no path to a value with grad (logp, entropy or a score readout outside stopgrad; rewards and advantages carry none): it is a constant and adds nothing to the gradient",
		dsl.FormatExpr(e))
}

// noGrad reports an error if id carries grad in a no-grad stage, or reads a
// value with grad that an operator without a derivative (a comparison, a
// logical operator) hides: the filter and the advantages must not follow
// the policy being trained unless the recipe says so with stopgrad.
func (c *checker) noGrad(id ID, x ctx, pos dsl.Pos) bool {
	if !c.val(id).Grad {
		src, via := c.hiddenGrad(id)
		if src == NoID {
			return true
		}
		c.errorf(pos, "%s reads %s at %d:%d, which carries grad; %s drops the grad, but %s stage values must not depend on values with grad: wrap it in stopgrad(...)%s",
			x.what, describeValue(c.val(src)), c.val(src).Pos.Line, c.val(src).Pos.Col, via, x.stage,
			map[bool]string{true: " or compute it as a reward (rewards read the policy without grad)", false: ""}[x.stage == StageAdvantage])
		return false
	}
	src := c.gradSource(id)
	c.errorf(pos, "%s carries grad through %s at %d:%d, but %s stage values are constants: wrap it in stopgrad(...)%s",
		x.what, describeValue(c.val(src)), c.val(src).Pos.Line, c.val(src).Pos.Col, x.stage,
		map[bool]string{true: " or compute it as a reward (rewards read the policy without grad)", false: ""}[x.stage == StageAdvantage])
	return false
}

// hiddenGrad finds a value with grad under id (not under stopgrad) that an
// operator without a derivative hides from id's grad flag; it returns its
// grad source and that operator, described.
func (c *checker) hiddenGrad(id ID) (ID, string) {
	v := c.val(id)
	if v.Op == OpStopGrad {
		return NoID, ""
	}
	for _, a := range v.Args {
		if c.val(a).Grad {
			return c.gradSource(a), describeDrop(v.Op)
		}
		if src, via := c.hiddenGrad(a); src != NoID {
			return src, via
		}
	}
	return NoID, ""
}

func describeDrop(op Op) string {
	sym := strings.TrimSpace(op.Info().Math.Sym)
	switch op {
	case OpLt, OpLe, OpGt, OpGe, OpEq, OpNe:
		return "the comparison " + sym
	case OpAnd, OpOr, OpNot:
		return "the logical operator " + sym
	case OpWhere:
		return "where's condition"
	}
	return op.String()
}

// gradSource finds a grad leaf or readout under id.
func (c *checker) gradSource(id ID) ID {
	v := c.val(id)
	if v.Op == OpLeaf || v.Op.IsReadout() {
		return id
	}
	for _, a := range v.Args {
		if c.val(a).Grad {
			return c.gradSource(a)
		}
	}
	return id
}

func describeValue(v *Value) string {
	switch v.Op {
	case OpLeaf:
		return v.Name
	case OpExpect:
		return "expect(score)"
	case OpProb:
		return "prob(score, ...)"
	case OpLogProb:
		return "logprob(score, ...)"
	}
	return v.Op.String()
}

func ctxKey(x ctx) string { return fmt.Sprintf("%d/%v/%v", x.stage, x.nogradReadouts, x.batch) }

func (c *checker) letValue(d *def, x ctx, use dsl.Pos) ID {
	name := d.stmt.Name.Name
	key := name + "@" + ctxKey(x)
	if id, ok := c.letMemo[key]; ok {
		return id
	}
	if c.letBusy[name] {
		c.errorf(use, "let %s refers to itself", name)
		return NoID
	}
	c.letBusy[name] = true
	id := c.expr(d.stmt.X, x)
	c.letBusy[name] = false
	c.letMemo[key] = id
	if id != NoID && c.val(id).Name == "" && c.val(id).Op != OpLeaf && c.val(id).Op != OpHyper {
		c.val(id).Name = name
	}
	return id
}

// allNames lists every name an expression may use, for suggestions.
func (c *checker) allNames() []string {
	var out []string
	for _, l := range Leaves {
		out = append(out, l.Name)
	}
	out = append(out, c.hyperNames()...)
	for n := range c.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *checker) name(n *dsl.Name, x ctx) ID {
	pos := irPos(n.Pos)
	if _, ok := c.prog.Hyper(n.Name); ok {
		return c.add(&Value{Op: OpHyper, Name: n.Name, Axis: AxisScalar, Pos: pos})
	}
	if _, ok := LookupLeaf(n.Name); ok {
		return c.leaf(n.Name, x, pos)
	}
	switch n.Name {
	case "score":
		c.errorf(n.Pos, "score is the policy's distribution at the score slot: read it with expect(score), prob(score, k) or logprob(score, k)")
		return NoID
	case "renorm", "pop", "unbiased":
		c.errorf(n.Pos, "%s is an option, not a value: use it as the last argument of a readout (renorm) or of std_g (pop, unbiased)", n.Name)
		return NoID
	}
	d := c.defs[n.Name]
	if d == nil {
		if _, ok := functions[n.Name]; ok {
			c.errorf(n.Pos, "%s is a function: call it, e.g. %s", n.Name, functions[n.Name].usage)
			return NoID
		}
		if !c.brokenName[n.Name] {
			if hint := dsl.SuggestFit(n.Name, c.allNames(), nil); hint != "" {
				c.errorf(n.Pos, "unknown name %q%s", n.Name, hint)
			} else {
				c.errorf(n.Pos, "unknown name %q: if it is a hyperparameter, %s; otherwise define it with `let %s = EXPR`", n.Name, c.declareHyper(n.Name), n.Name)
			}
		}
		return NoID
	}
	if c.order[n.Name] > c.cur {
		c.errorf(n.Pos, "%s is defined at line %d, after this use: move its definition up", n.Name, d.stmt.Pos.Line)
		return NoID
	}
	switch d.kind {
	case "let":
		return c.letValue(d, x, n.Pos)
	case "reward":
		if !d.done || d.id == NoID {
			return NoID // its own error was reported
		}
		return d.id
	default: // adv
		if x.stage < StageAdvantage {
			c.errorf(n.Pos, "advantage %s cannot be used in %s: advantages are computed after rewards and the filter", n.Name, x.what)
			return NoID
		}
		if !d.done || d.id == NoID {
			return NoID
		}
		return d.id
	}
}

func (c *checker) expr(e dsl.Expr, x ctx) ID {
	switch e := e.(type) {
	case *dsl.Paren:
		return c.expr(e.X, x)
	case *dsl.Num:
		return c.konst(e.Val, irPos(e.Pos))
	case *dsl.Name:
		return c.name(e, x)
	case *dsl.Unary:
		a := c.expr(e.X, x)
		if a == NoID {
			return NoID
		}
		if e.Op == "-" {
			return c.op(OpNeg, irPos(e.Pos), "", a)
		}
		return c.op(OpNot, irPos(e.Pos), "", a)
	case *dsl.Binary:
		a, b := c.expr(e.X, x), c.expr(e.Y, x)
		if a == NoID || b == NoID {
			return NoID
		}
		op := map[string]Op{"+": OpAdd, "-": OpSub, "*": OpMul, "/": OpDiv, "^": OpPow, "&&": OpAnd, "||": OpOr}[e.Op]
		return c.op(op, irPos(e.Pos), "", a, b)
	case *dsl.Compare:
		ids := make([]ID, len(e.Xs))
		bad := false
		for i, xe := range e.Xs {
			ids[i] = c.expr(xe, x)
			bad = bad || ids[i] == NoID
		}
		if bad {
			return NoID
		}
		res := NoID
		defer func() {
			if res != NoID && len(e.Ops) > 1 {
				c.val(res).Label = dsl.FormatExpr(e)
			}
		}()
		for i, o := range e.Ops {
			op := map[string]Op{"<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe, "==": OpEq, "!=": OpNe}[o]
			cmp := c.op(op, irPos(e.OpPos[i]), "", ids[i], ids[i+1])
			if res == NoID {
				res = cmp
			} else {
				res = c.op(OpAnd, irPos(e.OpPos[i]), "", res, cmp)
			}
		}
		return res
	case *dsl.Call:
		return c.call(e, x)
	}
	return NoID
}
