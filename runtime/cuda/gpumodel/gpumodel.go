// Package gpumodel runs a runtime/model transformer (Qwen3, Llama, Mistral)
// on a kernels.Machine: a GPU (runtime/cuda/gpu) or, for tests, the CPU
// twins (runtime/cuda/twin). It holds the weights as fp32 masters with bf16
// copies, fp32 gradients and AdamW moments (Upload; a model that is never
// trained, UploadFrozen, holds the bf16 weights only), in flat buffers in
// model.Params() order, and composes the kernels of runtime/cuda/kernels
// and the machine's GEMMs into the model's forward (Forward, Logits), its
// backward (Backward, BackwardHidden), the global gradient norm and an
// AdamW step, a forward that keeps no activations (Infer), and batched
// decoding over a KV cache (Decoder), a prompt prefilled in one pass.
//
// Precision: bf16 weights and GEMM inputs, fp32 accumulation, an fp32
// residual stream and fp32 gradients; the loss side (logits, dLogits) is
// bf16. The semantics are runtime/model's (its tests run this package on
// the twin machine against model.Forward, BackwardHidden, Step and
// train.AdamW, within bounds derived from bf16 rounding). Llama 3's
// rope_scaling is not supported.
//
// The package needs no cgo and no CUDA; the machine decides where it runs.
package gpumodel

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/model"
)

// tensor is one parameter's place in the flat buffers (in elements).
type tensor struct {
	name  string
	off   int
	n     int
	shape []int
}

type layerW struct {
	attnNorm, wq, wk, wv, wo, qNorm, kNorm, ffnNorm, gate, up, down tensor
}

// Model is a transformer on a machine.
type Model struct {
	M   kernels.Machine
	Cfg model.Config

	params []tensor
	total  int // elements of the flat buffers (each tensor padded to 8)
	// Flat buffers: fp32 masters, bf16 copies, fp32 gradients and moments.
	master, bf, grad, m, v uintptr
	embed, finalNorm, head tensor
	layers                 []layerW
	steps                  int
	frozen                 bool  // bf16 weights only (UploadFrozen)
	bytes                  int64 // machine memory held (DeviceBytes)
	// scratch for the norm backward's partial weight gradients and the
	// gradient norm's partial sums.
	part, partBytes, normPart, normOut uintptr
}

func align8(n int) int { return (n + 7) &^ 7 }

// Upload copies m's weights to the machine and allocates gradients and
// AdamW moments (zero): a model to train, 18 bytes a parameter (fp32
// masters, bf16 copies, fp32 gradients and two moments).
func Upload(mach kernels.Machine, m *model.Model) (*Model, error) {
	return upload(mach, m, false)
}

// UploadFrozen copies m's weights to the machine as bf16 only, 2 bytes a
// parameter: a model that runs forward passes and decodes but is never
// trained (a frozen reference model, a judge being evaluated). Its weights
// are bit for bit Upload's bf16 copies (the same rounding, done on the
// host), so its forward gives the same results; what needs gradients,
// moments or fp32 masters (Backward, BackwardHidden, ZeroGrads, GradNorm,
// AdamW, the Download and moment methods) reports an error.
func UploadFrozen(mach kernels.Machine, m *model.Model) (*Model, error) {
	return upload(mach, m, true)
}

