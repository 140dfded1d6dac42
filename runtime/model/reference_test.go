package model

import (
	"math"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// refForward is a plain float64 transcription of Hugging Face's
// Qwen3/Llama/Mistral forward for one unpadded sequence (no BLAS, no strides,
// no cache): it checks the fast code's indexing (GQA head mapping, row
// strides, masks, RoPE pairing) against the formulas written out directly.
func refForward(m *Model, toks []int) [][]float64 {
	c := &m.Cfg
	T, D, HD := len(toks), c.Dim, c.HeadDim
	f := func(v []float32) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	matvec := func(w []float32, rows, cols int, x []float64) []float64 {
		y := make([]float64, rows)
		for r := 0; r < rows; r++ {
			for k := 0; k < cols; k++ {
				y[r] += float64(w[r*cols+k]) * x[k]
			}
		}
		return y
	}
	norm := func(x []float64, w []float32) []float64 {
		ss := 0.0
		for _, v := range x {
			ss += v * v
		}
		s := 1 / math.Sqrt(ss/float64(len(x))+c.NormEps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(w[i]) * v * s
		}
		return y
	}
	rope := func(x []float64, pos int) {
		half := HD / 2
		for i := 0; i < half; i++ {
			ang := float64(pos) / math.Pow(c.RopeTheta, float64(2*i)/float64(HD))
			x1, x2 := x[i], x[i+half]
			x[i] = x1*math.Cos(ang) - x2*math.Sin(ang)
			x[i+half] = x2*math.Cos(ang) + x1*math.Sin(ang)
		}
	}
	xs := make([][]float64, T)
	for t, tok := range toks {
		xs[t] = f(m.Embed[tok*D : tok*D+D])
	}
	for li := range m.Layers {
		w := &m.Layers[li]
		q := make([][][]float64, T) // [t][head][hd]
		k := make([][][]float64, T)
		v := make([][][]float64, T)
		for t := range xs {
			h := norm(xs[t], w.AttnNorm)
			qf := matvec(w.Wq, c.QDim(), D, h)
			kf := matvec(w.Wk, c.KVDim(), D, h)
			vf := matvec(w.Wv, c.KVDim(), D, h)
			for hh := 0; hh < c.Heads; hh++ {
				qh := qf[hh*HD : hh*HD+HD]
				if c.QKNorm {
					qh = norm(qh, w.QNorm)
				}
				rope(qh, t)
				q[t] = append(q[t], qh)
			}
			for hh := 0; hh < c.KVHeads; hh++ {
				kh := kf[hh*HD : hh*HD+HD]
				if c.QKNorm {
					kh = norm(kh, w.KNorm)
				}
				rope(kh, t)
				k[t] = append(k[t], kh)
				v[t] = append(v[t], vf[hh*HD:hh*HD+HD])
			}
		}
		nrep := c.Heads / c.KVHeads
		for t := range xs {
			attn := make([]float64, c.QDim())
			for hh := 0; hh < c.Heads; hh++ {
				kvh := hh / nrep // repeat_kv
				scores := make([]float64, t+1)
				mx := math.Inf(-1)
				for s := 0; s <= t; s++ {
					if c.SlidingWindow > 0 && t-s >= c.SlidingWindow {
						scores[s] = math.Inf(-1)
						continue
					}
					for i := 0; i < HD; i++ {
						scores[s] += q[t][hh][i] * k[s][kvh][i]
					}
					scores[s] /= math.Sqrt(float64(HD))
					mx = math.Max(mx, scores[s])
				}
				sum := 0.0
				for s := range scores {
					scores[s] = math.Exp(scores[s] - mx)
					sum += scores[s]
				}
				for s := range scores {
					for i := 0; i < HD; i++ {
						attn[hh*HD+i] += scores[s] / sum * v[s][kvh][i]
					}
				}
			}
			o := matvec(w.Wo, D, c.QDim(), attn)
			for i := range o {
				xs[t][i] += o[i]
			}
			h := norm(xs[t], w.FFNNorm)
			g := matvec(w.Gate, c.Hidden, D, h)
			u := matvec(w.Up, c.Hidden, D, h)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := matvec(w.Down, D, c.Hidden, g)
			for i := range d {
				xs[t][i] += d[i]
			}
		}
	}
	out := make([][]float64, T)
	for t := range xs {
		out[t] = matvec(m.Head, c.Vocab, D, norm(xs[t], m.FinalNorm))
	}
	return out
}

func TestForwardMatchesFloat64Reference(t *testing.T) {
	untiedQwen, _ := New(Config{Arch: Qwen3, Dim: 24, Hidden: 40, Layers: 2, Heads: 6, KVHeads: 2, HeadDim: 8, Vocab: 40,
		RopeTheta: 1e6, NormEps: 1e-6, QKNorm: true})
	untiedQwen.InitRandom(4, 0.3)
	seq := []int{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}
	for _, m := range []*Model{NewTinyQwen3(64, 8), untiedQwen, tinyLlama(Llama, 0), tinyLlama(Mistral, 4)} {
		ref := refForward(m, seq)
		got := fullLogits(t, m, seq)
		V := m.Cfg.Vocab
		worst := 0.0
		for ti := range seq {
			for j := 0; j < V; j++ {
				worst = max(worst, numtest.Diff(got[ti*V+j], ref[ti][j])/max(1, math.Abs(ref[ti][j])))
			}
		}
		if numtest.Exceeds(worst, 1e-5) {
			t.Errorf("%s (tied=%v): float32 forward differs from the float64 reference by %g (relative)", m.Cfg.Arch, m.Cfg.TiedEmbed, worst)
		}
	}
}
