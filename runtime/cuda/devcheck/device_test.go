//go:build cuda

package devcheck

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/cuda/dl"
	"github.com/realc-project/realc/runtime/cuda/gpu"
	"github.com/realc-project/realc/runtime/cuda/gpu/gputest"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/kernels/kerneltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/fused/recipe/recipetest"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

// The module root: the test runs in runtime/cuda/devcheck of a checkout.
const root = "../../.."

// emu is set by TestDeviceCheckOnEmulatedDriver: the same tests on the
// emulating fake driver, at small sizes (a smoke test of this file's code
// on machines without a GPU).
var emu = os.Getenv("REALC_DEVCHECK_EMU") == "1"

func open(t *testing.T) *gpu.Machine {
	t.Helper()
	if os.Getenv("REALC_FAKE_CUDA") != "" && !emu {
		t.Skip("a device check; the fake drivers have their own tests")
	}
	m, err := gpu.Open(0, gpu.Options{})
	if err != nil {
		t.Fatalf("opening GPU 0: %v", err)
	}
	t.Logf("%s, kernels for %s", m.Name(), m.Arch)
	if strings.TrimSpace(strings.Trim(m.Log, "\x00")) != "" {
		t.Logf("NVRTC says:\n%s", m.Log)
	}
	return m
}

func TestDeviceDoctor(t *testing.T) {
	info, err := dl.Finder{}.Driver()
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	t.Logf("driver %s (CUDA %s)", info.Path, dl.VersionString(info.Version))
	for _, d := range info.Devices {
		t.Logf("GPU %d: %s, cc %d.%d, %d SMs, %.1f GiB", d.Ordinal, d.Name, d.CC[0], d.CC[1], d.SMs, float64(d.Memory)/(1<<30))
	}
	for _, f := range (dl.Finder{}).Probe() {
		t.Logf("%-9s %s %s %s %v", f.Kind.Name, f.Path, f.File, f.Version, f.Err)
	}
}

// TestDeviceKernels: every kernel case, small and large, against the twins.
func TestDeviceKernels(t *testing.T) {
	m := open(t)
	defer m.Close()
	ref := twin.NewMachine()
	sizes := []kerneltest.Size{kerneltest.Small, kerneltest.Large}
	seen := map[string]bool{}
	if emu {
		sizes = sizes[:1]
	}
	for _, size := range sizes {
		for _, c := range kerneltest.Cases(7, size) {
			if size == kerneltest.Large && !large(c.Name) {
				continue
			}
			if kind, _, _ := strings.Cut(c.Name, "/"); emu && seen[kind] {
				continue
			} else {
				seen[kind] = true
			}
			t.Run(c.Name, func(t *testing.T) {
				want, err := kerneltest.Run(ref, c)
				if err != nil {
					t.Fatalf("twin: %v", err)
				}
				start := time.Now()
				got, err := kerneltest.Run(m, c)
				if err != nil {
					t.Fatalf("GPU: %v", err)
				}
				for _, msg := range kerneltest.Compare(c, want, got) {
					t.Error(msg)
				}
				if d := time.Since(start); d > time.Second {
					t.Logf("%v on the GPU (with copies)", d)
				}
			})
		}
	}
}

