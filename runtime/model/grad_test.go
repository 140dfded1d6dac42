package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// gradBatch is two sequences of 6: the first left-padded by 2 with position
// ids counting real tokens only (cumsum(mask)-1), the second full.
func gradBatch(vocab int) *Batch {
	r := rand.New(rand.NewPCG(7, 7))
	b := &Batch{B: 2, T: 6, Tokens: make([]int, 12), Pos: make([]int, 12), Mask: make([]bool, 12)}
	for i := range b.Tokens {
		b.Tokens[i] = r.IntN(vocab)
		b.Mask[i] = !(i < 2)
	}
	for bi := 0; bi < b.B; bi++ {
		p := 0
		for t := 0; t < b.T; t++ {
			i := bi*b.T + t
			if b.Mask[i] {
				b.Pos[i] = p
				p++
			} else {
				b.Tokens[i] = 0
			}
		}
	}
	return b
}

// lossWeights gives random per-logit weights, zero on padding rows: the test
// loss is sum_ij w_ij * logits_ij, so dLoss/dLogits = w.
func lossWeights(b *Batch, vocab int) []float32 {
	r := rand.New(rand.NewPCG(11, 3))
	w := make([]float32, b.B*b.T*vocab)
	for i := range w {
		if b.Mask[i/vocab] {
			w[i] = float32(r.NormFloat64())
		}
	}
	return w
}

// logitsAndGrads runs Forward, Logits and Backward with the logit
// gradient w, and returns the logits and the parameter gradients.
func logitsAndGrads(t *testing.T, m *Model, b *Batch, w []float32) ([]float32, []Param) {
	t.Helper()
	p, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	logits := m.Logits(p)
	g := m.NewGrads()
	if err := m.Backward(p, w, g); err != nil {
		t.Fatal(err)
	}
	return logits, g.Params()
}

func testLoss(t *testing.T, m *Model, b *Batch, w []float32) float64 {
	p, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	for i, z := range m.Logits(p) {
		s += float64(w[i]) * float64(z)
	}
	return s
}

// checkGrads compares the analytic gradient of every parameter tensor with
// central finite differences (float32 model, float64 loss sum) at the largest
// gradient entry and five random entries per tensor. Tolerance: |fd - an| <=
// 1e-2 * max(|an|, |fd|) + 2e-3 * scale, where scale is the tensor's largest
// |gradient| (so noise in near-zero entries does not fail the test).
func checkGrads(t *testing.T, m *Model) {
	V := m.Cfg.Vocab
	b := gradBatch(V)
	w := lossWeights(b, V)
	p, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	g := m.NewGrads()
	if err := m.Backward(p, w, g); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const eps = 1e-2
	gp := g.Params()
	checked := 0
	for pi, prm := range m.Params() {
		an := gp[pi].Data
		scale, top := 0.0, 0
		for i, v := range an {
			if math.Abs(float64(v)) > scale {
				scale, top = math.Abs(float64(v)), i
			}
		}
		if scale == 0 {
			t.Errorf("%s: gradient is all zero", prm.Name)
			continue
		}
		// Only a few entries are compared below: a NaN or an infinity
		// anywhere else would pass them.
		if !numtest.AllFinite(t, prm.Name+" gradient", an) {
			continue
		}
		idx := []int{top}
		for k := 0; k < 5; k++ {
			idx = append(idx, r.IntN(len(prm.Data)))
		}
		for _, i := range idx {
			orig := prm.Data[i]
			prm.Data[i] = orig + eps
			lp := testLoss(t, m, b, w)
			prm.Data[i] = orig - eps
			lm := testLoss(t, m, b, w)
			prm.Data[i] = orig
			fd := (lp - lm) / (2 * eps)
			a := float64(an[i])
			tol := 1e-2*max(math.Abs(a), math.Abs(fd)) + 2e-3*scale
			if !numtest.Within(a, fd, tol, 0) {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g (tol %.3g)", prm.Name, i, a, fd, tol)
			}
			checked++
		}
	}
	t.Logf("%d tensors, %d entries checked", len(gp), checked)
}

