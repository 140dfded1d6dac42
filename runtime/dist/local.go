package dist

import (
	"fmt"
	"math"
	"os"
	"sync"
	"time"
	"unsafe"
)

// BF16ToFloat32 widens a bfloat16 (exact).
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 rounds to the nearest bfloat16, ties to even (PyTorch's
// rounding); every NaN becomes the quiet NaN 0x7FC0.
func Float32ToBF16(f float32) uint16 {
	if f != f {
		return 0x7FC0
	}
	u := math.Float32bits(f)
	return uint16((u + (u>>16)&1 + 0x7FFF) >> 16)
}

func max32(a, b float32) float32 {
	if a != a || b != b {
		return float32(math.NaN())
	}
	return max(a, b)
}

func max64(a, b float64) float64 {
	if a != a || b != b {
		return math.NaN()
	}
	return max(a, b)
}

// reduceInto writes the reduction of srcs (in rank order, left to right:
// ((s0 + s1) + s2) ...) into out, n elements of dt. bf16 is reduced in
// float32 and rounded once.
func reduceInto(out unsafe.Pointer, srcs []unsafe.Pointer, n int, dt DType, op Op) {
	switch dt {
	case Float32:
		o := unsafe.Slice((*float32)(out), n)
		copy(o, unsafe.Slice((*float32)(srcs[0]), n))
		for _, p := range srcs[1:] {
			s := unsafe.Slice((*float32)(p), n)
			if op == Sum {
				for i := range o {
					o[i] += s[i]
				}
			} else {
				for i := range o {
					o[i] = max32(o[i], s[i])
				}
			}
		}
	case Float64:
		o := unsafe.Slice((*float64)(out), n)
		copy(o, unsafe.Slice((*float64)(srcs[0]), n))
		for _, p := range srcs[1:] {
			s := unsafe.Slice((*float64)(p), n)
			if op == Sum {
				for i := range o {
					o[i] += s[i]
				}
			} else {
				for i := range o {
					o[i] = max64(o[i], s[i])
				}
			}
		}
	case BF16:
		o := unsafe.Slice((*uint16)(out), n)
		ss := make([][]uint16, len(srcs))
		for r, p := range srcs {
			ss[r] = unsafe.Slice((*uint16)(p), n)
		}
		for i := range o {
			acc := BF16ToFloat32(ss[0][i])
			for _, s := range ss[1:] {
				if op == Sum {
					acc += BF16ToFloat32(s[i])
				} else {
					acc = max32(acc, BF16ToFloat32(s[i]))
				}
			}
			o[i] = Float32ToBF16(acc)
		}
	default:
		panic("dist: no reduction on " + dt.String())
	}
}

func bytesOf(p unsafe.Pointer, n int) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

// ---- one process ----

type single struct{}

// Single is the communicator of a job of one process: every collective is a
// copy (or nothing).
func Single() Comm { return newComm(single{}, envTimeout()) }

func (single) rank() int      { return 0 }
func (single) size() int      { return 1 }
func (single) localRank() int { return 0 }
func (single) name() string   { return "single" }
func (single) abort(code int) { os.Exit(code) }
func (single) close(bool) error {
	return nil
}

func (single) do(c *call) error {
	if c.dev {
		return fmt.Errorf("dist(single): %s: device pointers need the nccl backend", c.kind)
	}
	switch c.kind {
	case kAllGather, kReduceScatter:
		if !c.inPlace {
			n := c.count * c.dt.Size()
			copy(bytesOf(c.recv, n), bytesOf(c.send, n))
		}
	}
	return nil
}

// ---- goroutine ranks in one process ----

// localGroup is the shared state of NewLocal's communicators.
type localGroup struct {
	n     int
	mu    sync.Mutex
	calls []*call
	bars  [2]*localBarrier
	dead  error // set by the first timeout: the group is unusable after it
}

type localBarrier struct {
	arrived []bool
	count   int
	done    chan struct{}
}

// NewLocal returns n communicators over goroutines of this process, rank i
// at index i; each must be used from its own goroutine. Reductions sum in
// rank order, so results are deterministic. It serves tests and single-
// machine experiments of the sharding without MPI.
func NewLocal(n int) []Comm {
	g := &localGroup{n: n, calls: make([]*call, n)}
	for i := range g.bars {
		g.bars[i] = &localBarrier{arrived: make([]bool, n), done: make(chan struct{})}
	}
	cs := make([]Comm, n)
	for r := range cs {
		cs[r] = newComm(&localRank{g: g, r: r}, envTimeout())
	}
	return cs
}

type localRank struct {
	g *localGroup
	r int
}

func (l *localRank) rank() int      { return l.r }
func (l *localRank) size() int      { return l.g.n }
func (l *localRank) localRank() int { return l.r }
func (l *localRank) name() string   { return "local" }
func (l *localRank) abort(code int) { os.Exit(code) }
func (l *localRank) close(bool) error {
	return nil
}

// wait is barrier i with c's deadline. On timeout it names the ranks that
// did not arrive and breaks the group.
func (l *localRank) wait(i int, c *call) error {
	g := l.g
	g.mu.Lock()
	if g.dead != nil {
		g.mu.Unlock()
		return fmt.Errorf("dist(local): rank %d: %s #%d: group broken: %w", l.r, c.kind, c.seq, g.dead)
	}
	b := g.bars[i]
	ch := b.done
	b.arrived[l.r] = true
	b.count++
	if b.count == g.n {
		close(ch)
		g.bars[i] = &localBarrier{arrived: make([]bool, g.n), done: make(chan struct{})}
	}
	g.mu.Unlock()
	left := time.Until(c.start.Add(c.timeout))
	t := time.NewTimer(max(left, 0))
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ch:
		return nil
	default:
	}
	var missing []int
	for r, ok := range b.arrived {
		if !ok {
			missing = append(missing, r)
		}
	}
	err := c.timeoutError("local", l.r, g.n, missing, nil, "")
	if g.dead == nil {
		g.dead = err
	}
	return err
}

