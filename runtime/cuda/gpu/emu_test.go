//go:build cuda

package gpu_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	. "github.com/realc-project/realc/runtime/cuda/gpu"
	"github.com/realc-project/realc/runtime/cuda/gpu/gputest"
	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/kernels/kerneltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/fused/recipe/recipetest"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

func emuOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("REALC_FAKE_CUDA") != "emu" {
		t.Skip("runs on the emulating fake driver (go test ./runtime/cuda/gpu builds it)")
	}
}

// TestEmuKernels: one case of every kernel and every GEMM type and
// transpose through the GPU Machine, against the twins.
func TestEmuKernels(t *testing.T) {
	emuOnly(t)
	m, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.Contains(m.Name(), "Fake GPU 0") || m.Arch != "compute_90" {
		t.Errorf("machine %q, arch %s", m.Name(), m.Arch)
	}
	ref := twin.NewMachine()
	seen := map[string]bool{}
	for _, c := range kerneltest.Cases(3, kerneltest.Small) {
		kind, _, _ := strings.Cut(c.Name, "/")
		if kind == "gemm" { // every type pair and transpose
			kind = c.Name[:strings.LastIndex(c.Name, "/")]
		}
		if seen[kind] {
			continue
		}
		seen[kind] = true
		t.Run(c.Name, func(t *testing.T) {
			want, err := kerneltest.Run(ref, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kerneltest.Run(m, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range kerneltest.Compare(c, want, got) {
				t.Error(msg)
			}
		})
	}
	for name := range kernels.Signatures() {
		if ref.Launches[name] == 0 {
			t.Errorf("kernel %s not exercised", name)
		}
	}
}

// TestEmuErrors: misuse is reported, not crashed on.
func TestEmuErrors(t *testing.T) {
	emuOnly(t)
	m, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Free(12345); err == nil {
		t.Error("freeing a foreign pointer must fail")
	}
	if err := m.Launch(kernels.Launch{Kernel: "nope", Grid: 1, Block: 32}); err == nil || !strings.Contains(err.Error(), "no kernel nope") {
		t.Errorf("unknown kernel: %v", err)
	}
	if err := m.Launch(kernels.RoPE(1, 2, 3, kernels.F32, 1, 1, 3, false)); err == nil || !strings.Contains(err.Error(), "odd head dimension") {
		t.Errorf("bad launch: %v", err)
	}
	if err := m.Gemm(kernels.Gemm{M: 2, N: 2, K: 2, LDA: 1, LDB: 2, LDC: 2, AB: kernels.F32, CT: kernels.F32}); err == nil || !strings.Contains(err.Error(), "lda 1 < 2") {
		t.Errorf("bad gemm: %v", err)
	}
	if _, err := Open(1, Options{}); err == nil || !strings.Contains(err.Error(), "no device 1") {
		t.Errorf("Open(1): %v", err)
	}
	// A PTX that lacks a kernel is refused at Open.
	if _, err := Open(0, Options{PTX: ".visible .entry realc_swiglu(\n.param .u64 a\n)\n{\nret;\n}\n"}); err == nil {
		t.Error("a PTX without the kernels must be refused")
	}
}

// TestEmuTrainStep: one training step and decoding of the tiny Qwen3
// through the GPU Machine on the emulated driver, against runtime/model
// (the wiring of runtime/cuda/gpumodel over the real host glue).
func TestEmuTrainStep(t *testing.T) {
	emuOnly(t)
	m, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cpu := model.NewTinyQwen3(53, 5)
	b := &model.Batch{B: 2, T: 6, Tokens: []int{1, 7, 3, 9, 2, 4, 5, 5, 8, 1, 0, 6}}
	r, err := gpumodeltest.Step(m, cpu, b, gpumodeltest.CrossEntropy(b), train.Optim{LR: 1e-3, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range r.Check(cpu.Cfg.Layers) {
		t.Error(msg)
	}
	t.Log(r)
	e, err := gpumodeltest.Decode(m, cpu, [][]int{{1, 5, 7, 2}, {8, 2, 2, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if tol := gpumodeltest.ForwardTol(cpu.Cfg.Layers); !(e <= tol) {
		t.Errorf("decoding logits relative error %.3g above %.3g", e, tol)
	}
}

// TestEmuRecipeLoss: recipe real's generated loss kernels on the emulated
// GPU, materialized (logits computed by cuBLAS, then the kernels) and fused
// from the hidden states (a few rows at a time), against each other and
// against the compiler's reference evaluator on the same bf16 logits.
func TestEmuRecipeLoss(t *testing.T) {
	emuOnly(t)
	m, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rc, err := gputest.LoadRecipe("../../..", "real")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := m.LoadRecipe(rc.Src, rc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	pr := recipetest.NewProblem(rc.Prog, recipetest.Case{V: 37, D: 8, Groups: []int{3, 1, 4, 2}, MaxLen: 6, Seed: 11, LogitScale: 1.5})
	r, err := gputest.RunRecipeCheck(m, rl, rc, pr, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range r.Problems() {
		t.Error(msg)
	}
	t.Log(r)
}

// TestEmuFusedStep: one REAL training step of the tiny Qwen3 through the
// fused loss on the emulated GPU (hidden rows gathered, REAL's kernels from
// them and the head, the gradient scattered back, the trunk's backward),
// against the same step on the CPU with the compiler's evaluator.
func TestEmuFusedStep(t *testing.T) {
	emuOnly(t)
	m, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rc, err := gputest.LoadRecipe("../../..", "real")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := m.LoadRecipe(rc.Src, rc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	cpu := model.NewTinyQwen3(53, 6)
	b := &model.Batch{B: 4, T: 5, Tokens: []int{1, 7, 3, 9, 2, 4, 5, 5, 8, 1, 0, 6, 11, 30, 2, 9, 9, 41, 3, 7}}
	r, err := gpumodeltest.StepWith(m, cpu, b, gputest.Loss(rc.Prog, b), gputest.FusedLoss(rl, rc, b, 6),
		train.Optim{LR: 1e-3, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.LossCPU == 0 {
		t.Error("no group kept")
	}
	for _, msg := range r.Check(cpu.Cfg.Layers) {
		t.Error(msg)
	}
	t.Log(r)
}

// TestEmuFrozenUpload: the reference model's upload on the GPU Machine
// holds its bf16 weights only (the machine's own accounting: 2 bytes a
// parameter, padded to 8 per tensor), and its forward's hidden states, the
// input of ref_logp's loss statistics, are bit for bit those of a trainable
// upload.
func TestEmuFrozenUpload(t *testing.T) {
	emuOnly(t)
	m, err := Open(0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cpu := model.NewTinyQwen3(53, 5)
	var padded int64
	for _, p := range cpu.Params() {
		padded += int64((len(p.Data) + 7) &^ 7)
	}
	before := m.InUse()
	f, err := gpumodel.UploadFrozen(m, cpu)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Free()
	if got := m.InUse() - before; got != 2*padded || f.DeviceBytes() != got {
		t.Errorf("frozen upload: the machine holds %d more bytes, DeviceBytes %d, want %d", got, f.DeviceBytes(), 2*padded)
	}
	mid := m.InUse()
	g, err := gpumodel.Upload(m, cpu)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	if got := m.InUse() - mid; got != g.DeviceBytes() || got < 18*padded {
		t.Errorf("trainable upload: the machine holds %d more bytes, DeviceBytes %d, want at least %d", got, g.DeviceBytes(), 18*padded)
	}
	t.Logf("tiny Qwen3: trainable %d bytes, frozen %d bytes", g.DeviceBytes(), f.DeviceBytes())
	b := &model.Batch{B: 2, T: 5, Tokens: []int{1, 7, 3, 9, 2, 4, 5, 5, 8, 1}}
	hidden := func(g *gpumodel.Model) []byte {
		p, err := g.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		out := make([]byte, 2*p.N*cpu.Cfg.Dim)
		if err := m.Read(out, p.Hidden()); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if !bytes.Equal(hidden(f), hidden(g)) {
		t.Error("the frozen upload's hidden states differ from the trainable upload's")
	}
}