func upload(mach kernels.Machine, m *model.Model, frozen bool) (*Model, error) {
	c := m.Cfg
	if c.RopeScaling != nil {
		return nil, fmt.Errorf("gpumodel: rope_scaling is not supported on the GPU yet")
	}
	if c.HeadDim > kernels.AttnMaxHeadDim {
		return nil, fmt.Errorf("gpumodel: head_dim %d above the attention kernels' %d", c.HeadDim, kernels.AttnMaxHeadDim)
	}
	if c.Dim > kernels.RMSNormMaxWidth {
		return nil, fmt.Errorf("gpumodel: hidden_size %d above the norm kernels' %d", c.Dim, kernels.RMSNormMaxWidth)
	}
	g := &Model{M: mach, Cfg: c, layers: make([]layerW, c.Layers), frozen: frozen}
	byName := map[string]*tensor{}
	ps := m.Params()
	for _, p := range ps {
		t := tensor{name: p.Name, off: g.total, n: len(p.Data), shape: p.Shape}
		g.params = append(g.params, t)
		g.total += align8(t.n)
	}
	for i := range g.params {
		byName[g.params[i].name] = &g.params[i]
	}
	get := func(name string) tensor {
		if t, ok := byName[name]; ok {
			return *t
		}
		return tensor{}
	}
	g.embed, g.finalNorm = get("model.embed_tokens.weight"), get("model.norm.weight")
	g.head = g.embed
	if !c.TiedEmbed {
		g.head = get("lm_head.weight")
	}
	for i := range g.layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		g.layers[i] = layerW{attnNorm: get(p + "input_layernorm.weight"), wq: get(p + "self_attn.q_proj.weight"), wk: get(p + "self_attn.k_proj.weight"),
			wv: get(p + "self_attn.v_proj.weight"), wo: get(p + "self_attn.o_proj.weight"), qNorm: get(p + "self_attn.q_norm.weight"),
			kNorm: get(p + "self_attn.k_norm.weight"), ffnNorm: get(p + "post_attention_layernorm.weight"), gate: get(p + "mlp.gate_proj.weight"),
			up: get(p + "mlp.up_proj.weight"), down: get(p + "mlp.down_proj.weight")}
	}
	var err error
	alloc := func(bytes int64) uintptr {
		if err != nil {
			return 0
		}
		var p uintptr
		if p, err = mach.Alloc(bytes); err == nil {
			g.bytes += bytes
			err = mach.Zero(p, bytes)
		}
		return p
	}
	n := int64(g.total)
	g.bf = alloc(2 * n)
	if !frozen {
		g.master, g.grad, g.m, g.v = alloc(4*n), alloc(4*n), alloc(4*n), alloc(4*n)
		// The norm backward's partials: at most RMSNormBackParts rows of the widest norm.
		g.partBytes = uintptr(4 * kernels.RMSNormBackParts(1<<30) * max(c.Dim, c.HeadDim))
		g.part = alloc(int64(g.partBytes))
		g.normPart = alloc(8 * kernels.SumSqBlocks)
		g.normOut = alloc(8)
	}
	if err != nil {
		g.Free()
		return nil, fmt.Errorf("gpumodel: %v", err)
	}
	if err := g.SetWeights(m); err != nil {
		g.Free()
		return nil, err
	}
	return g, nil
}

// DeviceBytes is the machine memory the model holds between passes (its
// weights and, when trainable, gradients, moments and backward scratch);
// a pass's activations and a decoder's caches come on top.
func (g *Model) DeviceBytes() int64 { return g.bytes }

// Frozen reports whether the model was uploaded by UploadFrozen.
func (g *Model) Frozen() bool { return g.frozen }

// trainable refuses what a frozen model cannot do.
func (g *Model) trainable(what string) error {
	if g.frozen {
		return fmt.Errorf("gpumodel: %s needs a trainable model (Upload): this one was uploaded frozen, bf16 weights only", what)
	}
	return nil
}

// SetWeights copies m's weights into the masters and the bf16 copies (a
// frozen model: into its bf16 weights, rounded on the host as the
// machine's ToBF16 rounds).
func (g *Model) SetWeights(m *model.Model) error {
	flat := make([]float32, g.total)
	ps := m.Params()
	if len(ps) != len(g.params) {
		return fmt.Errorf("gpumodel: the model has %d tensors, this one %d", len(ps), len(g.params))
	}
	for i, p := range ps {
		if len(p.Data) != g.params[i].n {
			return fmt.Errorf("gpumodel: tensor %s has %d values, this model's %d", p.Name, len(p.Data), g.params[i].n)
		}
		copy(flat[g.params[i].off:], p.Data)
	}
	if g.frozen {
		return g.M.Write(g.bf, kernels.U16Bytes(cuda.ToBF16(flat)))
	}
	if err := g.M.Write(g.master, kernels.F32Bytes(flat)); err != nil {
		return err
	}
	return g.M.Launch(kernels.ToBF16(g.bf, g.master, g.total))
}

