package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
)

// TestCUDACompiles compiles every generated kernels.cu to PTX for sm_80 and
// sm_90 with warnings as errors (as `make cuda-check` does), and checks the
// kernels are header-free (NVRTC has no CUDA headers) and take no structs.
func TestCUDACompiles(t *testing.T) {
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "generated", "*", "kernels.cu"))
	more, _ := filepath.Glob(filepath.Join(root, "codegen", "testdata", "*", "kernels.cu"))
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no generated kernels.cu")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "#include") {
			t.Errorf("%s includes a header: generated kernels must be header-free", f)
		}
		if strings.Contains(string(src), "struct ") {
			t.Errorf("%s mentions a struct: kernel parameters must be pointers and scalars", f)
		}
	}
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("nvcc not found (CI installs nvidia-cuda-toolkit): only the source checks ran")
	}
	if testing.Short() {
		t.Skip("nvcc compile skipped with -short")
	}
	out := t.TempDir()
	for _, f := range files {
		for _, arch := range []string{"sm_80", "sm_90"} {
			cmd := exec.Command(nvcc, "-ptx", "-arch="+arch, "-Werror", "all-warnings", "-o", filepath.Join(out, "k.ptx"), f)
			if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
				t.Errorf("nvcc -arch=%s %s: %v\n%s", arch, f, err, msg)
			}
		}
	}
}

// TestCUDANVRTC compiles every generated kernels.cu with NVRTC and no include
// path (testdata/nvrtc_check.c, built with gcc, dlopens libnvrtc): what a
// realc binary does on a GPU machine without nvcc.
func TestCUDANVRTC(t *testing.T) {
	if testing.Short() {
		t.Skip("NVRTC compile skipped with -short")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "generated", "*", "kernels.cu"))
	more, _ := filepath.Glob(filepath.Join(root, "codegen", "testdata", "*", "kernels.cu"))
	files = append(files, more...)
	bin := filepath.Join(t.TempDir(), "nvrtc_check")
	if out, err := exec.Command(gcc, "-Wall", "-Wextra", "-Werror", "-o", bin, filepath.Join(root, "codegen", "testdata", "nvrtc_check.c"), "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("building nvrtc_check: %v\n%s", err, out)
	}
	for _, arch := range []string{"compute_80", "compute_90"} {
		out, err := exec.Command(bin, append([]string{arch}, files...)...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
			t.Skipf("NVRTC not available: %s", out)
		}
		if err != nil {
			t.Fatalf("NVRTC %s: %v\n%s", arch, err, out)
		}
	}
}
