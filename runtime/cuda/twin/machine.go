package twin

import (
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/kernels"
)

// Machine runs kernels.Launch lists and GEMMs with the twins on host memory:
// the reference machine. Addresses are fake (they start at 1<<40), every
// pointer a launch passes is checked against its allocation, so a launch
// builder that marshals a wrong size or pointer fails here with a message.
type Machine struct {
	allocs []alloc // sorted by base
	next   uintptr
	// Launches counts the launches run, by kernel name.
	Launches map[string]int
}

type alloc struct {
	base uintptr
	mem  []uint64 // 8-byte aligned backing
}

func (a *alloc) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(a.mem))), len(a.mem)*8)
}

// NewMachine returns an empty machine.
func NewMachine() *Machine { return &Machine{next: 1 << 40, Launches: map[string]int{}} }

// Name says what the machine is.
func (m *Machine) Name() string { return "cpu twin" }

// Alloc reserves bytes (zeroed).
func (m *Machine) Alloc(bytes int64) (uintptr, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("twin: allocating %d bytes", bytes)
	}
	a := alloc{base: m.next, mem: make([]uint64, (max(bytes, 1)+7)/8)}
	m.next += uintptr(len(a.mem)*8+4095)&^4095 + 4096 // a guard gap between allocations
	m.allocs = append(m.allocs, a)
	return a.base, nil
}

