package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// Layer holds one decoder block's weights, row-major with the Hugging Face
// shapes ([out, in] for projections).
type Layer struct {
	AttnNorm []float32 // input_layernorm [D]
	Wq       []float32 // self_attn.q_proj [QD, D]
	Wk       []float32 // self_attn.k_proj [KVD, D]
	Wv       []float32 // self_attn.v_proj [KVD, D]
	Wo       []float32 // self_attn.o_proj [D, QD]
	QNorm    []float32 // self_attn.q_norm [HD] (Qwen3 only)
	KNorm    []float32 // self_attn.k_norm [HD] (Qwen3 only)
	FFNNorm  []float32 // post_attention_layernorm [D]
	Gate     []float32 // mlp.gate_proj [H, D]
	Up       []float32 // mlp.up_proj [H, D]
	Down     []float32 // mlp.down_proj [D, H]
}

// Model is a decoder-only transformer. The same type holds gradients (see
// NewGrads): every parameter slice then holds its gradient.
type Model struct {
	Cfg       Config
	Embed     []float32 // model.embed_tokens [V, D]
	Layers    []Layer
	FinalNorm []float32 // model.norm [D]
	// Head is lm_head [V, D]; with tied embeddings it is the same slice as Embed.
	Head []float32
	// Hooks, when set, is called around each part's forward and backward
	// (hook.go): a sharded model gathers its weights part by part.
	Hooks Hooks

	sc *scratch // recycled activation buffers (see scratch)
}

// Param is one named parameter tensor, with its Hugging Face name and shape.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
}

// New allocates a zero model for cfg.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Cfg: cfg, sc: newScratch()}
	d, h, q, kv, hd := cfg.Dim, cfg.Hidden, cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	m.Embed = make([]float32, cfg.Vocab*d)
	m.Layers = make([]Layer, cfg.Layers)
	for i := range m.Layers {
		l := &m.Layers[i]
		l.AttnNorm = make([]float32, d)
		// q, k, v (and gate, up) are adjacent views of one array, so that one
		// Sgemm computes them together (see fusedView).
		qkv := make([]float32, (q+2*kv)*d)
		l.Wq, l.Wk, l.Wv = qkv[:q*d], qkv[q*d:(q+kv)*d], qkv[(q+kv)*d:]
		l.Wo = make([]float32, d*q)
		if cfg.QKNorm {
			l.QNorm = make([]float32, hd)
			l.KNorm = make([]float32, hd)
		}
		l.FFNNorm = make([]float32, d)
		gu := make([]float32, 2*h*d)
		l.Gate, l.Up = gu[:h*d], gu[h*d:]
		l.Down = make([]float32, d*h)
	}
	m.FinalNorm = make([]float32, d)
	if cfg.TiedEmbed {
		m.Head = m.Embed
	} else {
		m.Head = make([]float32, cfg.Vocab*d)
	}
	return m, nil
}

// NewGrads returns a zero model of the same shape, to accumulate gradients
// into. With tied embeddings its Head aliases its Embed, so both uses of the
// shared matrix add into one gradient.
func (m *Model) NewGrads() *Model {
	g, err := New(m.Cfg)
	if err != nil {
		panic(err) // m was built from a valid config
	}
	return g
}

