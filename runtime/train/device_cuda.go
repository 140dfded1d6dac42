//go:build cuda

package train

import (
	"fmt"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/gpu"
	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/judge"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
)

// cudaProgram is a generated program built with the cuda tag: its
// launch_cuda.go hands over the recipe's kernels.cu and their Spec.
type cudaProgram interface {
	CUDAKernels() (src string, spec *cuda.Spec)
}

// gpuLossChunk is the number of rows whose logits exist at once in the
// GPU's fused loss: 2 x 512 x V bf16 (the chunk's logits and their
// gradient, 311 MB at V = 151,936), large enough for cuBLAS to run near
// its peak.
const gpuLossChunk = 512

// gpuEngine runs the model work on a GPU: the policy (fp32 masters, bf16
// copies, fp32 gradients and AdamW moments) and the reference model (bf16
// weights only) live there; the forward and backward are runtime/cuda/gpumodel's; the loss is
// the recipe's own kernels.cu from the hidden states, chunk by chunk (the
// logits GEMM, its row_stats kernel, then after the stages the logits
// again, token_grad/score_grad and the dH and dW GEMMs). The stages
// themselves (score, filter, advantages, the loss's values: O(T) work) run
// on the host by the generated Go code, from the rows' statistics, so that
// frozen stage-one values (REAL's advantages over an update's epochs) and
// the evaluation's outputs are exactly the CPU path's; the values go back to
// the GPU for the gradient kernels.
type gpuEngine struct {
	t      *Trainer
	mach   *gpu.Machine
	rl     *gpu.RecipeLoss
	slots  [][4]int
	policy *gpumodel.Model
	ref    *gpumodel.Model
	// stale: the host policy lags the GPU's weights (and moments).
	stale, staleMoments bool
}

func newGPUEngine(t *Trainer, ordinal int) (engine, error) {
	m := t.meta
	cp, ok := t.prog.(cudaProgram)
	if !ok {
		return nil, fmt.Errorf("--device %s: recipe %s's trainer carries no CUDA kernels: regenerate and rebuild it with this realc (`realc build --tags cuda %s`)", t.cfg.Device, m.Name, m.File)
	}
	src, spec := cp.CUDAKernels()
	slots, err := spec.Slots(m)
	if err != nil {
		return nil, err
	}
	e := &gpuEngine{t: t, slots: slots}
	fail := func(err error) (engine, error) {
		e.close()
		return nil, fmt.Errorf("--device %s: %v", t.cfg.Device, err)
	}
	if e.mach, err = gpu.Open(ordinal, gpu.Options{}); err != nil {
		return fail(err)
	}
	if e.rl, err = e.mach.LoadRecipe(src, spec); err != nil {
		return fail(err)
	}
	if e.policy, err = gpumodel.Upload(e.mach, t.policy); err != nil {
		return fail(err)
	}
	if err := e.policy.SetMoments(t.opt.M, t.opt.V, t.opt.Step); err != nil {
		return fail(err)
	}
	if t.ref != nil {
		// Frozen: only its forward runs, on bf16 weights (2 bytes a
		// parameter, not the policy's 18).
		if e.ref, err = gpumodel.UploadFrozen(e.mach, t.ref); err != nil {
			return fail(fmt.Errorf("the reference model: %v", err))
		}
	}
	if !t.cfg.Quiet {
		held := fmt.Sprintf("policy %s", gib(e.policy.DeviceBytes()))
		if e.ref != nil {
			held += fmt.Sprintf(", reference model %s", gib(e.ref.DeviceBytes()))
		}
		fmt.Fprintf(t.stderr, "%s: training on %s: %s\n", m.Name, e.mach.Name(), held)
	}
	return e, nil
}

// gib formats a byte count for messages.
func gib(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
}

func (e *gpuEngine) close() {
	for _, g := range []*gpumodel.Model{e.policy, e.ref} {
		if g != nil {
			g.Free()
		}
	}
	e.policy, e.ref = nil, nil
	if e.mach != nil {
		e.mach.Close()
		e.mach = nil
	}
}

