//go:build mpi

package dist

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { RC_F32 = 0, RC_BF16 = 1, RC_F64 = 2, RC_BYTE = 3 };
enum { RC_ALLREDUCE = 0, RC_ALLGATHER, RC_REDUCESCATTER, RC_BCAST, RC_BARRIER };
#define RC_TAG_PING 7101
#define RC_TAG_PONG 7102
#define RC_HOST 64
#define RC_NOANSWER (-2)

// rc_coll carries the collectives, rc_ctrl the ping/pong that names the
// ranks missing at a timeout. Both have MPI_ERRORS_RETURN.
static MPI_Comm rc_coll = MPI_COMM_NULL, rc_ctrl = MPI_COMM_NULL;
static MPI_Op rc_bf16_sum = MPI_OP_NULL, rc_bf16_max = MPI_OP_NULL;
static int rc_rank, rc_size;
static int *rc_pids;
static char *rc_hosts;
// The collective this rank is waiting in (answered to pings).
static uint64_t rc_cur_seq;
static int rc_cur_kind = -1;
// Per peer: pong and ping send buffers and requests; what a diagnosis heard.
static uint64_t *rc_pong_buf, *rc_ping_buf;
static MPI_Request *rc_pong_req, *rc_ping_req;
static int *rc_heard_kind;
static uint64_t *rc_heard_seq;

static inline float rc_bf2f(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t rc_f2bf(float f) {
	uint32_t u; memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
	return (uint16_t)((u + ((u >> 16) & 1) + 0x7fffu) >> 16);
}
static void rc_bf16_sum_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
	(void)dt;
	uint16_t *a = in, *b = inout;
	for (int i = 0; i < *len; i++) b[i] = rc_f2bf(rc_bf2f(a[i]) + rc_bf2f(b[i]));
}
static void rc_bf16_max_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
	(void)dt;
	uint16_t *a = in, *b = inout;
	for (int i = 0; i < *len; i++) {
		float x = rc_bf2f(a[i]), y = rc_bf2f(b[i]);
		b[i] = (x != x || y != y) ? 0x7fc0 : (x > y ? a[i] : b[i]);
	}
}

static int64_t rc_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void rc_errstr(int code, char *out, int n) {
	int len = 0;
	if (MPI_Error_string(code, out, &len) != MPI_SUCCESS || len <= 0) snprintf(out, n, "MPI error %d", code);
}

