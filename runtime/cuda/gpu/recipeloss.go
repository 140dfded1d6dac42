//go:build cuda

package gpu

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/dl"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// RecipeLoss runs a generated recipe's loss kernels (its kernels.cu, whose
// calling convention runtime/cuda.RunLoss documents) on logits that live on
// the GPU: Materialized over [T x V] logits already computed, or Fused from
// the hidden states and the LM head, a chunk of rows at a time, so that the
// [T x V] logits never exist in memory (the logits of a chunk are computed
// twice: once for the row statistics, once for the gradients).
type RecipeLoss struct {
	m    *Machine
	spec *cuda.Spec
	k    map[string]*cuda.Kernel
}

// LoadRecipe compiles a recipe's kernels.cu with NVRTC for this GPU.
func (m *Machine) LoadRecipe(src string, spec *cuda.Spec) (*RecipeLoss, error) {
	r, err := dl.NewNVRTCDefault()
	if err != nil {
		return nil, fmt.Errorf("gpu: compiling recipe %s: %w", spec.Prefix, err)
	}
	defer r.Close()
	ptx, _, err := r.Compile(src, spec.Prefix+"_kernels.cu", "--gpu-architecture="+m.Arch, "--std=c++17")
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	mod, err := m.Dev.LoadPTX(ptx)
	if err != nil {
		return nil, err
	}
	rl := &RecipeLoss{m: m, spec: spec, k: map[string]*cuda.Kernel{}}
	for _, n := range spec.KernelNames() {
		if rl.k[n], err = mod.Kernel(n); err != nil {
			return nil, err
		}
	}
	return rl, nil
}

// LossRun is one batch's context on the device (the layout, the value
// buffer, the row statistics).
type LossRun struct {
	r     *RecipeLoss
	l     *recipe.Layout
	ctx   []cuda.Arg
	vals  uintptr
	errp  uintptr
	nv    int
	bufs  []uintptr
	first error
	// The row statistics the row_stats kernel writes (float32).
	scoreLSE, scoreZ, tokLSE, tokZ, tokPZ uintptr
}

// Prepare uploads a batch layout and the hyperparameters.
func (r *RecipeLoss) Prepare(l *recipe.Layout, hyper []float64) (*LossRun, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	run := &LossRun{r: r, l: l}
	m := r.m
	up := func(b []byte) uintptr {
		if run.first != nil {
			return 0
		}
		p, err := m.Alloc(int64(max(len(b), 8)))
		if err == nil {
			err = m.Write(p, b)
		}
		if err != nil {
			run.first = err
		}
		run.bufs = append(run.bufs, p)
		return p
	}
	i32 := func(xs []int32) uintptr { return up(kernels.I32Bytes(xs)) }
	f64 := func(xs []float64, n int) uintptr {
		if xs == nil {
			xs = make([]float64, n)
		}
		return up(kernels.F64Bytes(xs))
	}
	f32z := func(n int) uintptr { return up(make([]byte, 4*n)) }
	run.nv = cuda.Offset(r.spec.Counts, l.G, l.S, l.T)
	kk := len(l.ScoreTokens)
	run.vals = f64(nil, run.nv)
	run.scoreLSE, run.scoreZ, run.tokLSE, run.tokZ, run.tokPZ = f32z(l.S), f32z(l.S*kk), f32z(l.T), f32z(l.T), f32z(l.T)
	run.errp = up(make([]byte, 8))
	// By name, laid out in the order the kernels take them (cuda.ContextParams).
	byName := map[string]cuda.Arg{
		"vals": cuda.Ptr(run.vals), "hyper": cuda.Ptr(f64(hyper, len(hyper))), "G": cuda.I32(l.G), "S": cuda.I32(l.S), "T": cuda.I32(l.T), "K": cuda.I32(kk),
		"group_off": cuda.Ptr(i32(l.GroupOff)), "seq_group": cuda.Ptr(i32(l.SeqGroup)), "tok_off": cuda.Ptr(i32(l.TokOff)), "tok_seq": cuda.Ptr(i32(l.TokSeq)),
		"tokens": cuda.Ptr(i32(l.Tokens)), "score_tokens": cuda.Ptr(i32(l.ScoreTokens)),
		"mask": cuda.Ptr(f64(l.Mask, l.T)), "cot": cuda.Ptr(f64(l.Cot, l.T)), "answer": cuda.Ptr(f64(l.Answer, l.T)),
		"old_logp": cuda.Ptr(f64(l.OldLogp, l.T)), "ref_logp": cuda.Ptr(f64(l.RefLogp, l.T)),
		"pred": cuda.Ptr(f64(l.Pred, l.S)), "acc": cuda.Ptr(f64(l.Acc, l.S)), "len": cuda.Ptr(f64(l.Len, l.S)),
		"truncated": cuda.Ptr(f64(l.Truncated, l.S)), "format_ok": cuda.Ptr(f64(l.FormatOK, l.S)), "y": cuda.Ptr(f64(l.Y, l.G)),
		"score_lse": cuda.Ptr(run.scoreLSE), "score_z": cuda.Ptr(run.scoreZ), "tok_lse": cuda.Ptr(run.tokLSE), "tok_pz": cuda.Ptr(run.tokPZ), "tok_z": cuda.Ptr(run.tokZ),
		"err": cuda.Ptr(run.errp),
	}
	for _, name := range cuda.ContextParams {
		a, ok := byName[name]
		if !ok && run.first == nil {
			run.first = fmt.Errorf("gpu: the loss kernels take a context argument %s this runtime does not know: rebuild realc", name)
		}
		run.ctx = append(run.ctx, a)
	}
	if err := cuda.CheckContext(len(byName)); err != nil && run.first == nil {
		run.first = err
	}
	if run.first != nil {
		run.Free()
		return nil, run.first
	}
	return run, nil
}

