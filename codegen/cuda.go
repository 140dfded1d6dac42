package codegen

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/realc-project/realc/compiler"
)

// The CUDA form of a recipe (kernels.cu). Header-free so that NVRTC can
// compile it too: bf16 is converted by bit operations, -inf is built from its
// bits, only compiler built-ins (expf, logf, pow, fmin...) are used. Kernels
// take pointers and scalars only (gorgonia.org/cu copies each argument as 8
// bytes).
//
// A file is: the device helpers of device/realc.cuh (bf16, online softmax,
// warp reductions, the row gradient), the context macros (Schedule.Params),
// the recipe's realc_score_value, the score readouts and their gradients of
// device/score.cuh, then the recipe's kernels. The .cuh files are real CUDA
// source, embedded and pasted in; TestCUDAHelpersCompile builds them alone.
//
//   <r>_row_stats   one block per row of bf16 logits: the vocabulary streamed
//                   in tiles with an online max / sum-exp / sum p*z, warp-shuffle
//                   then shared-memory reductions; writes lse, sum p z and the
//                   gathered logits (the target token, or the score tokens).
//   <r>_stage_score, <r>_stage_rest, <r>_stage_token
//                   the recipe's stages, value by value, in one block: element-
//                   wise runs are grid-stride loops, reductions loop over their
//                   segment in order (the CPU's summation order), __syncthreads
//                   between them.
//   <r>_token_grad, <r>_score_grad
//                   one block per row: the row's adjoints (from its own readouts
//                   in one-pass recipes) as coefficients, then dlogits streamed
//                   out in bf16 with fp32 arithmetic.

type cudaGen struct {
	s        *compiler.Schedule
	p        *compiler.Program
	src      string
	lines    []string
	prefix   string
	lastLine int
}

func (g *gen) kernelsCU() ([]byte, error) {
	c := &cudaGen{s: g.s, p: g.p, src: g.src, lines: strings.Split(string(g.p.Source), "\n"), prefix: cIdent(g.p.Name)}
	return []byte(c.file()), nil
}

