package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCUDAGlueWithFakeDriver builds fakecuda/fakecuda.c into a fake
// libcuda.so.1 and runs this package's cuda-tagged tests against it (through
// LD_LIBRARY_PATH): gorgonia's init, context, memory copies, module loading
// and the argument marshalling of every launch, on a machine without a GPU.
// With nvcc it also hands them the PTX of generated/real/kernels.cu, so the
// launches are checked against the real kernels' parameter lists.
func TestCUDAGlueWithFakeDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the cuda-tagged test binary")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build the fake libcuda")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	if _, err := os.Stat("/usr/include/cuda.h"); err != nil && os.Getenv("CGO_CFLAGS") == "" {
		t.Skip("cuda.h not found (install nvidia-cuda-dev or set CGO_CFLAGS=-I<dir>): cannot build gorgonia.org/cu")
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "libcuda.so.1")
	if out, err := exec.Command(gcc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", lib, "fakecuda/fakecuda.c").CombinedOutput(); err != nil {
		t.Fatalf("building the fake libcuda: %v\n%s", err, out)
	}
	env := append(os.Environ(), "LD_LIBRARY_PATH="+dir, "FAKE_CUDA_LOG="+filepath.Join(dir, "launches.log"), "REALC_FAKE_CUDA=1")
	if nvcc, err := exec.LookPath("nvcc"); err == nil {
		ptx := filepath.Join(dir, "real.ptx")
		if out, err := exec.Command(nvcc, "-ptx", "-arch=sm_80", "-o", ptx, "../../generated/real/kernels.cu").CombinedOutput(); err != nil {
			t.Fatalf("nvcc: %v\n%s", err, out)
		}
		env = append(env, "FAKE_CUDA_PTX="+ptx)
	} else {
		t.Log("nvcc not found: the launch checks use hand-written PTX signatures only")
	}
	cmd := exec.Command(goTool, "test", "-tags", "cuda", "-count=1", "-v", "-run", "^TestFake", ".")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cuda-tagged tests against the fake driver: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestFakeDriver") {
		t.Fatalf("the cuda-tagged tests did not run:\n%s", out)
	}
	t.Logf("%s", out)
}
