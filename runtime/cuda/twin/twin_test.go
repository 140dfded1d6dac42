package twin_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

// The twins without bf16 rounding are the model's float32 math: composed
// into a whole transformer (forward32, backward32 below, written from the
// twins and runtime/blas only) they must reproduce runtime/model's Forward,
// BackwardHidden and Step to float32 rounding. This pins the kernels'
// semantics (RoPE layout, GQA, masks, windows, norms) to the model's.

type layerActs struct {
	x, xn1, inv1, qRaw, kRaw, qInv, kInv, q, k, v, lse, attn, h, xn2, inv2, gate, up, act []float32
}

type pass struct {
	b         *model.Batch
	pos       []int
	tokens    []int32
	mask      []int32
	cos, sin  []float32
	layers    []layerActs
	xF, invF  []float32
	hidden    []float32
	attnShape twin.Attn
}

func tokensOf(b *model.Batch) ([]int32, []int32) {
	tok := make([]int32, len(b.Tokens))
	var mask []int32
	if b.Mask != nil {
		mask = make([]int32, len(b.Tokens))
	}
	for i, t := range b.Tokens {
		tok[i] = int32(t)
		if b.Mask != nil {
			if b.Mask[i] {
				mask[i] = 1
			} else {
				tok[i] = -1
			}
		}
	}
	return tok, mask
}

func forward32(m *model.Model, b *model.Batch) *pass {
	c := &m.Cfg
	n, d, hd, qd, kvd, hid := b.B*b.T, c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	p := &pass{b: b, pos: b.Pos}
	if p.pos == nil {
		p.pos = make([]int, n)
		for i := range p.pos {
			p.pos[i] = i % b.T
		}
	}
	p.tokens, p.mask = tokensOf(b)
	p.cos, p.sin = twin.RopeTables(p.pos, c.RopeTheta, hd)
	p.attnShape = twin.Attn{B: b.B, T: b.T, H: c.Heads, KVH: c.KVHeads, HD: hd, Window: c.SlidingWindow, Scale: float32(1 / math.Sqrt(float64(hd))), Mask: p.mask}
	x := make([]float32, n*d)
	twin.Embedding(x, m.Embed, p.tokens, n, d)
	for li := range m.Layers {
		w := &m.Layers[li]
		a := layerActs{x: x, xn1: make([]float32, n*d), inv1: make([]float32, n)}
		twin.RMSNorm(a.xn1, a.inv1, x, w.AttnNorm, n, d, c.NormEps, false)
		q, k := make([]float32, n*qd), make([]float32, n*kvd)
		a.v = make([]float32, n*kvd)
		twin.Sgemm(false, true, n, qd, d, 1, a.xn1, d, w.Wq, d, 0, q, qd)
		twin.Sgemm(false, true, n, kvd, d, 1, a.xn1, d, w.Wk, d, 0, k, kvd)
		twin.Sgemm(false, true, n, kvd, d, 1, a.xn1, d, w.Wv, d, 0, a.v, kvd)
		if c.QKNorm {
			a.qRaw, a.kRaw = q, k
			a.qInv, a.kInv = make([]float32, n*c.Heads), make([]float32, n*c.KVHeads)
			q, k = make([]float32, n*qd), make([]float32, n*kvd)
			twin.RMSNorm(q, a.qInv, a.qRaw, w.QNorm, n*c.Heads, hd, c.NormEps, false)
			twin.RMSNorm(k, a.kInv, a.kRaw, w.KNorm, n*c.KVHeads, hd, c.NormEps, false)
		}
		twin.RoPE(q, p.cos, p.sin, n, c.Heads, hd, false, false)
		twin.RoPE(k, p.cos, p.sin, n, c.KVHeads, hd, false, false)
		a.q, a.k = q, k
		a.attn, a.lse = make([]float32, n*qd), make([]float32, b.B*c.Heads*b.T)
		twin.Attention(a.attn, a.lse, q, k, a.v, p.attnShape, false)
		a.h = append([]float32(nil), x...)
		twin.Sgemm(false, true, n, d, qd, 1, a.attn, qd, w.Wo, qd, 1, a.h, d)
		a.xn2, a.inv2 = make([]float32, n*d), make([]float32, n)
		twin.RMSNorm(a.xn2, a.inv2, a.h, w.FFNNorm, n, d, c.NormEps, false)
		a.gate, a.up, a.act = make([]float32, n*hid), make([]float32, n*hid), make([]float32, n*hid)
		twin.Sgemm(false, true, n, hid, d, 1, a.xn2, d, w.Gate, d, 0, a.gate, hid)
		twin.Sgemm(false, true, n, hid, d, 1, a.xn2, d, w.Up, d, 0, a.up, hid)
		twin.SwiGLU(a.act, a.gate, a.up, false)
		out := append([]float32(nil), a.h...)
		twin.Sgemm(false, true, n, d, hid, 1, a.act, hid, w.Down, hid, 1, out, d)
		p.layers = append(p.layers, a)
		x = out
	}
	p.xF, p.invF, p.hidden = x, make([]float32, n), make([]float32, n*d)
	twin.RMSNorm(p.hidden, p.invF, x, m.FinalNorm, n, d, c.NormEps, false)
	return p
}