// Params lists every parameter tensor under its Hugging Face name, in a fixed
// order. A tied lm_head is not listed (it is model.embed_tokens.weight).
func (m *Model) Params() []Param {
	c := &m.Cfg
	d, h, q, kv, hd := c.Dim, c.Hidden, c.QDim(), c.KVDim(), c.HeadDim
	ps := []Param{{"model.embed_tokens.weight", []int{c.Vocab, d}, m.Embed}}
	for i := range m.Layers {
		l := &m.Layers[i]
		p := "model.layers." + strconv.Itoa(i) + "."
		ps = append(ps,
			Param{p + "input_layernorm.weight", []int{d}, l.AttnNorm},
			Param{p + "self_attn.q_proj.weight", []int{q, d}, l.Wq},
			Param{p + "self_attn.k_proj.weight", []int{kv, d}, l.Wk},
			Param{p + "self_attn.v_proj.weight", []int{kv, d}, l.Wv},
			Param{p + "self_attn.o_proj.weight", []int{d, q}, l.Wo},
		)
		if c.QKNorm {
			ps = append(ps,
				Param{p + "self_attn.q_norm.weight", []int{hd}, l.QNorm},
				Param{p + "self_attn.k_norm.weight", []int{hd}, l.KNorm},
			)
		}
		ps = append(ps,
			Param{p + "post_attention_layernorm.weight", []int{d}, l.FFNNorm},
			Param{p + "mlp.gate_proj.weight", []int{h, d}, l.Gate},
			Param{p + "mlp.up_proj.weight", []int{h, d}, l.Up},
			Param{p + "mlp.down_proj.weight", []int{d, h}, l.Down},
		)
	}
	ps = append(ps, Param{"model.norm.weight", []int{d}, m.FinalNorm})
	if !c.TiedEmbed {
		ps = append(ps, Param{"lm_head.weight", []int{c.Vocab, d}, m.Head})
	}
	return ps
}

// Clone returns a deep copy (a frozen reference model for a KL term, say).
func (m *Model) Clone() *Model {
	c, err := New(m.Cfg)
	if err != nil {
		panic(err) // m was built from a valid config
	}
	c.Cfg.EOS = append([]int(nil), m.Cfg.EOS...)
	if m.Cfg.RopeScaling != nil {
		rs := *m.Cfg.RopeScaling
		c.Cfg.RopeScaling = &rs
	}
	dst := c.Params()
	for i, p := range m.Params() {
		copy(dst[i].Data, p.Data)
	}
	return c
}

// Zero sets every parameter to zero (to reuse a gradient model).
func (m *Model) Zero() {
	for _, p := range m.Params() {
		clear(p.Data)
	}
}

// InitRandom fills the model deterministically from seed: projections and
// embeddings ~ N(0, std^2), norm weights ~ 1 + N(0, (std/2)^2) so that tests
// see norm weights that are not all one.
func (m *Model) InitRandom(seed uint64, std float64) {
	r := rand.New(rand.NewPCG(seed, 0x7265616c63)) // "realc"
	for _, p := range m.Params() {
		isNorm := len(p.Shape) == 1
		for i := range p.Data {
			if isNorm {
				p.Data[i] = float32(1 + r.NormFloat64()*std/2)
			} else {
				p.Data[i] = float32(r.NormFloat64() * std)
			}
		}
	}
}

// TinyQwen3Config is a small Qwen3 for tests: 2 layers, GQA 4/2 heads of 8,
// tied embeddings, the given vocabulary size (512 if vocab <= 0).
func TinyQwen3Config(vocab int) Config {
	if vocab <= 0 {
		vocab = 512
	}
	return Config{Arch: Qwen3, Dim: 32, Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: vocab,
		RopeTheta: 1000000, NormEps: 1e-6, TiedEmbed: true, QKNorm: true, MaxPos: 2048, BOS: -1, EOS: []int{vocab - 1}}
}

// NewTinyQwen3 builds the project's tiny random Qwen3 (see TinyQwen3Config)
// from seed; the same seed always gives the same weights.
func NewTinyQwen3(vocab int, seed uint64) *Model {
	m, err := New(TinyQwen3Config(vocab))
	if err != nil {
		panic(err) // the tiny config is valid by construction
	}
	m.InitRandom(seed, 0.2)
	return m
}

// checkFinite reports the first non-finite parameter (a corrupt checkpoint).
func (m *Model) checkFinite(where string) error {
	for _, p := range m.Params() {
		for i, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%s: tensor %s has a non-finite value %v at flat index %d", where, p.Name, v, i)
			}
		}
	}
	return nil
}
