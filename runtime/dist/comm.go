package dist

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Op is a reduction.
type Op int

const (
	Sum Op = iota
	Max
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Max:
		return "max"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// DType is the element type of a collective's buffers.
type DType int

const (
	Float32 DType = iota
	BF16          // bfloat16 in uint16 storage
	Float64
	Byte
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case BF16:
		return "bf16"
	case Float64:
		return "float64"
	case Byte:
		return "byte"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Size is the bytes of one element.
func (d DType) Size() int {
	switch d {
	case BF16:
		return 2
	case Float64:
		return 8
	case Byte:
		return 1
	}
	return 4
}

// DefaultTimeout bounds every collective unless SetTimeout or
// REALC_DIST_TIMEOUT says otherwise.
const DefaultTimeout = 10 * time.Minute

// Comm is a communicator over the ranks of one job. Every rank must call the
// same collectives in the same order with matching sizes (MPI's rule). Each
// collective returns within the timeout: a rank that never arrives (dead,
// hung) gives the others a *TimeoutError naming it where it can be known.
// After any error the communicator is broken: later calls return the first
// error again, and the caller should end the job (Abort).
//
// Buffer shapes, with W = Size():
//   - AllReduce(buf, op): buf in place, the same length on every rank.
//   - AllGather(dst, src): len(dst) = W*len(src); rank r's src lands in
//     dst[r*len(src):]. src may be exactly that part of dst (in place).
//   - ReduceScatter(dst, src, op): len(src) = W*len(dst); rank r gets the
//     reduction of everyone's src[r*len(dst):(r+1)*len(dst)].
//   - Broadcast(buf, root): root's buf is copied into everyone's.
//
// The BF16 variants take bfloat16 bits in uint16 storage; their sums round
// to bf16 (MPI after every pairwise step, the local backends once).
type Comm interface {
	Rank() int
	Size() int
	// LocalRank is the rank among the processes of this machine (the GPU to use).
	LocalRank() int
	// Backend names the implementation: "single", "local", "mpi", "nccl".
	Backend() string

	AllReduce(buf []float32, op Op) error
	AllReduceBF16(buf []uint16, op Op) error
	AllReduceF64(buf []float64, op Op) error
	AllGather(dst, src []float32) error
	AllGatherBF16(dst, src []uint16) error
	AllGatherF64(dst, src []float64) error
	AllGatherBytes(dst, src []byte) error
	ReduceScatter(dst, src []float32, op Op) error
	ReduceScatterBF16(dst, src []uint16, op Op) error
	Broadcast(buf []float32, root int) error
	BroadcastBF16(buf []uint16, root int) error
	BroadcastBytes(buf []byte, root int) error
	Barrier() error

	// SetTimeout bounds every later collective (d <= 0: DefaultTimeout).
	SetTimeout(d time.Duration)
	Timeout() time.Duration
	// Abort ends every process of the job with code (MPI_Abort; one
	// process: os.Exit). It does not return.
	Abort(code int)
	// Close releases the backend (MPI_Finalize once every communicator
	// over MPI is closed). A broken communicator skips the finalize.
	Close() error
}

// ErrTimeout is what a *TimeoutError matches with errors.Is.
var ErrTimeout = errors.New("collective timed out")

// TimeoutError is a collective that did not complete within the timeout.
type TimeoutError struct {
	Backend string
	Rank    int    // the rank reporting
	Op      string // "all-reduce", "all-gather", ...
	Desc    string // sizes and type, e.g. "1024 x float32, sum"
	Seq     uint64 // the collective's number on this communicator, from 1
	After   time.Duration
	// Missing are the ranks known not to have arrived (nil: unknown);
	// Exited those of them whose process is known to have ended.
	Missing, Exited []int
	// Detail says what else is known (other ranks' whereabouts).
	Detail string
}

func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

func (e *TimeoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dist(%s): rank %d: %s #%d (%s) timed out after %v", e.Backend, e.Rank, e.Op, e.Seq, e.Desc, e.After)
	switch {
	case len(e.Missing) > 0:
		b.WriteString(": ")
		b.WriteString(rankList(e.Missing))
		b.WriteString(" did not arrive")
		if len(e.Exited) > 0 {
			fmt.Fprintf(&b, " (%s: process exited)", rankList(e.Exited))
		}
	case e.Missing == nil:
		b.WriteString(": which rank is missing is unknown")
	case e.Detail == "":
		b.WriteString(": every rank answered (the collective is slow, or the ranks disagree on its sizes)")
	}
	if e.Detail != "" {
		b.WriteString("; ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// rankList writes "rank 3" or "ranks 1, 4".
func rankList(rs []int) string {
	if len(rs) == 1 {
		return fmt.Sprintf("rank %d", rs[0])
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprint(r)
	}
	return "ranks " + strings.Join(s, ", ")
}

// kind is a collective.
type kind int

const (
	kAllReduce kind = iota
	kAllGather
	kReduceScatter
	kBroadcast
	kBarrier
)

var kindNames = [...]string{"all-reduce", "all-gather", "reduce-scatter", "broadcast", "barrier"}

func (k kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("collective(%d)", int(k))
	}
	return kindNames[k]
}

// call is one collective handed to an engine. count is the buffer length for
// all-reduce and broadcast, the per-rank part for all-gather (send length)
// and reduce-scatter (receive length).
type call struct {
	kind       kind
	dt         DType
	op         Op
	send, recv unsafe.Pointer
	count      int
	root       int
	seq        uint64
	timeout    time.Duration
	start      time.Time
	inPlace    bool // all-gather with send == recv[rank*count:]
	// dev: sendDev and recvDev are device pointers (DeviceComm).
	dev              bool
	sendDev, recvDev uintptr
}

func (c *call) desc(w int) string {
	switch c.kind {
	case kBarrier:
		return "no data"
	case kBroadcast:
		return fmt.Sprintf("%d x %s from rank %d", c.count, c.dt, c.root)
	case kAllGather:
		return fmt.Sprintf("%d x %s per rank", c.count, c.dt)
	case kReduceScatter:
		return fmt.Sprintf("%d x %s per rank, %s", c.count, c.dt, c.op)
	}
	return fmt.Sprintf("%d x %s, %s", c.count, c.dt, c.op)
}

// timeoutError builds the error for c on an engine.
func (c *call) timeoutError(backend string, rank, size int, missing, exited []int, detail string) *TimeoutError {
	return &TimeoutError{Backend: backend, Rank: rank, Op: c.kind.String(), Desc: c.desc(size), Seq: c.seq,
		After: c.timeout, Missing: missing, Exited: exited, Detail: detail}
}

// engine is a backend: it runs one collective at a time (the communicator
// serializes them).
type engine interface {
	rank() int
	size() int
	localRank() int
	name() string
	do(c *call) error
	abort(code int)
	close(broken bool) error
}

// diagnosis is what a backend learned about the other ranks at a timeout.
type diagnosis struct {
	missing, exited []int
	detail          string
}

// diagnoser is an engine that can ask the other ranks where they are (MPI:
// the NCCL backend asks through its bootstrap communicator).
type diagnoser interface {
	diagnose(c *call, grace time.Duration) diagnosis
}

// deviceEngine is an engine that takes device pointers.
type deviceEngine interface{ device() bool }

// DeviceComm runs collectives on device memory (CUdeviceptr values) without
// staging through the host; the nccl backend's communicators implement it
// (see Device). count is the buffer length for all-reduce and broadcast and
// the per-rank part for all-gather and reduce-scatter, as in Comm. The
// all-gather may be in place (src == dst + rank*count*size).
type DeviceComm interface {
	AllReduceDevice(buf uintptr, count int, dt DType, op Op) error
	AllGatherDevice(dst, src uintptr, count int, dt DType) error
	ReduceScatterDevice(dst, src uintptr, count int, dt DType, op Op) error
	BroadcastDevice(buf uintptr, count int, dt DType, root int) error
}

// Device returns c's device collectives when its backend has them (nccl).
func Device(c Comm) (DeviceComm, bool) {
	cc, ok := c.(*communicator)
	if !ok {
		return nil, false
	}
	if d, ok := cc.e.(deviceEngine); ok && d.device() {
		return cc, true
	}
	return nil, false
}

func (c *communicator) AllReduceDevice(buf uintptr, count int, dt DType, op Op) error {
	return c.run(&call{kind: kAllReduce, dt: dt, op: op, dev: true, sendDev: buf, recvDev: buf, count: count})
}

func (c *communicator) AllGatherDevice(dst, src uintptr, count int, dt DType) error {
	return c.run(&call{kind: kAllGather, dt: dt, dev: true, sendDev: src, recvDev: dst, count: count})
}

func (c *communicator) ReduceScatterDevice(dst, src uintptr, count int, dt DType, op Op) error {
	return c.run(&call{kind: kReduceScatter, dt: dt, op: op, dev: true, sendDev: src, recvDev: dst, count: count})
}

func (c *communicator) BroadcastDevice(buf uintptr, count int, dt DType, root int) error {
	if root < 0 || root >= c.Size() {
		return c.argErr(kBroadcast, "root %d outside world size %d", root, c.Size())
	}
	return c.run(&call{kind: kBroadcast, dt: dt, dev: true, sendDev: buf, recvDev: buf, count: count, root: root})
}

// communicator is the Comm over an engine: argument checks, numbering,
// timeout, and the broken state.
type communicator struct {
	mu      sync.Mutex
	e       engine
	timeout time.Duration
	seq     uint64
	broken  error
	closed  bool
}

func newComm(e engine, timeout time.Duration) *communicator {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &communicator{e: e, timeout: timeout}
}

func (c *communicator) Rank() int       { return c.e.rank() }
func (c *communicator) Size() int       { return c.e.size() }
func (c *communicator) LocalRank() int  { return c.e.localRank() }
func (c *communicator) Backend() string { return c.e.name() }

func (c *communicator) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	c.mu.Lock()
	c.timeout = d
	c.mu.Unlock()
}

func (c *communicator) Timeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timeout
}

func (c *communicator) Abort(code int) {
	c.e.abort(code)
	os.Exit(code) // an engine whose abort returned
}

func (c *communicator) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.e.close(c.broken != nil)
}

// run numbers and runs one collective, breaking the communicator on error.
func (c *communicator) run(k *call) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("dist(%s): rank %d: %s on a closed communicator", c.e.name(), c.e.rank(), k.kind)
	}
	if c.broken != nil {
		return fmt.Errorf("dist(%s): rank %d: communicator broken by an earlier error: %w", c.e.name(), c.e.rank(), c.broken)
	}
	c.seq++
	k.seq, k.timeout, k.start = c.seq, c.timeout, time.Now()
	if err := c.e.do(k); err != nil {
		c.broken = err
		return err
	}
	return nil
}

