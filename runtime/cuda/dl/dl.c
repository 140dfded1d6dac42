//go:build cgo

#define _GNU_SOURCE
#include "dl.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void* rdl_open(const char* path, char* err, int n) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char* e = dlerror();
		snprintf(err, (size_t)n, "%s", e ? e : "dlopen failed");
	}
	return h;
}

uintptr_t rdl_sym(void* h, const char* name) { return (uintptr_t)dlsym(h, name); }

const char* rdl_file(void* h) {
	struct link_map* lm = NULL;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL) return NULL;
	return lm->l_name;
}

// ---- CUDA driver ----
int rdl_cuInit(uintptr_t f, unsigned flags) { return ((int (*)(unsigned))f)(flags); }
int rdl_int1(uintptr_t f, int* out) { return ((int (*)(int*))f)(out); }
int rdl_cuDeviceGet(uintptr_t f, int* dev, int ordinal) { return ((int (*)(int*, int))f)(dev, ordinal); }
int rdl_cuDeviceGetName(uintptr_t f, char* name, int n, int dev) { return ((int (*)(char*, int, int))f)(name, n, dev); }
int rdl_cuDeviceTotalMem(uintptr_t f, size_t* bytes, int dev) { return ((int (*)(size_t*, int))f)(bytes, dev); }
int rdl_cuDeviceGetAttribute(uintptr_t f, int* v, int attr, int dev) { return ((int (*)(int*, int, int))f)(v, attr, dev); }
const char* rdl_cuGetErrorString(uintptr_t f, int r) {
	const char* s = NULL;
	if (f && ((int (*)(int, const char**))f)(r, &s) != 0) s = NULL;
	return s;
}

// ---- cuBLAS ----
int rdl_cublasCreate(uintptr_t f, void** h) { return ((int (*)(void**))f)(h); }
int rdl_cublasCall1(uintptr_t f, void* h) { return ((int (*)(void*))f)(h); }
int rdl_cublasSetStream(uintptr_t f, void* h, uintptr_t stream) { return ((int (*)(void*, void*))f)(h, (void*)stream); }
int rdl_cublasSetMathMode(uintptr_t f, void* h, int mode) { return ((int (*)(void*, int))f)(h, mode); }
int rdl_cublasGetProperty(uintptr_t f, int type, int* v) { return ((int (*)(int, int*))f)(type, v); }
const char* rdl_cublasGetStatusString(uintptr_t f, int s) { return f ? ((const char* (*)(int))f)(s) : NULL; }

typedef int (*gemmEx_fn)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                         const void*, void*, int, int, int, int);
int rdl_cublasGemmEx(uintptr_t f, void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t A, int at, int lda,
                     uintptr_t B, int bt, int ldb, float beta, uintptr_t C, int ct, int ldc, int compute, int algo) {
	return ((gemmEx_fn)f)(h, ta, tb, m, n, k, &alpha, (const void*)A, at, lda, (const void*)B, bt, ldb, &beta, (void*)C, ct,
	                      ldc, compute, algo);
}

typedef int (*sgemm_fn)(void*, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*,
                        float*, int);
int rdl_cublasSgemm(uintptr_t f, void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t A, int lda,
                    uintptr_t B, int ldb, float beta, uintptr_t C, int ldc) {
	return ((sgemm_fn)f)(h, ta, tb, m, n, k, &alpha, (const float*)A, lda, (const float*)B, ldb, &beta, (float*)C, ldc);
}

// ---- cuBLASLt ----
// Values from cublasLt.h and library_types.h (checked by lt_header_test when
// the header is installed).
enum { LT_DESC_TRANSA = 3, LT_DESC_TRANSB = 4, LT_PREF_MAX_WORKSPACE_BYTES = 1, LT_COMPUTE_32F = 68, LT_R_32F = 0 };

// cublasLtMatmulHeuristicResult_t: algo (64 bytes), workspaceSize, state,
// wavesCount, reserved[4]: 96 bytes.
typedef struct {
	uint64_t algo[8];
	size_t workspaceSize;
	int state;
	float wavesCount;
	int reserved[4];
} lt_heuristic;

int rdl_ltCreate(rdl_lt* lt, void** h) { return ((int (*)(void**))lt->create)(h); }
int rdl_ltDestroy(rdl_lt* lt, void* h) { return ((int (*)(void*))lt->destroy)(h); }
size_t rdl_ltVersion(rdl_lt* lt) { return ((size_t(*)(void))lt->version)(); }

