//go:build cuda

package dist

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Our own declarations: Debian has no nccl.h, and the CUDA driver API is
// reached through dlopen too, so this builds with gcc alone.
typedef struct { char internal[128]; } rcn_uid;  // ncclUniqueId
typedef void *rcn_comm;                          // ncclComm_t
typedef int rcn_res;                             // ncclResult_t: 0 success, 7 in progress
typedef void *rcn_stream;                        // CUstream / cudaStream_t
typedef void *rcn_ctx;                           // CUcontext
typedef int rcn_cures;                           // CUresult: 0 success, 600 not ready
typedef uint64_t rcn_dptr;                       // CUdeviceptr

enum { RCN_F32 = 0, RCN_BF16 = 1, RCN_F64 = 2, RCN_BYTE = 3 };
enum { RCN_ALLREDUCE = 0, RCN_ALLGATHER, RCN_REDUCESCATTER, RCN_BCAST, RCN_BARRIER };
// ncclDataType_t and ncclRedOp_t values (nccl.h, stable since NCCL 2.10).
enum { NCCL_UINT8 = 1, NCCL_FLOAT32 = 7, NCCL_FLOAT64 = 8, NCCL_BFLOAT16 = 9 };
enum { NCCL_SUM = 0, NCCL_MAX = 2 };
#define CUDA_NOT_READY 600
#define NCCL_IN_PROGRESS 7

static void *rcn_nccl_h, *rcn_cuda_h;
static rcn_res (*p_ncclGetVersion)(int *);
static rcn_res (*p_ncclGetUniqueId)(rcn_uid *);
static rcn_res (*p_ncclCommInitRank)(rcn_comm *, int, rcn_uid, int);
static rcn_res (*p_ncclCommDestroy)(rcn_comm);
static rcn_res (*p_ncclCommAbort)(rcn_comm);
static rcn_res (*p_ncclCommGetAsyncError)(rcn_comm, rcn_res *);
static const char *(*p_ncclGetErrorString)(rcn_res);
static rcn_res (*p_ncclAllReduce)(const void *, void *, size_t, int, int, rcn_comm, rcn_stream);
static rcn_res (*p_ncclAllGather)(const void *, void *, size_t, int, rcn_comm, rcn_stream);
static rcn_res (*p_ncclReduceScatter)(const void *, void *, size_t, int, int, rcn_comm, rcn_stream);
static rcn_res (*p_ncclBroadcast)(const void *, void *, size_t, int, int, rcn_comm, rcn_stream);
static rcn_cures (*p_cuInit)(unsigned);
static rcn_cures (*p_cuDeviceGetCount)(int *);
static rcn_cures (*p_cuDeviceGet)(int *, int);
static rcn_cures (*p_cuDevicePrimaryCtxRetain)(rcn_ctx *, int);
static rcn_cures (*p_cuDevicePrimaryCtxRelease)(int);
static rcn_cures (*p_cuCtxSetCurrent)(rcn_ctx);
static rcn_cures (*p_cuStreamCreate)(rcn_stream *, unsigned);
static rcn_cures (*p_cuStreamDestroy)(rcn_stream);
static rcn_cures (*p_cuStreamQuery)(rcn_stream);
static rcn_cures (*p_cuMemAlloc)(rcn_dptr *, size_t);
static rcn_cures (*p_cuMemFree)(rcn_dptr);
static rcn_cures (*p_cuMemcpyHtoDAsync)(rcn_dptr, const void *, size_t, rcn_stream);
static rcn_cures (*p_cuMemcpyDtoHAsync)(void *, rcn_dptr, size_t, rcn_stream);
static rcn_cures (*p_cuGetErrorString)(rcn_cures, const char **);

static rcn_comm rcn_c;
static rcn_ctx rcn_cx;
static rcn_stream rcn_st;
static int rcn_dev = -1;
// Staging buffers for host collectives, grown on demand.
static rcn_dptr rcn_dsend, rcn_drecv;
static size_t rcn_dsend_n, rcn_drecv_n;