// argErr is a misuse: it does not break the communicator (nothing was sent).
func (c *communicator) argErr(k kind, format string, args ...any) error {
	return fmt.Errorf("dist(%s): rank %d: %s: %s", c.e.name(), c.e.rank(), k, fmt.Sprintf(format, args...))
}

func ptr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(s))
}

// overlap reports whether two slices share memory.
func overlap[T any](a, b []T) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	var z T
	sz := unsafe.Sizeof(z)
	a0, b0 := uintptr(ptr(a)), uintptr(ptr(b))
	return a0 < b0+uintptr(len(b))*sz && b0 < a0+uintptr(len(a))*sz
}

func allReduce[T any](c *communicator, buf []T, dt DType, op Op) error {
	if op != Sum && op != Max {
		return c.argErr(kAllReduce, "unknown op %v", op)
	}
	return c.run(&call{kind: kAllReduce, dt: dt, op: op, send: ptr(buf), recv: ptr(buf), count: len(buf)})
}

func allGather[T any](c *communicator, dst, src []T, dt DType) error {
	w, r := c.Size(), c.Rank()
	if len(dst) != w*len(src) {
		return c.argErr(kAllGather, "len(dst) = %d, want world size %d x len(src) %d", len(dst), w, len(src))
	}
	k := &call{kind: kAllGather, dt: dt, send: ptr(src), recv: ptr(dst), count: len(src)}
	if overlap(dst, src) {
		if len(src) > 0 && ptr(src) != ptr(dst[r*len(src):]) {
			return c.argErr(kAllGather, "src overlaps dst other than as dst[rank*len(src):] (in place)")
		}
		k.inPlace = true
	}
	return c.run(k)
}

