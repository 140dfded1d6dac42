// Package gpumodeltest compares runtime/cuda/gpumodel on a kernels.Machine
// with runtime/model on the CPU: the forward pass, the gradients of one
// backward, one optimizer step, and decoding. The twin-machine tests and the
// on-device check use the same comparisons and the same tolerances.
//
// The tolerances come from bf16 rounding. A bf16 rounding has a relative
// error of at most 2^-9 and, rounding values with independent low bits, an
// rms relative error of about 2^-9/sqrt(3) = 1.1e-3. Along one layer's
// forward the machine rounds about 14 times in series (the norm output and
// its weight, the q/k/v weights and outputs, the q/k norms and their
// weights, RoPE, the attention output, the FFN norm and its weight, the
// gate/up weights and outputs, SwiGLU, the down weight), the backward about
// twice as often, plus the logits and their gradient. Independent errors add
// in quadrature: over L layers the hidden state's relative error is about
// 1.1e-3*sqrt(14L+2) and a gradient's 1.1e-3*sqrt(28L+4). The bounds allow
// 4 and 5 times that (relative Frobenius-norm errors, so single entries near
// zero do not count; small tensors such as the per-head norm weights
// average over few terms and come closest to them). A wrong kernel (a sign,
// a mask, a layout) gives errors of order 1.
package gpumodeltest

