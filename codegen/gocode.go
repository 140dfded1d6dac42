package codegen

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
	"github.com/realc-project/realc/compiler"
)

const (
	rtPath = "github.com/realc-project/realc/runtime/fused/recipe"
)

// goFuncs emits the stage functions of the program as jennifer code.
type goFuncs struct {
	s     *compiler.Schedule
	p     *compiler.Program
	file  string   // recipe path as printed in comments
	lines []string // recipe source lines
	// per function: whether l (the layout) and v (the values) were referenced
	usedL, usedV bool
	// lastLine avoids repeating the same source comment
	lastLine int
}

func localName(id compiler.ID) string { return fmt.Sprintf("x%d", id) }

// num prints a float64 constant as Go source that reads back exactly.
func num(x float64) jen.Code {
	switch {
	case math.IsInf(x, 1):
		return jen.Qual("math", "Inf").Call(jen.Lit(1))
	case math.IsInf(x, -1):
		return jen.Qual("math", "Inf").Call(jen.Lit(-1))
	case math.IsNaN(x):
		return jen.Qual("math", "NaN").Call()
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return jen.Op(s)
}

func axisSize(ax compiler.Axis) jen.Code {
	switch ax {
	case compiler.AxisGroup:
		return jen.Id("l").Dot("G")
	case compiler.AxisSeq:
		return jen.Id("l").Dot("S")
	case compiler.AxisToken:
		return jen.Id("l").Dot("T")
	}
	return jen.Lit(1)
}

// bcast is the index into a value of axis ax when evaluating at index idx of
// axis out (broadcasting outward).
func (g *goFuncs) bcast(ax, out compiler.Axis, idx jen.Code) jen.Code {
	if ax == out {
		return idx
	}
	if ax == compiler.AxisScalar {
		return jen.Lit(0)
	}
	g.usedL = true
	if out == compiler.AxisToken {
		seq := jen.Id("l").Dot("TokSeq").Index(idx)
		if ax == compiler.AxisSeq {
			return seq
		}
		return jen.Id("l").Dot("SeqGroup").Index(seq)
	}
	return jen.Id("l").Dot("SeqGroup").Index(idx)
}

// ref reads value a at index idx of axis out: a local if computed in the same
// loop, a literal for constants and hyperparameters, else its array.
func (g *goFuncs) ref(a compiler.ID, out compiler.Axis, idx jen.Code, locals map[compiler.ID]bool) jen.Code {
	if locals[a] {
		return jen.Id(localName(a))
	}
	av := g.p.Values[a]
	switch av.Op {
	case compiler.OpConst:
		return num(av.Const)
	case compiler.OpHyper:
		return jen.Id("s").Dot("Hyper").Index(jen.Lit(hyperIndex(g.p, av.Name)))
	}
	g.usedV = true
	return jen.Id("v").Index(jen.Lit(int(a))).Index(g.bcast(av.Axis, out, idx))
}

// hyperIndex is the index of a hyperparameter in the hyper array.
func hyperIndex(p *compiler.Program, name string) int {
	i := p.HyperIndex(name)
	if i < 0 {
		panic("codegen: unknown hyperparameter " + name)
	}
	return i
}

var leafField = map[string]string{
	"mask": "Mask", "all": "Mask", "cot": "Cot", "answer": "Answer", "old_logp": "OldLogp", "ref_logp": "RefLogp",
	"y": "Y", "pred": "Pred", "acc": "Acc", "len": "Len", "truncated": "Truncated", "format_ok": "FormatOK",
}

// goPkgs are the packages an op's Go template may name (OpInfo.Go).
var goPkgs = map[string]string{"math": "math", "recipe": rtPath}

// opExpr is the Go expression of an element-wise op over its arguments: the
// op table's template (OpInfo.Go), with $N replaced by argument N and math.X
// or recipe.X qualified so that jennifer imports the package.
func opExpr(op compiler.Op, a []jen.Code) jen.Code {
	tmpl := op.Info().Go
	if tmpl == "" {
		panic("codegen: no Go form for op " + op.String())
	}
	s := jen.Null()
	text := func(t string) {
		if t = strings.TrimSpace(t); t != "" {
			s.Op(t)
		}
	}
	start := 0
	for i := 0; i < len(tmpl); i++ {
		switch c := tmpl[i]; {
		case c == '$' && i+1 < len(tmpl) && tmpl[i+1] >= '0' && tmpl[i+1] <= '9':
			text(tmpl[start:i])
			s.Add(a[tmpl[i+1]-'0'])
			i++
			start = i + 1
		case isIdentStart(c) && (i == 0 || !isIdentByte(tmpl[i-1])):
			j := i
			for j < len(tmpl) && isIdentByte(tmpl[j]) {
				j++
			}
			path, ok := goPkgs[tmpl[i:j]]
			if !ok || j >= len(tmpl) || tmpl[j] != '.' {
				i = j - 1
				continue
			}
			k := j + 1
			for k < len(tmpl) && isIdentByte(tmpl[k]) {
				k++
			}
			text(tmpl[start:i])
			s.Qual(path, tmpl[j+1:k])
			i = k - 1
			start = k
		}
	}
	text(tmpl[start:])
	return s
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isIdentByte(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// comment returns the `// recipes/x.rl:LINE: text` comment for a value, once
// per source line.
func (g *goFuncs) comment(v *compiler.Value) []jen.Code {
	if v.Pos.Line <= 0 || v.Pos.Line == g.lastLine {
		return nil
	}
	g.lastLine = v.Pos.Line
	text := ""
	if v.Pos.Line <= len(g.lines) {
		text = strings.TrimSpace(g.lines[v.Pos.Line-1])
	}
	c := fmt.Sprintf("%s:%d", g.file, v.Pos.Line)
	if text != "" {
		c += ": " + text
	}
	return []jen.Code{jen.Comment(c)}
}

// valueStmts computes value id at index idx of its axis into local x<id> and
// stores it; tokenLocal maps the token readouts to locals (TokenAdjoint).
func (g *goFuncs) valueStmts(id compiler.ID, idx jen.Code, locals map[compiler.ID]bool, store bool, tokenLocal bool) []jen.Code {
	v := g.p.Values[id]
	var out []jen.Code
	out = append(out, g.comment(v)...)
	x := jen.Id(localName(id))
	var rhs jen.Code
	switch v.Op {
	case compiler.OpConst:
		rhs = num(v.Const)
	case compiler.OpHyper:
		rhs = jen.Id("s").Dot("Hyper").Index(jen.Lit(hyperIndex(g.p, v.Name)))
	case compiler.OpLeaf:
		switch v.Name {
		case "logp", "entropy":
			field := map[string]string{"logp": "Logp", "entropy": "Entropy"}[v.Name]
			if tokenLocal {
				rhs = jen.Id(v.Name)
			} else {
				rhs = jen.Id("s").Dot(field).Index(idx)
			}
		default:
			f, ok := leafField[v.Name]
			if !ok {
				panic("codegen: unknown leaf " + v.Name)
			}
			g.usedL = true
			rhs = jen.Id("l").Dot(f).Index(idx)
		}
	case compiler.OpExpect:
		rhs = jen.Id("s").Dot("Expect").Call(idx, jen.Lit(v.Renorm))
	case compiler.OpProb, compiler.OpLogProb:
		fn := "Prob"
		if v.Op == compiler.OpLogProb {
			fn = "LogProb"
		}
		k := g.ref(v.Args[0], v.Axis, idx, locals)
		out = append(out,
			jen.List(x, jen.Err()).Op(":=").Id("s").Dot(fn).Call(idx, k, jen.Lit(v.Renorm)),
			jen.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Qual("fmt", "Errorf").Call(jen.Lit(fmt.Sprintf("%s: %%v", v.Pos)), jen.Err()))))
	default:
		args := make([]jen.Code, len(v.Args))
		for i, a := range v.Args {
			args[i] = g.ref(a, v.Axis, idx, locals)
		}
		rhs = opExpr(v.Op, args)
	}
	if rhs != nil {
		out = append(out, x.Clone().Op(":=").Add(rhs))
	}
	if store {
		g.usedV = true
		out = append(out, jen.Id("v").Index(jen.Lit(int(id))).Index(idx).Op("=").Add(x))
	}
	locals[id] = true
	return out
}

// reduction emits a reduction step (sum_t, sum_g, count_g, sum_s, count_s).
func (g *goFuncs) reduction(st compiler.Step) []jen.Code {
	id := st.Values[0]
	v := g.p.Values[id]
	out := g.comment(v)
	g.usedL = true
	dst := jen.Id("v").Index(jen.Lit(int(id)))
	arg := func(ax compiler.Axis, idx jen.Code) jen.Code {
		return g.ref(v.Args[0], ax, idx, map[compiler.ID]bool{})
	}
	seqLoop := func(body ...jen.Code) jen.Code {
		return jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Id("l").Dot("S"), jen.Id("i").Op("++")).Block(body...)
	}
	switch v.Op {
	case compiler.OpSumT:
		out = append(out, seqLoop(
			jen.Var().Id("sum").Float64(),
			jen.For(jen.Id("t").Op(":=").Int().Call(jen.Id("l").Dot("TokOff").Index(jen.Id("i"))), jen.Id("t").Op("<").Int().Call(jen.Id("l").Dot("TokOff").Index(jen.Id("i").Op("+").Lit(1))), jen.Id("t").Op("++")).Block(
				jen.Id("sum").Op("+=").Add(arg(compiler.AxisToken, jen.Id("t"))),
			),
			dst.Clone().Index(jen.Id("i")).Op("=").Id("sum"),
		))
	case compiler.OpSumG, compiler.OpCountG:
		var add jen.Code = jen.Op("++")
		if v.Op == compiler.OpSumG {
			add = jen.Op("+=").Add(arg(compiler.AxisSeq, jen.Id("i")))
		}
		out = append(out, jen.Clear(dst.Clone()), seqLoop(dst.Clone().Index(jen.Id("l").Dot("SeqGroup").Index(jen.Id("i"))).Add(add)))
	case compiler.OpSumS, compiler.OpCountS:
		var add jen.Code = jen.Id("sum").Op("++")
		if v.Op == compiler.OpSumS {
			add = jen.Id("sum").Op("+=").Add(arg(compiler.AxisSeq, jen.Id("i")))
		}
		if st.KeptOnly {
			add = jen.If(jen.Id("s").Dot("KeptSeq").Call(jen.Id("i"))).Block(add)
		}
		// A batch sum: s.Total adds the other ranks' sums when the trainer
		// runs over several (the loss then equals world size 1's).
		out = append(out, jen.Block(jen.Var().Id("sum").Float64(), seqLoop(add), dst.Clone().Index(jen.Lit(0)).Op("=").Id("s").Dot("Total").Call(jen.Id("sum"))))
	default:
		panic("codegen: not a reduction: " + v.Op.String())
	}
	return out
}