func (e *gpuEngine) sync(moments bool) error {
	if e.stale {
		if err := e.policy.Download(e.t.policy); err != nil {
			return fmt.Errorf("downloading the weights from the GPU: %v", err)
		}
		e.stale = false
	}
	if moments && e.staleMoments {
		if err := e.policy.DownloadMoments(e.t.opt.M, e.t.opt.V); err != nil {
			return fmt.Errorf("downloading the optimizer state from the GPU: %v", err)
		}
		e.staleMoments = false
	}
	return nil
}

// sampler decodes on the GPU from the current weights (gpumodel.LM: the
// decode kernel over KV caches, a prefilled prompt's cache copied to its n
// samples).
func (e *gpuEngine) sampler(caches, maxLen int) (sample.LM, func(), error) {
	lm, err := e.policy.NewLM(caches, maxLen)
	if err != nil {
		return nil, nil, err
	}
	return lm, lm.Free, nil
}

func (e *gpuEngine) score(groups []*Group) (*recipe.Output, []float64, error) {
	out, st, err := e.eval(e.policy, groups, passScore, nil)
	if err != nil {
		return nil, nil, err
	}
	return out, st.Entropy, nil
}

func (e *gpuEngine) refLogp(seqs []*Seq) ([][]float64, error) {
	_, st, err := e.eval(e.ref, []*Group{{Seqs: seqs}}, passStats, nil)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(seqs))
	off := 0
	for i, s := range seqs {
		out[i] = st.Logp[off : off+len(s.Resp)]
		off += len(s.Resp)
	}
	return out, nil
}

func (e *gpuEngine) gradients(groups []*Group, frozen *recipe.Frozen) (*recipe.Output, float64, error) {
	if err := e.policy.ZeroGrads(); err != nil {
		return nil, 0, err
	}
	out, _, err := e.eval(e.policy, groups, passGrad, frozen)
	if err != nil {
		return nil, 0, err
	}
	norm, err := e.policy.GradNorm()
	return out, norm, err
}

func (e *gpuEngine) adamw(scale, lr float64) error {
	o := e.t.cfg.Optim
	if err := e.policy.AdamW(gpumodel.Optim{LR: lr, WeightDecay: o.WeightDecay, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps}, scale); err != nil {
		return err
	}
	e.t.opt.Step++
	e.stale, e.staleMoments = true, true
	return nil
}

type passKind int

const (
	passStats passKind = iota // the row statistics only (ref_logp)
	passScore                 // stage 1: statistics, old_logp, the stages
	passGrad                  // the stages and the gradients
)