static void *rcn_sym(void *h, const char *name, char *err, int n, int *bad) {
	void *p = dlsym(h, name);
	if (!p && !*bad) { snprintf(err, n, "symbol %s not found", name); *bad = 1; }
	return p;
}

// rcn_dlopen tries one path; on failure err holds dlerror().
static void *rcn_dlopen(const char *path, char *err, int n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) { const char *e = dlerror(); snprintf(err, n, "%s", e ? e : "dlopen failed"); }
	return h;
}

static int rcn_bind(void *nccl, void *cuda, char *err, int n) {
	int bad = 0;
	rcn_nccl_h = nccl;
	rcn_cuda_h = cuda;
	p_ncclGetVersion = rcn_sym(nccl, "ncclGetVersion", err, n, &bad);
	p_ncclGetUniqueId = rcn_sym(nccl, "ncclGetUniqueId", err, n, &bad);
	p_ncclCommInitRank = rcn_sym(nccl, "ncclCommInitRank", err, n, &bad);
	p_ncclCommDestroy = rcn_sym(nccl, "ncclCommDestroy", err, n, &bad);
	p_ncclCommAbort = rcn_sym(nccl, "ncclCommAbort", err, n, &bad);
	p_ncclCommGetAsyncError = rcn_sym(nccl, "ncclCommGetAsyncError", err, n, &bad);
	p_ncclGetErrorString = rcn_sym(nccl, "ncclGetErrorString", err, n, &bad);
	p_ncclAllReduce = rcn_sym(nccl, "ncclAllReduce", err, n, &bad);
	p_ncclAllGather = rcn_sym(nccl, "ncclAllGather", err, n, &bad);
	p_ncclReduceScatter = rcn_sym(nccl, "ncclReduceScatter", err, n, &bad);
	p_ncclBroadcast = rcn_sym(nccl, "ncclBroadcast", err, n, &bad);
	p_cuInit = rcn_sym(cuda, "cuInit", err, n, &bad);
	p_cuDeviceGetCount = rcn_sym(cuda, "cuDeviceGetCount", err, n, &bad);
	p_cuDeviceGet = rcn_sym(cuda, "cuDeviceGet", err, n, &bad);
	p_cuDevicePrimaryCtxRetain = rcn_sym(cuda, "cuDevicePrimaryCtxRetain", err, n, &bad);
	p_cuDevicePrimaryCtxRelease = rcn_sym(cuda, "cuDevicePrimaryCtxRelease_v2", err, n, &bad);
	p_cuCtxSetCurrent = rcn_sym(cuda, "cuCtxSetCurrent", err, n, &bad);
	p_cuStreamCreate = rcn_sym(cuda, "cuStreamCreate", err, n, &bad);
	p_cuStreamDestroy = rcn_sym(cuda, "cuStreamDestroy_v2", err, n, &bad);
	p_cuStreamQuery = rcn_sym(cuda, "cuStreamQuery", err, n, &bad);
	p_cuMemAlloc = rcn_sym(cuda, "cuMemAlloc_v2", err, n, &bad);
	p_cuMemFree = rcn_sym(cuda, "cuMemFree_v2", err, n, &bad);
	p_cuMemcpyHtoDAsync = rcn_sym(cuda, "cuMemcpyHtoDAsync_v2", err, n, &bad);
	p_cuMemcpyDtoHAsync = rcn_sym(cuda, "cuMemcpyDtoHAsync_v2", err, n, &bad);
	p_cuGetErrorString = rcn_sym(cuda, "cuGetErrorString", err, n, &bad);
	return bad ? -1 : 0;
}

static void rcn_cuerr(const char *what, rcn_cures r, char *err, int n) {
	const char *s = NULL;
	if (p_cuGetErrorString) p_cuGetErrorString(r, &s);
	snprintf(err, n, "%s: CUDA error %d (%s)", what, r, s ? s : "?");
}

