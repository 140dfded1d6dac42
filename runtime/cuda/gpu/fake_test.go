package gpu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/dl"
	"github.com/realc-project/realc/runtime/cuda/kernels"
)

// FakeLibs builds, into dir, a libcuda.so.1 that runs realc's kernels on
// the CPU (kernels/emu/emucuda.cc over fakecuda.c), a fake cuBLAS with CPU
// products (dl/testdata/fakecublas.c) and, when no NVRTC is installed, a
// fake NVRTC. It returns the environment that makes the cuda-tagged code
// use them.
func fakeLibs(t *testing.T, dir string) []string {
	t.Helper()
	gcc, err1 := exec.LookPath("gcc")
	gxx, err2 := exec.LookPath("g++")
	if err1 != nil || err2 != nil {
		t.Skip("gcc and g++ are needed to build the fake libraries")
	}
	here, _ := os.Getwd()
	kdir := filepath.Join(here, "..", "kernels")
	var inc, table strings.Builder
	for _, f := range kernels.Files() {
		fmt.Fprintf(&inc, "#include %q\n", filepath.Join(kdir, f))
	}
	var names []string
	for n := range kernels.Signatures() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&table, "EMU_KERNEL(%s)\n", n)
	}
	os.WriteFile(filepath.Join(dir, "kernels.inc"), []byte(inc.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "table.inc"), []byte(table.String()), 0o644)
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	obj := filepath.Join(dir, "fakecuda.o")
	run(gcc, "-c", "-fPIC", "-DFAKE_CUDA_EMU", "-Wall", "-Wextra", "-Werror", "-o", obj, filepath.Join(here, "..", "fakecuda", "fakecuda.c"))
	run(gxx, "-std=c++20", "-shared", "-fPIC", "-O1", "-pthread", "-w", "-ffp-contract=off", "-DREALC_EMU",
		"-include", filepath.Join(kdir, "emu", "emu.h"), "-I", dir, "-Wl,-soname,libcuda.so.1",
		filepath.Join(kdir, "emu", "emucuda.cc"), obj, "-o", filepath.Join(dir, "libcuda.so.1"))
	run(gcc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libcublas.so.13"), filepath.Join(here, "..", "dl", "testdata", "fakecublas.c"))
	env := append(os.Environ(), "LD_LIBRARY_PATH="+dir, "REALC_CUBLAS_LIB="+filepath.Join(dir, "libcublas.so.13"), "REALC_FAKE_CUDA=emu")
	if r, err := dl.NewNVRTCDefault(); err == nil {
		t.Logf("kernels compiled by NVRTC %d.%d (%s)", r.Version[0], r.Version[1], r.Path)
		r.Close()
	} else {
		run(gcc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libnvrtc.so.13"), filepath.Join(here, "..", "dl", "testdata", "fakenvrtc.c"))
		env = append(env, "REALC_NVRTC_LIB="+filepath.Join(dir, "libnvrtc.so.13"))
		t.Log("no NVRTC here: the fake one writes the PTX signatures")
	}
	return env
}

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
	env := fakeLibs(t, t.TempDir())
	cmd := exec.Command(goTool, "test", "-tags", "cuda", "-count=1", "-v", "-run", "^TestEmu", ".")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cuda-tagged tests on the emulated driver: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestEmuKernels") || !strings.Contains(string(out), "--- PASS: TestEmuTrainStep") {
		t.Fatalf("the cuda-tagged tests did not run:\n%s", out)
	}
	t.Logf("%s", out)
}