// phase emits a phase's steps: a loop (a block for scalars) per run of
// element-wise values, a reduction per reduction step.
func (g *goFuncs) phase(ph *compiler.Phase) []jen.Code {
	var out []jen.Code
	for _, st := range ph.Steps {
		if st.Reduce {
			out = append(out, g.reduction(st)...)
			continue
		}
		locals := map[compiler.ID]bool{}
		var body []jen.Code
		idx := jen.Id("i")
		if st.Axis == compiler.AxisScalar {
			idx = jen.Lit(0)
		}
		for _, id := range st.Values {
			body = append(body, g.valueStmts(id, idx, locals, true, false)...)
		}
		if st.Axis == compiler.AxisScalar {
			out = append(out, jen.Block(body...))
		} else {
			out = append(out, jen.For(jen.Id("i").Op(":=").Lit(0), jen.Id("i").Op("<").Add(axisSize(st.Axis)), jen.Id("i").Op("++")).Block(body...))
			g.usedL = true
		}
	}
	return out
}

// stageFunc emits `func (program) Name(s *recipe.State) error`, computing
// phase ph.
func (g *goFuncs) stageFunc(f *jen.File, name, doc string, ph *compiler.Phase) {
	g.usedL, g.lastLine = false, 0
	body := g.phase(ph)
	var head []jen.Code
	if len(ph.Values) > 0 {
		if g.usedL {
			head = append(head, jen.List(jen.Id("l"), jen.Id("v")).Op(":=").List(jen.Id("s").Dot("L"), jen.Id("s").Dot("Vals")))
		} else {
			head = append(head, jen.Id("v").Op(":=").Id("s").Dot("Vals"))
		}
	}
	comments(f, doc)
	f.Func().Params(jen.Id("program")).Id(name).Params(jen.Id("s").Op("*").Qual(rtPath, "State")).Error().Block(
		append(append(head, body...), jen.Return(jen.Nil()))...,
	)
	f.Line()
}