static void rcn_ncclerr(const char *what, rcn_res r, char *err, int n) {
	snprintf(err, n, "%s: NCCL error %d (%s)", what, r, p_ncclGetErrorString ? p_ncclGetErrorString(r) : "?");
}

static int rcn_version(void) { int v = 0; p_ncclGetVersion(&v); return v; }

// rcn_device makes local GPU `ordinal` current (primary context) with a
// non-blocking stream for the collectives.
static int rcn_device(int ordinal, char *err, int n) {
	rcn_cures r;
	int count = 0;
	if ((r = p_cuInit(0)) != 0) { rcn_cuerr("cuInit", r, err, n); return -1; }
	if ((r = p_cuDeviceGetCount(&count)) != 0) { rcn_cuerr("cuDeviceGetCount", r, err, n); return -1; }
	if (ordinal >= count) { snprintf(err, n, "local rank %d, but this machine has %d GPU(s)", ordinal, count); return -1; }
	if ((r = p_cuDeviceGet(&rcn_dev, ordinal)) != 0) { rcn_cuerr("cuDeviceGet", r, err, n); return -1; }
	if ((r = p_cuDevicePrimaryCtxRetain(&rcn_cx, rcn_dev)) != 0) { rcn_cuerr("cuDevicePrimaryCtxRetain", r, err, n); return -1; }
	if ((r = p_cuCtxSetCurrent(rcn_cx)) != 0) { rcn_cuerr("cuCtxSetCurrent", r, err, n); return -1; }
	if ((r = p_cuStreamCreate(&rcn_st, 1)) != 0) { rcn_cuerr("cuStreamCreate", r, err, n); return -1; }
	return 0;
}

static int rcn_unique_id(void *out, char *err, int n) {
	rcn_uid id;
	rcn_res r = p_ncclGetUniqueId(&id);
	if (r != 0) { rcn_ncclerr("ncclGetUniqueId", r, err, n); return -1; }
	memcpy(out, &id, sizeof id);
	return 0;
}

static int rcn_init_rank(int nranks, const void *idp, int rank, char *err, int n) {
	rcn_uid id;
	memcpy(&id, idp, sizeof id);
	p_cuCtxSetCurrent(rcn_cx);
	rcn_res r = p_ncclCommInitRank(&rcn_c, nranks, id, rank);
	if (r != 0) { rcn_ncclerr("ncclCommInitRank", r, err, n); return -1; }
	return 0;
}

static int rcn_reserve(rcn_dptr *p, size_t *have, size_t want, char *err, int n) {
	if (*have >= want) return 0;
	if (*p) p_cuMemFree(*p);
	*p = 0;
	*have = 0;
	rcn_cures r = p_cuMemAlloc(p, want);
	if (r != 0) { rcn_cuerr("cuMemAlloc", r, err, n); return -1; }
	*have = want;
	return 0;
}

static int64_t rcn_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int rcn_dtype(int dt) { return dt == RCN_F32 ? NCCL_FLOAT32 : dt == RCN_BF16 ? NCCL_BFLOAT16 : dt == RCN_F64 ? NCCL_FLOAT64 : NCCL_UINT8; }
static int rcn_esize(int dt) { return dt == RCN_F32 ? 4 : dt == RCN_BF16 ? 2 : dt == RCN_F64 ? 8 : 1; }