// rc_wait_init completes an init-time request (pids, hosts) with a deadline.
static int rc_wait_plain(MPI_Request *req, int64_t deadline) {
	for (;;) {
		int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
		if (rc != MPI_SUCCESS) return rc;
		if (done) return 0;
		if (rc_now() >= deadline) return -1;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

static int rc_init(int *rank, int *size, int *local, int *provided, int *owned, int64_t timeout_ns, char *err, int errlen) {
	int inited = 0, rc;
	MPI_Initialized(&inited);
	*owned = 0;
	if (!inited) {
		rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
		if (rc != MPI_SUCCESS) { rc_errstr(rc, err, errlen); return rc; }
		*owned = 1;
	} else {
		MPI_Query_thread(provided);
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &rc_coll)) != MPI_SUCCESS || (rc = MPI_Comm_dup(MPI_COMM_WORLD, &rc_ctrl)) != MPI_SUCCESS) {
		rc_errstr(rc, err, errlen);
		return rc;
	}
	MPI_Comm_set_errhandler(rc_coll, MPI_ERRORS_RETURN);
	MPI_Comm_set_errhandler(rc_ctrl, MPI_ERRORS_RETURN);
	MPI_Comm_rank(rc_coll, &rc_rank);
	MPI_Comm_size(rc_coll, &rc_size);
	*rank = rc_rank;
	*size = rc_size;
	MPI_Comm shm;
	if ((rc = MPI_Comm_split_type(rc_coll, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shm)) != MPI_SUCCESS) {
		rc_errstr(rc, err, errlen);
		return rc;
	}
	MPI_Comm_rank(shm, local);
	MPI_Comm_free(&shm);
	MPI_Op_create(rc_bf16_sum_fn, 1, &rc_bf16_sum);
	MPI_Op_create(rc_bf16_max_fn, 1, &rc_bf16_max);
	int n = rc_size;
	rc_pids = calloc(n, sizeof(int));
	rc_hosts = calloc(n, RC_HOST);
	rc_pong_buf = calloc(3 * n, sizeof(uint64_t));
	rc_ping_buf = calloc(n, sizeof(uint64_t));
	rc_pong_req = malloc(n * sizeof(MPI_Request));
	rc_ping_req = malloc(n * sizeof(MPI_Request));
	rc_heard_kind = calloc(n, sizeof(int));
	rc_heard_seq = calloc(n, sizeof(uint64_t));
	for (int i = 0; i < n; i++) rc_pong_req[i] = rc_ping_req[i] = MPI_REQUEST_NULL;
	int pid = (int)getpid();
	char host[RC_HOST];
	memset(host, 0, sizeof host);
	gethostname(host, RC_HOST - 1);
	MPI_Request req;
	int64_t deadline = rc_now() + timeout_ns;
	rc = MPI_Iallgather(&pid, 1, MPI_INT, rc_pids, 1, MPI_INT, rc_coll, &req);
	if (rc == MPI_SUCCESS) rc = rc_wait_plain(&req, deadline);
	if (rc == MPI_SUCCESS) rc = MPI_Iallgather(host, RC_HOST, MPI_CHAR, rc_hosts, RC_HOST, MPI_CHAR, rc_coll, &req);
	if (rc == MPI_SUCCESS) rc = rc_wait_plain(&req, deadline);
	if (rc == -1) { snprintf(err, errlen, "exchanging process ids at start-up timed out"); return -1; }
	if (rc != MPI_SUCCESS) { rc_errstr(rc, err, errlen); return rc; }
	return 0;
}

static int rc_start(int kind, int dt, int op, void *send, void *recv, int count, int root, int inplace, MPI_Request *req) {
	MPI_Datatype t = dt == RC_F32 ? MPI_FLOAT : dt == RC_BF16 ? MPI_UINT16_T : dt == RC_F64 ? MPI_DOUBLE : MPI_BYTE;
	MPI_Op o = op == 0 ? (dt == RC_BF16 ? rc_bf16_sum : MPI_SUM) : (dt == RC_BF16 ? rc_bf16_max : MPI_MAX);
	switch (kind) {
	case RC_ALLREDUCE: return MPI_Iallreduce(MPI_IN_PLACE, recv, count, t, o, rc_coll, req);
	case RC_ALLGATHER: return MPI_Iallgather(inplace ? MPI_IN_PLACE : send, count, t, recv, count, t, rc_coll, req);
	case RC_REDUCESCATTER: return MPI_Ireduce_scatter_block(send, recv, count, t, o, rc_coll, req);
	case RC_BCAST: return MPI_Ibcast(recv, count, t, root, rc_coll, req);
	default: return MPI_Ibarrier(rc_coll, req);
	}
}

// rc_serve answers pings: each says which collective this rank waits in.
static void rc_serve(void) {
	for (;;) {
		int flag = 0;
		MPI_Status st;
		if (MPI_Iprobe(MPI_ANY_SOURCE, RC_TAG_PING, rc_ctrl, &flag, &st) != MPI_SUCCESS || !flag) return;
		int p = st.MPI_SOURCE;
		uint64_t in = 0;
		MPI_Recv(&in, 1, MPI_UINT64_T, p, RC_TAG_PING, rc_ctrl, MPI_STATUS_IGNORE);
		int free = 1;
		if (rc_pong_req[p] != MPI_REQUEST_NULL) MPI_Test(&rc_pong_req[p], &free, MPI_STATUS_IGNORE);
		if (!free) continue;
		uint64_t *b = &rc_pong_buf[3 * p];
		b[0] = in;
		b[1] = rc_cur_seq;
		b[2] = (uint64_t)(rc_cur_kind + 1);
		MPI_Isend(b, 3, MPI_UINT64_T, p, RC_TAG_PONG, rc_ctrl, &rc_pong_req[p]);
	}
}

