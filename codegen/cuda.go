package codegen

import (
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
	pl       *plan
	p        *compiler.Program
	src      string
	lines    []string
	prefix   string
	lastLine int
	// offsets of every value in the vals buffer: counts per axis before it
	off [][4]int
}

func (g *gen) kernelsCU() ([]byte, error) {
	c := &cudaGen{pl: g.pl, p: g.p, src: g.src, lines: strings.Split(string(g.p.Source), "\n"), prefix: cIdent(g.p.Name)}
	var n [4]int
	for _, v := range g.p.Values {
		c.off = append(c.off, n)
		n[v.Axis]++
	}
	return []byte(c.file(n)), nil
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

// offExpr is the offset of value id in vals: counts of earlier values per
// axis times the axis sizes.
func (c *cudaGen) offExpr(id compiler.ID) string {
	o := c.off[id]
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
		return fmt.Sprintf("hyper[%d]", (&goFuncs{p: c.p}).hyperIndex(av.Name))
	}
	return c.arr(a, cBcast(av.Axis, out, idx))
}

var cLeaf = map[string]string{
	"mask": "mask", "all": "mask", "cot": "cot", "answer": "answer", "old_logp": "old_logp", "ref_logp": "ref_logp",
	"y": "y", "pred": "pred", "acc": "acc", "len": "len", "truncated": "truncated", "format_ok": "format_ok",
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
		rhs = fmt.Sprintf("hyper[%d]", (&goFuncs{p: c.p}).hyperIndex(v.Name))
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
			rhs = cLeaf[v.Name] + "[" + idx + "]"
		}
	case compiler.OpExpect:
		rhs = fmt.Sprintf("%s_expect(score_lse, score_z, K, %s, %d)", c.prefix, idx, b2i(v.Renorm))
	case compiler.OpProb, compiler.OpLogProb:
		fn := "prob"
		if v.Op == compiler.OpLogProb {
			fn = "logprob"
		}
		rhs = fmt.Sprintf("%s_%s(score_lse, score_z, K, %s, %s, %d, err)", c.prefix, fn, idx, c.ref(v.Args[0], v.Axis, idx, locals), b2i(v.Renorm))
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

// phase writes the body of a stage kernel.
func (c *cudaGen) phase(b *strings.Builder, ids []compiler.ID, keptExpr string) {
	c.lastLine = 0
	for i := 0; i < len(ids); {
		v := c.p.Values[ids[i]]
		if v.Op.IsReduction() {
			c.reduction(b, ids[i], keptExpr)
			b.WriteString("\t__syncthreads();\n")
			i++
			continue
		}
		j := i
		for j < len(ids) && !c.p.Values[ids[j]].Op.IsReduction() && c.p.Values[ids[j]].Axis == v.Axis {
			j++
		}
		fmt.Fprintf(b, "\tfor (int i = threadIdx.x; i < %s; i += blockDim.x) {\n", cSize(v.Axis))
		locals := map[compiler.ID]bool{}
		for _, id := range ids[i:j] {
			c.value(b, id, "i", "\t\t", locals, true, false)
		}
		b.WriteString("\t}\n\t__syncthreads();\n")
		i = j
	}
}

func (c *cudaGen) reduction(b *strings.Builder, id compiler.ID, keptExpr string) {
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
		if v.Stage > compiler.StageFilter {
			cond = keptExpr
		}
		fmt.Fprintf(b, "\tif (threadIdx.x == 0) {\n\t\tdouble sum = 0.0;\n\t\tfor (int i = 0; i < S; i++) {\n\t\t\tif (%s) {\n\t\t\t\tsum += %s;\n\t\t\t}\n\t\t}\n\t\t%s = sum;\n\t}\n", cond, add, dst("0"))
	}
}

