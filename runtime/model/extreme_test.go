package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// Large values in the forward: a residual stream orders of magnitude above
// its usual size (RMSNorm must stay scale-invariant) and attention scores in
// the hundreds or thousands (the softmax must subtract its row max; without
// it exp overflows past 88). Each case runs the training forward against the
// float64 reference (refForward) and requires finite logits within float32
// rounding of the largest values involved.

// forwardRelErr is the largest |logit - reference| / max(1, |reference|) of
// the training forward on seq (+Inf, reported, when a logit is not finite).
func forwardRelErr(t *testing.T, m *Model, seq []int) float64 {
	t.Helper()
	ref := refForward(m, seq)
	got := fullLogits(t, m, seq)
	V := m.Cfg.Vocab
	if i := numtest.FirstNonFinite(got); i >= 0 {
		t.Errorf("logit %d (position %d) = %v", i%V, i/V, got[i])
		return math.Inf(1)
	}
	worst := 0.0
	for ti := range seq {
		for j := 0; j < V; j++ {
			worst = max(worst, numtest.Diff(got[ti*V+j], ref[ti][j])/max(1, math.Abs(ref[ti][j])))
		}
	}
	return worst
}

func scaled(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// TestForwardLargeValues: embeddings scaled by up to 1e6 (the head scaled
// back where it is tied, so that only the residual stream grows), and the
// queries (or Qwen3's q-norm weights) scaled by up to 1000, which puts
// attention scores in the thousands.
func TestForwardLargeValues(t *testing.T) {
	seq := []int{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}
	models := map[string]func() *Model{
		"qwen3":   func() *Model { return NewTinyQwen3(64, 8) },
		"llama":   func() *Model { return tinyLlama(Llama, 0) },
		"mistral": func() *Model { return tinyLlama(Mistral, 4) },
	}
	for _, name := range []string{"qwen3", "llama", "mistral"} {
		for _, s := range []float32{1, 1e2, 1e4, 1e6} {
			t.Run(fmt.Sprintf("%s/embeddings x %g", name, s), func(t *testing.T) {
				m := models[name]()
				scaled(m.Embed, s)
				if m.Cfg.TiedEmbed { // keep the head: only the residual stream grows
					m.Head = append([]float32(nil), m.Head...)
					scaled(m.Head, 1/s)
				}
				if d := forwardRelErr(t, m, seq); numtest.Exceeds(d, 1e-5) {
					t.Errorf("logits differ from the float64 reference by %g (relative), want <= 1e-5", d)
				}
			})
		}
		for _, s := range []float32{1, 10, 100, 1000} {
			t.Run(fmt.Sprintf("%s/attention scores x %g", name, s), func(t *testing.T) {
				m := models[name]()
				for i := range m.Layers {
					if m.Cfg.QKNorm {
						scaled(m.Layers[i].QNorm, s)
					} else {
						scaled(m.Layers[i].Wq, s)
					}
				}
				// The scores' float32 rounding grows with them: at x1000
				// (scores in the thousands) the logits are within 6e-5.
				tol := 2e-5 + 2e-7*float64(s)
				if d := forwardRelErr(t, m, seq); numtest.Exceeds(d, tol) {
					t.Errorf("logits differ from the float64 reference by %g (relative), want <= %g", d, tol)
				}
			})
		}
	}
}
