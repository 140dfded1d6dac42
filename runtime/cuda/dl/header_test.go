package dl

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestConstantsMatchHeaders checks the enum values and struct sizes that
// dl.c and api.go declare by hand against NVIDIA's headers, where they are
// installed (Debian's nvidia-cuda-dev; CI installs it for make cuda-check).
func TestConstantsMatchHeaders(t *testing.T) {
	for _, h := range []string{"cublasLt.h", "cublas_api.h", "cuda.h", "nvrtc.h"} {
		if _, err := os.Stat(filepath.Join("/usr/include", h)); err != nil {
			t.Skipf("/usr/include/%s not installed", h)
		}
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found")
	}
	src := `#include <cublasLt.h>
#include <cublas_api.h>
#include <cuda.h>
#include <nvrtc.h>
_Static_assert(CUBLAS_COMPUTE_32F == 68, "compute");
_Static_assert(CUBLAS_GEMM_DEFAULT == -1, "algo");
_Static_assert(CUDA_R_32F == 0 && CUDA_R_16F == 2 && CUDA_R_16BF == 14, "types");
_Static_assert(CUBLAS_OP_N == 0 && CUBLAS_OP_T == 1, "ops");
_Static_assert(CUBLAS_DEFAULT_MATH == 0 && CUBLAS_PEDANTIC_MATH == 2 && CUBLAS_TF32_TENSOR_OP_MATH == 3, "math");
_Static_assert(CUBLASLT_MATMUL_DESC_TRANSA == 3 && CUBLASLT_MATMUL_DESC_TRANSB == 4, "lt desc");
_Static_assert(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES == 1, "lt pref");
_Static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == 96, "heuristic size");
_Static_assert(sizeof(cublasOperation_t) == 4, "op size");
_Static_assert(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT == 16, "sm");
_Static_assert(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == 75 && CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == 76, "cc");
_Static_assert(CUBLAS_STATUS_EXECUTION_FAILED == 13 && CUBLAS_STATUS_NOT_SUPPORTED == 15, "status");
_Static_assert(NVRTC_ERROR_COMPILATION == 6, "nvrtc");
`
	dir := t.TempDir()
	f := filepath.Join(dir, "c.c")
	os.WriteFile(f, []byte(src), 0o644)
	if out, err := exec.Command(gcc, "-fsyntax-only", f).CombinedOutput(); err != nil {
		t.Fatalf("the hand-written CUDA constants disagree with the headers:\n%s", out)
	}
}
