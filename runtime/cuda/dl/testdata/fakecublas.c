// A fake cuBLAS + cuBLASLt for tests of package dl on machines without a
// GPU: "device" pointers are host pointers and the products run on the CPU
// (column-major, fp32 accumulation, bf16 rounded to nearest even), so a test
// can check the results. Built twice by the test, with the SONAMEs
// libcublas.so.13 and libcublasLt.so.13. FAKE_CUBLAS_FAIL=<call name> makes
// that call return status 13 (execution failed).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int st;

static int fail(const char* name) {
	const char* f = getenv("FAKE_CUBLAS_FAIL");
	return f && strcmp(f, name) == 0;
}

static float bf16_to_f32(uint16_t h) {
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static uint16_t f32_to_bf16(float f) {
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

enum { R_32F = 0, R_16BF = 14 };

static float get(const void* p, int t, long i) { return t == R_32F ? ((const float*)p)[i] : bf16_to_f32(((const uint16_t*)p)[i]); }
static void put(void* p, int t, long i, float v) {
	if (t == R_32F) ((float*)p)[i] = v;
	else ((uint16_t*)p)[i] = f32_to_bf16(v);
}

// Column-major C = alpha op(A) op(B) + beta C.
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const void* A, int at, int lda, const void* B, int bt,
                 int ldb, float beta, void* C, int ct, int ldc) {
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < m; i++) {
			float s = 0;
			for (int p = 0; p < k; p++) {
				float a = ta ? get(A, at, (long)i * lda + p) : get(A, at, (long)p * lda + i);
				float b = tb ? get(B, bt, (long)p * ldb + j) : get(B, bt, (long)j * ldb + p);
				s += a * b;
			}
			float c = beta == 0 ? 0 : beta * get(C, ct, (long)j * ldc + i);
			put(C, ct, (long)j * ldc + i, alpha * s + c);
		}
	}
}

static int handle_tag;

st cublasGetProperty(int type, int* v) {
	*v = type == 0 ? 13 : type == 1 ? 1 : 7;
	return 0;
}
const char* cublasGetStatusString(st s) { return s == 13 ? "fake: execution failed" : "fake status"; }
st cublasCreate_v2(void** h) {
	if (fail("cublasCreate_v2")) return 1;
	*h = &handle_tag;
	return 0;
}
st cublasDestroy_v2(void* h) { return h == &handle_tag ? 0 : 1; }
st cublasSetStream_v2(void* h, void* s) { (void)s; return h == &handle_tag ? 0 : 1; }
st cublasSetMathMode(void* h, int mode) { return h == &handle_tag && mode >= 0 && mode <= 3 ? 0 : 7; }

st cublasGemmEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda,
                const void* B, int bt, int ldb, const void* beta, void* C, int ct, int ldc, int compute, int algo) {
	if (h != &handle_tag) return 1;
	if (fail("cublasGemmEx")) return 13;
	if (compute != 68 || algo != -1 || at != bt || (at != R_16BF && at != R_32F) || (ct != R_16BF && ct != R_32F)) return 7;
	gemm(ta, tb, m, n, k, *(const float*)alpha, A, at, lda, B, bt, ldb, *(const float*)beta, C, ct, ldc);
	return 0;
}

st cublasSgemm_v2(void* h, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda, const float* B,
                  int ldb, const float* beta, float* C, int ldc) {
	if (h != &handle_tag) return 1;
	if (fail("cublasSgemm_v2")) return 13;
	gemm(ta, tb, m, n, k, *alpha, A, R_32F, lda, B, R_32F, ldb, *beta, C, R_32F, ldc);
	return 0;
}

// ---- cuBLASLt ----
struct desc { int compute, scale, ta, tb; };
struct layout { int type; uint64_t rows, cols; int64_t ld; };
struct pref { uint64_t ws; };

size_t cublasLtGetVersion(void) { return 130100; }
st cublasLtCreate(void** h) { *h = &handle_tag; return 0; }
st cublasLtDestroy(void* h) { return h == &handle_tag ? 0 : 1; }
st cublasLtMatmulDescCreate(void** d, int compute, int scale) {
	struct desc* x = calloc(1, sizeof *x);
	x->compute = compute;
	x->scale = scale;
	*d = x;
	return 0;
}
st cublasLtMatmulDescDestroy(void* d) { free(d); return 0; }
st cublasLtMatmulDescSetAttribute(void* d, int attr, const void* buf, size_t n) {
	struct desc* x = d;
	if (n != sizeof(int)) return 7;
	if (attr == 3) x->ta = *(const int*)buf;
	else if (attr == 4) x->tb = *(const int*)buf;
	else return 7;
	return 0;
}
st cublasLtMatrixLayoutCreate(void** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
	if (ld < (int64_t)rows) return 7;
	struct layout* x = calloc(1, sizeof *x);
	x->type = type;
	x->rows = rows;
	x->cols = cols;
	x->ld = ld;
	*l = x;
	return 0;
}
st cublasLtMatrixLayoutDestroy(void* l) { free(l); return 0; }
st cublasLtMatmulPreferenceCreate(void** p) { *p = calloc(1, sizeof(struct pref)); return 0; }
st cublasLtMatmulPreferenceDestroy(void* p) { free(p); return 0; }
st cublasLtMatmulPreferenceSetAttribute(void* p, int attr, const void* buf, size_t n) {
	if (attr != 1 || n != 8) return 7;
	((struct pref*)p)->ws = *(const uint64_t*)buf;
	return 0;
}
typedef struct {
	uint64_t algo[8];
	size_t workspaceSize;
	int state;
	float wavesCount;
	int reserved[4];
} heur;
st cublasLtMatmulAlgoGetHeuristic(void* h, void* d, void* a, void* b, void* c, void* dd, void* p, int req, heur* res, int* got) {
	(void)p;
	struct desc* x = d;
	struct layout *la = a, *lb = b, *lc = c;
	if (h != &handle_tag || req < 1 || c != dd || x->compute != 68 || x->scale != 0) return 7;
	// The product's inner dimensions must agree.
	uint64_t m = x->ta ? la->cols : la->rows, ka = x->ta ? la->rows : la->cols;
	uint64_t kb = x->tb ? lb->cols : lb->rows, n = x->tb ? lb->rows : lb->cols;
	if (ka != kb || m != lc->rows || n != lc->cols || la->type != lb->type) {
		*got = 0;
		return 0;
	}
	memset(res, 0, sizeof *res);
	res->algo[0] = 42;
	*got = 1;
	return 0;
}
st cublasLtMatmul(void* h, void* d, const void* alpha, const void* A, void* a, const void* B, void* b, const void* beta,
                  const void* C, void* c, void* D, void* dd, const void* algo, void* ws, size_t wsn, void* stream) {
	(void)ws;
	(void)wsn;
	(void)stream;
	struct desc* x = d;
	struct layout *la = a, *lb = b, *lc = c;
	if (h != &handle_tag || C != D || c != dd || ((const uint64_t*)algo)[0] != 42) return 7;
	if (fail("cublasLtMatmul")) return 13;
	int m = (int)lc->rows, n = (int)lc->cols, k = (int)(x->ta ? la->rows : la->cols);
	gemm(x->ta, x->tb, m, n, k, *(const float*)alpha, A, la->type, (int)la->ld, B, lb->type, (int)lb->ld, *(const float*)beta, D,
	     lc->type, (int)lc->ld);
	return 0;
}