func reduceScatter[T any](c *communicator, dst, src []T, dt DType, op Op) error {
	w := c.Size()
	if len(src) != w*len(dst) {
		return c.argErr(kReduceScatter, "len(src) = %d, want world size %d x len(dst) %d", len(src), w, len(dst))
	}
	if op != Sum && op != Max {
		return c.argErr(kReduceScatter, "unknown op %v", op)
	}
	if overlap(dst, src) {
		return c.argErr(kReduceScatter, "dst overlaps src")
	}
	return c.run(&call{kind: kReduceScatter, dt: dt, op: op, send: ptr(src), recv: ptr(dst), count: len(dst)})
}

func broadcast[T any](c *communicator, buf []T, dt DType, root int) error {
	if root < 0 || root >= c.Size() {
		return c.argErr(kBroadcast, "root %d outside world size %d", root, c.Size())
	}
	return c.run(&call{kind: kBroadcast, dt: dt, send: ptr(buf), recv: ptr(buf), count: len(buf), root: root})
}

func (c *communicator) AllReduce(buf []float32, op Op) error { return allReduce(c, buf, Float32, op) }
func (c *communicator) AllReduceBF16(buf []uint16, op Op) error {
	return allReduce(c, buf, BF16, op)
}
func (c *communicator) AllReduceF64(buf []float64, op Op) error {
	return allReduce(c, buf, Float64, op)
}
func (c *communicator) AllGather(dst, src []float32) error { return allGather(c, dst, src, Float32) }
func (c *communicator) AllGatherBF16(dst, src []uint16) error {
	return allGather(c, dst, src, BF16)
}
func (c *communicator) AllGatherF64(dst, src []float64) error {
	return allGather(c, dst, src, Float64)
}
func (c *communicator) AllGatherBytes(dst, src []byte) error {
	return allGather(c, dst, src, Byte)
}
func (c *communicator) ReduceScatter(dst, src []float32, op Op) error {
	return reduceScatter(c, dst, src, Float32, op)
}
func (c *communicator) ReduceScatterBF16(dst, src []uint16, op Op) error {
	return reduceScatter(c, dst, src, BF16, op)
}
func (c *communicator) Broadcast(buf []float32, root int) error {
	return broadcast(c, buf, Float32, root)
}
func (c *communicator) BroadcastBF16(buf []uint16, root int) error {
	return broadcast(c, buf, BF16, root)
}
func (c *communicator) BroadcastBytes(buf []byte, root int) error {
	return broadcast(c, buf, Byte, root)
}
func (c *communicator) Barrier() error { return c.run(&call{kind: kBarrier}) }
