package gpumodel_test

import (
	"slices"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
)

// TestLM: the decoder as a sample.LM on the twin machine against
// model.LM: the logits after prompts of different lengths (given in one
// Forward, each prefilled in a forward pass) within the forward's bf16
// bound, and greedy generation with n = 3 samples per prompt (the prompt
// prefilled once, its slot cloned) giving the CPU's tokens.
func TestLM(t *testing.T) {
	cpu := model.NewTinyQwen3(61, 9)
	g, err := gpumodel.Upload(twin.NewMachine(), cpu)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	lm, err := g.NewLM(12, 40)
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Free()
	prompts := [][]int{{1, 5, 9, 2, 44}, {7, 3}, {60, 12, 8, 8}}
	ref := model.LM{M: cpu}
	var cs, rs []sample.Cache
	for range prompts {
		cs, rs = append(cs, lm.NewCache()), append(rs, ref.NewCache())
	}
	got, err := lm.Forward(cs, prompts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Forward(rs, prompts)
	if err != nil {
		t.Fatal(err)
	}
	tol := gpumodeltest.ForwardTol(cpu.Cfg.Layers)
	for i := range prompts {
		if cs[i].Len() != len(prompts[i]) {
			t.Errorf("prompt %d: cache length %d", i, cs[i].Len())
		}
		if e := gpumodeltest.RelErr(got[i], want[i]); !(e <= tol) {
			t.Errorf("prompt %d: logits relative error %.3g above %.3g", i, e, tol)
		}
	}
	for _, c := range cs {
		c.(sample.Releaser).Release()
	}
	opts := sample.Options{Params: sample.Params{Temperature: 0}, N: 3, MaxNewTokens: 12}
	outG, err := sample.Generate(lm, prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	outC, err := sample.Generate(ref, prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range prompts {
		for j := range outG[i] {
			if !slices.Equal(outG[i][j].Tokens, outC[i][0].Tokens) {
				t.Errorf("prompt %d sample %d: GPU decoder %v, CPU %v", i, j, outG[i][j].Tokens, outC[i][0].Tokens)
			}
		}
	}
	// 13 caches at once do not fit 12 slots.
	var many []sample.Cache
	var toks [][]int
	for range 13 {
		many, toks = append(many, lm.NewCache()), append(toks, []int{1})
	}
	if _, err := lm.Forward(many, toks); err == nil {
		t.Error("13 caches on 12 slots must be refused")
	}
}

// TestLastLogits: the logits after a sequence from one forward pass, on
// the twin machine, against runtime/model's within the forward's bf16
// bound, for a frozen and a trainable upload (the same bits), leaving no
// machine memory behind.
func TestLastLogits(t *testing.T) {
	for _, mk := range []func() *model.Model{func() *model.Model { return model.NewTinyQwen3(61, 9) }, mistral} {
		cpu := mk()
		seq := []int{1, 5, 9, 2, 44, 7, 3}
		p, err := cpu.Forward(&model.Batch{B: 1, T: len(seq), Tokens: seq})
		if err != nil {
			t.Fatal(err)
		}
		v := cpu.Cfg.Vocab
		want := cpu.Logits(p)[(len(seq)-1)*v:]
		var got [2][]float32
		for i, up := range []func(kernels.Machine, *model.Model) (*gpumodel.Model, error){gpumodel.UploadFrozen, gpumodel.Upload} {
			m := newCounting()
			g, err := up(m, cpu)
			if err != nil {
				t.Fatal(err)
			}
			held := m.inUse
			if got[i], err = g.LastLogits(seq); err != nil {
				t.Fatal(err)
			}
			if m.inUse != held {
				t.Errorf("%s: %d bytes left allocated after LastLogits", cpu.Cfg.Arch, m.inUse-held)
			}
			if _, err := g.LastLogits(nil); err == nil {
				t.Error("LastLogits of an empty sequence must fail")
			}
			g.Free()
		}
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("%s: the frozen and trainable uploads give other logits", cpu.Cfg.Arch)
		}
		if e, tol := gpumodeltest.RelErr(got[0], want), gpumodeltest.ForwardTol(cpu.Cfg.Layers); !(e <= tol) || len(got[0]) != v {
			t.Errorf("%s: %d logits, relative error %.3g above %.3g", cpu.Cfg.Arch, len(got[0]), e, tol)
		} else {
			t.Logf("%s: relative error %.3g (bound %.3g)", cpu.Cfg.Arch, e, tol)
		}
	}
}