// backward32 adds into g the gradient for dHidden, as model.BackwardHidden.
func backward32(m *model.Model, p *pass, dHidden []float32, g *model.Model) {
	c := &m.Cfg
	b := p.b
	n, d, hd, qd, kvd, hid := b.B*b.T, c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
	dx := make([]float32, n*d)
	twin.RMSNormBack(dx, g.FinalNorm, dHidden, p.xF, m.FinalNorm, p.invF, n, d, true)
	dact, dgate, dup := make([]float32, n*hid), make([]float32, n*hid), make([]float32, n*hid)
	dn, dattn := make([]float32, n*d), make([]float32, n*qd)
	dq, dk, dv := make([]float32, n*qd), make([]float32, n*kvd), make([]float32, n*kvd)
	dots := make([]float32, b.B*c.Heads*b.T)
	for li := len(m.Layers) - 1; li >= 0; li-- {
		w, gw, a := &m.Layers[li], &g.Layers[li], &p.layers[li]
		twin.Sgemm(false, false, n, hid, d, 1, dx, d, w.Down, hid, 0, dact, hid)
		twin.Sgemm(true, false, d, hid, n, 1, dx, d, a.act, hid, 1, gw.Down, hid)
		twin.SwiGLUBack(dgate, dup, dact, a.gate, a.up, false)
		twin.Sgemm(false, false, n, d, hid, 1, dgate, hid, w.Gate, d, 0, dn, d)
		twin.Sgemm(false, false, n, d, hid, 1, dup, hid, w.Up, d, 1, dn, d)
		twin.Sgemm(true, false, hid, d, n, 1, dgate, hid, a.xn2, d, 1, gw.Gate, d)
		twin.Sgemm(true, false, hid, d, n, 1, dup, hid, a.xn2, d, 1, gw.Up, d)
		twin.RMSNormBack(dx, gw.FFNNorm, dn, a.h, w.FFNNorm, a.inv2, n, d, true)
		twin.Sgemm(false, false, n, qd, d, 1, dx, d, w.Wo, qd, 0, dattn, qd)
		twin.Sgemm(true, false, d, qd, n, 1, dx, d, a.attn, qd, 1, gw.Wo, qd)
		twin.AttentionDots(dots, a.attn, dattn, p.attnShape)
		twin.AttentionBack(dq, dk, dv, a.q, a.k, a.v, dattn, a.lse, dots, p.attnShape)
		twin.RoPE(dq, p.cos, p.sin, n, c.Heads, hd, true, false)
		twin.RoPE(dk, p.cos, p.sin, n, c.KVHeads, hd, true, false)
		if c.QKNorm {
			dqr, dkr := make([]float32, n*qd), make([]float32, n*kvd)
			twin.RMSNormBack(dqr, gw.QNorm, dq, a.qRaw, w.QNorm, a.qInv, n*c.Heads, hd, false)
			twin.RMSNormBack(dkr, gw.KNorm, dk, a.kRaw, w.KNorm, a.kInv, n*c.KVHeads, hd, false)
			dq, dk = dqr, dkr
		}
		twin.Sgemm(false, false, n, d, qd, 1, dq, qd, w.Wq, d, 0, dn, d)
		twin.Sgemm(false, false, n, d, kvd, 1, dk, kvd, w.Wk, d, 1, dn, d)
		twin.Sgemm(false, false, n, d, kvd, 1, dv, kvd, w.Wv, d, 1, dn, d)
		twin.Sgemm(true, false, qd, d, n, 1, dq, qd, a.xn1, d, 1, gw.Wq, d)
		twin.Sgemm(true, false, kvd, d, n, 1, dk, kvd, a.xn1, d, 1, gw.Wk, d)
		twin.Sgemm(true, false, kvd, d, n, 1, dv, kvd, a.xn1, d, 1, gw.Wv, d)
		twin.RMSNormBack(dx, gw.AttnNorm, dn, a.x, w.AttnNorm, a.inv1, n, d, true)
	}
	twin.EmbeddingBack(g.Embed, dx, p.tokens, n, d)
}