// Free releases an allocation.
func (m *Machine) Free(p uintptr) error {
	for i, a := range m.allocs {
		if a.base == p {
			m.allocs = append(m.allocs[:i], m.allocs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("twin: freeing %#x, which is not an allocation", p)
}

// span returns the n bytes at p, or an error naming the allocation.
func (m *Machine) span(p uintptr, n int64, what string) ([]byte, error) {
	i := sort.Search(len(m.allocs), func(i int) bool { return m.allocs[i].base > p }) - 1
	if p == 0 {
		return nil, fmt.Errorf("twin: %s: null pointer", what)
	}
	if i < 0 {
		return nil, fmt.Errorf("twin: %s: %#x is not in any allocation", what, p)
	}
	a := &m.allocs[i]
	b := a.bytes()
	off := int64(p - a.base)
	if off+n > int64(len(b)) {
		return nil, fmt.Errorf("twin: %s: %d bytes at %#x run past the allocation of %d bytes at %#x (offset %d)", what, n, p, len(b), a.base, off)
	}
	return b[off : off+n], nil
}

// Write copies src to dst.
func (m *Machine) Write(dst uintptr, src []byte) error {
	b, err := m.span(dst, int64(len(src)), "write")
	if err != nil {
		return err
	}
	copy(b, src)
	return nil
}

// Read copies len(dst) bytes from src.
func (m *Machine) Read(dst []byte, src uintptr) error {
	b, err := m.span(src, int64(len(dst)), "read")
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// Zero clears bytes at p.
func (m *Machine) Zero(p uintptr, bytes int64) error {
	b, err := m.span(p, bytes, "zero")
	if err != nil {
		return err
	}
	clear(b)
	return nil
}

// Copy copies bytes within the machine.
func (m *Machine) Copy(dst, src uintptr, bytes int64) error {
	s, err := m.span(src, bytes, "copy source")
	if err != nil {
		return err
	}
	d, err := m.span(dst, bytes, "copy destination")
	if err != nil {
		return err
	}
	copy(d, s)
	return nil
}

// views of machine memory, collecting the first error.
type mem struct {
	m    *Machine
	name string
	err  error
	outs []func() // bf16 write-backs
}

func (v *mem) span(p uintptr, n int, size int, what string) []byte {
	if v.err != nil {
		return nil
	}
	b, err := v.m.span(p, int64(n*size), v.name+": "+what)
	if err != nil {
		v.err = err
		return nil
	}
	return b
}

// f32 is a view of n floats at p (written in place).
func (v *mem) f32(p uintptr, n int, what string) []float32 {
	b := v.span(p, n, 4, what)
	if b == nil {
		return make([]float32, n)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func (v *mem) f64(p uintptr, n int, what string) []float64 {
	b := v.span(p, n, 8, what)
	if b == nil {
		return make([]float64, n)
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func (v *mem) i32(p uintptr, n int, what string) []int32 {
	b := v.span(p, n, 4, what)
	if b == nil {
		return make([]int32, n)
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// bf is a float32 copy of n bf16 values at p; with out, the copy is
// written back (rounded) when the launch completes.
func (v *mem) bf(p uintptr, n int, what string, out bool) []float32 {
	b := v.span(p, n, 2, what)
	xs := make([]float32, n)
	if b == nil {
		return xs
	}
	h := unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), n)
	for i := range xs {
		xs[i] = math.Float32frombits(uint32(h[i]) << 16)
	}
	if out {
		v.outs = append(v.outs, func() {
			for i, x := range xs {
				h[i] = uint16(math.Float32bits(R(x)) >> 16)
			}
		})
	}
	return xs
}

// typed is f32 or bf depending on t.
func (v *mem) typed(t kernels.DType, p uintptr, n int, what string, out bool) []float32 {
	if t == kernels.BF16 {
		return v.bf(p, n, what, out)
	}
	return v.f32(p, n, what)
}

func (v *mem) done() error {
	if v.err != nil {
		return v.err
	}
	for _, f := range v.outs {
		f()
	}
	return nil
}

// Gemm runs g with runtime/blas in float32 (bf16 operands widened, a bf16
// C rounded once at the end, as cuBLAS does).
func (m *Machine) Gemm(g kernels.Gemm) error {
	if g.M == 0 || g.N == 0 {
		return nil
	}
	v := &mem{m: m, name: g.String()}
	extent := func(trans bool, rows, cols, ld int) int {
		if trans {
			rows, cols = cols, rows
		}
		return (rows-1)*ld + cols
	}
	a := v.typed(g.AB, g.A, extent(g.TransA, g.M, g.K, g.LDA), "A", false)
	b := v.typed(g.AB, g.B, extent(g.TransB, g.K, g.N, g.LDB), "B", false)
	c := v.typed(g.CT, g.C, extent(false, g.M, g.N, g.LDC), "C", true)
	if v.err != nil {
		return v.err
	}
	if g.K == 0 {
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				c[i*g.LDC+j] *= g.Beta
			}
		}
	} else {
		Sgemm(g.TransA, g.TransB, g.M, g.N, g.K, g.Alpha, a, g.LDA, b, g.LDB, g.Beta, c, g.LDC)
	}
	return v.done()
}

// Launch runs one kernel's twin.
func (m *Machine) Launch(l kernels.Launch) error {
	if l.Err != nil {
		return l.Err
	}
	run, ok := launchers[l.Kernel]
	if !ok {
		return fmt.Errorf("twin: no twin for kernel %s", l.Kernel)
	}
	sig, ok := signatures[l.Kernel]
	if ok && len(sig.Params) != len(l.Args) {
		return fmt.Errorf("twin: %s takes %d arguments, the launch passes %d", l.Kernel, len(sig.Params), len(l.Args))
	}
	if ok {
		for i, s := range sig.Sizes() {
			if l.Args[i].Size() != s {
				return fmt.Errorf("twin: %s: argument %d (%s) is %s, %d bytes; the kernel reads %d", l.Kernel, i, sig.Params[i], l.Args[i].Kind(), l.Args[i].Size(), s)
			}
		}
	}
	v := &mem{m: m, name: l.Kernel}
	run(v, args(l.Args))
	if err := v.done(); err != nil {
		return err
	}
	m.Launches[l.Kernel]++
	return nil
}

var signatures = kernels.Signatures()

type args []cuda.Arg

func (a args) p(i int) uintptr { return uintptr(a[i].Bits()) }
func (a args) i(i int) int     { return int(int32(uint32(a[i].Bits()))) }
func (a args) l(i int) int     { return int(int64(a[i].Bits())) }
func (a args) f(i int) float32 { return math.Float32frombits(uint32(a[i].Bits())) }
func (a args) d(i int) float64 { return math.Float64frombits(a[i].Bits()) }
func (a args) b(i int) bool    { return a.i(i) != 0 }
func (a args) attn(i int) Attn {
	return Attn{B: a.i(i), T: a.i(i + 1), H: a.i(i + 2), KVH: a.i(i + 3), HD: a.i(i + 4), Window: a.i(i + 5), Scale: a.f(i + 6)}
}

// maxToken is the largest token id in ts (-1 when none).
func maxToken(ts []int32) int {
	mx := -1
	for _, t := range ts {
		mx = max(mx, int(t))
	}
	return mx
}

func rmsnormLaunch(xt kernels.DType) func(v *mem, a args) {
	return func(v *mem, a args) {
		rows, d := a.i(4), a.i(5)
		y := v.bf(a.p(0), rows*d, "y", true)
		var inv []float32
		if a.p(1) != 0 {
			inv = v.f32(a.p(1), rows, "inv")
		}
		x := v.typed(xt, a.p(2), rows*d, "x", false)
		w := v.bf(a.p(3), d, "w", false)
		if v.err == nil {
			RMSNorm(y, inv, x, w, rows, d, a.d(6), true)
		}
	}
}

func rmsnormBackLaunch(xt kernels.DType) func(v *mem, a args) {
	return func(v *mem, a args) {
		rows, d := a.i(6), a.i(7)
		nparts := kernels.RMSNormBackParts(rows)
		dx := v.f32(a.p(0), rows*d, "dx")
		part := v.f32(a.p(1), nparts*d, "part")
		dy := v.f32(a.p(2), rows*d, "dy")
		x := v.typed(xt, a.p(3), rows*d, "x", false)
		w := v.bf(a.p(4), d, "w", false)
		inv := v.f32(a.p(5), rows, "inv")
		if v.err == nil {
			// The kernel's blocks each write a partial row; the twin writes
			// the whole sum into the first and zeros the rest.
			clear(part)
			RMSNormBack(dx, part[:d], dy, x, w, inv, rows, d, a.b(8))
		}
	}
}

func ropeLaunch(t kernels.DType) func(v *mem, a args) {
	return func(v *mem, a args) {
		rows, heads, hd := a.i(3), a.i(4), a.i(5)
		x := v.typed(t, a.p(0), rows*heads*hd, "x", true)
		c := v.f32(a.p(1), rows*hd/2, "cos")
		s := v.f32(a.p(2), rows*hd/2, "sin")
		if v.err == nil {
			RoPE(x, c, s, rows, heads, hd, a.b(6), t == kernels.BF16)
		}
	}
}

func (v *mem) mask(p uintptr, n int) []int32 {
	if p == 0 {
		return nil
	}
	return v.i32(p, n, "mask")
}

var launchers = map[string]func(v *mem, a args){
	"realc_embedding": func(v *mem, a args) {
		n, d := a.i(3), a.i(4)
		tokens := v.i32(a.p(2), n, "tokens")
		x := v.f32(a.p(0), n*d, "x")
		if v.err != nil {
			return
		}
		table := v.bf(a.p(1), (maxToken(tokens)+1)*d, "table", false)
		if v.err == nil {
			Embedding(x, table, tokens, n, d)
		}
	},
	"realc_embedding_back": func(v *mem, a args) {
		n, d := a.i(3), a.i(4)
		tokens := v.i32(a.p(2), n, "tokens")
		dx := v.f32(a.p(1), n*d, "dx")
		if v.err != nil {
			return
		}
		dt := v.f32(a.p(0), (maxToken(tokens)+1)*d, "dtable")
		if v.err == nil {
			EmbeddingBack(dt, dx, tokens, n, d)
		}
	},
	"realc_rmsnorm_f32":       rmsnormLaunch(kernels.F32),
	"realc_rmsnorm_bf16":      rmsnormLaunch(kernels.BF16),
	"realc_rmsnorm_back_f32":  rmsnormBackLaunch(kernels.F32),
	"realc_rmsnorm_back_bf16": rmsnormBackLaunch(kernels.BF16),
	"realc_colsum_add": func(v *mem, a args) {
		nparts, d := a.i(2), a.i(3)
		dw := v.f32(a.p(0), d, "dw")
		part := v.f32(a.p(1), nparts*d, "part")
		if v.err != nil {
			return
		}
		for i := 0; i < d; i++ {
			var s float32
			for b := 0; b < nparts; b++ {
				s += part[b*d+i]
			}
			dw[i] += s
		}
	},
	"realc_rope_bf16": ropeLaunch(kernels.BF16),
	"realc_rope_f32":  ropeLaunch(kernels.F32),
	"realc_swiglu": func(v *mem, a args) {
		n := a.l(3)
		act := v.bf(a.p(0), n, "act", true)
		g := v.bf(a.p(1), n, "gate", false)
		u := v.bf(a.p(2), n, "up", false)
		if v.err == nil {
			SwiGLU(act, g, u, true)
		}
	},
	"realc_swiglu_back": func(v *mem, a args) {
		n := a.l(5)
		dg := v.bf(a.p(0), n, "dgate", true)
		du := v.bf(a.p(1), n, "dup", true)
		da := v.bf(a.p(2), n, "dact", false)
		g := v.bf(a.p(3), n, "gate", false)
		u := v.bf(a.p(4), n, "up", false)
		if v.err == nil {
			SwiGLUBack(dg, du, da, g, u, true)
		}
	},
	"realc_residual_add": func(v *mem, a args) {
		n := a.l(2)
		x := v.f32(a.p(0), n, "x")
		y := v.bf(a.p(1), n, "y", false)
		if v.err == nil {
			for i := range x {
				x[i] += y[i]
			}
		}
	},
	"realc_add_f32": func(v *mem, a args) {
		n := a.l(2)
		x := v.f32(a.p(0), n, "x")
		y := v.f32(a.p(1), n, "y")
		if v.err == nil {
			for i := range x {
				x[i] += y[i]
			}
		}
	},
	"realc_to_bf16": func(v *mem, a args) {
		n := a.l(2)
		out := v.bf(a.p(0), n, "out", true)
		in := v.f32(a.p(1), n, "in")
		if v.err == nil {
			copy(out, in)
		}
	},
	"realc_to_f32": func(v *mem, a args) {
		n := a.l(2)
		out := v.f32(a.p(0), n, "out")
		in := v.bf(a.p(1), n, "in", false)
		if v.err == nil {
			copy(out, in)
		}
	},
	"realc_adamw": func(v *mem, a args) {
		n := a.l(5)
		p := v.f32(a.p(0), n, "p")
		var pb []float32
		if a.p(1) != 0 {
			pb = v.bf(a.p(1), n, "pb", true)
		}
		g := v.f32(a.p(2), n, "g")
		mm := v.f32(a.p(3), n, "m")
		vv := v.f32(a.p(4), n, "v")
		if v.err == nil {
			AdamW(p, pb, g, mm, vv, a.d(6), a.d(7), a.d(8), a.d(9), a.d(10), a.d(11), a.d(12), a.d(13))
		}
	},
	"realc_sumsq": func(v *mem, a args) {
		n := a.l(2)
		part := v.f64(a.p(0), kernels.SumSqBlocks, "partial")
		g := v.f32(a.p(1), n, "g")
		if v.err == nil {
			clear(part)
			part[0] = SumSq(g)
		}
	},
	"realc_sum_final": func(v *mem, a args) {
		count := a.i(2)
		out := v.f64(a.p(0), 1, "out")
		part := v.f64(a.p(1), count, "partial")
		if v.err == nil {
			var s float64
			for _, x := range part {
				s += x
			}
			out[0] = s
		}
	},
	"realc_attention": func(v *mem, a args) {
		at := a.attn(6)
		n := at.B * at.T
		o := v.bf(a.p(0), n*at.H*at.HD, "o", true)
		lse := v.f32(a.p(1), at.B*at.H*at.T, "lse")
		q := v.bf(a.p(2), n*at.H*at.HD, "q", false)
		k := v.bf(a.p(3), n*at.KVH*at.HD, "k", false)
		vv := v.bf(a.p(4), n*at.KVH*at.HD, "v", false)
		at.Mask = v.mask(a.p(5), n)
		if v.err == nil {
			Attention(o, lse, q, k, vv, at, true)
		}
	},
	"realc_attention_dots": func(v *mem, a args) {
		at := Attn{B: a.i(3), T: a.i(4), H: a.i(5), HD: a.i(6), KVH: 1}
		n := at.B * at.T * at.H * at.HD
		dots := v.f32(a.p(0), at.B*at.H*at.T, "dots")
		o := v.bf(a.p(1), n, "o", false)
		dout := v.bf(a.p(2), n, "dout", false)
		if v.err == nil {
			AttentionDots(dots, o, dout, at)
		}
	},
	"realc_attention_back_dq": func(v *mem, a args) {
		at := a.attn(8)
		n := at.B * at.T
		dq := v.f32(a.p(0), n*at.H*at.HD, "dq")
		q := v.bf(a.p(1), n*at.H*at.HD, "q", false)
		k := v.bf(a.p(2), n*at.KVH*at.HD, "k", false)
		vv := v.bf(a.p(3), n*at.KVH*at.HD, "v", false)
		dout := v.bf(a.p(4), n*at.H*at.HD, "dout", false)
		lse := v.f32(a.p(5), at.B*at.H*at.T, "lse")
		dots := v.f32(a.p(6), at.B*at.H*at.T, "dots")
		at.Mask = v.mask(a.p(7), n)
		if v.err == nil {
			dk, dv := make([]float32, n*at.KVH*at.HD), make([]float32, n*at.KVH*at.HD)
			AttentionBack(dq, dk, dv, q, k, vv, dout, lse, dots, at)
		}
	},
	"realc_attention_back_dkv": func(v *mem, a args) {
		at := a.attn(9)
		n := at.B * at.T
		dk := v.f32(a.p(0), n*at.KVH*at.HD, "dk")
		dv := v.f32(a.p(1), n*at.KVH*at.HD, "dv")
		q := v.bf(a.p(2), n*at.H*at.HD, "q", false)
		k := v.bf(a.p(3), n*at.KVH*at.HD, "k", false)
		vv := v.bf(a.p(4), n*at.KVH*at.HD, "v", false)
		dout := v.bf(a.p(5), n*at.H*at.HD, "dout", false)
		lse := v.f32(a.p(6), at.B*at.H*at.T, "lse")
		dots := v.f32(a.p(7), at.B*at.H*at.T, "dots")
		at.Mask = v.mask(a.p(8), n)
		if v.err == nil {
			dq := make([]float32, n*at.H*at.HD)
			AttentionBack(dq, dk, dv, q, k, vv, dout, lse, dots, at)
		}
	},
	"realc_attention_decode": func(v *mem, a args) {
		dc := Decode{B: a.i(5), H: a.i(6), KVH: a.i(7), HD: a.i(8), SeqStride: a.l(9), Window: a.i(10), Scale: a.f(11)}
		qd := dc.H * dc.HD
		lens := v.i32(a.p(4), dc.B, "lens")
		o := v.bf(a.p(0), dc.B*qd, "o", true)
		q := v.bf(a.p(1), dc.B*qd, "q", false)
		if v.err != nil {
			return
		}
		maxL := 0
		for _, L := range lens {
			maxL = max(maxL, int(L))
		}
		// Sequence b's rows end at b*SeqStride + maxL*kvd.
		extent := (dc.B-1)*dc.SeqStride + maxL*dc.KVH*dc.HD
		kc := v.bf(a.p(2), extent, "kcache", false)
		vc := v.bf(a.p(3), extent, "vcache", false)
		if v.err == nil {
			AttentionDecode(o, q, kc, vc, lens, dc, true)
		}
	},
	"realc_gather_rows": func(v *mem, a args) {
		n, d := a.i(3), a.i(4)
		rows := v.i32(a.p(2), n, "rows")
		out := v.bf(a.p(0), n*d, "out", true)
		if v.err != nil {
			return
		}
		in := v.bf(a.p(1), (maxToken(rows)+1)*d, "in", false)
		if v.err == nil {
			GatherRows(out, in, rows, d)
		}
	},
	"realc_scatter_add_rows": func(v *mem, a args) {
		n, d := a.i(3), a.i(4)
		rows := v.i32(a.p(2), n, "rows")
		in := v.f32(a.p(1), n*d, "in")
		if v.err != nil {
			return
		}
		out := v.f32(a.p(0), (maxToken(rows)+1)*d, "out")
		if v.err == nil {
			ScatterAddRows(out, in, rows, d)
		}
	},
	"realc_kv_append": func(v *mem, a args) {
		B, kvd, stride := a.i(5), a.i(6), a.l(7)
		pos := v.i32(a.p(4), B, "pos")
		k := v.bf(a.p(2), B*kvd, "k", false)
		vv := v.bf(a.p(3), B*kvd, "v", false)
		if v.err != nil {
			return
		}
		extent := (B-1)*stride + (maxToken(pos)+1)*kvd
		kc := v.bf(a.p(0), extent, "kcache", true)
		vc := v.bf(a.p(1), extent, "vcache", true)
		if v.err == nil {
			KVAppend(kc, vc, k, vv, pos, B, kvd, stride)
		}
	},
}