// Free releases the batch's device buffers.
func (run *LossRun) Free() {
	for _, p := range run.bufs {
		if p != 0 {
			run.r.m.Free(p)
		}
	}
	run.bufs = nil
}

func (run *LossRun) launch(name string, grid int, args ...cuda.Arg) {
	if run.first != nil || grid <= 0 {
		return
	}
	block := run.r.spec.Block
	if block <= 0 {
		block = 256
	}
	run.first = run.r.k[run.r.spec.Prefix+"_"+name].Launch(grid, block, 0, append(args, run.ctx...)...)
}

func (run *LossRun) gemm(g kernels.Gemm) {
	if run.first == nil {
		run.first = run.r.m.Gemm(g)
	}
}

// RowStats: statistics of nrows bf16 logit rows (row r at logits + r*ld):
// token rows row0.. (kind 0) or score rows (kind 1).
func (run *LossRun) RowStats(logits uintptr, ld, nrows, kind, row0 int) {
	run.launch("row_stats", nrows, cuda.Ptr(logits), cuda.I64(int64(ld)), cuda.I32(nrows), cuda.I32(run.l.V), cuda.I32(kind), cuda.I32(row0))
}

// Stages runs the score, rest and token stages (one block each).
func (run *LossRun) Stages() {
	run.launch("stage_score", 1)
	run.launch("stage_rest", 1)
	run.launch("stage_token", 1)
}

// TokenGrad writes the bf16 gradient of nrows token rows (row0..).
func (run *LossRun) TokenGrad(logits, dlogits uintptr, ld, nrows, row0 int) {
	run.launch("token_grad", nrows, cuda.Ptr(logits), cuda.Ptr(dlogits), cuda.I64(int64(ld)), cuda.I32(nrows), cuda.I32(run.l.V), cuda.I32(row0))
}

// ScoreGrad writes the bf16 gradient of nrows score rows (row0..).
func (run *LossRun) ScoreGrad(logits, dlogits uintptr, ld, nrows, row0 int) {
	run.launch("score_grad", nrows, cuda.Ptr(logits), cuda.Ptr(dlogits), cuda.I64(int64(ld)), cuda.I32(nrows), cuda.I32(run.l.V), cuda.I32(row0))
}