func cIdent(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// cNum prints a double constant exactly.
func cNum(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "(1.0 / 0.0)"
	case math.IsInf(x, -1):
		return "(-1.0 / 0.0)"
	case math.IsNaN(x):
		return "(0.0 / 0.0)"
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	if x < 0 {
		return "(" + s + ")"
	}
	return s
}

// offExpr is the offset of value id in vals: its slot (Schedule.Slots),
// counts of earlier values per axis, times the axis sizes.
func (c *cudaGen) offExpr(id compiler.ID) string {
	o := c.s.Slots[id]
	var parts []string
	if o[0] > 0 {
		parts = append(parts, strconv.Itoa(o[0]))
	}
	for ax, name := range []string{"", "G", "S", "T"} {
		if ax > 0 && o[ax] > 0 {
			parts = append(parts, fmt.Sprintf("%d * %s", o[ax], name))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " + ")
}

func (c *cudaGen) arr(id compiler.ID, idx string) string {
	return fmt.Sprintf("vals[%s + %s]", c.offExpr(id), idx)
}

func cBcast(ax, out compiler.Axis, idx string) string {
	if ax == out {
		return idx
	}
	if ax == compiler.AxisScalar {
		return "0"
	}
	if out == compiler.AxisToken {
		if ax == compiler.AxisSeq {
			return "tok_seq[" + idx + "]"
		}
		return "seq_group[tok_seq[" + idx + "]]"
	}
	return "seq_group[" + idx + "]"
}

func (c *cudaGen) ref(a compiler.ID, out compiler.Axis, idx string, locals map[compiler.ID]bool) string {
	if locals[a] {
		return fmt.Sprintf("x%d", a)
	}
	av := c.p.Values[a]
	switch av.Op {
	case compiler.OpConst:
		return cNum(av.Const)
	case compiler.OpHyper:
		return fmt.Sprintf("hyper[%d]", hyperIndex(c.p, av.Name))
	}
	return c.arr(a, cBcast(av.Axis, out, idx))
}

// cOp is the C expression of an element-wise op: the op table's template
// (OpInfo.C) over the arguments.
func cOp(op compiler.Op, a []string) string {
	tmpl := op.Info().C
	if tmpl == "" {
		panic("codegen: no CUDA form for op " + op.String())
	}
	return compiler.Expand(tmpl, a)
}

func (c *cudaGen) comment(b *strings.Builder, v *compiler.Value, indent string) {
	if v.Pos.Line <= 0 || v.Pos.Line == c.lastLine {
		return
	}
	c.lastLine = v.Pos.Line
	text := ""
	if v.Pos.Line <= len(c.lines) {
		text = strings.TrimSpace(c.lines[v.Pos.Line-1])
	}
	fmt.Fprintf(b, "%s// %s:%d: %s\n", indent, c.src, v.Pos.Line, text)
}

// value writes `double x<id> = ...;` (and its store) for index idx.
func (c *cudaGen) value(b *strings.Builder, id compiler.ID, idx, indent string, locals map[compiler.ID]bool, store, tokenLocal bool) {
	v := c.p.Values[id]
	c.comment(b, v, indent)
	var rhs string
	switch v.Op {
	case compiler.OpConst:
		rhs = cNum(v.Const)
	case compiler.OpHyper:
		rhs = fmt.Sprintf("hyper[%d]", hyperIndex(c.p, v.Name))
	case compiler.OpLeaf:
		switch v.Name {
		case "logp":
			rhs = "(double)(tok_z[" + idx + "] - tok_lse[" + idx + "])"
			if tokenLocal {
				rhs = "logp"
			}
		case "entropy":
			rhs = "(double)(tok_lse[" + idx + "] - tok_pz[" + idx + "])"
			if tokenLocal {
				rhs = "entropy"
			}
		default:
			rhs = compiler.LeafParam(v.Name) + "[" + idx + "]"
		}
	case compiler.OpExpect:
		rhs = fmt.Sprintf("realc_expect(score_lse, score_z, K, %s, %d)", idx, b2i(v.Renorm))
	case compiler.OpProb, compiler.OpLogProb:
		fn := "prob"
		if v.Op == compiler.OpLogProb {
			fn = "logprob"
		}
		rhs = fmt.Sprintf("realc_%s(score_lse, score_z, K, %s, %s, %d, err)", fn, idx, c.ref(v.Args[0], v.Axis, idx, locals), b2i(v.Renorm))
	default:
		args := make([]string, len(v.Args))
		for i, a := range v.Args {
			args[i] = c.ref(a, v.Axis, idx, locals)
		}
		rhs = cOp(v.Op, args)
	}
	fmt.Fprintf(b, "%sdouble x%d = %s;\n", indent, id, rhs)
	if store {
		fmt.Fprintf(b, "%s%s = x%d;\n", indent, c.arr(id, idx), id)
	}
	locals[id] = true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cSize(ax compiler.Axis) string {
	return [...]string{"1", "G", "S", "T"}[ax]
}

// steps writes the body of a stage kernel: a grid-stride loop per run of
// element-wise values, a reduction per reduction step, __syncthreads after
// each.
func (c *cudaGen) steps(b *strings.Builder, steps []compiler.Step, keptExpr string) {
	c.lastLine = 0
	for _, st := range steps {
		if st.Reduce {
			c.reduction(b, st, keptExpr)
			b.WriteString("\t__syncthreads();\n")
			continue
		}
		fmt.Fprintf(b, "\tfor (int i = threadIdx.x; i < %s; i += blockDim.x) {\n", cSize(st.Axis))
		locals := map[compiler.ID]bool{}
		for _, id := range st.Values {
			c.value(b, id, "i", "\t\t", locals, true, false)
		}
		b.WriteString("\t}\n\t__syncthreads();\n")
	}
}

func (c *cudaGen) reduction(b *strings.Builder, st compiler.Step, keptExpr string) {
	id := st.Values[0]
	v := c.p.Values[id]
	c.comment(b, v, "\t")
	arg := func(ax compiler.Axis, idx string) string { return c.ref(v.Args[0], ax, idx, map[compiler.ID]bool{}) }
	dst := func(idx string) string { return c.arr(id, idx) }
	switch v.Op {
	case compiler.OpSumT:
		fmt.Fprintf(b, "\tfor (int i = threadIdx.x; i < S; i += blockDim.x) {\n\t\tdouble sum = 0.0;\n\t\tfor (int t = tok_off[i]; t < tok_off[i + 1]; t++) {\n\t\t\tsum += %s;\n\t\t}\n\t\t%s = sum;\n\t}\n", arg(compiler.AxisToken, "t"), dst("i"))
	case compiler.OpSumG, compiler.OpCountG:
		add := "1.0"
		if v.Op == compiler.OpSumG {
			add = arg(compiler.AxisSeq, "i")
		}
		fmt.Fprintf(b, "\tfor (int g = threadIdx.x; g < G; g += blockDim.x) {\n\t\tdouble sum = 0.0;\n\t\tfor (int i = group_off[g]; i < group_off[g + 1]; i++) {\n\t\t\tsum += %s;\n\t\t}\n\t\t%s = sum;\n\t}\n", add, dst("g"))
	case compiler.OpSumS, compiler.OpCountS:
		add := "1.0"
		if v.Op == compiler.OpSumS {
			add = arg(compiler.AxisSeq, "i")
		}
		cond := "1"
		if st.KeptOnly {
			cond = keptExpr
		}
		fmt.Fprintf(b, "\tif (threadIdx.x == 0) {\n\t\tdouble sum = 0.0;\n\t\tfor (int i = 0; i < S; i++) {\n\t\t\tif (%s) {\n\t\t\t\tsum += %s;\n\t\t\t}\n\t\t}\n\t\t%s = sum;\n\t}\n", cond, add, dst("0"))
	}
}

// ctxMacros defines REALC_CTX_PARAMS and REALC_CTX_ARGS, the context
// arguments every stage and gradient kernel ends with (Schedule.Params).
func (c *cudaGen) ctxMacros() string {
	var params, args []string
	for _, kp := range c.s.Params {
		params = append(params, kp.C())
		args = append(args, kp.Name)
	}
	return "#define REALC_CTX_PARAMS " + wrapMacro(params) + "\n#define REALC_CTX_ARGS " + wrapMacro(args) + "\n"
}

// wrapMacro joins items with ", " into lines of about 120 columns, each
// continued with a backslash.
func wrapMacro(items []string) string {
	var b strings.Builder
	col := 24
	for i, it := range items {
		if i > 0 {
			b.WriteString(",")
			if col+len(it) > 116 {
				b.WriteString(" \\\n\t")
				col = 4
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(it)
		col += len(it) + 1
	}
	return b.String()
}

// argComment describes the context arguments for the file's header.
func (c *cudaGen) argComment() string {
	var b strings.Builder
	b.WriteString("// Every stage and gradient kernel ends with these arguments (REALC_CTX_PARAMS), in\n")
	b.WriteString("// this order, as runtime/cuda.RunLoss passes them:\n")
	w := 0
	for _, kp := range c.s.Params {
		w = max(w, len(kp.Name))
	}
	for _, kp := range c.s.Params {
		typ := kp.Elem
		if kp.Ptr {
			typ += "*"
		}
		fmt.Fprintf(&b, "//   %-*s %-7s %s\n", w, kp.Name, typ, kp.Doc)
	}
	return b.String()
}

func (c *cudaGen) file() string {
	counts := c.s.Counts
	var b strings.Builder
	P := c.prefix
	fmt.Fprintf(&b, "// Code generated by realc from %s; DO NOT EDIT.\n\n", c.src)
	fmt.Fprintf(&b, "// CUDA kernels of recipe %s. Header-free (NVRTC-ready): bf16 by bit operations,\n", c.p.Name)
	b.WriteString("// fp32 arithmetic on logits, fp64 for the small stage kernels. Launch with blockDim.x =\n")
	b.WriteString("// 256 (a multiple of 32, at most 1024). The value buffer `vals` holds every IR value:\n")
	fmt.Fprintf(&b, "// %d scalars, then %d per group, %d per sequence and %d per token (offsets below).\n", counts[0], counts[1], counts[2], counts[3])
	if c.s.OnePass {
		b.WriteString("// Plan: one pass; a token row's adjoints come from its own readouts.\n")
	} else {
		fmt.Fprintf(&b, "// Plan: two passes (%s).\n", c.s.ReasonText(c.p))
	}
	b.WriteString(c.argComment())
	b.WriteString("\n")
	b.WriteString(realcCUH)
	b.WriteString("\n" + c.ctxMacros() + "\n")
	// Score readouts.
	vals := make([]string, len(c.p.Score.Values))
	for i, v := range c.p.Score.Values {
		vals[i] = cNum(v)
	}
	fmt.Fprintf(&b, "// The recipe's score values (%s: score tokens).\n__device__ __forceinline__ double realc_score_value(int k) {\n\tswitch (k) {\n", c.src)
	for i, v := range vals {
		fmt.Fprintf(&b, "\tcase %d:\n\t\treturn %s;\n", i, v)
	}
	b.WriteString("\tdefault:\n\t\treturn 0.0;\n\t}\n}\n\n")
	b.WriteString(scoreCUH)
	b.WriteString("\n")
	keptExpr := "1"
	if c.p.Filter != compiler.NoID {
		keptExpr = c.arr(c.p.Filter, "seq_group[i]") + " != 0.0"
	}
	fmt.Fprintf(&b, "// Sequence i trains when its group passes the filter.\n#define %s_KEPT(i) (%s)\n\n", strings.ToUpper(P), strings.ReplaceAll(keptExpr, "[i]", "[(i)]"))
	for _, k := range []struct {
		name, doc string
		phases    []string
	}{
		{"score", "the score and filter stages, every group kept", []string{compiler.PhaseScore}},
		{"rest", "the advantages, then the loss values that do not read logp or entropy", []string{compiler.PhaseAdv, compiler.PhaseRest}},
		{"token", "the values that read logp or entropy (run after " + P + "_row_stats on the token rows)", []string{compiler.PhaseToken}},
	} {
		fmt.Fprintf(&b, "// %s_stage_%s: %s. One block.\nextern \"C\" __global__ void %s_stage_%s(REALC_CTX_PARAMS) {\n", P, k.name, k.doc, P, k.name)
		var steps []compiler.Step
		for _, name := range k.phases {
			steps = append(steps, c.s.Phase(name).Steps...)
		}
		if len(steps) == 0 {
			b.WriteString("\t(void)vals;\n")
		}
		c.steps(&b, steps, strings.ToUpper(P)+"_KEPT(i)")
		b.WriteString("}\n\n")
	}
	c.tokenAdjoint(&b)
	c.gradKernels(&b)
	return b.String()
}

// tokenAdjoint writes the device function giving a token row's adjoints.
func (c *cudaGen) tokenAdjoint(b *strings.Builder) {
	P, sch := c.prefix, c.s
	fmt.Fprintf(b, "// d loss / d logp and d loss / d entropy at token i.\n__device__ __forceinline__ void %s_token_adjoint(REALC_CTX_PARAMS, int i, double logp, double entropy, double* g_logp, double* g_entropy) {\n", P)
	b.WriteString("\t(void)logp;\n\t(void)entropy;\n")
	locals := map[compiler.ID]bool{}
	c.lastLine = 0
	if sch.OnePass {
		for _, id := range sch.Adjoint {
			c.value(b, id, "i", "\t", locals, false, true)
		}
	} else {
		b.WriteString("\t// Two-pass recipe: the adjoints were computed by the token stage.\n")
	}
	ret := func(adj compiler.ID) string {
		if adj == compiler.NoID {
			return "0.0"
		}
		return c.ref(adj, compiler.AxisToken, "i", locals)
	}
	fmt.Fprintf(b, "\t*g_logp = %s;\n\t*g_entropy = %s;\n}\n\n", ret(sch.LogpAdj), ret(sch.EntropyAdj))
}

func (c *cudaGen) gradKernels(b *strings.Builder) {
	P := c.prefix
	kept := strings.ToUpper(P) + "_KEPT"
	fmt.Fprintf(b, `// %[1]s_row_stats: one block per row of bf16 logits (row r at logits + r * ld).
// kind 0: token rows row0 + r, gathering the target token into tok_z; kind 1:
// score rows (sequence row0 + r), gathering the K score tokens into score_z.
extern "C" __global__ void %[1]s_row_stats(const unsigned short* __restrict__ logits, long long ld, int nrows, int V, int kind, int row0, REALC_CTX_PARAMS) {
	(void)vals;
	int r = blockIdx.x;
	if (r >= nrows) {
		return;
	}
	const unsigned short* z = logits + (long long)r * ld;
	float m, s, sz;
	realc_row_softmax_stats(z, V, &m, &s, &sz);
	if (threadIdx.x == 0) {
		float lse = m + logf(s);
		if (kind == 0) {
			int t = row0 + r;
			tok_lse[t] = lse;
			tok_pz[t] = sz / s;
			tok_z[t] = realc_bf16_to_f32(z[tokens[t]]);
		} else {
			int q = row0 + r;
			score_lse[q] = lse;
			for (int k = 0; k < K; k++) {
				score_z[q * K + k] = realc_bf16_to_f32(z[score_tokens[k]]);
			}
		}
	}
}

// %[1]s_token_grad: one block per token row (token row0 + r): the row's
// adjoints as dz_j = p_j (alpha + beta z_j) + [j = target] g_logp, streamed out
// in bf16 (zero rows for sequences of dropped groups).
extern "C" __global__ void %[1]s_token_grad(const unsigned short* __restrict__ logits, unsigned short* __restrict__ dlogits, long long ld, int nrows, int V, int row0, REALC_CTX_PARAMS) {
	__shared__ float coef[3];
	__shared__ int target;
	int r = blockIdx.x;
	if (r >= nrows) {
		return;
	}
	int t = row0 + r;
	if (threadIdx.x == 0) {
		double gl = 0.0, ge = 0.0;
		if (%[2]s(tok_seq[t])) {
			double logp = (double)tok_z[t] - (double)tok_lse[t];
			double entropy = (double)tok_lse[t] - (double)tok_pz[t];
			%[1]s_token_adjoint(REALC_CTX_ARGS, t, logp, entropy, &gl, &ge);
		}
		coef[0] = (float)(-gl + ge * (double)tok_pz[t]);
		coef[1] = (float)(-ge);
		coef[2] = (float)gl;
		target = tokens[t];
	}
	__syncthreads();
	realc_row_grad(logits + (long long)r * ld, dlogits + (long long)r * ld, V, tok_lse[t], coef[0], coef[1], &target, &coef[2], 1);
}

`, P, kept)
	// Score rows: coefficients of every score readout with grad.
	fmt.Fprintf(b, `// %[1]s_score_grad: one block per score row (sequence row0 + r).
extern "C" __global__ void %[1]s_score_grad(const unsigned short* __restrict__ logits, unsigned short* __restrict__ dlogits, long long ld, int nrows, int V, int row0, REALC_CTX_PARAMS) {
	__shared__ float alpha;
	__shared__ int idx[REALC_MAX_SCORE];
	__shared__ float val[REALC_MAX_SCORE];
	int r = blockIdx.x;
	if (r >= nrows) {
		return;
	}
	if (K > REALC_MAX_SCORE) {
		if (threadIdx.x == 0) {
			atomicCAS(err, 0, -1);
		}
		return;
	}
	int s = row0 + r;
	if (threadIdx.x == 0) {
		double a0 = 0.0;
		double v[REALC_MAX_SCORE];
		for (int k = 0; k < K; k++) {
			v[k] = 0.0;
			idx[k] = score_tokens[k];
		}
		if (%[2]s(s)) {
`, P, kept)
	for _, gr := range c.s.ScoreGrads {
		rv := c.p.Values[gr.Readout]
		adj := c.ref(gr.Adjoint, compiler.AxisSeq, "s", map[compiler.ID]bool{})
		fmt.Fprintf(b, "\t\t\t{\n\t\t\t\t// %s of %s\n\t\t\t\tdouble a = %s;\n", rv.Op, rv.Pos, adj)
		renorm := b2i(rv.Renorm)
		switch rv.Op {
		case compiler.OpExpect:
			fmt.Fprintf(b, "\t\t\t\trealc_expect_grad(score_lse, score_z, K, s, %d, a, &a0, v);\n", renorm)
		case compiler.OpProb, compiler.OpLogProb:
			kv := c.ref(rv.Args[0], compiler.AxisSeq, "s", map[compiler.ID]bool{})
			fmt.Fprintf(b, "\t\t\t\trealc_prob_grad(score_lse, score_z, K, s, %s, %d, %d, a, &a0, v, err);\n", kv, renorm, b2i(rv.Op == compiler.OpLogProb))
		}
		b.WriteString("\t\t\t}\n")
	}
	fmt.Fprintf(b, `		}
		alpha = (float)a0;
		for (int k = 0; k < K; k++) {
			val[k] = (float)v[k];
		}
	}
	__syncthreads();
	realc_row_grad(logits + (long long)r * ld, dlogits + (long long)r * ld, V, score_lse[s], alpha, 0.0f, idx, val, K);
}
`)
}

// The device helpers (device/*.cuh), pasted into every kernels.cu.
var (
	//go:embed device/realc.cuh
	realcCUH string
	//go:embed device/score.cuh
	scoreCUH string
)