import (
	"fmt"
	"math"
	"strings"

	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

const bf16RMS = 1.13e-3 // 2^-9/sqrt(3)

// ForwardTol is the relative Frobenius error bound of the hidden state.
func ForwardTol(layers int) float64 { return 4 * bf16RMS * math.Sqrt(float64(14*layers+2)) }

// GradTol is the relative Frobenius error bound of a gradient tensor.
func GradTol(layers int) float64 { return 5 * bf16RMS * math.Sqrt(float64(28*layers+4)) }

// RelErr is ||got - want|| / ||want|| (Inf when got has a non-finite entry).
func RelErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		if g := float64(got[i]); math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// BF16 reads a bf16 buffer of n values.
func BF16(m kernels.Machine, p uintptr, n int) ([]float32, error) {
	b := make([]byte, 2*n)
	if err := m.Read(b, p); err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i, h := range kernels.BytesU16(b) {
		out[i] = math.Float32frombits(uint32(h) << 16)
	}
	return out, nil
}

// WriteBF16 allocates and fills a bf16 buffer (rounded to nearest even).
func WriteBF16(m kernels.Machine, xs []float32) (uintptr, error) {
	p, err := m.Alloc(int64(2 * len(xs)))
	if err != nil {
		return 0, err
	}
	h := make([]uint16, len(xs))
	for i, x := range xs {
		u := math.Float32bits(x)
		if u&0x7fffffff > 0x7f800000 {
			h[i] = uint16(u>>16) | 0x40
			continue
		}
		u += 0x7fff + (u>>16)&1
		h[i] = uint16(u >> 16)
	}
	return p, m.Write(p, kernels.U16Bytes(h))
}

// Forward compares the hidden states; it returns the relative error.
func Forward(mach kernels.Machine, cpu *model.Model, b *model.Batch) (float64, error) {
	g, err := gpumodel.Upload(mach, cpu)
	if err != nil {
		return 0, err
	}
	defer g.Free()
	want, err := cpu.Forward(b)
	if err != nil {
		return 0, err
	}
	p, err := g.Forward(b)
	if err != nil {
		return 0, err
	}
	defer p.Release()
	got, err := BF16(mach, p.Hidden(), b.B*b.T*cpu.Cfg.Dim)
	if err != nil {
		return 0, err
	}
	return RelErr(got, want.Hidden()), nil
}

// LossGrad computes a loss and its gradient with respect to the logits
// [n x V] (the CPU's reference loss: cross-entropy, or a recipe's).
type LossGrad func(logits []float32, n, V int) (loss float64, dLogits []float32, err error)

// StepReport is the outcome of Step.
type StepReport struct {
	LossCPU, LossMachine float64
	NormCPU, NormMachine float64
	// GradErr is each tensor's relative gradient error.
	GradErr map[string]float64
	// Flipped counts, per tensor, the weights whose AdamW update went the
	// other way (the gradients' signs differ), and FlipBad those among them
	// whose CPU gradient was larger than the tensor's bf16 error allows.
	Flipped, FlipBad map[string]int
	// WeightErr is the largest difference of an updated weight whose CPU
	// gradient is larger than the bf16 error (so the first AdamW step moves
	// it by lr*sign(g) on both sides), in units of the learning rate.
	WeightErr float64
	Tensors   int
}

// MachineLoss adds into g's gradients those of the loss over pass p and
// returns the loss (the machine side of a step).
type MachineLoss func(g *gpumodel.Model, p *gpumodel.Pass) (float64, error)

// MaterializedLoss is the machine loss through materialized logits: the LM
// head on the machine, the logits read back, loss's gradient computed on
// the host and uploaded, Backward on the machine.
func MaterializedLoss(loss LossGrad) MachineLoss {
	return func(g *gpumodel.Model, gp *gpumodel.Pass) (float64, error) {
		mach, c := g.M, &g.Cfg
		n := gp.N
		lp, err := mach.Alloc(int64(2 * n * c.Vocab))
		if err != nil {
			return 0, err
		}
		defer mach.Free(lp)
		if err := g.Logits(gp, lp); err != nil {
			return 0, err
		}
		logits, err := BF16(mach, lp, n*c.Vocab)
		if err != nil {
			return 0, err
		}
		l, dlm, err := loss(logits, n, c.Vocab)
		if err != nil {
			return 0, err
		}
		dp, err := WriteBF16(mach, dlm)
		if err != nil {
			return 0, err
		}
		defer mach.Free(dp)
		return l, g.Backward(gp, dp)
	}
}

// Step runs one training step on both sides (forward, the loss gradient
// from each side's own logits, backward, gradient norm, clipping, AdamW)
// and compares them. cpu is not modified.
func Step(mach kernels.Machine, cpu *model.Model, b *model.Batch, loss LossGrad, opt train.Optim) (*StepReport, error) {
	return StepWith(mach, cpu, b, loss, MaterializedLoss(loss), opt)
}

// StepWith is Step with the machine's loss side given (e.g. a fused loss).
func StepWith(mach kernels.Machine, cpu *model.Model, b *model.Batch, loss LossGrad, mloss MachineLoss, opt train.Optim) (*StepReport, error) {
	c := &cpu.Cfg
	n := b.B * b.T
	r := &StepReport{GradErr: map[string]float64{}, Flipped: map[string]int{}, FlipBad: map[string]int{}}
	// CPU.
	ref := cpu.Clone()
	p, err := ref.Forward(b)
	if err != nil {
		return nil, err
	}
	var dl []float32
	if r.LossCPU, dl, err = loss(ref.Logits(p), n, c.Vocab); err != nil {
		return nil, err
	}
	gCPU := ref.NewGrads()
	if err := ref.Backward(p, dl, gCPU); err != nil {
		return nil, err
	}
	r.NormCPU = train.GradNorm(gCPU)
	adam := train.NewAdamW(ref)
	adam.Update(ref, gCPU, train.ClipScale(r.NormCPU, opt.Clip), opt.LR, opt)
	// Machine.
	g, err := gpumodel.Upload(mach, cpu)
	if err != nil {
		return nil, err
	}
	defer g.Free()
	gp, err := g.Forward(b)
	if err != nil {
		return nil, err
	}
	defer gp.Release()
	if r.LossMachine, err = mloss(g, gp); err != nil {
		return nil, err
	}
	if r.NormMachine, err = g.GradNorm(); err != nil {
		return nil, err
	}
	gMach := cpu.NewGrads()
	if err := g.DownloadGrads(gMach); err != nil {
		return nil, err
	}
	if err := g.AdamW(gpumodel.Optim{LR: opt.LR, WeightDecay: opt.WeightDecay, Beta1: opt.Beta1, Beta2: opt.Beta2, Eps: opt.Eps}, train.ClipScale(r.NormMachine, opt.Clip)); err != nil {
		return nil, err
	}
	after := cpu.Clone()
	if err := g.Download(after); err != nil {
		return nil, err
	}
	// Compare.
	tol := GradTol(c.Layers)
	gc, gm := gCPU.Params(), gMach.Params()
	wc, wm, w0 := ref.Params(), after.Params(), cpu.Params()
	r.Tensors = len(gc)
	for i := range gc {
		name := gc[i].Name
		e := RelErr(gm[i].Data, gc[i].Data)
		r.GradErr[name] = e
		// The entries an error of e relative to the tensor can flip: those
		// within 4 rms errors of zero.
		var ss float64
		for _, v := range gc[i].Data {
			ss += float64(v) * float64(v)
		}
		rms := math.Sqrt(ss / float64(len(gc[i].Data)))
		flipLimit := 4 * math.Max(e, tol) * rms
		for j := range gc[i].Data {
			dc := float64(wc[i].Data[j]) - float64(w0[i].Data[j])
			dm := float64(wm[i].Data[j]) - float64(w0[i].Data[j])
			significant := math.Abs(float64(gc[i].Data[j])) > flipLimit
			if (dc > 0) != (dm > 0) && math.Abs(dc-dm) > opt.LR/2 {
				r.Flipped[name]++
				if significant {
					r.FlipBad[name]++
				}
				continue
			}
			if significant {
				r.WeightErr = math.Max(r.WeightErr, math.Abs(dc-dm)/opt.LR)
			}
		}
	}
	return r, nil
}

// Check lists the ways r exceeds the tolerances (nil when within).
// The first AdamW step moves each weight by lr*g/(|g|+eps), lr*sign(g)
// unless g is tiny, so where the CPU gradient is larger than the bf16 error
// the updated weights must agree to a small fraction of lr, and an update
// that went the other way must have had a gradient small enough for the
// bf16 error to flip it.
func (r *StepReport) Check(layers int) []string {
	var bad []string
	if !(math.Abs(r.LossMachine-r.LossCPU) <= 3*GradTol(layers)*math.Max(1, math.Abs(r.LossCPU))) {
		bad = append(bad, fmt.Sprintf("loss %v on the machine, %v on the CPU", r.LossMachine, r.LossCPU))
	}
	if !(math.Abs(r.NormMachine-r.NormCPU) <= GradTol(layers)*r.NormCPU) {
		bad = append(bad, fmt.Sprintf("gradient norm %v on the machine, %v on the CPU", r.NormMachine, r.NormCPU))
	}
	for name, e := range r.GradErr {
		if !(e <= GradTol(layers)) {
			bad = append(bad, fmt.Sprintf("%s: gradient relative error %.3g above %.3g", name, e, GradTol(layers)))
		}
		if r.FlipBad[name] > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d updates went the other way with a CPU gradient larger than the bf16 error explains", name, r.FlipBad[name]))
		}
	}
	if !(r.WeightErr <= 0.05) {
		bad = append(bad, fmt.Sprintf("updated weights with clear gradients differ by up to %.3g lr", r.WeightErr))
	}
	return bad
}

