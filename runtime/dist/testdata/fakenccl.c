// A fake libnccl.so.2 and libcuda.so.1 in one file, for the tests of the
// NCCL backend on machines without a GPU (see TestNCCLWithFakeLibrary). The
// test builds it twice, under both sonames. "Device" memory is host memory;
// every call completes at once. A world of one does the real math (copies);
// a larger world only initializes (the test checks the unique id each rank
// received). Every call is logged to $FAKE_NCCL_LOG; FAKE_NCCL_HANG=1 makes
// the stream never drain (to exercise the timeout and ncclCommAbort).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct fake_comm { int nranks, rank; } *ncclComm_t;

static void flog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void flog(const char *fmt, ...) {
	const char *path = getenv("FAKE_NCCL_LOG");
	if (!path || !*path) return;
	FILE *f = fopen(path, "a");
	if (!f) return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(f, "pid=%d ", (int)getpid());
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static int hang(void) { const char *h = getenv("FAKE_NCCL_HANG"); return h && *h == '1'; }

// ---- CUDA driver ----
int cuInit(unsigned flags) { flog("cuInit %u", flags); return 0; }
int cuDeviceGetCount(int *n) { *n = 8; return 0; }
int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { *ctx = (void *)(uintptr_t)(0x1000 + dev); return 0; }
int cuDevicePrimaryCtxRelease_v2(int dev) { flog("cuDevicePrimaryCtxRelease %d", dev); return 0; }
int cuCtxSetCurrent(void *ctx) { (void)ctx; return 0; }
int cuStreamCreate(void **s, unsigned flags) { *s = (void *)(uintptr_t)0x2000; flog("cuStreamCreate flags=%u", flags); return 0; }
int cuStreamDestroy_v2(void *s) { (void)s; flog("cuStreamDestroy"); return 0; }
int cuStreamQuery(void *s) { (void)s; return hang() ? 600 : 0; }
int cuMemAlloc_v2(uint64_t *p, size_t n) { *p = (uint64_t)(uintptr_t)malloc(n); flog("cuMemAlloc %zu", n); return *p ? 0 : 2; }
int cuMemFree_v2(uint64_t p) { free((void *)(uintptr_t)p); return 0; }
int cuMemcpyHtoDAsync_v2(uint64_t d, const void *h, size_t n, void *s) { (void)s; memcpy((void *)(uintptr_t)d, h, n); return 0; }
int cuMemcpyDtoHAsync_v2(void *h, uint64_t d, size_t n, void *s) { (void)s; memcpy(h, (void *)(uintptr_t)d, n); return 0; }
int cuGetErrorString(int r, const char **s) { *s = r == 600 ? "CUDA_ERROR_NOT_READY" : "fake CUDA error"; return 0; }

// ---- NCCL ----
static size_t esize(int t) {
	switch (t) {
	case 0: case 1: return 1;
	case 6: case 9: return 2;
	case 4: case 5: case 8: return 8;
	default: return 4;
	}
}

int ncclGetVersion(int *v) { *v = 22304; return 0; }
const char *ncclGetErrorString(int r) { return r == 5 ? "invalid usage" : r ? "fake NCCL error" : "no error"; }

int ncclGetUniqueId(ncclUniqueId *id) {
	for (int i = 0; i < 128; i++) id->internal[i] = (char)((getpid() * 31 + i * 7) & 0xff);
	flog("ncclGetUniqueId");
	return 0;
}

int ncclCommInitRank(ncclComm_t *c, int nranks, ncclUniqueId id, int rank) {
	char hex[33];
	for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", (unsigned char)id.internal[i]);
	flog("ncclCommInitRank nranks=%d rank=%d id=%s", nranks, rank, hex);
	*c = calloc(1, sizeof **c);
	(*c)->nranks = nranks;
	(*c)->rank = rank;
	return 0;
}

int ncclCommDestroy(ncclComm_t c) { flog("ncclCommDestroy"); free(c); return 0; }
int ncclCommAbort(ncclComm_t c) { flog("ncclCommAbort"); free(c); return 0; }
int ncclCommGetAsyncError(ncclComm_t c, int *e) { (void)c; *e = 0; return 0; }

static int world1(ncclComm_t c, const char *what) {
	if (c->nranks == 1) return 1;
	flog("%s: the fake computes only a world of one", what);
	return 0;
}

int ncclAllReduce(const void *s, void *r, size_t n, int t, int op, ncclComm_t c, void *st) {
	(void)st;
	flog("ncclAllReduce count=%zu dtype=%d op=%d inplace=%d", n, t, op, s == r);
	if (!world1(c, "ncclAllReduce")) return 5;
	memmove(r, s, n * esize(t));
	return 0;
}

int ncclAllGather(const void *s, void *r, size_t n, int t, ncclComm_t c, void *st) {
	(void)st;
	flog("ncclAllGather count=%zu dtype=%d inplace=%d", n, t, s == r);
	if (!world1(c, "ncclAllGather")) return 5;
	memmove(r, s, n * esize(t));
	return 0;
}

int ncclReduceScatter(const void *s, void *r, size_t n, int t, int op, ncclComm_t c, void *st) {
	(void)st;
	flog("ncclReduceScatter count=%zu dtype=%d op=%d", n, t, op);
	if (!world1(c, "ncclReduceScatter")) return 5;
	memmove(r, s, n * esize(t));
	return 0;
}

int ncclBroadcast(const void *s, void *r, size_t n, int t, int root, ncclComm_t c, void *st) {
	(void)st;
	flog("ncclBroadcast count=%zu dtype=%d root=%d", n, t, root);
	if (!world1(c, "ncclBroadcast")) return 5;
	memmove(r, s, n * esize(t));
	return 0;
}