// rc_diag_start pings every other rank for collective seq.
static void rc_diag_start(uint64_t seq) {
	for (int p = 0; p < rc_size; p++) {
		rc_heard_kind[p] = RC_NOANSWER;
		rc_heard_seq[p] = 0;
		if (p == rc_rank) continue;
		int free = 1;
		if (rc_ping_req[p] != MPI_REQUEST_NULL) MPI_Test(&rc_ping_req[p], &free, MPI_STATUS_IGNORE);
		if (!free) continue;
		rc_ping_buf[p] = seq;
		MPI_Isend(&rc_ping_buf[p], 1, MPI_UINT64_T, p, RC_TAG_PING, rc_ctrl, &rc_ping_req[p]);
	}
	rc_heard_kind[rc_rank] = rc_cur_kind;
	rc_heard_seq[rc_rank] = seq;
}

// rc_diag_poll collects pongs (stale ones, for another seq, are dropped).
static void rc_diag_poll(uint64_t seq) {
	for (;;) {
		int flag = 0;
		MPI_Status st;
		if (MPI_Iprobe(MPI_ANY_SOURCE, RC_TAG_PONG, rc_ctrl, &flag, &st) != MPI_SUCCESS || !flag) return;
		uint64_t in[3];
		MPI_Recv(in, 3, MPI_UINT64_T, st.MPI_SOURCE, RC_TAG_PONG, rc_ctrl, MPI_STATUS_IGNORE);
		if (in[0] != seq) continue;
		rc_heard_seq[st.MPI_SOURCE] = in[1];
		rc_heard_kind[st.MPI_SOURCE] = (int)in[2] - 1;
	}
}

static void rc_pause(int *spins, int64_t *sleep_ns) {
	if (++*spins < 200) return;
	struct timespec ts = {0, *sleep_ns};
	nanosleep(&ts, NULL);
	if (*sleep_ns < 250000) *sleep_ns *= 2;
}

// rc_run runs one collective: start it, then poll until it completes or
// timeout_ns passes, answering pings; the last grace_ns of the wait also
// pings the others, so that at the deadline this rank knows who never
// arrived. Returns 0, -1 (timeout) or an MPI error code.
static int rc_run(int kind, int dt, int op, void *send, void *recv, int count, int root, int inplace,
		uint64_t seq, int64_t timeout_ns, int64_t grace_ns, char *err, int errlen) {
	MPI_Request req;
	int64_t t0 = rc_now(), deadline = t0 + timeout_ns, diag_at = deadline - grace_ns;
	rc_cur_seq = seq;
	rc_cur_kind = kind;
	int rc = rc_start(kind, dt, op, send, recv, count, root, inplace, &req);
	if (rc != MPI_SUCCESS) { rc_errstr(rc, err, errlen); rc_cur_kind = -1; return rc; }
	int spins = 0, diag = 0;
	int64_t sleep_ns = 1000;
	for (;;) {
		int done = 0;
		rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
		if (rc != MPI_SUCCESS) { rc_errstr(rc, err, errlen); return rc; }
		if (done) { rc_cur_kind = -1; return 0; }
		rc_serve();
		if (diag) rc_diag_poll(seq);
		int64_t now = rc_now();
		if (now >= deadline) return -1;
		if (!diag && now >= diag_at) { rc_diag_start(seq); diag = 1; spins = 0; sleep_ns = 1000; }
		rc_pause(&spins, &sleep_ns);
	}
}

// rc_diagnose pings the others for grace_ns after an MPI error (or for the
// NCCL backend, which waits in collective kind #seq of its own).
static void rc_diagnose(uint64_t seq, int kind, int64_t grace_ns) {
	int64_t end = rc_now() + grace_ns;
	rc_cur_seq = seq;
	rc_cur_kind = kind;
	rc_diag_start(seq);
	int spins = 0;
	int64_t sleep_ns = 1000;
	while (rc_now() < end) {
		rc_serve();
		rc_diag_poll(seq);
		rc_pause(&spins, &sleep_ns);
	}
	rc_cur_kind = -1;
}

static int rc_heard(int p, uint64_t *seq) { *seq = rc_heard_seq[p]; return rc_heard_kind[p]; }
static int rc_pid(int p) { return rc_pids[p]; }
static const char *rc_host(int p) { return rc_hosts + (size_t)p * RC_HOST; }