func (r *StepReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loss cpu %.6g machine %.6g; grad norm cpu %.6g machine %.6g; weight err %.3g lr\n", r.LossCPU, r.LossMachine, r.NormCPU, r.NormMachine, r.WeightErr)
	worst, wn := 0.0, ""
	flips := 0
	for name, e := range r.GradErr {
		if e > worst {
			worst, wn = e, name
		}
		flips += r.Flipped[name]
	}
	fmt.Fprintf(&b, "worst gradient error %.3g (%s) over %d tensors; %d sign flips", worst, wn, r.Tensors, flips)
	return b.String()
}

// CrossEntropy is the mean next-token cross-entropy over rows whose target
// (the next token of the same sequence) exists: a reference loss for tests.
func CrossEntropy(b *model.Batch) LossGrad {
	return func(logits []float32, n, V int) (float64, []float32, error) {
		d := make([]float32, n*V)
		var loss float64
		count := 0
		for r := 0; r < n; r++ {
			t := r % b.T
			if t+1 >= b.T || (b.Mask != nil && (!b.Mask[r] || !b.Mask[r+1])) {
				continue
			}
			count++
		}
		for r := 0; r < n; r++ {
			t := r % b.T
			if t+1 >= b.T || (b.Mask != nil && (!b.Mask[r] || !b.Mask[r+1])) {
				continue
			}
			row := logits[r*V : (r+1)*V]
			mx := math.Inf(-1)
			for _, z := range row {
				mx = math.Max(mx, float64(z))
			}
			var s float64
			for _, z := range row {
				s += math.Exp(float64(z) - mx)
			}
			target := b.Tokens[r+1]
			loss += (mx + math.Log(s) - float64(row[target])) / float64(count)
			for j, z := range row {
				p := math.Exp(float64(z)-mx) / s
				if j == target {
					p--
				}
				d[r*V+j] = float32(p / float64(count))
			}
		}
		return loss, d, nil
	}
}

// Decode runs prompt-then-generation steps on both sides (every sequence
// one token per step) and returns the largest relative logits error.
func Decode(mach kernels.Machine, cpu *model.Model, seqs [][]int) (float64, error) {
	g, err := gpumodel.Upload(mach, cpu)
	if err != nil {
		return 0, err
	}
	defer g.Free()
	B, L := len(seqs), len(seqs[0])
	dc, err := g.NewDecoder(B, L)
	if err != nil {
		return 0, err
	}
	defer dc.Free()
	caches := make([]*model.KVCache, B)
	for i := range caches {
		caches[i] = cpu.NewKVCache()
	}
	worst := 0.0
	for step := 0; step < L; step++ {
		toks := make([]int, B)
		lists := make([][]int, B)
		for b := range seqs {
			toks[b] = seqs[b][step]
			lists[b] = []int{toks[b]}
		}
		want, err := cpu.Step(caches, lists)
		if err != nil {
			return 0, err
		}
		got, err := dc.Step(toks)
		if err != nil {
			return 0, err
		}
		for b := range got {
			worst = math.Max(worst, RelErr(got[b], want[b]))
		}
	}
	return worst, nil
}
