package compiler

import (
	"sort"
	"strings"

	"github.com/realc-project/realc/dsl"
)

// function describes a callable of the language.
type function struct {
	minArgs, maxArgs int
	usage            string
	doc              string
}

// functions is the language's function table; call lowers each one.
// The element-wise functions (exp, log, min, where, ...) come from the op
// table (OpInfo.Func): funcOps maps each to its op.
var functions = map[string]function{
	"expect":  {1, 2, "expect(score) or expect(score, renorm)", "expected score sum_k v_k p(tok_k) at the score slot"},
	"prob":    {2, 3, "prob(score, k) or prob(score, k, renorm)", "probability of the score token of value k"},
	"logprob": {2, 3, "logprob(score, k) or logprob(score, k, renorm)", "log-probability of the score token of value k"},

	"sum_t":  {1, 2, "sum_t(x) or sum_t(x, mask)", "sum over the sequence's tokens (mask: all)"},
	"mean_t": {1, 2, "mean_t(x) or mean_t(x, mask)", "sum_t(x*m) / max(sum_t(m), 1)"},

	"mean_g":  {1, 1, "mean_g(x)", "mean over the group's sequences"},
	"sum_g":   {1, 1, "sum_g(x)", "sum over the group's sequences"},
	"std_g":   {2, 2, "std_g(x, pop) or std_g(x, unbiased)", "standard deviation over the group (0 for a group of one)"},
	"loo":     {1, 1, "loo(x)", "x_i - mean of the others in the group (0 for a group of one)"},
	"count_g": {0, 0, "count_g()", "number of sequences in the group"},

	"token_mean":              {1, 2, "token_mean(x) or token_mean(x, mask)", "sum(x*m) / (sum(m) + 1e-8) over all tokens of the kept sequences (verl token-mean)"},
	"token_sum":               {1, 2, "token_sum(x) or token_sum(x, mask)", "sum(x*m) over all tokens of the kept sequences"},
	"seq_mean_token_sum":      {1, 2, "seq_mean_token_sum(x) or seq_mean_token_sum(x, mask)", "mean over sequences of sum_t(x*m)"},
	"seq_mean_token_mean":     {1, 2, "seq_mean_token_mean(x) or seq_mean_token_mean(x, mask)", "mean over sequences of sum_t(x*m) / max(sum_t(m), 1)"},
	"seq_mean_token_sum_norm": {1, 2, "seq_mean_token_sum_norm(x) or seq_mean_token_sum_norm(x, mask)", "sum(x*m) / max_response"},
	"mean":                    {1, 1, "mean(x)", "mean over the kept sequences"},
}

var funcOps = map[string]Op{}

// registerFunctions adds the op table's functions to the language's (called
// once the table is built).
func registerFunctions() {
	for _, op := range Ops() {
		info := op.Info()
		if info.Func == "" {
			continue
		}
		if _, dup := functions[info.Func]; dup {
			panic("compiler: function " + info.Func + " declared twice")
		}
		functions[info.Func] = function{info.Arity, info.Arity, info.Usage, info.FuncDoc}
		funcOps[info.Func] = op
	}
}