// eval is Evaluator.eval on the GPU: a forward per micro-batch, the final
// hidden state of the layout's rows gathered in its order (token rows, then
// score rows), the fused loss, and for passGrad the backward per
// micro-batch (the last one's activations kept, the others forwarded
// again). It returns the evaluation (nil for passStats) and the rows'
// statistics.
func (e *gpuEngine) eval(g *gpumodel.Model, groups []*Group, kind passKind, frozen *recipe.Frozen) (*recipe.Output, *recipe.RowStats, error) {
	ev := e.t.ev
	meta := ev.Prog.Meta()
	var seqs []*Seq
	for _, grp := range groups {
		seqs = append(seqs, grp.Seqs...)
	}
	l := layout(meta, groups, g.Cfg.Vocab, ev.ScoreIDs)
	micros := planMicros(seqs, ev.MaxTokens)
	rm := mapRows(micros)
	D := g.Cfg.Dim
	n := l.T + l.S
	H, err := g.AllocRows(n, kernels.BF16)
	if err != nil {
		return nil, nil, fmt.Errorf("gpu: hidden rows: %v", err)
	}
	defer e.mach.Free(H)
	var last *gpumodel.Pass
	defer func() {
		if last != nil {
			last.Release()
		}
	}()
	// Passes without a backward keep no activations (Infer: one layer's
	// buffers, reused layer after layer); the gradient pass keeps the last
	// micro-batch's for its backward.
	forward := g.Infer
	if kind == passGrad {
		forward = g.Forward
	}
	for mi, mb := range micros {
		p, err := forward(mb.batch())
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rm.runs(mi, n) {
			if err == nil {
				err = g.GatherHidden(p, rm.row[r[0]:r[1]], H+uintptr(2*r[0]*D))
			}
		}
		if mi == len(micros)-1 && kind == passGrad {
			last = p
		} else {
			p.Release()
		}
		if err != nil {
			return nil, nil, err
		}
	}
	var dH uintptr
	if kind == passGrad {
		if dH, err = g.AllocRows(n, kernels.F32); err != nil {
			return nil, nil, fmt.Errorf("gpu: hidden-state gradient: %v", err)
		}
		defer e.mach.Free(dH)
	}
	w, dw := g.Head()
	rows := gpu.FusedRows{H: H, Hs: H + uintptr(2*l.T*D), W: w, D: D, Chunk: gpuLossChunk, DW: dw}
	if dH != 0 {
		rows.DH, rows.DHs = dH, dH+uintptr(4*l.T*D)
	}
	var out *recipe.Output
	var st *recipe.RowStats
	err = e.rl.FusedStaged(l, ev.Hyper, rows, func(run *gpu.LossRun) error {
		var err error
		if st, err = run.Stats(); err != nil || kind == passStats {
			return err
		}
		if kind == passScore && meta.OldLogp {
			off := 0
			for _, s := range seqs {
				s.Old = st.Logp[off : off+len(s.Resp) : off+len(s.Resp)]
				off += len(s.Resp)
			}
			l.OldLogp = st.Logp
		}
		if out, err = recipe.EvalStats(ev.Prog, l, ev.Hyper, st, frozen); err != nil || kind != passGrad {
			return err
		}
		vals, err := cuda.DeviceVals(e.slots, out.State)
		if err != nil {
			return err
		}
		return run.SetVals(vals)
	})
	if err != nil || kind != passGrad {
		return out, st, err
	}
	for mi := len(micros) - 1; mi >= 0; mi-- {
		mb := micros[mi]
		p := last
		if mi != len(micros)-1 {
			if p, err = g.Forward(mb.batch()); err != nil {
				return nil, nil, err
			}
		}
		err = e.backward(g, p, rm, mi, n, dH)
		if p != last {
			p.Release()
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return out, st, nil
}

// backward scatters micro-batch mi's rows of the loss's hidden-state
// gradient dH into the pass's [B*T x D] and runs the trunk's backward.
func (e *gpuEngine) backward(g *gpumodel.Model, p *gpumodel.Pass, rm rowMap, mi, n int, dH uintptr) error {
	D := g.Cfg.Dim
	dh, err := g.AllocRows(p.N, kernels.F32)
	if err != nil {
		return fmt.Errorf("gpu: hidden-state gradient: %v", err)
	}
	defer e.mach.Free(dh)
	for _, r := range rm.runs(mi, n) {
		if err := g.ScatterHiddenGrad(dh, dH+uintptr(4*r[0]*D), rm.row[r[0]:r[1]]); err != nil {
			return err
		}
	}
	return g.BackwardHidden(p, dh)
}

// evalOnGPU opens GPU ordinal and uploads m frozen (bf16 weights only): the
// model of `BIN eval --device cuda`, as the judge's LM source (the decode
// kernel over KV caches). It returns the GPU's name and a function that
// frees the weights and the device.
func evalOnGPU(device string, ordinal int, m *model.Model, _ *recipe.Meta) (judge.LMSource, string, func(), error) {
	mach, err := gpu.Open(ordinal, gpu.Options{})
	if err != nil {
		return nil, "", nil, fmt.Errorf("--device %s: %v", device, err)
	}
	g, err := gpumodel.UploadFrozen(mach, m)
	if err != nil {
		mach.Close()
		return nil, "", nil, fmt.Errorf("--device %s: %v", device, err)
	}
	src := func(caches, maxLen int) (sample.LM, func(), error) {
		lm, err := g.NewLM(caches, maxLen)
		if err != nil {
			return nil, nil, err
		}
		return lm, lm.Free, nil
	}
	name := fmt.Sprintf("%s, bf16 weights %s", mach.Name(), gib(g.DeviceBytes()))
	return src, name, func() { g.Free(); mach.Close() }, nil
}