// Result reads the loss and every value back (as RunLoss does: 0 when no
// group is kept; an error for a kernel-reported problem or a non-finite loss).
func (run *LossRun) Result() (float64, []float64, error) {
	if run.first != nil {
		return 0, nil, run.first
	}
	raw := make([]byte, 8*run.nv)
	if err := run.r.m.Read(raw, run.vals); err != nil {
		return 0, nil, err
	}
	vals := kernels.BytesF64(raw)
	if err := run.kernelError(); err != nil {
		return 0, vals, err
	}
	spec, l := run.r.spec, run.l
	kept := !spec.HasFilter
	for g := 0; g < l.G && !kept; g++ {
		kept = vals[cuda.Offset(spec.FilterOff, l.G, l.S, l.T)+g] != 0
	}
	if !kept {
		return 0, vals, nil
	}
	loss := vals[cuda.Offset(spec.LossOff, l.G, l.S, l.T)]
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, vals, fmt.Errorf("gpu: the loss is not finite (%v)", loss)
	}
	return loss, vals, nil
}

// Materialized runs the loss on logits already on the device: tok [T x V]
// and score [S x V] (bf16), writing dTok and dScore (bf16, same shapes).
func (r *RecipeLoss) Materialized(l *recipe.Layout, hyper []float64, tok, score, dTok, dScore uintptr) (float64, error) {
	run, err := r.Prepare(l, hyper)
	if err != nil {
		return 0, err
	}
	defer run.Free()
	run.RowStats(tok, l.V, l.T, 0, 0)
	run.RowStats(score, l.V, l.S, 1, 0)
	run.Stages()
	run.TokenGrad(tok, dTok, l.V, l.T, 0)
	run.ScoreGrad(score, dScore, l.V, l.S, 0)
	loss, _, err := run.Result()
	return loss, err
}

// Fused runs the loss from hidden states: H [T x D] (bf16; row t's logits
// predict token t), Hs [S x D] (bf16, the score rows) and the head W
// [V x D] (bf16), chunk token rows at a time. It writes dH [T x D] and dHs
// [S x D] (fp32) and adds the head's gradient into dW [V x D] (fp32). The
// stages run on the GPU (the recipe's stage kernels).
func (r *RecipeLoss) Fused(l *recipe.Layout, hyper []float64, H, Hs, W uintptr, D, chunk int, dH, dHs, dW uintptr) (float64, error) {
	var loss float64
	err := r.FusedStaged(l, hyper, FusedRows{H: H, Hs: Hs, W: W, D: D, Chunk: chunk, DH: dH, DHs: dHs, DW: dW}, func(run *LossRun) error {
		run.Stages()
		var err error
		loss, _, err = run.Result()
		return err
	})
	return loss, err
}

// FusedRows are the operands of a fused loss: H [T x D] (bf16; row t's
// logits predict token t), Hs [S x D] (bf16, the score rows), the head W
// [V x D] (bf16), Chunk token rows at a time; DH [T x D] and DHs [S x D]
// (fp32) are written and the head's gradient added into DW [V x D] (fp32).
// With DH zero no gradient is computed (statistics only).
type FusedRows struct {
	H, Hs, W    uintptr
	D, Chunk    int
	DH, DHs, DW uintptr
}