// FunctionNames lists the language's functions, sorted.
func FunctionNames() []string {
	out := make([]string, 0, len(functions))
	for n := range functions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *checker) call(e *dsl.Call, x ctx) ID {
	name := e.Fun.Name
	fn, ok := functions[name]
	if !ok {
		if _, isLeaf := LookupLeaf(name); isLeaf || c.defs[name] != nil {
			c.errorf(e.Fun.Pos, "%s is a value, not a function", name)
		} else {
			// Prefer the functions that take as many arguments as the call has.
			fits := func(f string) bool { fn := functions[f]; return fn.minArgs <= len(e.Args) && len(e.Args) <= fn.maxArgs }
			c.errorf(e.Fun.Pos, "unknown function %q%s", name, dsl.SuggestFit(name, FunctionNames(), fits))
		}
		return NoID
	}
	if len(e.Args) < fn.minArgs || len(e.Args) > fn.maxArgs {
		c.errorf(e.Fun.Pos, "%s takes %s, got %d argument%s: %s", name, argCount(fn), len(e.Args), plural(len(e.Args)), fn.usage)
		return NoID
	}
	pos := irPos(e.Fun.Pos)
	label := dsl.FormatExpr(e)
	switch name {
	case "expect", "prob", "logprob":
		return c.readout(e, x, fn)
	case "std_g":
		opt, ok := dsl.Unparen(e.Args[1]).(*dsl.Name)
		if !ok || (opt.Name != "pop" && opt.Name != "unbiased") {
			c.errorf(e.Args[1].Start(), "std_g's second argument must be pop (population, divide by n) or unbiased (divide by n-1)")
			return NoID
		}
		a := c.seqArg(e, 0, x)
		if a == NoID {
			return NoID
		}
		return c.stdG(a, opt.Name == "unbiased", pos, label)
	case "count_g":
		return c.reduce(OpCountG, pos, label, AxisGroup, NoID)
	}
	args := make([]ID, len(e.Args))
	for i, a := range e.Args {
		args[i] = c.expr(a, x)
		if args[i] == NoID {
			return NoID
		}
	}
	if op, ok := funcOps[name]; ok {
		if op.Info().CondArg && c.val(args[0]).Grad {
			c.errorf(e.Args[0].Start(), "%s's condition carries grad; a condition selects, it is not differentiated: wrap it in stopgrad(...)", name)
			return NoID
		}
		return c.op(op, pos, "", args...)
	}
	// Reductions.
	mask := NoID
	if len(args) == 2 {
		mask = args[1]
		if c.val(mask).Grad {
			c.errorf(e.Args[1].Start(), "the mask of %s carries grad; masks are 0/1 weights: wrap it in stopgrad(...)", name)
			return NoID
		}
	}
	if mask == NoID && name != "mean" && name != "mean_g" && name != "sum_g" && name != "loo" {
		mask = c.leaf("all", x, pos)
	}
	xa := args[0]
	switch name {
	case "sum_t", "mean_t":
		s := c.reduce(OpSumT, pos, label, AxisSeq, c.op(OpMul, pos, "", xa, mask))
		if name == "sum_t" {
			return s
		}
		n := c.op(OpMax, pos, "", c.reduce(OpSumT, pos, "", AxisSeq, mask), c.konst(1, pos))
		return c.op(OpDiv, pos, label, s, n)
	case "mean_g", "sum_g", "loo":
		a := c.checkSeq(e, 0, xa)
		if a == NoID {
			return NoID
		}
		switch name {
		case "mean_g":
			return c.meanG(a, pos, label)
		case "sum_g":
			return c.reduce(OpSumG, pos, label, AxisGroup, a)
		}
		// loo(x) = x - (sum_g(x) - x) / (n - 1); 0 for a group of one (REAL's
		// R - mean(R)). The max keeps the unused branch finite.
		n := c.reduce(OpCountG, pos, "", AxisGroup, NoID)
		one := c.konst(1, pos)
		others := c.op(OpDiv, pos, "", c.op(OpSub, pos, "", c.reduce(OpSumG, pos, "", AxisGroup, a), a),
			c.op(OpMax, pos, "", c.op(OpSub, pos, "", n, one), one))
		return c.op(OpWhere, pos, label, c.op(OpGt, pos, "", n, one), c.op(OpSub, pos, "", a, others), c.konst(0, pos))
	}
	// Aggregators to the scalar loss.
	if !x.batch {
		c.errorf(e.Fun.Pos, "%s averages over the kept groups, so it cannot be used in %s (which decides or precedes what is kept)", name, x.what)
		return NoID
	}
	if name == "mean" {
		a := c.checkSeq(e, 0, xa)
		if a == NoID {
			return NoID
		}
		return c.op(OpDiv, pos, label, c.reduce(OpSumS, pos, "", AxisScalar, a), c.reduce(OpCountS, pos, "", AxisScalar, NoID))
	}
	perSeq := c.reduce(OpSumT, pos, "", AxisSeq, c.op(OpMul, pos, "", xa, mask))
	switch name {
	case "token_sum":
		return c.reduce(OpSumS, pos, label, AxisScalar, perSeq)
	case "token_mean":
		den := c.op(OpAdd, pos, "", c.reduce(OpSumS, pos, "", AxisScalar, c.reduce(OpSumT, pos, "", AxisSeq, mask)), c.konst(1e-8, pos))
		return c.op(OpDiv, pos, label, c.reduce(OpSumS, pos, "", AxisScalar, perSeq), den)
	case "seq_mean_token_sum":
		return c.op(OpDiv, pos, label, c.reduce(OpSumS, pos, "", AxisScalar, perSeq), c.reduce(OpCountS, pos, "", AxisScalar, NoID))
	case "seq_mean_token_mean":
		n := c.op(OpMax, pos, "", c.reduce(OpSumT, pos, "", AxisSeq, mask), c.konst(1, pos))
		return c.op(OpDiv, pos, label, c.reduce(OpSumS, pos, "", AxisScalar, c.op(OpDiv, pos, "", perSeq, n)), c.reduce(OpCountS, pos, "", AxisScalar, NoID))
	case "seq_mean_token_sum_norm":
		if c.maxResp == 0 {
			c.errorf(e.Fun.Pos, "seq_mean_token_sum_norm divides by the padded response length: set rollout max_response=N")
			return NoID
		}
		return c.op(OpDiv, pos, label, c.reduce(OpSumS, pos, "", AxisScalar, perSeq), c.konst(c.maxResp, pos))
	}
	return NoID
}

func argCount(fn function) string {
	if fn.minArgs == fn.maxArgs {
		return strings.TrimSpace(strings.Join([]string{itoa(fn.minArgs), "argument" + plural(fn.minArgs)}, " "))
	}
	return itoa(fn.minArgs) + " or " + itoa(fn.maxArgs) + " arguments"
}

