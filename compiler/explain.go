package compiler

import (
	"fmt"
	"strings"

	"github.com/realc-project/realc/dsl"
)

// Dump prints the IR, one value per line, then the roots.
func Dump(p *Program) string {
	var b strings.Builder
	fmt.Fprintf(&b, "recipe %s (%s)\n", p.Name, p.File)
	for _, v := range p.Values {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	for _, n := range p.Rewards {
		fmt.Fprintf(&b, "reward %s = %%%d\n", n.Name, n.ID)
	}
	if p.Filter != NoID {
		fmt.Fprintf(&b, "filter = %%%d\n", p.Filter)
	}
	for _, n := range p.Advantages {
		fmt.Fprintf(&b, "adv %s = %%%d\n", n.Name, n.ID)
	}
	if p.Loss != NoID {
		fmt.Fprintf(&b, "loss = %%%d\n", p.Loss)
	}
	for _, g := range p.Grads {
		fmt.Fprintf(&b, "grad %%%d = %%%d\n", g.Readout, g.Adjoint)
	}
	if p.Schedule != nil {
		b.WriteString(p.Schedule.Format(p))
	}
	return b.String()
}

// printer renders IR values as math.
type printer struct {
	p     *Program
	temps map[ID]string // shared adjoint subexpressions, printed once
	named bool          // print named forward values by name
	top   ID            // do not abbreviate this value to its name
}

const (
	mPrecCmp = 3 + iota
	mPrecAdd
	mPrecMul
	mPrecUnary
	mPrecPow
	mPrecAtom
)

func (pr *printer) expr(id ID) string { s, _ := pr.sub(id); return s }

func (pr *printer) wrap(id ID, minPrec int) string {
	s, prec := pr.sub(id)
	if prec < minPrec {
		return "(" + s + ")"
	}
	return s
}

// sub prints value id and returns its precedence.
func (pr *printer) sub(id ID) (string, int) {
	v := pr.p.Values[id]
	if t, ok := pr.temps[id]; ok {
		return t, mPrecAtom
	}
	if id != pr.top && pr.named && v.Name != "" && v.Op != OpConst {
		return v.Name, mPrecAtom
	}
	if id != pr.top && v.Label != "" && v.Op != OpConst && v.Stage != StageGrad {
		return v.Label, mPrecAtom
	}
	a := v.Args
	switch v.Op {
	case OpConst:
		s := fmtNum(v.Const)
		if v.Const < 0 {
			return s, mPrecUnary
		}
		return s, mPrecAtom
	case OpHyper, OpLeaf:
		return v.Name, mPrecAtom
	case OpExpect:
		return "expect(score" + renorm(v) + ")", mPrecAtom
	case OpProb, OpLogProb:
		return v.Op.String() + "(score, " + pr.expr(a[0]) + renorm(v) + ")", mPrecAtom
	case OpMul:
		// Adjoints come out as (1 / n) * x; print x / n.
		if d := pr.p.Values[a[0]]; d.Op == OpDiv && isConst(pr.p.Values[d.Args[0]], 1) && pr.plain(a[0]) {
			return pr.wrap(a[1], mPrecMul) + " / " + pr.wrap(d.Args[1], mPrecMul+1), mPrecMul
		}
	}
	m := v.Op.Info().Math
	switch m.Kind {
	case MathInfix:
		return pr.wrap(a[0], m.Left) + m.Sym + pr.wrap(a[1], m.Right), m.Prec
	case MathPrefix:
		return m.Sym + pr.wrap(a[0], m.Left), m.Prec
	case MathSum:
		return m.Sym + pr.sumArg(a[0], m.Left), m.Prec
	case MathAtom:
		return m.Sym, m.Prec
	}
	args := make([]string, len(a))
	for i, x := range a {
		args[i] = pr.expr(x)
	}
	return v.Op.String() + "(" + strings.Join(args, ", ") + ")", mPrecAtom
}

// sumArg prints the operand of a sum: nested sums need no parentheses.
func (pr *printer) sumArg(id ID, prec int) string {
	if v := pr.p.Values[id]; v.Op.Info().Math.Kind == MathSum && pr.plain(id) {
		s, _ := pr.sub(id)
		return s
	}
	return pr.wrap(id, prec)
}

// plain reports whether id is printed structurally (not as a temp, name or label).
func (pr *printer) plain(id ID) bool {
	v := pr.p.Values[id]
	if _, ok := pr.temps[id]; ok {
		return false
	}
	if id != pr.top && pr.named && v.Name != "" && v.Op != OpConst {
		return false
	}
	return id == pr.top || v.Label == "" || v.Op == OpConst || v.Stage == StageGrad
}

func renorm(v *Value) string {
	if v.Renorm {
		return ", renorm"
	}
	return ""
}

// Explain prints the recipe's stages, the derivative of the loss in readable
// math, the kernel plan, and every value with its axis and grad flag.
func Explain(p *Program) string {
	var b strings.Builder
	pr := &printer{p: p, named: true, top: NoID}
	fmt.Fprintf(&b, "recipe %s (%s)\n", p.Name, p.File)
	if len(p.Score.Values) > 0 {
		var toks []string
		for i, v := range p.Score.Values {
			toks = append(toks, fmt.Sprintf("%s=%q", fmtNum(v), p.Score.Strings[i]))
		}
		fmt.Fprintf(&b, "score tokens %s after %q\n", strings.Join(toks, " "), p.Score.Marker)
	}
	if len(p.Hypers) > 0 {
		var hs []string
		for _, h := range p.Hypers {
			hs = append(hs, fmt.Sprintf("%s = %s", h.Name, fmtNum(h.Default)))
		}
		fmt.Fprintf(&b, "hyper %s\n", strings.Join(hs, ", "))
	}
	settings := func(ss []Setting) string {
		var parts []string
		for _, st := range ss {
			switch {
			case st.Hyper != "":
				h, _ := p.Hyper(st.Hyper)
				parts = append(parts, fmt.Sprintf("%s=%s (%s)", st.Key, st.Hyper, fmtNum(h.Default)))
			case st.Word != "":
				parts = append(parts, st.Key+"="+st.Word)
			default:
				parts = append(parts, st.Key+"="+fmtNum(st.Num))
			}
		}
		return strings.Join(parts, " ")
	}
	if len(p.Rollout) > 0 {
		fmt.Fprintf(&b, "rollout %s\n", settings(p.Rollout))
	}
	if p.Optim.Kind != "" {
		fmt.Fprintf(&b, "optim %s %s\n", p.Optim.Kind, settings(p.Optim.Settings))
	}
	section := func(title string) { fmt.Fprintf(&b, "\n%s\n", title) }
	def := func(kind, name string, id ID) {
		pr.top = id
		v := p.Values[id]
		fmt.Fprintf(&b, "  %s %s = %s    [%s%s]\n", kind, name, pr.expr(id), v.Axis, gradWord(v.Grad))
		pr.top = NoID
	}
	section("stage score (no grad; readouts from a no-grad forward of [prompt; cot; y]):")
	for _, n := range p.Rewards {
		def("reward", n.Name, n.ID)
	}
	if p.Filter != NoID {
		section("stage filter (a group trains when this is nonzero):")
		fmt.Fprintf(&b, "  keep %s    [%s]\n", pr.expr(p.Filter), p.Values[p.Filter].Axis)
	} else {
		section("stage filter: every group trains")
	}
	section("stage advantage (no grad; batch sums Σ_s and counts N range over the kept groups):")
	for _, n := range p.Advantages {
		def("adv", n.Name, n.ID)
	}
	section("stage loss (grad):")
	if p.Loss != NoID {
		def("loss", "L", p.Loss)
	}

	section("derivative of the loss (adjoints of the readouts; sums Σ_t over tokens, Σ_g over the group, Σ_s over kept sequences):")
	pr.named, pr.temps = true, pr.sharedTemps()
	for _, id := range sortedTemps(pr.temps) {
		fmt.Fprintf(&b, "  %s = %s\n", pr.temps[id], pr.exprNoTemp(id))
	}
	for _, g := range p.Grads {
		r := p.Values[g.Readout]
		fmt.Fprintf(&b, "  dL/d%s = %s    [%s]\n", readoutName(pr, r), pr.expr(g.Adjoint), r.Axis)
	}
	section("rows of logits (z: a row, p = softmax(z) over the vocabulary, v(j): score value of token j, 0 otherwise):")
	var tokTerms, scoreTerms []string
	for _, g := range p.Grads {
		r := p.Values[g.Readout]
		name := "dL/d" + readoutName(pr, r)
		switch {
		case r.Op == OpLeaf && r.Name == "logp":
			tokTerms = append(tokTerms, name+" * ([j = tok_t] - p_j)")
		case r.Op == OpLeaf:
			tokTerms = append(tokTerms, name+" * (-p_j (z_j - Σ_k p_k z_k))")
		case r.Op == OpExpect:
			scoreTerms = append(scoreTerms, name+" * "+qj(r)+" (v(j) - E)")
		case r.Op == OpProb:
			scoreTerms = append(scoreTerms, fmt.Sprintf("%s * %s ([j = tok(%s)] - %s)", name, readoutName(pr, r), pr.expr(r.Args[0]), qj(r)))
		case r.Op == OpLogProb:
			scoreTerms = append(scoreTerms, fmt.Sprintf("%s * ([j = tok(%s)] - %s)", name, pr.expr(r.Args[0]), qj(r)))
		}
	}
	if len(tokTerms) > 0 {
		fmt.Fprintf(&b, "  response token t: dL/dz_j = %s\n", strings.Join(tokTerms, "\n                                + "))
	}
	if len(scoreTerms) > 0 {
		fmt.Fprintf(&b, "  score slot:       dL/dz_j = %s\n", strings.Join(scoreTerms, "\n                                + "))
	}
	if hasRenorm(p) {
		b.WriteString("  (renorm readouts use q = softmax over the score tokens only, 0 elsewhere)\n")
	}
	if s := p.Schedule; s != nil {
		section("plan (the schedule pass; realc dump --pass schedule prints it whole):")
		pr.explainPlan(&b, s)
	}

	section("values (axis, grad, stage, source):")
	for _, v := range p.Values {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	return b.String()
}

// explainPlan prints the one-/two-pass verdict with its reasons and a
// summary of the kernels.
func (pr *printer) explainPlan(b *strings.Builder, s *Schedule) {
	p := pr.p
	if s.OnePass {
		b.WriteString("  one pass: the adjoints read only per-row values and no-grad batch counts, so each row's loss terms and dlogits are computed together\n")
	} else {
		var why, stats []string
		for _, r := range s.Reasons {
			v := p.Values[r.Value]
			switch r.Kind {
			case ReasonTokenStat:
				stats = append(stats, pr.exprNoTemp(r.Value))
			case ReasonScoreReadsToken:
				why = append(why, fmt.Sprintf("the score or filter stage reads %s (%s)", v.Name, v.Pos))
			case ReasonScoreAdjToken:
				why = append(why, fmt.Sprintf("dL/d%s reads logp or entropy", readoutName(pr, v)))
			}
		}
		if len(stats) > 0 {
			why = append([]string{fmt.Sprintf("the adjoints read batch statistics of grad values (%s)", strings.Join(stats, "; "))}, why...)
		}
		fmt.Fprintf(b, "  two passes: %s, so a statistics pass over every row precedes the gradient pass\n", strings.Join(why, "; "))
	}
	for _, ph := range s.Phases {
		loops, reds := 0, 0
		for _, st := range ph.Steps {
			if st.Reduce {
				reds++
			} else {
				loops++
			}
		}
		fmt.Fprintf(b, "  phase %-5s %3d values in %d loop%s and %d reduction%s: %s\n", ph.Name, len(ph.Values), loops, plural(loops), reds, plural(reds), ph.Doc)
	}
	if s.OnePass && len(s.Adjoint) > 0 {
		fmt.Fprintf(b, "  each token row evaluates %d values for its adjoints from its own logp and entropy\n", len(s.Adjoint))
	}
	fmt.Fprintf(b, "  value slots: %d scalar + %d per group + %d per sequence + %d per token\n", s.Counts[0], s.Counts[1], s.Counts[2], s.Counts[3])
}

func (pr *printer) exprNoTemp(id ID) string {
	t := pr.temps[id]
	delete(pr.temps, id)
	old := pr.top
	pr.top = id
	s := pr.expr(id)
	pr.top = old
	if t != "" {
		pr.temps[id] = t
	}
	return s
}

func qj(r *Value) string {
	if r.Renorm {
		return "q_j"
	}
	return "p_j"
}

func gradWord(g bool) string {
	if g {
		return ", grad"
	}
	return ""
}

func readoutName(pr *printer, r *Value) string {
	switch r.Op {
	case OpLeaf:
		return r.Name + "[t]"
	case OpExpect:
		return "expect(score" + renorm(r) + ")"
	default:
		return r.Op.String() + "(score, " + pr.expr(r.Args[0]) + renorm(r) + ")"
	}
}

func hasRenorm(p *Program) bool {
	for _, g := range p.Grads {
		if p.Values[g.Readout].Renorm {
			return true
		}
	}
	return false
}

// sharedTemps names grad-stage values used more than once (and not trivial),
// so that the printed derivative stays linear in the IR's size.
func (pr *printer) sharedTemps() map[ID]string {
	uses := map[ID]int{}
	for _, id := range pr.p.Deps(pr.gradRoots()...) {
		for _, a := range pr.p.Values[id].Args {
			uses[a]++
		}
	}
	temps := map[ID]string{}
	n := 0
	for _, id := range pr.p.Deps(pr.gradRoots()...) {
		v := pr.p.Values[id]
		if v.Stage != StageGrad || uses[id] < 2 || len(v.Args) == 0 {
			continue
		}
		n++
		temps[id] = fmt.Sprintf("g%d", n)
	}
	return temps
}

func (pr *printer) gradRoots() []ID {
	var r []ID
	for _, g := range pr.p.Grads {
		r = append(r, g.Adjoint)
	}
	return r
}

func sortedTemps(t map[ID]string) []ID {
	var ids []ID
	for id := range t {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

// Format re-exports the canonical formatter for callers holding source text.
func Format(filename string, src []byte) ([]byte, error) {
	f, err := dsl.Parse(filename, src)
	if err != nil {
		return nil, err
	}
	return dsl.Format(f), nil
}
