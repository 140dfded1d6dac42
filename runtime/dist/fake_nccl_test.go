package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildFakeNCCL builds testdata/fakenccl.c as libnccl.so.2 and libcuda.so.1
// in a temporary folder and returns the environment that points the NCCL
// backend at them.
func buildFakeNCCL(t *testing.T) (dir string, env []string) {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build the fake libnccl")
	}
	dir = t.TempDir()
	for _, so := range []string{"libnccl.so.2", "libcuda.so.1"} {
		out, err := exec.Command(gcc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-Wl,-soname,"+so,
			"-o", filepath.Join(dir, so), "testdata/fakenccl.c").CombinedOutput()
		if err != nil {
			t.Fatalf("building the fake %s: %v\n%s", so, err, out)
		}
	}
	env = []string{
		"REALC_NCCL_LIB=" + filepath.Join(dir, "libnccl.so.2"),
		"REALC_CUDA_LIB=" + filepath.Join(dir, "libcuda.so.1"),
		"FAKE_NCCL_LOG=" + filepath.Join(dir, "nccl.log"),
		"REALC_FAKE_NCCL=1",
	}
	return dir, env
}

// TestNCCLWithFakeLibrary runs the cuda-tagged tests of this package (the
// NCCL backend: dlopen, symbol binding, staging, enums, timeout and abort)
// against a fake libnccl and libcuda built here with gcc, so the dlopen
// path is exercised without a GPU. With OpenMPI installed it also runs
// -tags cuda,mpi under mpirun -np 2: the unique id travels over MPI.
func TestNCCLWithFakeLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the cuda-tagged test binary")
	}
	if NCCLEnabled {
		t.Skip("this binary is the cuda-tagged one")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	dir, env := buildFakeNCCL(t)
	bin := filepath.Join(dir, "dist-cuda.test")
	if out, err := exec.Command(goTool, "test", "-c", "-tags", "cuda", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the cuda-tagged tests: %v\n%s", err, out)
	}
	run := func(extra ...string) string {
		cmd := exec.Command(bin, "-test.count=1", "-test.v", "-test.run", "^TestFakeNCCL")
		cmd.Env = append(append(os.Environ(), env...), extra...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cuda-tagged tests against the fake NCCL: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run()
	// A process that has loaded libnccl.so.2 finds it again by soname, so
	// the missing library is tried in a process of its own.
	out += run("REALC_FAKE_NCCL_MISSING=1", "REALC_NCCL_LIB=/nonexistent/libnccl.so.2")
	for _, name := range []string{"TestFakeNCCLSelfTest", "TestFakeNCCLTimeout", "TestFakeNCCLMissingLibrary"} {
		if !strings.Contains(out, "--- PASS: "+name) {
			t.Errorf("%s did not pass:\n%s", name, out)
		}
	}
	t.Logf("%s", out)
}
