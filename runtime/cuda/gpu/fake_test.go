package gpu_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpu/gputest"
)

// TestGPUMachineOnEmulatedDriver runs this package's cuda-tagged tests
// (TestEmu*) against the emulating fake driver and cuBLAS: the GPU
// Machine's host code (NVRTC compile, module load, every kernel's
// marshalling through gorgonia's Launch, device copies, cuBLAS's row-major
// mapping) end to end, without a GPU.
func TestGPUMachineOnEmulatedDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fake libraries and the cuda-tagged test binary")
	}
	if _, err := os.Stat("/usr/include/cuda.h"); err != nil && os.Getenv("CGO_CFLAGS") == "" {
		t.Skip("cuda.h not found: cannot build gorgonia.org/cu")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ not found: cannot build the emulating driver")
	}
	env, note, err := gputest.FakeLibs("../../..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(note)
	run := "^TestEmu"
	if r := os.Getenv("REALC_EMU_RUN"); r != "" { // to run one of them while working on it
		run = r
	}
	cmd := exec.Command(goTool, "test", "-tags", "cuda", "-count=1", "-timeout", "60m", "-v", "-run", run, ".")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cuda-tagged tests on the emulated driver: %v\n%s", err, out)
	}
	if run == "^TestEmu" && (!strings.Contains(string(out), "--- PASS: TestEmuKernels") || !strings.Contains(string(out), "--- PASS: TestEmuTrainStep") ||
		!strings.Contains(string(out), "--- PASS: TestEmuRecipeLoss") || !strings.Contains(string(out), "--- PASS: TestEmuFusedStep") || !strings.Contains(string(out), "--- PASS: TestEmuTrainDevice") || !strings.Contains(string(out), "--- PASS: TestEmuFrozenUpload") ||
		!strings.Contains(string(out), "--- PASS: TestEmuEvalDevice") || !strings.Contains(string(out), "--- PASS: TestEmuTrainRef")) {
		t.Fatalf("the cuda-tagged tests did not run:\n%s", out)
	}
	t.Logf("%s", out)
}
