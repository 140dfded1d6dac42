package train

import (
	"math"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/model"
)

// adamwRef is torch.optim.AdamW's update written out for one scalar, in
// float64, with the moments kept in float64 too.
type adamwRef struct{ m, v float64 }

func (r *adamwRef) step(x, g, lr float64, t int, c Optim) float64 {
	x -= lr * c.WeightDecay * x
	r.m = c.Beta1*r.m + (1-c.Beta1)*g
	r.v = c.Beta2*r.v + (1-c.Beta2)*g*g
	mh := r.m / (1 - math.Pow(c.Beta1, float64(t)))
	vh := r.v / (1 - math.Pow(c.Beta2, float64(t)))
	return x - lr*mh/(math.Sqrt(vh)+c.Eps)
}

func TestAdamWMatchesReference(t *testing.T) {
	m := model.NewTinyQwen3(16, 1)
	g := m.NewGrads()
	g.InitRandom(2, 0.3)
	c := Optim{LR: 1e-2, WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8}
	ps := m.Params()
	refX := make([][]float64, len(ps))
	refS := make([][]adamwRef, len(ps))
	for i, p := range ps {
		for _, v := range p.Data {
			refX[i] = append(refX[i], float64(v))
		}
		refS[i] = make([]adamwRef, len(p.Data))
	}
	o := NewAdamW(m)
	for step := 1; step <= 5; step++ {
		scale := 0.5
		o.Update(m, g, scale, c.LR, c)
		for i, p := range m.Params() {
			gs := g.Params()[i].Data
			for j, v := range p.Data {
				refX[i][j] = refS[i][j].step(refX[i][j], float64(gs[j])*scale, c.LR, step, c)
				want := refX[i][j]
				if d := math.Abs(float64(v) - want); !(d <= 1e-5*math.Max(1, math.Abs(want))) {
					t.Fatalf("step %d: %s[%d] = %v, reference %v", step, p.Name, j, v, want)
				}
			}
		}
	}
	if o.Step != 5 {
		t.Errorf("optimizer step %d, want 5", o.Step)
	}
}

func TestClipAndNorm(t *testing.T) {
	m := model.NewTinyQwen3(16, 1)
	g := m.NewGrads()
	g.Embed[0], g.Embed[1] = 3, 4
	if n := GradNorm(g); n != 5 {
		t.Fatalf("norm %v, want 5", n)
	}
	if s := ClipScale(5, 1); !numtest.Within(s, 1/(5+1e-6), 1e-15, 0) {
		t.Errorf("clip scale %v", s)
	}
	if s := ClipScale(0.5, 1); s != 1 {
		t.Errorf("no clip below the threshold: %v", s)
	}
	g.Embed[2] = float32(math.NaN())
	if n := GradNorm(g); !math.IsNaN(n) {
		t.Errorf("a NaN gradient must give a NaN norm (the step is then skipped), got %v", n)
	}
}

func TestLRSchedules(t *testing.T) {
	c := Optim{LR: 1, Schedule: "cosine", Warmup: 0.1}
	cases := []struct {
		step, total int
		want        float64
	}{{0, 100, 0.1}, {9, 100, 1}, {10, 100, 1}, {55, 100, 0.5}, {100, 100, 0}}
	for _, k := range cases {
		if got := LR(c, k.step, k.total); !numtest.Within(got, k.want, 1e-12, 0) {
			t.Errorf("cosine step %d/%d: %v, want %v", k.step, k.total, got, k.want)
		}
	}
	c.Schedule, c.Warmup = "linear", 0
	if got := LR(c, 25, 100); !numtest.Within(got, 0.75, 1e-12, 0) {
		t.Errorf("linear: %v", got)
	}
	c.Schedule, c.Warmup = "constant", 4
	if got := LR(c, 1, 100); got != 0.5 {
		t.Errorf("warmup of 4 steps at step 1: %v", got)
	}
}