func itoa(n int) string { return string(rune('0' + n)) }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// seqArg checks argument i of a seq -> group reduction.
func (c *checker) seqArg(e *dsl.Call, i int, x ctx) ID {
	a := c.expr(e.Args[i], x)
	if a == NoID {
		return NoID
	}
	return c.checkSeq(e, i, a)
}

func (c *checker) checkSeq(e *dsl.Call, i int, a ID) ID {
	if c.val(a).Axis == AxisToken {
		c.errorf(e.Args[i].Start(), "%s needs one value per sequence, but %s is per token: reduce it first with sum_t(...) or mean_t(...)%s",
			e.Fun.Name, dsl.FormatExpr(e.Args[i]), map[bool]string{true: ", or use token_mean for the loss", false: ""}[e.Fun.Name == "mean"])
		return NoID
	}
	return a
}

func (c *checker) meanG(a ID, pos Pos, label string) ID {
	return c.op(OpDiv, pos, label, c.reduce(OpSumG, pos, "", AxisGroup, a), c.reduce(OpCountG, pos, "", AxisGroup, NoID))
}

// stdG is sqrt(sum_g((x - mean_g(x))^2) / d), d = n (pop) or max(n-1, 1)
// (unbiased; a group of one gives 0).
func (c *checker) stdG(a ID, unbiased bool, pos Pos, label string) ID {
	dev := c.op(OpSub, pos, "", a, c.meanG(a, pos, ""))
	ss := c.reduce(OpSumG, pos, "", AxisGroup, c.op(OpMul, pos, "", dev, dev))
	d := c.reduce(OpCountG, pos, "", AxisGroup, NoID)
	if unbiased {
		one := c.konst(1, pos)
		d = c.op(OpMax, pos, "", c.op(OpSub, pos, "", d, one), one)
	}
	return c.op(OpSqrt, pos, label, c.op(OpDiv, pos, "", ss, d))
}

func (c *checker) readout(e *dsl.Call, x ctx, fn function) ID {
	name := e.Fun.Name
	pos := irPos(e.Fun.Pos)
	if n, ok := dsl.Unparen(e.Args[0]).(*dsl.Name); !ok || n.Name != "score" {
		c.errorf(e.Args[0].Start(), "%s reads the score slot: its first argument must be score, as in %s", name, fn.usage)
		return NoID
	}
	if !c.hasScore {
		if c.brokenKind["score"] {
			return NoID
		}
		c.errorf(e.Fun.Pos, "%s(score, ...) needs the score tokens: add a line score tokens 1=\"1\" ... after \"MARKER\"", name)
		return NoID
	}
	args := e.Args[1:]
	renorm := false
	if len(args) > 0 {
		if n, ok := dsl.Unparen(args[len(args)-1]).(*dsl.Name); ok && n.Name == "renorm" {
			renorm = true
			args = args[:len(args)-1]
		} else if len(args) == fn.maxArgs-1 {
			c.errorf(args[len(args)-1].Start(), "the last argument of %s can only be renorm: %s", name, fn.usage)
			return NoID
		}
	}
	v := &Value{Pos: pos, Axis: AxisSeq, Grad: !x.nogradReadouts, Renorm: renorm, Label: dsl.FormatExpr(e)}
	switch name {
	case "expect":
		if len(args) != 0 {
			c.errorf(args[0].Start(), "expect takes only score (and renorm): %s", fn.usage)
			return NoID
		}
		v.Op = OpExpect
	default:
		if len(args) != 1 {
			c.errorf(e.Fun.Pos, "%s needs the score value to read: %s", name, fn.usage)
			return NoID
		}
		k := c.expr(args[0], x)
		if k == NoID {
			return NoID
		}
		kv := c.val(k)
		if kv.Axis == AxisToken {
			c.errorf(args[0].Start(), "the score value of %s must be one per sequence, but %s is per token", name, dsl.FormatExpr(args[0]))
			return NoID
		}
		if kv.Grad {
			c.errorf(args[0].Start(), "the score value of %s carries grad; it selects a token: wrap it in stopgrad(...)", name)
			return NoID
		}
		if kv.Op == OpConst && !c.isScoreValue(kv.Const) {
			c.errorf(args[0].Start(), "%s is not a score value (%s)", dsl.FormatExpr(args[0]), c.scoreValues())
			return NoID
		}
		v.Op = map[string]Op{"prob": OpProb, "logprob": OpLogProb}[name]
		v.Args = []ID{k}
	}
	return c.add(v)
}

func (c *checker) isScoreValue(x float64) bool {
	for _, v := range c.prog.Score.Values {
		if v == x {
			return true
		}
	}
	return false
}

func (c *checker) scoreValues() string {
	var parts []string
	for _, v := range c.prog.Score.Values {
		parts = append(parts, fmtNum(v))
	}
	return strings.Join(parts, ", ")
}
