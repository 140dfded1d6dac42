// C side of package dl: dlopen/dlsym and one trampoline per entry point
// realc calls. Own declarations only (no CUDA header): every handle is void*,
// every enum an int, every device pointer a uintptr_t.
#ifndef REALC_DL_H
#define REALC_DL_H
#include <stddef.h>
#include <stdint.h>

void* rdl_open(const char* path, char* err, int n);
uintptr_t rdl_sym(void* h, const char* name);
const char* rdl_file(void* h);  // the file the loader opened (dlinfo)

// CUDA driver.
int rdl_cuInit(uintptr_t f, unsigned flags);
int rdl_int1(uintptr_t f, int* out);                          // cuDriverGetVersion, cuDeviceGetCount
int rdl_cuDeviceGet(uintptr_t f, int* dev, int ordinal);
int rdl_cuDeviceGetName(uintptr_t f, char* name, int n, int dev);
int rdl_cuDeviceTotalMem(uintptr_t f, size_t* bytes, int dev);
int rdl_cuDeviceGetAttribute(uintptr_t f, int* v, int attr, int dev);
const char* rdl_cuGetErrorString(uintptr_t f, int r);

// cuBLAS.
int rdl_cublasCreate(uintptr_t f, void** h);
int rdl_cublasCall1(uintptr_t f, void* h);                    // cublasDestroy_v2
int rdl_cublasSetStream(uintptr_t f, void* h, uintptr_t stream);
int rdl_cublasSetMathMode(uintptr_t f, void* h, int mode);
int rdl_cublasGetProperty(uintptr_t f, int type, int* v);
const char* rdl_cublasGetStatusString(uintptr_t f, int s);
int rdl_cublasGemmEx(uintptr_t f, void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t A, int at, int lda,
                     uintptr_t B, int bt, int ldb, float beta, uintptr_t C, int ct, int ldc, int compute, int algo);
int rdl_cublasSgemm(uintptr_t f, void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t A, int lda,
                    uintptr_t B, int ldb, float beta, uintptr_t C, int ldc);

// cuBLASLt: the entry points of one matmul, bound once.
typedef struct {
	uintptr_t create, destroy, version, descCreate, descDestroy, descSet, layoutCreate, layoutDestroy, prefCreate,
	    prefDestroy, prefSet, heuristic, matmul;
} rdl_lt;
int rdl_ltCreate(rdl_lt* lt, void** h);
int rdl_ltDestroy(rdl_lt* lt, void* h);
size_t rdl_ltVersion(rdl_lt* lt);
// rdl_ltMatmul runs D = alpha op(A) op(B) + beta C (column-major, compute
// fp32, C and D the same matrix) with the first algorithm the heuristic
// returns; *stage names the failing call on error.
int rdl_ltMatmul(rdl_lt* lt, void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t A, int at, int lda,
                 uintptr_t B, int bt, int ldb, float beta, uintptr_t C, int ct, int ldc, uintptr_t ws, size_t wsBytes,
                 uintptr_t stream, const char** stage);

// NVRTC.
typedef struct {
	uintptr_t version, create, compile, ptxSize, ptx, logSize, log, destroy, errstr;
} rdl_nvrtc;
int rdl_nvrtcVersion(rdl_nvrtc* r, int* major, int* minor);
const char* rdl_nvrtcErr(rdl_nvrtc* r, int s);
// rdl_nvrtcCompile compiles src; on return *ptx and *log are malloc'ed (or
// NULL) and must be freed; *stage names the failing call.
int rdl_nvrtcCompile(rdl_nvrtc* r, const char* src, const char* name, int nopts, const char** opts, char** ptx, char** log,
                     const char** stage);

// NCCL (version only, for realc doctor).
int rdl_ncclGetVersion(uintptr_t f, int* v);
#endif