func TestGradTinyQwen3(t *testing.T) {
	checkGrads(t, NewTinyQwen3(64, 1))
}

func tinyLlama(arch Arch, window int) *Model {
	m, err := New(Config{Arch: arch, Dim: 16, Hidden: 24, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 4, Vocab: 48,
		RopeTheta: 10000, NormEps: 1e-5, SlidingWindow: window, BOS: 1, EOS: []int{2}})
	if err != nil {
		panic(err)
	}
	m.InitRandom(3, 0.3)
	return m
}

func TestGradTinyLlama(t *testing.T) {
	checkGrads(t, tinyLlama(Llama, 0))
}

func TestGradTinyMistralSlidingWindow(t *testing.T) {
	checkGrads(t, tinyLlama(Mistral, 3))
}

// TestUnfusedWeightsSameResults: replacing weight slices (which breaks the
// adjacent q/k/v and gate/up layout) falls back to separate products with the
// same logits and gradients.
func TestUnfusedWeightsSameResults(t *testing.T) {
	m := NewTinyQwen3(64, 4)
	u := NewTinyQwen3(64, 4)
	for i := range u.Layers {
		l := &u.Layers[i]
		l.Wk = slices.Clone(l.Wk)
		l.Up = slices.Clone(l.Up)
		if fusedView(l.Wq, l.Wk, l.Wv) != nil || fusedView(l.Gate, l.Up) != nil {
			t.Fatal("cloned slices still look fused")
		}
		if fusedView(m.Layers[i].Wq, m.Layers[i].Wk, m.Layers[i].Wv) == nil || fusedView(m.Layers[i].Gate, m.Layers[i].Up) == nil {
			t.Fatal("New did not lay q/k/v and gate/up out adjacently")
		}
	}
	b := gradBatch(64)
	w := lossWeights(b, 64)
	var grads [2][]Param
	var logits [2][]float32
	for i, mm := range []*Model{m, u} {
		p, err := mm.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		logits[i] = mm.Logits(p)
		g := mm.NewGrads()
		if i == 1 {
			for j := range g.Layers {
				g.Layers[j].Wv = slices.Clone(g.Layers[j].Wv) // unfused gradients too
			}
		}
		if err := mm.Backward(p, w, g); err != nil {
			t.Fatal(err)
		}
		grads[i] = g.Params()
	}
	// The two models compute the same dot products, but an Sgemm may sum
	// a product of another width in another order (OpenBLAS picks its
	// kernels and blocking by shape; the pure-Go products agree bit for
	// bit). Two float32 orders of a length-k sum differ by at most
	// 2*gamma_k*sum|x_i*w_i| (gamma_k = k*u/(1-k*u), u = 2^-24). Only the
	// q/k/v and gate/up products (k = Dim) change: two per layer, each
	// followed by a normalization that keeps the relative perturbation from
	// growing, so to first order the logits move by at most
	// 2*Layers * 2*gamma_Dim relative to their largest magnitude.
	cfg := m.Cfg
	unit := math.Ldexp(1, -24)
	gamma := float64(cfg.Dim) * unit / (1 - float64(cfg.Dim)*unit)
	scale := max(1, float64(slices.Max(logits[0])), -float64(slices.Min(logits[0])))
	if d, tol := maxAbsDiff(logits[0], logits[1]), 2*float64(cfg.Layers)*2*gamma*scale; numtest.Exceeds(d, tol) {
		t.Fatalf("logits differ by %g (float32 reordering allows %g)", d, tol)
	}
	for i := range grads[0] {
		scale := 0.0
		for _, v := range grads[0][i].Data {
			scale = max(scale, math.Abs(float64(v)))
		}
		if d := maxAbsDiff(grads[0][i].Data, grads[1][i].Data); numtest.Exceeds(d, 1e-5*max(1, scale)) {
			t.Errorf("%s: gradients differ by %g (largest gradient %g)", grads[0][i].Name, d, scale)
		}
	}
}