int rdl_ltMatmul(rdl_lt* lt, void* h, int ta, int tb, int m, int n, int k, float alpha, uintptr_t A, int at, int lda,
                 uintptr_t B, int bt, int ldb, float beta, uintptr_t C, int ct, int ldc, uintptr_t ws, size_t wsBytes,
                 uintptr_t stream, const char** stage) {
	int (*descCreate)(void**, int, int) = (int (*)(void**, int, int))lt->descCreate;
	int (*descDestroy)(void*) = (int (*)(void*))lt->descDestroy;
	int (*descSet)(void*, int, const void*, size_t) = (int (*)(void*, int, const void*, size_t))lt->descSet;
	int (*layoutCreate)(void**, int, uint64_t, uint64_t, int64_t) = (int (*)(void**, int, uint64_t, uint64_t, int64_t))lt->layoutCreate;
	int (*layoutDestroy)(void*) = (int (*)(void*))lt->layoutDestroy;
	int (*prefCreate)(void**) = (int (*)(void**))lt->prefCreate;
	int (*prefDestroy)(void*) = (int (*)(void*))lt->prefDestroy;
	int (*prefSet)(void*, int, const void*, size_t) = (int (*)(void*, int, const void*, size_t))lt->prefSet;
	int (*heuristic)(void*, void*, void*, void*, void*, void*, void*, int, lt_heuristic*, int*) =
	    (int (*)(void*, void*, void*, void*, void*, void*, void*, int, lt_heuristic*, int*))lt->heuristic;
	int (*matmul)(void*, void*, const void*, const void*, void*, const void*, void*, const void*, const void*, void*, void*,
	              void*, const void*, void*, size_t, void*) =
	    (int (*)(void*, void*, const void*, const void*, void*, const void*, void*, const void*, const void*, void*, void*,
	             void*, const void*, void*, size_t, void*))lt->matmul;
	void *desc = NULL, *la = NULL, *lb = NULL, *lc = NULL, *pref = NULL;
	int r, got = 0;
	lt_heuristic res;
	memset(&res, 0, sizeof res);
	// Stored shapes: op(A) is m x k, so A itself is (ta ? k x m : m x k).
	uint64_t ar = ta ? (uint64_t)k : (uint64_t)m, ac = ta ? (uint64_t)m : (uint64_t)k;
	uint64_t br = tb ? (uint64_t)n : (uint64_t)k, bc = tb ? (uint64_t)k : (uint64_t)n;
	uint64_t wsb = wsBytes;
	if ((r = descCreate(&desc, LT_COMPUTE_32F, LT_R_32F)) != 0) { *stage = "cublasLtMatmulDescCreate"; goto out; }
	if ((r = descSet(desc, LT_DESC_TRANSA, &ta, sizeof ta)) != 0) { *stage = "cublasLtMatmulDescSetAttribute(TRANSA)"; goto out; }
	if ((r = descSet(desc, LT_DESC_TRANSB, &tb, sizeof tb)) != 0) { *stage = "cublasLtMatmulDescSetAttribute(TRANSB)"; goto out; }
	if ((r = layoutCreate(&la, at, ar, ac, lda)) != 0) { *stage = "cublasLtMatrixLayoutCreate(A)"; goto out; }
	if ((r = layoutCreate(&lb, bt, br, bc, ldb)) != 0) { *stage = "cublasLtMatrixLayoutCreate(B)"; goto out; }
	if ((r = layoutCreate(&lc, ct, (uint64_t)m, (uint64_t)n, ldc)) != 0) { *stage = "cublasLtMatrixLayoutCreate(C)"; goto out; }
	if ((r = prefCreate(&pref)) != 0) { *stage = "cublasLtMatmulPreferenceCreate"; goto out; }
	if ((r = prefSet(pref, LT_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb)) != 0) { *stage = "cublasLtMatmulPreferenceSetAttribute"; goto out; }
	if ((r = heuristic(h, desc, la, lb, lc, lc, pref, 1, &res, &got)) != 0) { *stage = "cublasLtMatmulAlgoGetHeuristic"; goto out; }
	if (got == 0) { *stage = "cublasLtMatmulAlgoGetHeuristic (no algorithm for these types and shapes)"; r = 15; goto out; }
	r = matmul(h, desc, &alpha, (const void*)A, la, (const void*)B, lb, &beta, (const void*)C, lc, (void*)C, lc, res.algo,
	           (void*)ws, wsBytes, (void*)stream);
	if (r != 0) *stage = "cublasLtMatmul";
out:
	if (pref) prefDestroy(pref);
	if (lc) layoutDestroy(lc);
	if (lb) layoutDestroy(lb);
	if (la) layoutDestroy(la);
	if (desc) descDestroy(desc);
	return r;
}

// ---- NVRTC ----
int rdl_nvrtcVersion(rdl_nvrtc* r, int* major, int* minor) { return ((int (*)(int*, int*))r->version)(major, minor); }
const char* rdl_nvrtcErr(rdl_nvrtc* r, int s) { return r->errstr ? ((const char* (*)(int))r->errstr)(s) : NULL; }

int rdl_nvrtcCompile(rdl_nvrtc* r, const char* src, const char* name, int nopts, const char** opts, char** ptx, char** log,
                     const char** stage) {
	int (*create)(void**, const char*, const char*, int, const char* const*, const char* const*) =
	    (int (*)(void**, const char*, const char*, int, const char* const*, const char* const*))r->create;
	int (*compile)(void*, int, const char* const*) = (int (*)(void*, int, const char* const*))r->compile;
	int (*size)(void*, size_t*) = (int (*)(void*, size_t*))r->ptxSize;
	int (*get)(void*, char*) = (int (*)(void*, char*))r->ptx;
	int (*logSize)(void*, size_t*) = (int (*)(void*, size_t*))r->logSize;
	int (*getLog)(void*, char*) = (int (*)(void*, char*))r->log;
	int (*destroy)(void**) = (int (*)(void**))r->destroy;
	void* prog = NULL;
	size_t n = 0;
	*ptx = NULL;
	*log = NULL;
	int s = create(&prog, src, name, 0, NULL, NULL);
	if (s != 0) { *stage = "nvrtcCreateProgram"; return s; }
	int cs = compile(prog, nopts, opts);
	if (logSize(prog, &n) == 0 && n > 1) {
		*log = calloc(1, n + 1);
		if (*log && getLog(prog, *log) != 0) { free(*log); *log = NULL; }
	}
	if (cs != 0) {
		*stage = "nvrtcCompileProgram";
		destroy(&prog);
		return cs;
	}
	if ((s = size(prog, &n)) != 0) { *stage = "nvrtcGetPTXSize"; destroy(&prog); return s; }
	*ptx = calloc(1, n + 1);
	if ((s = get(prog, *ptx)) != 0) { *stage = "nvrtcGetPTX"; free(*ptx); *ptx = NULL; destroy(&prog); return s; }
	destroy(&prog);
	return 0;
}

int rdl_ncclGetVersion(uintptr_t f, int* v) { return ((int (*)(int*))f)(v); }
