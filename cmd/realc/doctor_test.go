package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/dl"
)

// TestDoctorRuns: `realc doctor` exits 0 on any machine (this one may have
// no driver at all) and names every library; extra arguments are a usage
// error.
func TestDoctorRuns(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"doctor"}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc doctor: exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"build:", "driver:", "cuBLAS", "cuBLASLt", "NVRTC", "NCCL", "status:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	t.Logf("\n%s", stdout.String())
	if code := run([]string{"doctor", "x"}, &stdout, &stderr); code != 2 {
		t.Errorf("realc doctor x: exit %d, want 2", code)
	}
}

// TestDoctorNoDriver: with nothing to find, every line says so and names
// what was tried.
func TestDoctorNoDriver(t *testing.T) {
	f := dl.Finder{Getenv: func(string) string { return "" }, Roots: []string{t.TempDir()}, NoSoname: true}
	text, ok := doctorText(f, "")
	if ok {
		t.Fatal("nothing found, yet ok")
	}
	for _, want := range []string{"without the cuda tag", "driver:   not found: no NVIDIA driver is installed here (CUDA driver library not found: tried",
		"cuBLAS    cuBLAS library not found: tried", "NVRTC     NVRTC library not found", "cannot run here"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// TestDoctorFakes: against the fake driver, cuBLAS and NVRTC of
// runtime/cuda (built here with gcc), the GPU and the versions are printed.
func TestDoctorFakes(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	for _, b := range []struct{ src, name string }{
		{"../../runtime/cuda/dl/testdata/fakecublas.c", "libcublas.so.13"},
		{"../../runtime/cuda/dl/testdata/fakecublas.c", "libcublasLt.so.13"},
		{"../../runtime/cuda/dl/testdata/fakenvrtc.c", "libnvrtc.so.13"},
		{"../../runtime/cuda/fakecuda/fakecuda.c", "libcuda.so.1"},
	} {
		if out, err := exec.Command(gcc, "-shared", "-fPIC", "-Wl,-soname,fake-"+b.name, "-o", filepath.Join(dir, b.name), b.src).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	f := dl.Finder{Getenv: func(string) string { return "" }, Roots: []string{dir}, NoSoname: true}
	text, ok := doctorText(f, "cuda")
	if !ok {
		t.Errorf("the fakes are all there, yet not ok:\n%s", text)
	}
	for _, want := range []string{"-tags cuda", "supports CUDA 13.0", "GPU 0:    Fake GPU 0, compute capability 9.0, 132 SMs, 80.0 GiB",
		"cuBLAS    " + filepath.Join(dir, "libcublas.so.13") + " (version 13.1.7)", "NVRTC     " + filepath.Join(dir, "libnvrtc.so.13") + " (version 13.0)",
		"NCCL      NCCL library not found", "can run here"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	os.Setenv("FAKE_CUDA_INIT_ERROR", "100")
	defer os.Unsetenv("FAKE_CUDA_INIT_ERROR")
	text, ok = doctorText(f, "")
	if ok || !strings.Contains(text, "devices:  none usable: cuInit: CUDA error 100 (no CUDA-capable device is detected)") {
		t.Errorf("no device:\n%s", text)
	}
}