const cudaParams = `double* __restrict__ vals, const double* __restrict__ hyper, int G, int S, int T, int K, \
	const int* __restrict__ group_off, const int* __restrict__ seq_group, const int* __restrict__ tok_off, \
	const int* __restrict__ tok_seq, const int* __restrict__ tokens, const int* __restrict__ score_tokens, \
	const double* __restrict__ mask, const double* __restrict__ cot, const double* __restrict__ answer, \
	const double* __restrict__ old_logp, const double* __restrict__ ref_logp, const double* __restrict__ pred, \
	const double* __restrict__ acc, const double* __restrict__ len, const double* __restrict__ truncated, \
	const double* __restrict__ format_ok, const double* __restrict__ y, float* __restrict__ score_lse, \
	float* __restrict__ score_z, float* __restrict__ tok_lse, float* __restrict__ tok_pz, \
	float* __restrict__ tok_z, int* __restrict__ err`

const cudaArgs = `vals, hyper, G, S, T, K, group_off, seq_group, tok_off, tok_seq, tokens, score_tokens, mask, cot, \
	answer, old_logp, ref_logp, pred, acc, len, truncated, format_ok, y, score_lse, score_z, tok_lse, tok_pz, tok_z, err`

// CUDAParams lists the context parameters of the stage and grad kernels, in
// order (the launch glue passes them in this order).
var CUDAParams = []string{"vals", "hyper", "G", "S", "T", "K", "group_off", "seq_group", "tok_off", "tok_seq", "tokens",
	"score_tokens", "mask", "cot", "answer", "old_logp", "ref_logp", "pred", "acc", "len", "truncated", "format_ok",
	"y", "score_lse", "score_z", "tok_lse", "tok_pz", "tok_z", "err"}