// rcn_enqueue puts one collective on the stream, on device pointers.
static int rcn_enqueue(int kind, int dt, int op, rcn_dptr send, rcn_dptr recv, size_t count, int root, char *err, int n) {
	int t = rcn_dtype(dt), o = op == 0 ? NCCL_SUM : NCCL_MAX;
	rcn_res r;
	const char *what;
	switch (kind) {
	case RCN_ALLREDUCE: what = "ncclAllReduce"; r = p_ncclAllReduce((void *)send, (void *)recv, count, t, o, rcn_c, rcn_st); break;
	case RCN_ALLGATHER: what = "ncclAllGather"; r = p_ncclAllGather((void *)send, (void *)recv, count, t, rcn_c, rcn_st); break;
	case RCN_REDUCESCATTER: what = "ncclReduceScatter"; r = p_ncclReduceScatter((void *)send, (void *)recv, count, t, o, rcn_c, rcn_st); break;
	default: what = "ncclBroadcast"; r = p_ncclBroadcast((void *)send, (void *)recv, count, t, root, rcn_c, rcn_st); break;
	}
	if (r != 0 && r != NCCL_IN_PROGRESS) { rcn_ncclerr(what, r, err, n); return 2; }
	return 0;
}

// rcn_wait polls the stream until it drains (0), the deadline passes (-1),
// CUDA fails (1) or NCCL reports an asynchronous error (2).
static int rcn_wait(int64_t timeout_ns, char *err, int n) {
	p_cuCtxSetCurrent(rcn_cx);
	int64_t deadline = rcn_now() + timeout_ns, sleep_ns = 1000;
	int spins = 0;
	for (;;) {
		rcn_cures q = p_cuStreamQuery(rcn_st);
		if (q == 0) return 0;
		if (q != CUDA_NOT_READY) { rcn_cuerr("cuStreamQuery", q, err, n); return 1; }
		rcn_res ae = 0;
		if (rcn_c && p_ncclCommGetAsyncError(rcn_c, &ae) == 0 && ae != 0 && ae != NCCL_IN_PROGRESS) {
			rcn_ncclerr("NCCL communicator", ae, err, n);
			return 2;
		}
		if (rcn_now() >= deadline) return -1;
		if (++spins > 200) {
			struct timespec ts = {0, sleep_ns};
			nanosleep(&ts, NULL);
			if (sleep_ns < 250000) sleep_ns *= 2;
		}
	}
}

// rcn_start_host stages host buffers through the device and enqueues the
// collective and the copy back; the caller then waits on the stream.
static int rcn_start_host(int kind, int dt, int op, void *send, void *recv, size_t count, int root, int rank, int nranks, char *err, int n) {
	p_cuCtxSetCurrent(rcn_cx);
	size_t es = rcn_esize(dt), part = count * es;
	rcn_cures r;
	if (kind == RCN_BARRIER) { kind = RCN_ALLREDUCE; dt = RCN_F32; op = 0; count = 1; part = 4; send = recv = NULL; }
	size_t rbytes = kind == RCN_ALLGATHER ? part * nranks : part;
	if (rcn_reserve(&rcn_drecv, &rcn_drecv_n, rbytes ? rbytes : 8, err, n)) return 1;
	rcn_dptr s = rcn_drecv, d = rcn_drecv;
	switch (kind) {
	case RCN_ALLGATHER:
		s = rcn_drecv + (rcn_dptr)(rank * part);  // NCCL's in-place all-gather
		if (part && (r = p_cuMemcpyHtoDAsync(s, send, part, rcn_st)) != 0) { rcn_cuerr("cuMemcpyHtoDAsync", r, err, n); return 1; }
		break;
	case RCN_REDUCESCATTER:
		if (rcn_reserve(&rcn_dsend, &rcn_dsend_n, part * nranks ? part * nranks : 8, err, n)) return 1;
		s = rcn_dsend;
		if (part && (r = p_cuMemcpyHtoDAsync(s, send, part * nranks, rcn_st)) != 0) { rcn_cuerr("cuMemcpyHtoDAsync", r, err, n); return 1; }
		break;
	default:
		if (send && part && (r = p_cuMemcpyHtoDAsync(s, send, part, rcn_st)) != 0) { rcn_cuerr("cuMemcpyHtoDAsync", r, err, n); return 1; }
	}
	int rc = rcn_enqueue(kind, dt, op, s, d, count, root, err, n);
	if (rc) return rc;
	if (recv && rbytes && (r = p_cuMemcpyDtoHAsync(recv, d, rbytes, rcn_st)) != 0) { rcn_cuerr("cuMemcpyDtoHAsync", r, err, n); return 1; }
	return 0;
}