func (l *localRank) do(c *call) error {
	if c.dev {
		return fmt.Errorf("dist(local): rank %d: %s: device pointers need the nccl backend", l.r, c.kind)
	}
	g := l.g
	g.mu.Lock()
	g.calls[l.r] = c
	g.mu.Unlock()
	if err := l.wait(0, c); err != nil {
		return err
	}
	g.mu.Lock()
	calls := append([]*call(nil), g.calls...)
	g.mu.Unlock()
	for r, o := range calls {
		if o.kind != c.kind || o.dt != c.dt || o.count != c.count || o.op != c.op || o.root != c.root {
			err := fmt.Errorf("dist(local): rank %d: %s #%d (%s) does not match rank %d's %s #%d (%s)",
				l.r, c.kind, c.seq, c.desc(g.n), r, o.kind, o.seq, o.desc(g.n))
			g.mu.Lock()
			if g.dead == nil {
				g.dead = err
			}
			g.mu.Unlock()
			return err
		}
	}
	es := c.dt.Size()
	var tmp []byte
	switch c.kind {
	case kAllReduce:
		if c.count > 0 {
			tmp = make([]byte, c.count*es)
			srcs := make([]unsafe.Pointer, g.n)
			for r, o := range calls {
				srcs[r] = o.send
			}
			reduceInto(unsafe.Pointer(&tmp[0]), srcs, c.count, c.dt, c.op)
		}
	case kReduceScatter:
		if c.count > 0 {
			tmp = make([]byte, c.count*es)
			srcs := make([]unsafe.Pointer, g.n)
			for r, o := range calls {
				srcs[r] = unsafe.Add(o.send, l.r*c.count*es)
			}
			reduceInto(unsafe.Pointer(&tmp[0]), srcs, c.count, c.dt, c.op)
		}
	case kAllGather:
		tmp = make([]byte, g.n*c.count*es)
		for r, o := range calls {
			copy(tmp[r*c.count*es:], bytesOf(o.send, c.count*es))
		}
	case kBroadcast:
		if l.r != c.root {
			tmp = append([]byte(nil), bytesOf(calls[c.root].send, c.count*es)...)
		}
	}
	if err := l.wait(1, c); err != nil {
		return err
	}
	if tmp != nil {
		copy(bytesOf(c.recv, len(tmp)), tmp)
	}
	return nil
}
