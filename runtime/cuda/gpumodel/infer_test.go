package gpumodel_test

import (
	"slices"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/model"
)

// TestInfer: Infer's final hidden state is Forward's bit for bit, its
// activations are inferBytes (one layer's buffers) where Forward's are
// passBytes (every layer's), both as the machine's accounting measures
// them, and a pass from Infer cannot be differentiated.
func TestInfer(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			b := batch(3, 3, 11, m.Cfg.Vocab, c.padded)
			mach := newCounting()
			g, err := gpumodel.Upload(mach, m)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Free()
			base := mach.inUse
			hidden := func(run func(*model.Batch) (*gpumodel.Pass, error)) ([]float32, int64, *gpumodel.Pass) {
				mach.peak = mach.inUse
				p, err := run(b)
				if err != nil {
					t.Fatal(err)
				}
				h, err := gpumodeltest.BF16(mach, p.Hidden(), b.B*b.T*m.Cfg.Dim)
				if err != nil {
					t.Fatal(err)
				}
				return h, mach.peak - base, p
			}
			hf, fwdBytes, pf := hidden(g.Forward)
			pf.Release()
			hi, infBytes, pi := hidden(g.Infer)
			if !slices.Equal(hf, hi) {
				t.Errorf("Infer's hidden state differs from Forward's (relative %.3g)", gpumodeltest.RelErr(hi, hf))
			}
			if want := gpumodel.ActivationBytes(m.Cfg, b.B, b.T, true); fwdBytes != want {
				t.Errorf("Forward allocated %d bytes, its estimate is %d", fwdBytes, want)
			}
			if want := gpumodel.ActivationBytes(m.Cfg, b.B, b.T, false); infBytes != want || !(infBytes < fwdBytes) {
				t.Errorf("Infer allocated %d bytes (its estimate %d), Forward %d", infBytes, want, fwdBytes)
			}
			if err := g.BackwardHidden(pi, 0); err == nil {
				t.Error("BackwardHidden of a pass from Infer must be refused")
			}
			if err := g.Backward(pi, 0); err == nil {
				t.Error("Backward of a pass from Infer must be refused")
			}
			pi.Release()
			if mach.inUse != base {
				t.Errorf("%d bytes left allocated", mach.inUse-base)
			}
			t.Logf("B=%d T=%d: Forward %d bytes of activations, Infer %d", b.B, b.T, fwdBytes, infBytes)
		})
	}
}

// TestLastLogitsMemory: a judge's score slot (LastLogits over 512 tokens of
// the tiny Qwen3) holds Infer's activations, not the training pass's, as
// the machine's accounting measures them; and the estimates for Qwen3-8B
// at 2,048 tokens.
func TestLastLogitsMemory(t *testing.T) {
	cpu := model.NewTinyQwen3(61, 9)
	const T = 512
	seq := batch(7, 1, T, cpu.Cfg.Vocab, false).Tokens
	mach := newCounting()
	g, err := gpumodel.UploadFrozen(mach, cpu)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	base := mach.inUse
	mach.peak = base
	if _, err := g.LastLogits(seq); err != nil {
		t.Fatal(err)
	}
	got := mach.peak - base
	// What LastLogits held when it ran Forward: the training pass.
	mach.peak = mach.inUse
	p, err := g.Forward(&model.Batch{B: 1, T: T, Tokens: seq})
	if err != nil {
		t.Fatal(err)
	}
	train := mach.peak - base
	p.Release()
	// Infer's arena and the fp32 logits row.
	if want := gpumodel.ActivationBytes(cpu.Cfg, 1, T, false) + 4*int64(cpu.Cfg.Vocab); got != want || !(got < train) {
		t.Errorf("LastLogits over %d tokens held %d bytes at most, want %d (a training pass: %d)", T, got, want, train)
	}
	t.Logf("tiny Qwen3 (%d layers), %d tokens: LastLogits held %d bytes; a training pass (what it ran before) %d", cpu.Cfg.Layers, T, got, train)
	q8 := model.Config{Arch: model.Qwen3, Dim: 4096, Hidden: 12288, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128, Vocab: 151936,
		RopeTheta: 1e6, NormEps: 1e-6, QKNorm: true, BOS: -1}
	fw, in := gpumodel.ActivationBytes(q8, 1, 2048, true), gpumodel.ActivationBytes(q8, 1, 2048, false)
	if !(float64(fw) > 20*float64(in)) {
		t.Errorf("Qwen3-8B at 2048 tokens: Forward %d bytes, Infer %d: less than 20 times less", fw, in)
	}
	t.Logf("Qwen3-8B, 2048 tokens: Forward %.2f GiB of activations, Infer %.3f GiB", float64(fw)/(1<<30), float64(in)/(1<<30))
}