// Free releases the machine memory.
func (g *Model) Free() {
	for _, p := range []uintptr{g.master, g.bf, g.grad, g.m, g.v, g.part, g.normPart, g.normOut} {
		if p != 0 {
			g.M.Free(p)
		}
	}
	g.master, g.bf, g.grad, g.m, g.v, g.part, g.normPart, g.normOut = 0, 0, 0, 0, 0, 0, 0, 0
	g.bytes = 0
}

func (g *Model) readFlat(p uintptr) ([]float32, error) {
	b := make([]byte, 4*g.total)
	if err := g.M.Read(b, p); err != nil {
		return nil, err
	}
	return kernels.BytesF32(b), nil
}

func (g *Model) scatter(flat []float32, dst *model.Model) error {
	ps := dst.Params()
	if len(ps) != len(g.params) {
		return fmt.Errorf("gpumodel: the model has %d tensors, this one %d", len(ps), len(g.params))
	}
	for i, p := range ps {
		copy(p.Data, flat[g.params[i].off:g.params[i].off+g.params[i].n])
	}
	return nil
}

// Download copies the fp32 master weights into dst (a model of the same shape).
func (g *Model) Download(dst *model.Model) error {
	if err := g.trainable("Download (the fp32 weights)"); err != nil {
		return err
	}
	flat, err := g.readFlat(g.master)
	if err != nil {
		return err
	}
	return g.scatter(flat, dst)
}

// DownloadGrads copies the gradients into dst (e.g. from NewGrads).
func (g *Model) DownloadGrads(dst *model.Model) error {
	if err := g.trainable("DownloadGrads"); err != nil {
		return err
	}
	flat, err := g.readFlat(g.grad)
	if err != nil {
		return err
	}
	return g.scatter(flat, dst)
}

// ZeroGrads clears the gradients.
func (g *Model) ZeroGrads() error {
	if err := g.trainable("ZeroGrads"); err != nil {
		return err
	}
	return g.M.Zero(g.grad, 4*int64(g.total))
}

// Addresses of one tensor in each flat buffer.
func (g *Model) w(t tensor) uintptr  { return g.bf + uintptr(2*t.off) }
func (g *Model) gw(t tensor) uintptr { return g.grad + uintptr(4*t.off) }

// GradNorm is the global L2 norm of the gradients (float64 partial sums,
// as train.GradNorm).
func (g *Model) GradNorm() (float64, error) {
	if err := g.trainable("GradNorm"); err != nil {
		return 0, err
	}
	if err := g.M.Launch(kernels.SumSq(g.normPart, g.grad, g.total)); err != nil {
		return 0, err
	}
	if err := g.M.Launch(kernels.SumFinal(g.normOut, g.normPart, kernels.SumSqBlocks)); err != nil {
		return 0, err
	}
	b := make([]byte, 8)
	if err := g.M.Read(b, g.normOut); err != nil {
		return 0, err
	}
	return math.Sqrt(kernels.BytesF64(b)[0]), nil
}

// Optim is one AdamW step's settings (runtime/train's Optim fields).
type Optim struct {
	LR, WeightDecay, Beta1, Beta2, Eps float64
}

// AdamW takes one optimizer step with the gradients scaled by gradScale
// (the clip factor), updating the masters, the moments and the bf16 copies:
// runtime/train's AdamW.Update on every element.
func (g *Model) AdamW(o Optim, gradScale float64) error {
	if err := g.trainable("AdamW"); err != nil {
		return err
	}
	g.steps++
	return g.M.Launch(kernels.AdamW(g.master, g.bf, g.grad, g.m, g.v, g.total, kernels.AdamWArgs{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2,
		Eps: o.Eps, WeightDecay: o.WeightDecay, Step: g.steps, GradScale: gradScale}))
}