type modelCase struct {
	name  string
	model func() *model.Model
	batch func(rng *rand.Rand, vocab int) *model.Batch
}

func plainBatch(B, T int) func(*rand.Rand, int) *model.Batch {
	return func(rng *rand.Rand, vocab int) *model.Batch {
		b := &model.Batch{B: B, T: T, Tokens: make([]int, B*T)}
		for i := range b.Tokens {
			b.Tokens[i] = rng.IntN(vocab)
		}
		return b
	}
}

// leftPadded: row r has r padding tokens first; positions count real tokens.
func leftPadded(B, T int) func(*rand.Rand, int) *model.Batch {
	return func(rng *rand.Rand, vocab int) *model.Batch {
		b := plainBatch(B, T)(rng, vocab)
		b.Mask, b.Pos = make([]bool, B*T), make([]int, B*T)
		for r := 0; r < B; r++ {
			pos := 0
			for t := 0; t < T; t++ {
				real := t >= r
				b.Mask[r*T+t] = real
				b.Pos[r*T+t] = max(0, pos)
				if real {
					pos++
				} else {
					b.Tokens[r*T+t] = 0
				}
			}
		}
		return b
	}
}

func slidingModel() *model.Model {
	cfg := model.Config{Arch: model.Mistral, Dim: 24, Hidden: 40, Layers: 2, Heads: 6, KVHeads: 2, HeadDim: 4, Vocab: 50,
		RopeTheta: 10000, NormEps: 1e-5, SlidingWindow: 3, BOS: -1}
	m, err := model.New(cfg)
	if err != nil {
		panic(err)
	}
	m.InitRandom(7, 0.3)
	return m
}

var modelCases = []modelCase{
	{"qwen3-tiny", func() *model.Model { return model.NewTinyQwen3(97, 3) }, plainBatch(2, 9)},
	{"qwen3-tiny/left-padded", func() *model.Model { return model.NewTinyQwen3(97, 4) }, leftPadded(3, 7)},
	{"mistral/window3", slidingModel, plainBatch(2, 8)},
	{"mistral/window3/left-padded", slidingModel, leftPadded(2, 6)},
}

func TestForwardMatchesModel(t *testing.T) {
	for _, mc := range modelCases {
		t.Run(mc.name, func(t *testing.T) {
			m := mc.model()
			b := mc.batch(rand.New(rand.NewPCG(1, 2)), m.Cfg.Vocab)
			want, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			got := forward32(m, b)
			numtest.AllClose(t, "hidden state", got.hidden, want.Hidden(), 2e-5, 2e-5)
		})
	}
}

