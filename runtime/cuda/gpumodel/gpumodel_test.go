package gpumodel_test

import (
	"math/rand/v2"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

// These run the model composition on the CPU twins' machine (bf16 storage,
// the kernels' arithmetic) against runtime/model in float32; the device
// check runs the same comparisons on a GPU.

func batch(seed uint64, B, T, vocab int, padded bool) *model.Batch {
	r := rand.New(rand.NewPCG(seed, 1))
	b := &model.Batch{B: B, T: T, Tokens: make([]int, B*T)}
	for i := range b.Tokens {
		b.Tokens[i] = r.IntN(vocab)
	}
	if padded {
		b.Mask, b.Pos = make([]bool, B*T), make([]int, B*T)
		for row := 0; row < B; row++ {
			pos := 0
			for t := 0; t < T; t++ {
				b.Mask[row*T+t] = t >= row
				b.Pos[row*T+t] = pos
				if t >= row {
					pos++
				}
			}
		}
	}
	return b
}

func mistral() *model.Model {
	m, err := model.New(model.Config{Arch: model.Mistral, Dim: 48, Hidden: 96, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 12, Vocab: 80,
		RopeTheta: 10000, NormEps: 1e-5, SlidingWindow: 4, BOS: -1})
	if err != nil {
		panic(err)
	}
	m.InitRandom(11, 0.2)
	return m
}

var cases = []struct {
	name   string
	model  func() *model.Model
	padded bool
}{
	{"qwen3-tiny", func() *model.Model { return model.NewTinyQwen3(97, 3) }, false},
	{"qwen3-tiny/left-padded", func() *model.Model { return model.NewTinyQwen3(97, 4) }, true},
	{"mistral/window4/untied", mistral, false},
}

func TestForward(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			e, err := gpumodeltest.Forward(twin.NewMachine(), m, batch(1, 3, 11, m.Cfg.Vocab, c.padded))
			if err != nil {
				t.Fatal(err)
			}
			if tol := gpumodeltest.ForwardTol(m.Cfg.Layers); !(e <= tol) {
				t.Errorf("hidden state relative error %.3g above %.3g", e, tol)
			}
			t.Logf("hidden state relative error %.3g (bound %.3g)", e, gpumodeltest.ForwardTol(m.Cfg.Layers))
		})
	}
}

func TestTrainStep(t *testing.T) {
	opt := train.Optim{LR: 1e-3, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			b := batch(2, 3, 11, m.Cfg.Vocab, c.padded)
			r, err := gpumodeltest.Step(twin.NewMachine(), m, b, gpumodeltest.CrossEntropy(b), opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range r.Check(m.Cfg.Layers) {
				t.Error(msg)
			}
			t.Log(r)
		})
	}
}

func TestDecode(t *testing.T) {
	for _, mk := range []func() *model.Model{func() *model.Model { return model.NewTinyQwen3(61, 9) }, mistral} {
		m := mk()
		e, err := gpumodeltest.Decode(twin.NewMachine(), m, [][]int{{1, 5, 7, 2, 9, 4, 3, 3}, {8, 2, 2, 6, 1, 0, 5, 7}})
		if err != nil {
			t.Fatal(err)
		}
		if tol := gpumodeltest.ForwardTol(m.Cfg.Layers); !(e <= tol) {
			t.Errorf("%s: logits relative error %.3g above %.3g", m.Cfg.Arch, e, tol)
		}
		t.Logf("%s: decoding logits relative error %.3g", m.Cfg.Arch, e)
	}
}