static int rcn_start_dev(int kind, int dt, int op, uintptr_t send, uintptr_t recv, size_t count, int root, char *err, int n) {
	p_cuCtxSetCurrent(rcn_cx);
	return rcn_enqueue(kind, dt, op, (rcn_dptr)send, (rcn_dptr)recv, count, root, err, n);
}

static void rcn_abort(void) { if (rcn_c) { p_cuCtxSetCurrent(rcn_cx); p_ncclCommAbort(rcn_c); rcn_c = NULL; } }

static int rcn_close(char *err, int n) {
	int rc = 0;
	p_cuCtxSetCurrent(rcn_cx);
	if (rcn_c) {
		rcn_res r = p_ncclCommDestroy(rcn_c);
		if (r != 0) { rcn_ncclerr("ncclCommDestroy", r, err, n); rc = -1; }
		rcn_c = NULL;
	}
	if (rcn_dsend) p_cuMemFree(rcn_dsend);
	if (rcn_drecv) p_cuMemFree(rcn_drecv);
	rcn_dsend = rcn_drecv = 0;
	rcn_dsend_n = rcn_drecv_n = 0;
	if (rcn_st) p_cuStreamDestroy(rcn_st);
	rcn_st = NULL;
	if (rcn_dev >= 0) p_cuDevicePrimaryCtxRelease(rcn_dev);
	rcn_dev = -1;
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// NCCLEnabled reports whether this binary was built with -tags cuda.
const NCCLEnabled = true

func init() { openNCCL = openNCCLEngine }

// ncclEngine drives one NCCL communicator on this process's GPU (its local
// rank). Host buffers are staged through device memory; DeviceComm takes
// device pointers directly. With more than one rank the NCCL unique id is
// broadcast over MPI (boot), which also names the missing ranks at a
// timeout.
type ncclEngine struct {
	r, n, lr int
	boot     *communicator // nil for a world of one
	version  int
	libs     string
	keep     []unsafe.Pointer
}

var ncclOnce sync.Mutex
var ncclOpen bool

// ncclCandidates lists where libnccl and libcuda are looked for, in order.
func ncclCandidates(envVar string, names []string, sub string) []string {
	var out []string
	if v := os.Getenv(envVar); v != "" {
		out = append(out, v)
	}
	out = append(out, names...)
	var roots []string
	if h := os.Getenv("CUDA_HOME"); h != "" {
		roots = append(roots, filepath.Join(h, "lib64"))
	}
	roots = append(roots, "/usr/local/cuda/lib64")
	for _, g := range []string{
		"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
		"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
		"/opt/conda/lib/python3*/site-packages",
	} {
		ms, _ := filepath.Glob(g)
		for _, m := range ms {
			roots = append(roots, filepath.Join(m, "nvidia", sub, "lib"), filepath.Join(m, "torch", "lib"))
		}
	}
	for _, r := range roots {
		for _, n := range names {
			out = append(out, filepath.Join(r, n))
		}
	}
	return out
}

// dlopenFirst opens the first candidate that loads.
// A path that does not exist is skipped, and listed only when it is the
// override variable's (override).
func dlopenFirst(what, override string, cands []string) (unsafe.Pointer, string, error) {
	errBuf := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(errBuf))
	var tried []string
	for _, p := range cands {
		if strings.Contains(p, "/") {
			if _, err := os.Stat(p); err != nil {
				if p == override {
					tried = append(tried, fmt.Sprintf("%s (%s=%s: no such file)", p, what2env(what), p))
				}
				continue
			}
		}
		cp := C.CString(p)
		h := C.rcn_dlopen(cp, errBuf, 512)
		C.free(unsafe.Pointer(cp))
		if h != nil {
			return h, p, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", p, C.GoString(errBuf)))
	}
	if len(tried) == 0 {
		tried = append(tried, strings.Join(cands, ", "))
	}
	return nil, "", fmt.Errorf("dist(nccl): %s library not found: tried %s", what, strings.Join(tried, "; "))
}

func what2env(what string) string {
	if what == "NCCL" {
		return "REALC_NCCL_LIB"
	}
	return "REALC_CUDA_LIB"
}

func openNCCLEngine(w World, timeout time.Duration) (engine, error) {
	ncclOnce.Lock()
	defer ncclOnce.Unlock()
	if ncclOpen {
		return nil, errors.New("dist(nccl): one NCCL communicator per process; close the first")
	}
	e := &ncclEngine{r: w.Rank, n: w.Size, lr: w.LocalRank}
	if w.Size > 1 {
		be, err := openMPI(w)
		if err != nil {
			return nil, fmt.Errorf("dist(nccl): world size %d needs MPI for NCCL's unique id: %v", w.Size, err)
		}
		e.boot = newComm(be, timeout)
		e.r, e.n, e.lr = be.rank(), be.size(), be.localRank()
	}
	fail := func(err error) (engine, error) {
		if e.boot != nil {
			e.boot.Close()
		}
		return nil, err
	}
	nh, npath, err := dlopenFirst("NCCL", os.Getenv("REALC_NCCL_LIB"), ncclCandidates("REALC_NCCL_LIB", []string{"libnccl.so.2", "libnccl.so"}, "nccl"))
	if err != nil {
		return fail(err)
	}
	ch, cpath, err := dlopenFirst("CUDA driver", os.Getenv("REALC_CUDA_LIB"), ncclCandidates("REALC_CUDA_LIB", []string{"libcuda.so.1", "libcuda.so"}, "cuda_runtime"))
	if err != nil {
		return fail(err)
	}
	e.libs = npath + ", " + cpath
	errBuf := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(errBuf))
	if C.rcn_bind(nh, ch, errBuf, 512) != 0 {
		return fail(fmt.Errorf("dist(nccl): %s: %s", e.libs, C.GoString(errBuf)))
	}
	e.version = int(C.rcn_version())
	if C.rcn_device(C.int(e.lr), errBuf, 512) != 0 {
		return fail(fmt.Errorf("dist(nccl): rank %d: %s", e.r, C.GoString(errBuf)))
	}
	id := make([]byte, 128)
	if e.r == 0 {
		if C.rcn_unique_id(unsafe.Pointer(&id[0]), errBuf, 512) != 0 {
			return fail(fmt.Errorf("dist(nccl): rank 0: %s", C.GoString(errBuf)))
		}
	}
	if e.boot != nil {
		if err := e.boot.BroadcastBytes(id, 0); err != nil {
			return fail(fmt.Errorf("dist(nccl): broadcasting the unique id: %v", err))
		}
	}
	// ncclCommInitRank blocks until every rank joins: bound it.
	done := make(chan error, 1)
	go func() {
		eb := (*C.char)(C.calloc(512, 1))
		defer C.free(unsafe.Pointer(eb))
		if C.rcn_init_rank(C.int(e.n), unsafe.Pointer(&id[0]), C.int(e.r), eb, 512) != 0 {
			done <- fmt.Errorf("dist(nccl): rank %d: %s", e.r, C.GoString(eb))
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			return fail(err)
		}
	case <-time.After(timeout):
		return fail(fmt.Errorf("dist(nccl): rank %d: ncclCommInitRank did not complete within %v (a rank did not join)", e.r, timeout))
	}
	ncclOpen = true
	return e, nil
}