func (c *cudaGen) file(counts [4]int) string {
	var b strings.Builder
	P := c.prefix
	fmt.Fprintf(&b, "// Code generated by realc from %s; DO NOT EDIT.\n\n", c.src)
	fmt.Fprintf(&b, "// CUDA kernels of recipe %s. Header-free (NVRTC-ready): bf16 by bit operations,\n", c.p.Name)
	b.WriteString("// fp32 arithmetic on logits, fp64 for the small stage kernels. Launch with blockDim.x =\n")
	b.WriteString("// 256 (a multiple of 32, at most 1024). The value buffer `vals` holds every IR value:\n")
	fmt.Fprintf(&b, "// %d scalars, then %d per group, %d per sequence and %d per token (offsets below).\n", counts[0], counts[1], counts[2], counts[3])
	if c.pl.onePass {
		b.WriteString("// Plan: one pass; a token row's adjoints come from its own readouts.\n\n")
	} else {
		fmt.Fprintf(&b, "// Plan: two passes (%s).\n\n", c.pl.twoPassWhy)
	}
	b.WriteString(cudaPrelude)
	fmt.Fprintf(&b, "\n#define REALC_CTX_PARAMS %s\n#define REALC_CTX_ARGS %s\n\n", cudaParams, cudaArgs)
	// Score readouts.
	vals := make([]string, len(c.p.Score.Values))
	for i, v := range c.p.Score.Values {
		vals[i] = cNum(v)
	}
	fmt.Fprintf(&b, "// The recipe's score values (%s: score tokens).\n__device__ __forceinline__ double %s_score_value(int k) {\n\tswitch (k) {\n", c.src, P)
	for i, v := range vals {
		fmt.Fprintf(&b, "\tcase %d:\n\t\treturn %s;\n", i, v)
	}
	b.WriteString("\tdefault:\n\t\treturn 0.0;\n\t}\n}\n\n")
	fmt.Fprintf(&b, `// p_k of score token k at sequence s (renorm: over the score tokens only).
__device__ __forceinline__ double %[1]s_pk(const float* score_lse, const float* score_z, int K, int s, int k, int renorm) {
	double p = exp((double)score_z[s * K + k] - (double)score_lse[s]);
	if (!renorm) {
		return p;
	}
	double tot = 0.0;
	for (int j = 0; j < K; j++) {
		tot += exp((double)score_z[s * K + j] - (double)score_lse[s]);
	}
	return p / tot;
}

__device__ __forceinline__ double %[1]s_expect(const float* score_lse, const float* score_z, int K, int s, int renorm) {
	double e = 0.0;
	for (int k = 0; k < K; k++) {
		e += %[1]s_score_value(k) * %[1]s_pk(score_lse, score_z, K, s, k, renorm);
	}
	return e;
}

// The index of score value v, or -1 (and err[0] = s + 1: not a score value).
__device__ __forceinline__ int %[1]s_score_index(int K, int s, double v, int* err) {
	for (int k = 0; k < K; k++) {
		if (%[1]s_score_value(k) == v) {
			return k;
		}
	}
	atomicCAS(err, 0, s + 1);
	return -1;
}

__device__ __forceinline__ double %[1]s_prob(const float* score_lse, const float* score_z, int K, int s, double v, int renorm, int* err) {
	int k = %[1]s_score_index(K, s, v, err);
	return k < 0 ? realc_nan() : %[1]s_pk(score_lse, score_z, K, s, k, renorm);
}

__device__ __forceinline__ double %[1]s_logprob(const float* score_lse, const float* score_z, int K, int s, double v, int renorm, int* err) {
	int k = %[1]s_score_index(K, s, v, err);
	if (k < 0) {
		return realc_nan();
	}
	if (renorm) {
		return log(%[1]s_pk(score_lse, score_z, K, s, k, 1));
	}
	return (double)score_z[s * K + k] - (double)score_lse[s];
}

`, P)
	keptExpr := "1"
	if c.p.Filter != compiler.NoID {
		keptExpr = c.arr(c.p.Filter, "seq_group[i]") + " != 0.0"
	}
	fmt.Fprintf(&b, "// Sequence i trains when its group passes the filter.\n#define %s_KEPT(i) (%s)\n\n", strings.ToUpper(P), strings.ReplaceAll(keptExpr, "[i]", "[(i)]"))
	for _, ph := range []struct {
		name, doc string
		ids       []compiler.ID
	}{
		{"score", "the score and filter stages, every group kept", c.pl.score},
		{"rest", "the advantages and the loss values that do not read logp or entropy", c.pl.rest},
		{"token", "the values that read logp or entropy (run after " + P + "_row_stats on the token rows)", c.pl.token},
	} {
		fmt.Fprintf(&b, "// %s_stage_%s: %s. One block.\nextern \"C\" __global__ void %s_stage_%s(REALC_CTX_PARAMS) {\n", P, ph.name, ph.doc, P, ph.name)
		if len(ph.ids) == 0 {
			b.WriteString("\t(void)vals;\n")
		}
		c.phase(&b, ph.ids, strings.ToUpper(P)+"_KEPT(i)")
		b.WriteString("}\n\n")
	}
	c.tokenAdjoint(&b)
	c.gradKernels(&b)
	return b.String()
}