func TestBackwardMatchesModel(t *testing.T) {
	for _, mc := range modelCases {
		t.Run(mc.name, func(t *testing.T) {
			m := mc.model()
			rng := rand.New(rand.NewPCG(5, 6))
			b := mc.batch(rng, m.Cfg.Vocab)
			dh := make([]float32, b.B*b.T*m.Cfg.Dim)
			for i := range dh {
				dh[i] = float32(rng.NormFloat64())
			}
			p, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			want := m.NewGrads()
			if err := m.BackwardHidden(p, dh, want); err != nil {
				t.Fatal(err)
			}
			got := m.NewGrads()
			backward32(m, forward32(m, b), dh, got)
			gp, wp := got.Params(), want.Params()
			for i := range wp {
				scale := numtest.MaxAbs(wp[i].Data)
				numtest.AllClose(t, wp[i].Name, gp[i].Data, wp[i].Data, 1e-4*(1+scale), 1e-4)
			}
		})
	}
}

// TestDecodeMatchesStep: a prompt then one token at a time through the
// twins' decoding path (KV append, decode attention) gives model.Step's
// logits.
func TestDecodeMatchesStep(t *testing.T) {
	for _, mk := range []func() *model.Model{func() *model.Model { return model.NewTinyQwen3(61, 9) }, slidingModel} {
		m := mk()
		c := &m.Cfg
		d, hd, qd, kvd, hid := c.Dim, c.HeadDim, c.QDim(), c.KVDim(), c.Hidden
		const B, maxLen = 2, 8
		seqs := [][]int{{1, 5, 7, 2, 9, 4, 3}, {8, 2, 2, 6, 1, 0, 5}}
		caches := []*model.KVCache{m.NewKVCache(), m.NewKVCache()}
		stride := maxLen * kvd
		kc, vc := make([][]float32, c.Layers), make([][]float32, c.Layers)
		for li := range kc {
			kc[li], vc[li] = make([]float32, B*stride), make([]float32, B*stride)
		}
		for step := 0; step < len(seqs[0]); step++ {
			toks := [][]int{{seqs[0][step]}, {seqs[1][step]}}
			want, err := m.Step(caches, toks)
			if err != nil {
				t.Fatal(err)
			}
			// The twins' decoding step for both sequences at position step.
			tok := []int32{int32(seqs[0][step]), int32(seqs[1][step])}
			pos := []int32{int32(step), int32(step)}
			lens := []int32{int32(step + 1), int32(step + 1)}
			cos, sin := twin.RopeTables([]int{step, step}, c.RopeTheta, hd)
			x := make([]float32, B*d)
			twin.Embedding(x, m.Embed, tok, B, d)
			for li := range m.Layers {
				w := &m.Layers[li]
				xn := make([]float32, B*d)
				twin.RMSNorm(xn, nil, x, w.AttnNorm, B, d, c.NormEps, false)
				q, k, v := make([]float32, B*qd), make([]float32, B*kvd), make([]float32, B*kvd)
				twin.Sgemm(false, true, B, qd, d, 1, xn, d, w.Wq, d, 0, q, qd)
				twin.Sgemm(false, true, B, kvd, d, 1, xn, d, w.Wk, d, 0, k, kvd)
				twin.Sgemm(false, true, B, kvd, d, 1, xn, d, w.Wv, d, 0, v, kvd)
				if c.QKNorm {
					twin.RMSNorm(q, nil, append([]float32(nil), q...), w.QNorm, B*c.Heads, hd, c.NormEps, false)
					twin.RMSNorm(k, nil, append([]float32(nil), k...), w.KNorm, B*c.KVHeads, hd, c.NormEps, false)
				}
				twin.RoPE(q, cos, sin, B, c.Heads, hd, false, false)
				twin.RoPE(k, cos, sin, B, c.KVHeads, hd, false, false)
				twin.KVAppend(kc[li], vc[li], k, v, pos, B, kvd, stride)
				attn := make([]float32, B*qd)
				twin.AttentionDecode(attn, q, kc[li], vc[li], lens, twin.Decode{B: B, H: c.Heads, KVH: c.KVHeads, HD: hd,
					Window: c.SlidingWindow, SeqStride: stride, Scale: float32(1 / math.Sqrt(float64(hd)))}, false)
				twin.Sgemm(false, true, B, d, qd, 1, attn, qd, w.Wo, qd, 1, x, d)
				xn2 := make([]float32, B*d)
				twin.RMSNorm(xn2, nil, x, w.FFNNorm, B, d, c.NormEps, false)
				gate, up, act := make([]float32, B*hid), make([]float32, B*hid), make([]float32, B*hid)
				twin.Sgemm(false, true, B, hid, d, 1, xn2, d, w.Gate, d, 0, gate, hid)
				twin.Sgemm(false, true, B, hid, d, 1, xn2, d, w.Up, d, 0, up, hid)
				twin.SwiGLU(act, gate, up, false)
				twin.Sgemm(false, true, B, d, hid, 1, act, hid, w.Down, hid, 1, x, d)
			}
			h := make([]float32, B*d)
			twin.RMSNorm(h, nil, x, m.FinalNorm, B, d, c.NormEps, false)
			logits := make([]float32, B*c.Vocab)
			twin.Sgemm(false, true, B, c.Vocab, d, 1, h, d, m.Head, d, 0, logits, c.Vocab)
			for i := 0; i < B; i++ {
				numtest.AllClose(t, "logits", logits[i*c.Vocab:(i+1)*c.Vocab], want[i], 5e-5, 5e-5)
			}
		}
	}
}

