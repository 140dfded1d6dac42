package train

import (
	"math"

	"github.com/realc-project/realc/runtime/model"
)

// AdamW is torch.optim.AdamW (decoupled weight decay, bias-corrected
// moments), its state in float32 like torch's for float32 parameters, the
// arithmetic of each element in float64.
type AdamW struct {
	M, V [][]float32 // first and second moments, one slice per model.Params entry
	Step int         // optimizer steps taken (torch's state["step"])
}

// NewAdamW allocates zero moments for m's parameters.
func NewAdamW(m *model.Model) *AdamW {
	o := &AdamW{}
	for _, p := range m.Params() {
		o.M = append(o.M, make([]float32, len(p.Data)))
		o.V = append(o.V, make([]float32, len(p.Data)))
	}
	return o
}

// GradNorm is the global L2 norm of every gradient, in float64.
func GradNorm(g *model.Model) float64 {
	var s float64
	for _, p := range g.Params() {
		for _, v := range p.Data {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// ClipScale is torch.nn.utils.clip_grad_norm_'s factor: clip/(norm+1e-6)
// when the norm exceeds clip (clip <= 0: no clipping), else 1.
func ClipScale(norm, clip float64) float64 {
	if clip > 0 && norm > clip {
		return clip / (norm + 1e-6)
	}
	return 1
}

// Update takes one step with gradients g scaled by gradScale (the clip
// factor) at learning rate lr.
func (o *AdamW) Update(m, g *model.Model, gradScale, lr float64, c Optim) {
	o.Step++
	bc1 := 1 - math.Pow(c.Beta1, float64(o.Step))
	bc2 := 1 - math.Pow(c.Beta2, float64(o.Step))
	gs := g.Params()
	for i, p := range m.Params() {
		mm, vv, gg := o.M[i], o.V[i], gs[i].Data
		for j := range p.Data {
			x := float64(p.Data[j])
			gr := float64(gg[j]) * gradScale
			x *= 1 - lr*c.WeightDecay
			mj := c.Beta1*float64(mm[j]) + (1-c.Beta1)*gr
			vj := c.Beta2*float64(vv[j]) + (1-c.Beta2)*gr*gr
			mm[j], vv[j] = float32(mj), float32(vj)
			x -= lr * (mj / bc1) / (math.Sqrt(vj/bc2) + c.Eps)
			p.Data[j] = float32(x)
		}
	}
}

// LR is the learning rate at optimizer step `step` (0-based) of `total`:
// linear warmup from lr/warm, then constant, cosine to 0, or linear to 0.
func LR(c Optim, step, total int) float64 {
	warm := int(c.Warmup)
	if c.Warmup > 0 && c.Warmup < 1 {
		warm = int(math.Ceil(c.Warmup * float64(total)))
	}
	if step < warm {
		return c.LR * float64(step+1) / float64(warm)
	}
	if total <= warm {
		return c.LR
	}
	progress := math.Min(1, float64(step-warm)/float64(total-warm))
	switch c.Schedule {
	case "cosine":
		return c.LR * 0.5 * (1 + math.Cos(math.Pi*progress))
	case "linear":
		return c.LR * (1 - progress)
	}
	return c.LR
}