// tokenAdjointFunc emits TokenAdjoint: the T-dependent values the token
// adjoints need, evaluated for one row.
func (g *goFuncs) tokenAdjointFunc(f *jen.File) {
	g.usedL, g.usedV, g.lastLine = false, false, 0
	sch := g.s
	sig := jen.Func().Params(jen.Id("program")).Id("TokenAdjoint").Params(jen.Id("s").Op("*").Qual(rtPath, "State"), jen.Id("i").Int(), jen.List(jen.Id("logp"), jen.Id("entropy")).Float64()).Params(jen.List(jen.Id("gLogp"), jen.Id("gEntropy")).Float64())
	if !sch.OnePass {
		comments(f, "TokenAdjoint is not used: this recipe needs two passes ("+sch.ReasonText(g.p)+"),\n"+
			"so the engine reads the adjoints from the arrays Token fills.")
		f.Add(sig.Block(jen.Return(jen.Lit(0), jen.Lit(0))))
		f.Line()
		return
	}
	locals := map[compiler.ID]bool{}
	var body []jen.Code
	for _, id := range sch.Adjoint {
		body = append(body, g.valueStmts(id, jen.Id("i"), locals, false, true)...)
	}
	ret := func(adj compiler.ID) jen.Code {
		if adj == compiler.NoID {
			return jen.Lit(0)
		}
		return g.ref(adj, compiler.AxisToken, jen.Id("i"), locals)
	}
	body = append(body, jen.Return(ret(sch.LogpAdj), ret(sch.EntropyAdj)))
	var head []jen.Code
	usesV := g.usedV
	switch {
	case g.usedL && usesV:
		head = append(head, jen.List(jen.Id("l"), jen.Id("v")).Op(":=").List(jen.Id("s").Dot("L"), jen.Id("s").Dot("Vals")))
	case g.usedL:
		head = append(head, jen.Id("l").Op(":=").Id("s").Dot("L"))
	case usesV:
		head = append(head, jen.Id("v").Op(":=").Id("s").Dot("Vals"))
	}
	comments(f, "TokenAdjoint returns d loss / d logp and d loss / d entropy at token i from that\n"+
		"row's readouts: the row epilogue of the fused kernel calls it once per row.")
	f.Add(sig.Block(append(head, body...)...))
	f.Line()
}

// comments adds a multi-line comment as // lines (jennifer would use /* */).
func comments(f *jen.File, text string) {
	for _, line := range strings.Split(text, "\n") {
		f.Comment(line)
	}
}