// TestAdamWMatchesTrain: the AdamW twin is runtime/train's AdamW.Update,
// bit for bit, over two steps with clipping.
func TestAdamWMatchesTrain(t *testing.T) {
	m := model.NewTinyQwen3(31, 1)
	mt := m.Clone()
	g := m.NewGrads()
	g.InitRandom(3, 0.5)
	opt := train.Optim{LR: 1e-3, WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}
	o := train.NewAdamW(mt)
	var mm, vv [][]float32
	for _, p := range m.Params() {
		mm, vv = append(mm, make([]float32, len(p.Data))), append(vv, make([]float32, len(p.Data)))
	}
	for step := 1; step <= 2; step++ {
		scale := train.ClipScale(train.GradNorm(g), 1)
		o.Update(mt, g, scale, opt.LR, opt)
		bc1, bc2 := 1-math.Pow(opt.Beta1, float64(step)), 1-math.Pow(opt.Beta2, float64(step))
		gs := g.Params()
		for i, p := range m.Params() {
			pb := make([]float32, len(p.Data))
			twin.AdamW(p.Data, pb, gs[i].Data, mm[i], vv[i], opt.LR, opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay, bc1, bc2, scale)
			for j, x := range pb {
				if x != twin.R(p.Data[j]) {
					t.Fatalf("bf16 copy of %s[%d] = %v, want %v", p.Name, j, x, twin.R(p.Data[j]))
				}
			}
		}
	}
	want := mt.Params()
	for i, p := range m.Params() {
		for j := range p.Data {
			if p.Data[j] != want[i].Data[j] || mm[i][j] != o.M[i][j] || vv[i][j] != o.V[i][j] {
				t.Fatalf("%s[%d]: twin %v (m %v v %v), train %v (m %v v %v)", p.Name, j, p.Data[j], mm[i][j], vv[i][j], want[i].Data[j], o.M[i][j], o.V[i][j])
			}
		}
	}
	var s float64
	for _, p := range g.Params() {
		s += twin.SumSq(p.Data)
	}
	// Per-tensor sums added afterwards (as the two-stage kernel does): the
	// same number up to float64 reassociation.
	if !numtest.Within(math.Sqrt(s), train.GradNorm(g), 0, 1e-13) {
		t.Errorf("grad norm %v, train.GradNorm %v", math.Sqrt(s), train.GradNorm(g))
	}
}

// TestRound: R is runtime/cuda's ToBF16 then FromBF16.
func TestRound(t *testing.T) {
	for _, x := range []float32{1, 1.00390625, 1.01171875, -3.14159, 1e-40, float32(math.Inf(-1)), 65504.5} {
		u := math.Float32bits(x)
		u += 0x7fff + (u>>16)&1
		if want := math.Float32frombits(u & 0xffff0000); twin.R(x) != want {
			t.Errorf("R(%v) = %v, want %v", x, twin.R(x), want)
		}
	}
	if n := twin.R(float32(math.NaN())); n == n {
		t.Error("R(NaN) is not NaN")
	}
}