// FusedStaged runs the loss from hidden states in two row passes around
// stages: the first pass computes every row's statistics (the recipe's
// row_stats kernel on each chunk's logits), then stages(run) sets the
// values the gradient kernels read (run.Stages on the GPU, or SetVals from
// a host evaluation that can take frozen stage-one values), then the
// second pass recomputes each chunk's logits, writes their gradient with
// the recipe's token_grad and score_grad kernels and multiplies it into
// DH, DHs and DW. The [T x V] logits never exist in memory.
func (r *RecipeLoss) FusedStaged(l *recipe.Layout, hyper []float64, f FusedRows, stages func(*LossRun) error) error {
	run, err := r.Prepare(l, hyper)
	if err != nil {
		return err
	}
	defer run.Free()
	chunk := max(1, min(f.Chunk, max(l.T, l.S)))
	rows := max(chunk, l.S)
	z, err := r.m.Alloc(int64(2 * rows * l.V))
	if err != nil {
		return fmt.Errorf("gpu: logits chunk: %v", err)
	}
	defer r.m.Free(z)
	var dz uintptr
	if f.DH != 0 {
		if dz, err = r.m.Alloc(int64(2 * rows * l.V)); err != nil {
			return fmt.Errorf("gpu: logits chunk gradient: %v", err)
		}
		defer r.m.Free(dz)
	}
	V, D, W := l.V, f.D, f.W
	logits := func(h uintptr, r0, n int) {
		run.gemm(kernels.Gemm{TransB: true, M: n, N: V, K: D, Alpha: 1, A: h + uintptr(2*r0*D), LDA: D, B: W, LDB: D, C: z, LDC: V, AB: kernels.BF16, CT: kernels.BF16})
	}
	back := func(h, dh uintptr, r0, n int) {
		run.gemm(kernels.Gemm{M: n, N: D, K: V, Alpha: 1, A: dz, LDA: V, B: W, LDB: D, C: dh + uintptr(4*r0*D), LDC: D, AB: kernels.BF16, CT: kernels.F32})
		run.gemm(kernels.Gemm{TransA: true, M: V, N: D, K: n, Alpha: 1, Beta: 1, A: dz, LDA: V, B: h + uintptr(2*r0*D), LDB: D, C: f.DW, LDC: D, AB: kernels.BF16, CT: kernels.F32})
	}
	for r0 := 0; r0 < l.T; r0 += chunk {
		n := min(chunk, l.T-r0)
		logits(f.H, r0, n)
		run.RowStats(z, V, n, 0, r0)
	}
	if l.S > 0 {
		logits(f.Hs, 0, l.S)
		run.RowStats(z, V, l.S, 1, 0)
	}
	if run.first != nil {
		return run.first
	}
	if err := stages(run); err != nil {
		return err
	}
	if f.DH == 0 {
		return run.first
	}
	for r0 := 0; r0 < l.T; r0 += chunk {
		n := min(chunk, l.T-r0)
		logits(f.H, r0, n)
		run.TokenGrad(z, dz, V, n, r0)
		back(f.H, f.DH, r0, n)
	}
	if l.S > 0 {
		logits(f.Hs, 0, l.S)
		run.ScoreGrad(z, dz, V, l.S, 0)
		back(f.Hs, f.DHs, 0, l.S)
	}
	if run.first != nil {
		return run.first
	}
	return run.kernelError()
}

// Stats reads the row statistics back: each token row's log-probability
// of its target and entropy, each score row's log-sum-exp and score-token
// logits (as the host engine's rows record them).
func (run *LossRun) Stats() (*recipe.RowStats, error) {
	if run.first != nil {
		return nil, run.first
	}
	l := run.l
	kk := len(l.ScoreTokens)
	read := func(p uintptr, n int) []float32 {
		if run.first != nil || n == 0 {
			return nil
		}
		b := make([]byte, 4*n)
		run.first = run.r.m.Read(b, p)
		return kernels.BytesF32(b)
	}
	lse, z, pz := read(run.tokLSE, l.T), read(run.tokZ, l.T), read(run.tokPZ, l.T)
	sl, sz := read(run.scoreLSE, l.S), read(run.scoreZ, l.S*kk)
	if run.first != nil {
		return nil, run.first
	}
	st := &recipe.RowStats{Logp: make([]float64, l.T), Entropy: make([]float64, l.T), ScoreLSE: make([]float64, l.S), ScoreZ: make([]float64, l.S*kk)}
	for t := range st.Logp {
		// As the generated token_grad kernel derives them.
		st.Logp[t] = float64(z[t]) - float64(lse[t])
		st.Entropy[t] = float64(lse[t]) - float64(pz[t])
	}
	for i := range sl {
		st.ScoreLSE[i] = float64(sl[i])
	}
	for i := range sz {
		st.ScoreZ[i] = float64(sz[i])
	}
	return st, nil
}

// SetVals writes every value (the kernels' vals layout, cuda.DeviceVals)
// for the gradient kernels to read.
func (run *LossRun) SetVals(vals []float64) error {
	if len(vals) != run.nv {
		return fmt.Errorf("gpu: %d values for a vals buffer of %d", len(vals), run.nv)
	}
	return run.r.m.Write(run.vals, kernels.F64Bytes(vals))
}

func (run *LossRun) kernelError() error {
	eb := make([]byte, 4)
	if err := run.r.m.Read(eb, run.errp); err != nil {
		return err
	}
	if bad := int32(uint32(eb[0]) | uint32(eb[1])<<8 | uint32(eb[2])<<16 | uint32(eb[3])<<24); bad != 0 {
		return fmt.Errorf("gpu: the loss kernels report error %d (see runtime/cuda.RunLoss)", bad)
	}
	return nil
}
