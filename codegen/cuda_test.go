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

// TestCUDAHelpersCompile compiles the device helpers (device/*.cuh) on their
// own, as a C tool reads them, with a kernel that calls each helper: with
// nvcc for sm_80 and sm_90, warnings as errors, where nvcc is installed.
func TestCUDAHelpersCompile(t *testing.T) {
	for name, src := range map[string]string{"realc.cuh": realcCUH, "score.cuh": scoreCUH} {
		if strings.Contains(src, "#include") {
			t.Errorf("device/%s includes a header: kernels must stay header-free", name)
		}
	}
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		t.Skip("nvcc not found: only the source checks ran")
	}
	if testing.Short() {
		t.Skip("nvcc compile skipped with -short")
	}
	root := testenv.RepoRoot(t)
	src := `#include "realc.cuh"

__device__ __forceinline__ double realc_score_value(int k) {
	return k < 5 ? (double)(k + 1) : 0.0;
}

#include "score.cuh"

extern "C" __global__ void helpers_check(const unsigned short* logits, unsigned short* dlogits, int V, float* score_lse, float* score_z, int K, int* err, double* out) {
	__shared__ int idx[REALC_MAX_SCORE];
	__shared__ float val[REALC_MAX_SCORE];
	float m, s, sz;
	realc_row_softmax_stats(logits, V, &m, &s, &sz);
	double alpha = 0.0, v[REALC_MAX_SCORE];
	for (int k = 0; k < K && k < REALC_MAX_SCORE; k++) {
		v[k] = 0.0;
	}
	realc_expect_grad(score_lse, score_z, K, 0, 1, 1.0, &alpha, v);
	realc_prob_grad(score_lse, score_z, K, 0, 3.0, 0, 1, 1.0, &alpha, v, err);
	if (threadIdx.x == 0) {
		out[0] = realc_expect(score_lse, score_z, K, 0, 0) + realc_prob(score_lse, score_z, K, 0, 2.0, 1, err) +
			realc_logprob(score_lse, score_z, K, 0, 2.0, 0, err) + realc_min(alpha, v[0]) + realc_max(m, s) + sz;
		for (int k = 0; k < K && k < REALC_MAX_SCORE; k++) {
			idx[k] = k;
			val[k] = (float)v[k];
		}
	}
	__syncthreads();
	realc_row_grad(logits, dlogits, V, m + logf(s), (float)alpha, 0.0f, idx, val, K);
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "check.cu"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"sm_80", "sm_90"} {
		cmd := exec.Command(nvcc, "-ptx", "-arch="+arch, "-Werror", "all-warnings", "-I", filepath.Join(root, "codegen", "device"),
			"-o", filepath.Join(dir, "check.ptx"), filepath.Join(dir, "check.cu"))
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("nvcc -arch=%s device helpers: %v\n%s", arch, err, msg)
		}
	}
}