// rc_same_host: 1 when p runs on this machine.
static int rc_same_host(int p) { return strncmp(rc_host(p), rc_host(rc_rank), RC_HOST) == 0; }

static void rc_abort(int code) { MPI_Abort(rc_coll != MPI_COMM_NULL ? rc_coll : MPI_COMM_WORLD, code); }

static int rc_finalize(int owned, char *err, int errlen) {
	MPI_Comm_free(&rc_coll);
	MPI_Comm_free(&rc_ctrl);
	MPI_Op_free(&rc_bf16_sum);
	MPI_Op_free(&rc_bf16_max);
	if (!owned) return 0;
	int rc = MPI_Finalize();
	if (rc != MPI_SUCCESS) rc_errstr(rc, err, errlen);
	return rc;
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// MPIEnabled reports whether this binary was built with -tags mpi.
const MPIEnabled = true

// mpiEngine runs every MPI call on one locked OS thread (MPI_THREAD_FUNNELED).
type mpiEngine struct {
	r, n, lr int
	owned    bool
	jobs     chan func()
	// keep holds the buffers of collectives that timed out: MPI may still
	// write into them, so they must outlive the error.
	keep []unsafe.Pointer
}

var (
	mpiMu     sync.Mutex
	mpiShared *mpiEngine
	mpiRefs   int
	mpiDone   bool
)

func init() { openMPI = openMPIEngine }

// openMPIEngine initializes MPI once per process; later opens share it.
func openMPIEngine(w World) (engine, error) {
	mpiMu.Lock()
	defer mpiMu.Unlock()
	if mpiShared != nil {
		mpiRefs++
		return mpiShared, nil
	}
	if mpiDone {
		return nil, fmt.Errorf("dist(mpi): MPI was finalized in this process; it cannot start again")
	}
	e := &mpiEngine{jobs: make(chan func())}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread is MPI's
		var rank, size, local, provided, owned C.int
		errBuf := (*C.char)(C.calloc(512, 1))
		defer C.free(unsafe.Pointer(errBuf))
		if rc := C.rc_init(&rank, &size, &local, &provided, &owned, C.int64_t(envTimeout()), errBuf, 512); rc != 0 {
			started <- fmt.Errorf("dist(mpi): MPI_Init: %s", C.GoString(errBuf))
			return
		}
		e.r, e.n, e.lr, e.owned = int(rank), int(size), int(local), owned != 0
		started <- nil
		for f := range e.jobs {
			f()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if w.Source != "" && (w.Size != e.n || w.Rank != e.r) {
		return nil, fmt.Errorf("dist(mpi): %s says rank %d of %d, but MPI sees rank %d of %d: launch with mpirun or srun (MPI cannot join a torchrun-style job)",
			w.Source, w.Rank, w.Size, e.r, e.n)
	}
	mpiShared, mpiRefs = e, 1
	return e, nil
}

func (e *mpiEngine) exec(f func()) {
	done := make(chan struct{})
	e.jobs <- func() { f(); close(done) }
	<-done
}

func (e *mpiEngine) rank() int      { return e.r }
func (e *mpiEngine) size() int      { return e.n }
func (e *mpiEngine) localRank() int { return e.lr }
func (e *mpiEngine) name() string   { return "mpi" }

func (e *mpiEngine) abort(code int) {
	e.exec(func() { C.rc_abort(C.int(code)) })
}

func (e *mpiEngine) close(broken bool) error {
	mpiMu.Lock()
	defer mpiMu.Unlock()
	if mpiRefs--; mpiRefs > 0 {
		return nil
	}
	mpiShared, mpiDone = nil, true
	if broken {
		// A collective may still be pending: MPI_Finalize could hang.
		return nil
	}
	var err error
	e.exec(func() {
		errBuf := (*C.char)(C.calloc(512, 1))
		defer C.free(unsafe.Pointer(errBuf))
		if rc := C.rc_finalize(C.int(boolInt(e.owned)), errBuf, 512); rc != 0 {
			err = fmt.Errorf("dist(mpi): MPI_Finalize: %s", C.GoString(errBuf))
		}
	})
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// graceFor is how long before the deadline a waiting rank starts asking the
// others where they are.
func graceFor(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 50*time.Millisecond), 5*time.Second)
}

// diagnose pings the other ranks for grace about collective c (which another
// backend, NCCL, is waiting in).
func (e *mpiEngine) diagnose(c *call, grace time.Duration) diagnosis {
	e.exec(func() { C.rc_diagnose(C.uint64_t(c.seq), C.int(c.kind), C.int64_t(grace)) })
	m, x, d := e.report(c)
	return diagnosis{m, x, d}
}

func (e *mpiEngine) do(c *call) error {
	if c.dev {
		return fmt.Errorf("dist(mpi): rank %d: %s #%d: device pointers need the nccl backend", e.r, c.kind, c.seq)
	}
	if c.count > math.MaxInt32 {
		return fmt.Errorf("dist(mpi): rank %d: %s #%d: %d elements exceed MPI's int count", e.r, c.kind, c.seq, c.count)
	}
	var rc C.int
	var msg string
	remaining := time.Until(c.start.Add(c.timeout))
	grace := graceFor(c.timeout)
	e.exec(func() {
		errBuf := (*C.char)(C.calloc(512, 1))
		defer C.free(unsafe.Pointer(errBuf))
		rc = C.rc_run(C.int(c.kind), C.int(c.dt), C.int(c.op), c.send, c.recv, C.int(c.count), C.int(c.root),
			C.int(boolInt(c.inPlace)), C.uint64_t(c.seq), C.int64_t(max(remaining, 0)), C.int64_t(grace), errBuf, 512)
		if rc > 0 {
			msg = C.GoString(errBuf)
			C.rc_diagnose(C.uint64_t(c.seq), C.int(c.kind), C.int64_t(grace))
		}
	})
	if rc == 0 {
		return nil
	}
	e.keep = append(e.keep, c.send, c.recv)
	missing, exited, detail := e.report(c)
	if rc < 0 {
		return c.timeoutError("mpi", e.r, e.n, missing, exited, detail)
	}
	err := fmt.Sprintf("dist(mpi): rank %d: %s #%d (%s): %s", e.r, c.kind, c.seq, c.desc(e.n), msg)
	if len(missing) > 0 {
		err += fmt.Sprintf("; %s did not answer", rankList(missing))
		if len(exited) > 0 {
			err += fmt.Sprintf(" (%s: process exited)", rankList(exited))
		}
	}
	if detail != "" {
		err += "; " + detail
	}
	return fmt.Errorf("%s", err)
}

// report reads what the pings heard: ranks without an answer are missing;
// the others are in this collective or, named in detail, elsewhere.
func (e *mpiEngine) report(c *call) (missing, exited []int, detail string) {
	var notes []string
	e.exec(func() {
		for p := 0; p < e.n; p++ {
			if p == e.r {
				continue
			}
			var seq C.uint64_t
			k := int(C.rc_heard(C.int(p), &seq))
			switch {
			case k == int(C.RC_NOANSWER):
				missing = append(missing, p)
				if C.rc_same_host(C.int(p)) != 0 && processGone(int(C.rc_pid(C.int(p)))) {
					exited = append(exited, p)
				}
			case k < 0:
				notes = append(notes, fmt.Sprintf("rank %d is between collectives", p))
			case uint64(seq) != c.seq || kind(k) != c.kind:
				notes = append(notes, fmt.Sprintf("rank %d waits in %s #%d", p, kind(k), uint64(seq)))
			}
		}
		for _, p := range missing {
			if slicesContains(exited, p) {
				continue
			}
			notes = append(notes, fmt.Sprintf("rank %d (pid %d on %s) did not answer", p, int(C.rc_pid(C.int(p))), C.GoString(C.rc_host(C.int(p)))))
		}
	})
	if missing == nil {
		missing = []int{} // known: everyone answered
	}
	return missing, exited, strings.Join(notes, "; ")
}

// processGone reports whether pid (on this machine) has exited: no such
// process, or a zombie its parent has not reaped yet.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