// DownloadMoments copies AdamW's first and second moments into m and v, one
// slice per parameter in model.Params() order (runtime/train's AdamW.M, V).
func (g *Model) DownloadMoments(m, v [][]float32) error {
	if err := g.trainable("DownloadMoments"); err != nil {
		return err
	}
	for _, x := range []struct {
		src uintptr
		dst [][]float32
	}{{g.m, m}, {g.v, v}} {
		if len(x.dst) != len(g.params) {
			return fmt.Errorf("gpumodel: %d moment slices for %d tensors", len(x.dst), len(g.params))
		}
		flat, err := g.readFlat(x.src)
		if err != nil {
			return err
		}
		for i, t := range g.params {
			if len(x.dst[i]) != t.n {
				return fmt.Errorf("gpumodel: moment of %s has %d values, want %d", t.name, len(x.dst[i]), t.n)
			}
			copy(x.dst[i], flat[t.off:t.off+t.n])
		}
	}
	return nil
}

// SetMoments sets AdamW's moments (as DownloadMoments reads them) and the
// number of steps taken (the bias corrections continue from it): a resumed
// run's optimizer state.
func (g *Model) SetMoments(m, v [][]float32, steps int) error {
	if err := g.trainable("SetMoments"); err != nil {
		return err
	}
	for _, x := range []struct {
		dst uintptr
		src [][]float32
	}{{g.m, m}, {g.v, v}} {
		if len(x.src) != len(g.params) {
			return fmt.Errorf("gpumodel: %d moment slices for %d tensors", len(x.src), len(g.params))
		}
		flat := make([]float32, g.total)
		for i, t := range g.params {
			if len(x.src[i]) != t.n {
				return fmt.Errorf("gpumodel: moment of %s has %d values, want %d", t.name, len(x.src[i]), t.n)
			}
			copy(flat[t.off:], x.src[i])
		}
		if err := g.M.Write(x.dst, kernels.F32Bytes(flat)); err != nil {
			return err
		}
	}
	g.steps = steps
	return nil
}

// Steps is the number of AdamW steps taken.
func (g *Model) Steps() int { return g.steps }

// arena is a bump allocator for a pass's activations: machine allocations
// of at least hint bytes (256-byte aligned pieces), freed together.
type arena struct {
	m      kernels.Machine
	hint   int64
	chunks []uintptr
	base   uintptr
	size   uintptr
	used   uintptr
	err    error
}

func newArena(m kernels.Machine, hint int64) (*arena, error) {
	a := &arena{m: m, hint: hint}
	a.grow(0)
	return a, a.err
}

func (a *arena) grow(need int) {
	size := max(a.hint, int64(need)+256)
	p, err := a.m.Alloc(size)
	if err != nil {
		a.err = err
		return
	}
	a.chunks = append(a.chunks, p)
	a.base, a.size, a.used = p, uintptr(size), 0
}

// get returns bytes of arena memory (0 after an allocation failure, which
// err reports).
func (a *arena) get(bytes int) uintptr {
	n := (uintptr(bytes) + 255) &^ 255
	if a.used+n > a.size {
		a.grow(bytes)
		if a.err != nil {
			return 0
		}
	}
	p := a.base + a.used
	a.used += n
	return p
}

func (a *arena) free() {
	for _, p := range a.chunks {
		a.m.Free(p)
	}
	a.chunks = nil
}

// ops collects the first error of a sequence of machine calls.
type ops struct {
	m   kernels.Machine
	err error
}

func (o *ops) launch(l kernels.Launch) {
	if o.err == nil {
		o.err = o.m.Launch(l)
	}
}

func (o *ops) gemm(gm kernels.Gemm) {
	if o.err == nil {
		o.err = o.m.Gemm(gm)
	}
}