// tokenAdjoint writes the device function giving a token row's adjoints.
func (c *cudaGen) tokenAdjoint(b *strings.Builder) {
	P, pl := c.prefix, c.pl
	fmt.Fprintf(b, "// d loss / d logp and d loss / d entropy at token i.\n__device__ __forceinline__ void %s_token_adjoint(REALC_CTX_PARAMS, int i, double logp, double entropy, double* g_logp, double* g_entropy) {\n", P)
	b.WriteString("\t(void)logp;\n\t(void)entropy;\n")
	locals := map[compiler.ID]bool{}
	c.lastLine = 0
	if pl.onePass {
		for _, id := range pl.adjoint {
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
	fmt.Fprintf(b, "\t*g_logp = %s;\n\t*g_entropy = %s;\n}\n\n", ret(pl.logpAdj), ret(pl.entAdj))
}

func (c *cudaGen) gradKernels(b *strings.Builder) {
	P, pl := c.prefix, c.pl
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
	for _, gr := range pl.scoreGrads {
		rv := c.p.Values[gr.Readout]
		adj := c.ref(gr.Adjoint, compiler.AxisSeq, "s", map[compiler.ID]bool{})
		fmt.Fprintf(b, "\t\t\t{\n\t\t\t\t// %s of %s\n\t\t\t\tdouble a = %s;\n", rv.Op, rv.Pos, adj)
		renorm := b2i(rv.Renorm)
		switch rv.Op {
		case compiler.OpExpect:
			fmt.Fprintf(b, "\t\t\t\tdouble e = %s_expect(score_lse, score_z, K, s, %d);\n\t\t\t\tfor (int k = 0; k < K; k++) {\n\t\t\t\t\tdouble q = %s_pk(score_lse, score_z, K, s, k, %d);\n", P, renorm, P, renorm)
			if rv.Renorm {
				fmt.Fprintf(b, "\t\t\t\t\tv[k] += a * q * (%s_score_value(k) - e);\n\t\t\t\t}\n", P)
			} else {
				fmt.Fprintf(b, "\t\t\t\t\tv[k] += a * q * %s_score_value(k);\n\t\t\t\t}\n\t\t\t\ta0 += -a * e;\n", P)
			}
		case compiler.OpProb, compiler.OpLogProb:
			kv := c.ref(rv.Args[0], compiler.AxisSeq, "s", map[compiler.ID]bool{})
			fmt.Fprintf(b, "\t\t\t\tint j = %s_score_index(K, s, %s, err);\n\t\t\t\tif (j >= 0) {\n", P, kv)
			scale := "a"
			if rv.Op == compiler.OpProb {
				fmt.Fprintf(b, "\t\t\t\t\tdouble sc = a * %s_pk(score_lse, score_z, K, s, j, %d);\n", P, renorm)
				scale = "sc"
			}
			if rv.Renorm {
				fmt.Fprintf(b, "\t\t\t\t\tfor (int k = 0; k < K; k++) {\n\t\t\t\t\t\tv[k] += %s * ((k == j ? 1.0 : 0.0) - %s_pk(score_lse, score_z, K, s, k, 1));\n\t\t\t\t\t}\n", scale, P)
			} else {
				fmt.Fprintf(b, "\t\t\t\t\ta0 += -%s;\n\t\t\t\t\tv[j] += %s;\n", scale, scale)
			}
			b.WriteString("\t\t\t\t}\n")
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

// cudaPrelude: helpers shared by every recipe's kernels.
const cudaPrelude = `#define REALC_MAX_SCORE 32

__device__ __forceinline__ float realc_bf16_to_f32(unsigned short h) {
	return __uint_as_float(((unsigned int)h) << 16);
}

// Round to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ unsigned short realc_f32_to_bf16(float f) {
	unsigned int u = __float_as_uint(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) {
		return (unsigned short)((u >> 16) | 0x40u);
	}
	u += 0x7fffu + ((u >> 16) & 1u);
	return (unsigned short)(u >> 16);
}

__device__ __forceinline__ float realc_neg_inf(void) {
	return __uint_as_float(0xff800000u);
}

__device__ __forceinline__ double realc_nan(void) {
	return __longlong_as_double(0x7ff8000000000000LL);
}

// min and max that propagate NaN, like Go's math.Min and math.Max.
__device__ __forceinline__ double realc_min(double a, double b) {
	return (a != a || b != b) ? realc_nan() : fmin(a, b);
}

__device__ __forceinline__ double realc_max(double a, double b) {
	return (a != a || b != b) ? realc_nan() : fmax(a, b);
}

// Online softmax state (max m, sum of exp(z - m) s, sum of exp(z - m) z sz):
// merge (m2, s2, sz2) into (m, s, sz).
__device__ __forceinline__ void realc_merge(float* m, float* s, float* sz, float m2, float s2, float sz2) {
	float mn = fmaxf(*m, m2);
	if (mn == realc_neg_inf()) {
		return;
	}
	float a = expf(*m - mn);
	float b = expf(m2 - mn);
	*s = *s * a + s2 * b;
	*sz = *sz * a + sz2 * b;
	*m = mn;
}

__device__ __forceinline__ void realc_push(float* m, float* s, float* sz, float x) {
	if (x == realc_neg_inf()) {
		return; // a masked logit: probability 0
	}
	if (x > *m) {
		float a = expf(*m - x);
		*s = *s * a + 1.0f;
		*sz = *sz * a + x;
		*m = x;
	} else {
		float e = expf(x - *m);
		*s += e;
		*sz += e * x;
	}
}

// realc_row_softmax_stats streams one row of bf16 logits in tiles of
// blockDim.x * 8 (16-byte loads when aligned), then reduces (m, s, sz) with
// warp shuffles and shared memory. Every thread gets the row's result.
__device__ void realc_row_softmax_stats(const unsigned short* __restrict__ z, int V, float* m_out, float* s_out, float* sz_out) {
	__shared__ float sm[32], ss[32], ssz[32];
	float m = realc_neg_inf(), s = 0.0f, sz = 0.0f;
	int j0 = 0;
	if ((((unsigned long long)z) & 15ull) == 0) {
		int tiles = V / 8;
		const uint4* z4 = (const uint4*)z;
		for (int q = threadIdx.x; q < tiles; q += blockDim.x) {
			uint4 w = z4[q];
			unsigned int u[4] = {w.x, w.y, w.z, w.w};
			for (int h = 0; h < 4; h++) {
				realc_push(&m, &s, &sz, __uint_as_float(u[h] << 16));
				realc_push(&m, &s, &sz, __uint_as_float(u[h] & 0xffff0000u));
			}
		}
		j0 = tiles * 8;
	}
	for (int j = j0 + threadIdx.x; j < V; j += blockDim.x) {
		realc_push(&m, &s, &sz, realc_bf16_to_f32(z[j]));
	}
	for (int o = 16; o > 0; o >>= 1) {
		float m2 = __shfl_xor_sync(0xffffffffu, m, o);
		float s2 = __shfl_xor_sync(0xffffffffu, s, o);
		float sz2 = __shfl_xor_sync(0xffffffffu, sz, o);
		realc_merge(&m, &s, &sz, m2, s2, sz2);
	}
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	if (lane == 0) {
		sm[warp] = m;
		ss[warp] = s;
		ssz[warp] = sz;
	}
	__syncthreads();
	if (warp == 0) {
		int nw = (blockDim.x + 31) / 32;
		m = lane < nw ? sm[lane] : realc_neg_inf();
		s = lane < nw ? ss[lane] : 0.0f;
		sz = lane < nw ? ssz[lane] : 0.0f;
		for (int o = 16; o > 0; o >>= 1) {
			float m2 = __shfl_xor_sync(0xffffffffu, m, o);
			float s2 = __shfl_xor_sync(0xffffffffu, s, o);
			float sz2 = __shfl_xor_sync(0xffffffffu, sz, o);
			realc_merge(&m, &s, &sz, m2, s2, sz2);
		}
		if (lane == 0) {
			sm[0] = m;
			ss[0] = s;
			ssz[0] = sz;
		}
	}
	__syncthreads();
	*m_out = sm[0];
	*s_out = ss[0];
	*sz_out = ssz[0];
}

// realc_row_grad writes dz_j = p_j (alpha + beta z_j) + val[i] at j = idx[i],
// p_j = exp(z_j - lse), in bf16, fp32 arithmetic.
__device__ void realc_row_grad(const unsigned short* __restrict__ z, unsigned short* __restrict__ dz, int V, float lse, float alpha, float beta, const int* idx, const float* val, int nsparse) {
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		float x = realc_bf16_to_f32(z[j]);
		float g = expf(x - lse) * (alpha + beta * x);
		for (int i = 0; i < nsparse; i++) {
			if (idx[i] == j) {
				g += val[i];
			}
		}
		dz[j] = realc_f32_to_bf16(g);
	}
}
`
