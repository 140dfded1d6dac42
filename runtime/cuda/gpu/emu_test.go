//go:build cuda

package gpu

import (
	"os"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/kernels/kerneltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
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