func (o *ops) zero(p uintptr, n int) {
	if o.err == nil {
		o.err = o.m.Zero(p, int64(n))
	}
}

func (o *ops) copy(dst, src uintptr, n int) {
	if o.err == nil {
		o.err = o.m.Copy(dst, src, int64(n))
	}
}

// linear: y[n, out] (type ct) = x[n, in] (bf16) W[out, in]^T, beta 0 or 1.
func (o *ops) linear(y, x, w uintptr, n, in, out int, beta float32, ct kernels.DType) {
	o.gemm(kernels.Gemm{TransB: true, M: n, N: out, K: in, Alpha: 1, Beta: beta, A: x, LDA: in, B: w, LDB: in, C: y, LDC: out, AB: kernels.BF16, CT: ct})
}

// linearBackX: dx[n, in] (type ct) (=, or += with beta 1) dy[n, out] W[out, in].
func (o *ops) linearBackX(dx, dy, w uintptr, n, in, out int, beta float32, ct kernels.DType) {
	o.gemm(kernels.Gemm{M: n, N: in, K: out, Alpha: 1, Beta: beta, A: dy, LDA: out, B: w, LDB: in, C: dx, LDC: in, AB: kernels.BF16, CT: ct})
}

// linearBackW: dW[out, in] (fp32) += dy[n, out]^T x[n, in].
func (o *ops) linearBackW(dw, dy, x uintptr, n, in, out int) {
	o.gemm(kernels.Gemm{TransA: true, M: out, N: in, K: n, Alpha: 1, Beta: 1, A: dy, LDA: out, B: x, LDB: in, C: dw, LDC: in, AB: kernels.BF16, CT: kernels.F32})
}

// ropeTables computes the cos/sin rows of the positions (float64, as the model).
func ropeTables(pos []int, c *model.Config) ([]float32, []float32) {
	return twin.RopeTables(pos, c.RopeTheta, c.HeadDim)
}

// Head returns the LM head's bf16 weights [V x D] and its fp32 gradient
// (the embedding's when the head is tied): the W and dW of a fused loss. A
// frozen model's gradient is 0 (a loss run for statistics only).
func (g *Model) Head() (w, grad uintptr) {
	if g.frozen {
		return g.w(g.head), 0
	}
	return g.w(g.head), g.gw(g.head)
}

// AllocRows allocates n rows of width Dim of the given type.
func (g *Model) AllocRows(n int, t kernels.DType) (uintptr, error) {
	p, err := g.M.Alloc(int64(n * g.Cfg.Dim * t.Size()))
	if err == nil {
		err = g.M.Zero(p, int64(n*g.Cfg.Dim*t.Size()))
	}
	return p, err
}

// GatherHidden copies rows of the pass's final hidden state (model rows
// b*T+t) to out, bf16 [len(rows) x Dim]: a loss's rows in its own order.
func (g *Model) GatherHidden(p *Pass, rows []int32, out uintptr) error {
	return g.rowsOp(rows, func(r uintptr) kernels.Launch { return kernels.GatherRows(out, p.hidden, r, len(rows), g.Cfg.Dim) })
}

// ScatterHiddenGrad adds in (fp32 [len(rows) x Dim], a loss's gradient of
// its rows) into dHidden (fp32 [B*T x Dim]) at the model rows.
func (g *Model) ScatterHiddenGrad(dHidden, in uintptr, rows []int32) error {
	return g.rowsOp(rows, func(r uintptr) kernels.Launch { return kernels.ScatterAddRows(dHidden, in, r, len(rows), g.Cfg.Dim) })
}

func (g *Model) rowsOp(rows []int32, l func(uintptr) kernels.Launch) error {
	if len(rows) == 0 {
		return nil
	}
	r, err := g.M.Alloc(int64(4 * len(rows)))
	if err != nil {
		return err
	}
	defer g.M.Free(r)
	if err := g.M.Write(r, kernels.I32Bytes(rows)); err != nil {
		return err
	}
	return g.M.Launch(l(r))
}