func (e *ncclEngine) rank() int      { return e.r }
func (e *ncclEngine) size() int      { return e.n }
func (e *ncclEngine) localRank() int { return e.lr }
func (e *ncclEngine) name() string   { return "nccl" }
func (e *ncclEngine) device() bool   { return true }

func (e *ncclEngine) abort(code int) {
	C.rcn_abort()
	if e.boot != nil {
		e.boot.Abort(code)
	}
	os.Exit(code)
}

func (e *ncclEngine) close(broken bool) error {
	ncclOnce.Lock()
	defer ncclOnce.Unlock()
	var err error
	if broken {
		C.rcn_abort()
	} else {
		errBuf := (*C.char)(C.calloc(512, 1))
		if C.rcn_close(errBuf, 512) != 0 {
			err = fmt.Errorf("dist(nccl): %s", C.GoString(errBuf))
		}
		C.free(unsafe.Pointer(errBuf))
	}
	if e.boot != nil {
		if berr := e.boot.Close(); err == nil {
			err = berr
		}
	}
	ncclOpen = false
	return err
}

func (e *ncclEngine) do(c *call) error {
	errBuf := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(errBuf))
	var rc C.int
	if c.dev {
		rc = C.rcn_start_dev(C.int(c.kind), C.int(c.dt), C.int(c.op), C.uintptr_t(c.sendDev), C.uintptr_t(c.recvDev),
			C.size_t(c.count), C.int(c.root), errBuf, 512)
	} else {
		rc = C.rcn_start_host(C.int(c.kind), C.int(c.dt), C.int(c.op), c.send, c.recv, C.size_t(c.count), C.int(c.root),
			C.int(e.r), C.int(e.n), errBuf, 512)
	}
	if rc != 0 {
		return fmt.Errorf("dist(nccl): rank %d: %s #%d (%s): %s", e.r, c.kind, c.seq, c.desc(e.n), C.GoString(errBuf))
	}
	remaining := time.Until(c.start.Add(c.timeout))
	grace := min(max(c.timeout/10, 50*time.Millisecond), 5*time.Second)
	var diag chan diagnosis
	if e.boot != nil && remaining > grace {
		// Poll until the last stretch, then ask the others (over MPI)
		// where they are while polling on.
		rc = C.rcn_wait(C.int64_t(remaining-grace), errBuf, 512)
		if rc == -1 {
			diag = make(chan diagnosis, 1)
			go func() { diag <- e.boot.e.(diagnoser).diagnose(c, grace) }()
			rc = C.rcn_wait(C.int64_t(max(time.Until(c.start.Add(c.timeout)), 0)), errBuf, 512)
		}
	} else {
		rc = C.rcn_wait(C.int64_t(max(remaining, 0)), errBuf, 512)
	}
	if rc == 0 {
		return nil
	}
	// NCCL may still touch the staging buffers (device memory) and, for
	// device collectives, the caller's; abort the communicator.
	e.keep = append(e.keep, c.send, c.recv)
	C.rcn_abort()
	var d diagnosis
	if diag != nil {
		d = <-diag
	}
	if rc == -1 {
		if e.n == 1 {
			d = diagnosis{missing: []int{}, detail: "the stream did not drain (one rank: the device or NCCL hung)"}
		}
		return c.timeoutError("nccl", e.r, e.n, d.missing, d.exited, d.detail)
	}
	return fmt.Errorf("dist(nccl): rank %d: %s #%d (%s): %s", e.r, c.kind, c.seq, c.desc(e.n), C.GoString(errBuf))
}

// NCCLInfo says which libraries the NCCL backend loaded and their version,
// for c opened with backend nccl.
func NCCLInfo(c Comm) (libs string, version int, ok bool) {
	cc, _ := c.(*communicator)
	if cc == nil {
		return "", 0, false
	}
	e, _ := cc.e.(*ncclEngine)
	if e == nil {
		return "", 0, false
	}
	return e.libs, e.version, true
}
