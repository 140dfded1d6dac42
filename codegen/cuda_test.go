package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCUDACompiles compiles every generated kernels.cu to PTX for sm_80 and
// sm_90 with warnings as errors (as `make cuda-check` does), and checks the
// kernels are header-free (NVRTC has no CUDA headers) and take no structs.
func TestCUDACompiles(t *testing.T) {
	root := moduleRoot(t)
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