// TestSmallAttentionBlocks reruns the gradient, padding and reference checks
// with 4-row query blocks, so that sequences of 6-10 tokens span several
// causal blocks (and the sliding window cuts some of them).
func TestSmallAttentionBlocks(t *testing.T) {
	saved := attnBlock
	attnBlock = 4
	defer func() { attnBlock = saved }()
	t.Run("grad-qwen3", func(t *testing.T) { checkGrads(t, NewTinyQwen3(64, 1)) })
	t.Run("grad-mistral-swa", func(t *testing.T) { checkGrads(t, tinyLlama(Mistral, 3)) })
	t.Run("padding", TestPaddingMatchesUnpadded)
	t.Run("reference", TestForwardMatchesFloat64Reference)
	t.Run("cache", TestCachedDecodeMatchesFull)
}

// TestCausalSkipMatchesWhole compares logits, gradients and a cached
// prefill computed with attention's products skipping the causal triangle
// (blas.Triangle) against the same computed whole, on sequences long enough
// for the packed products that skip (80 tokens, one left-padded), in one
// query block and in blocks of 32 (diagonals off the corner), with and
// without a sliding window. One processor, so that attention's tasks take
// the one-goroutine Sgemm that skips.
func TestCausalSkipMatchesWhole(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const B, T = 2, 80
	for _, window := range []int{0, 37} {
		m, err := New(Config{Arch: Qwen3, Dim: 32, Hidden: 48, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, Vocab: 40,
			RopeTheta: 1e4, NormEps: 1e-6, QKNorm: true, SlidingWindow: window})
		if err != nil {
			t.Fatal(err)
		}
		m.InitRandom(5, 0.3)
		b := &Batch{B: B, T: T, Tokens: make([]int, B*T), Pos: make([]int, B*T), Mask: make([]bool, B*T)}
		for i := range b.Tokens {
			bi, ti := i/T, i%T
			b.Mask[i] = bi == 1 || ti >= 5
			if b.Mask[i] {
				b.Tokens[i] = (i*13 + 7) % m.Cfg.Vocab
				b.Pos[i] = ti - 5*(1-bi)
			}
		}
		w := lossWeights(b, m.Cfg.Vocab)
		run := func() ([]float32, []Param, []float32) {
			logits, grads := logitsAndGrads(t, m, b, w)
			out, err := m.Step([]*KVCache{m.NewKVCache()}, [][]int{b.Tokens[T:]})
			if err != nil {
				t.Fatal(err)
			}
			return logits, grads, out[0]
		}
		for _, block := range []int{attnBlock, 32} {
			saved := attnBlock
			attnBlock = block
			l1, g1, c1 := run()
			causalSkip = false
			l2, g2, c2 := run()
			causalSkip = true
			attnBlock = saved
			if d := maxAbsDiff(l1, l2); d > 1e-5 {
				t.Errorf("window %d, blocks of %d: logits differ by %g", window, block, d)
			}
			if d := maxAbsDiff(c1, c2); d > 1e-5 {
				t.Errorf("window %d, blocks of %d: cached prefill differs by %g", window, block, d)
			}
			for i := range g1 {
				scale := 1.0
				for _, v := range g2[i].Data {
					scale = max(scale, math.Abs(float64(v)))
				}
				if d := maxAbsDiff(g1[i].Data, g2[i].Data); numtest.Exceeds(d, 1e-5*scale) {
					t.Errorf("window %d, blocks of %d: %s gradients differ by %g", window, block, g1[i].Name, d)
				}
			}
		}
	}
}

func TestClone(t *testing.T) {
	m := NewTinyQwen3(64, 3)
	c := m.Clone()
	equalParams(t, m, c, 0)
	c.Layers[0].Wk[0] += 1
	c.Embed[0] += 1
	if m.Layers[0].Wk[0] == c.Layers[0].Wk[0] || m.Embed[0] == c.Embed[0] {
		t.Fatal("the clone shares weights with the original")
	}
	if fusedView(c.Layers[1].Wq, c.Layers[1].Wk, c.Layers[1].Wv) == nil || &c.Head[0] != &c.Embed[0] {
		t.Fatal("the clone lost the fused layout or the tied head")
	}
}