// large reports whether a Large case is one of the added sizes (the small
// ones ran already).
func large(name string) bool {
	for _, s := range []string{"n512/d4096", "rows4096/", "rows512/d4096", "rows64/d8192", "rows2048/", "n4194321", "gradnorm",
		"T512/", "T1024/", "T256/", "1024x4096x4096", "4096x1024x4096"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// TestDeviceTrainStep: one REAL step on a tiny Qwen3, GPU against CPU, and
// decoding against model.Step.
func TestDeviceTrainStep(t *testing.T) {
	m := open(t)
	defer m.Close()
	rc, err := gputest.LoadRecipe(root, "real")
	if err != nil {
		t.Fatal(err)
	}
	cpu := model.NewTinyQwen3(97, 21)
	r := rand.New(rand.NewPCG(4, 4))
	b := &model.Batch{B: 4, T: 12, Tokens: make([]int, 48)}
	for i := range b.Tokens {
		b.Tokens[i] = r.IntN(cpu.Cfg.Vocab)
	}
	opt := train.Optim{LR: 1e-3, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1}
	start := time.Now()
	rep, err := gpumodeltest.Step(m, cpu, b, gputest.Loss(rc.Prog, b), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("REAL step, materialized logits (%v): %v", time.Since(start), rep)
	if rep.LossCPU == 0 {
		t.Error("the REAL loss is 0: no group kept; the batch must have partial groups")
	}
	for _, msg := range rep.Check(cpu.Cfg.Layers) {
		t.Error(msg)
	}
	// The same step through the fused loss on the GPU (REAL's kernels from
	// the hidden states), the path a trainer takes.
	rl, err := m.LoadRecipe(rc.Src, rc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	rep, err = gpumodeltest.StepWith(m, cpu, b, gputest.Loss(rc.Prog, b), gputest.FusedLoss(rl, rc, b, 16), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("REAL step, fused loss (%v): %v", time.Since(start), rep)
	for _, msg := range rep.Check(cpu.Cfg.Layers) {
		t.Error("fused: " + msg)
	}
	e, err := gpumodeltest.Decode(m, cpu, [][]int{{1, 5, 7, 2, 9, 4, 3, 3}, {8, 2, 2, 6, 1, 0, 5, 7}})
	if err != nil {
		t.Fatal(err)
	}
	if tol := gpumodeltest.ForwardTol(cpu.Cfg.Layers); !(e <= tol) {
		t.Errorf("decoding logits relative error %.3g above %.3g", e, tol)
	}
	if emu {
		return
	}
	// A larger model on a longer batch: forward only (the CPU side is the
	// slow one).
	big, err := model.New(model.Config{Arch: model.Qwen3, Dim: 512, Hidden: 1536, Layers: 4, Heads: 8, KVHeads: 4, HeadDim: 64, Vocab: 4096,
		RopeTheta: 1e6, NormEps: 1e-6, TiedEmbed: true, QKNorm: true, BOS: -1})
	if err != nil {
		t.Fatal(err)
	}
	big.InitRandom(3, 0.05)
	bb := &model.Batch{B: 2, T: 256, Tokens: make([]int, 512)}
	for i := range bb.Tokens {
		bb.Tokens[i] = r.IntN(4096)
	}
	fe, err := gpumodeltest.Forward(m, big, bb)
	if err != nil {
		t.Fatal(err)
	}
	if tol := gpumodeltest.ForwardTol(big.Cfg.Layers); !(fe <= tol) {
		t.Errorf("dim-512 Qwen3, T=256: hidden state relative error %.3g above %.3g", fe, tol)
	}
	t.Logf("dim-512 Qwen3, 4 layers, T=256: hidden state relative error %.3g (bound %.3g)", fe, gpumodeltest.ForwardTol(big.Cfg.Layers))
}

// TestDeviceRecipeLoss: REAL's kernels on the GPU against the evaluator, on
// small vocabularies and on the Qwen3 vocabulary.
func TestDeviceRecipeLoss(t *testing.T) {
	m := open(t)
	defer m.Close()
	rc, err := gputest.LoadRecipe(root, "real")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := m.LoadRecipe(rc.Src, rc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []recipetest.Case{
		{V: 37, D: 8, Groups: []int{3, 1, 4, 2}, MaxLen: 6, Seed: 11, LogitScale: 1.5},
		{V: 151936, D: 64, Groups: []int{2, 2}, MaxLen: 3, Seed: 12, LogitScale: 3},
		{V: 40, D: 8, Groups: []int{3, 4}, MaxLen: 5, Seed: 13, LogitScale: 1.5, Shift: 1e4},
	} {
		if emu && c.V > 1000 {
			continue
		}
		t.Run(fmt.Sprintf("V%d/seed%d", c.V, c.Seed), func(t *testing.T) {
			r, err := gputest.RunRecipeCheck(m, rl, rc, recipetest.NewProblem(rc.Prog, c), 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range r.Problems() {
				t.Error(msg)
			}
			t.Log(r)
		})
	}
}

// bf16Peak is the dense bf16 tensor rate of the chips realc targets.
func bf16Peak(name string) float64 {
	switch {
	case strings.Contains(name, "H100"), strings.Contains(name, "H200"), strings.Contains(name, "H800"), strings.Contains(name, "GH200"):
		return 989e12 // SXM; the PCIe H100 is 756e12
	case strings.Contains(name, "A100"):
		return 312e12
	}
	return 0
}

// TestDeviceFusedLoss: N=8192, V=151,936, d=4096.
func TestDeviceFusedLoss(t *testing.T) {
	m := open(t)
	defer m.Close()
	rc, err := gputest.LoadRecipe(root, "real")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := m.LoadRecipe(rc.Src, rc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	N, V, D, chunk := 8192, 151936, 4096, 1024
	if emu {
		N, V, D, chunk = 128, 200, 16, 48
	}
	r, err := gputest.BigFusedLoss(m, rl, rc, N, V, D, chunk)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if peak := bf16Peak(m.Name()); peak > 0 {
		t.Logf("bf16 peak %.0f TFLOP/s: materialized at %.0f%%, fused at %.0f%%", peak/1e12,
			100*r.FLOPsMat/r.TimeMat.Seconds()/peak, 100*r.FLOPsFused/r.TimeFused.Seconds()/peak)
	}
	for _, msg := range r.Problems() {
		t.Error(msg)
	}
	if !(r.PeakFused < r.PeakMat) {
		t.Errorf("the fused path used %d bytes at its peak, the materialized %d", r.PeakFused, r.PeakMat)
	}
}
