// Package kerneltest holds test cases for every kernel of runtime/cuda/kernels
// and every GEMM type pair: random inputs, the launches, and the tolerance
// of each output. Run runs a case on any kernels.Machine; Compare checks a
// candidate machine's outputs (the host emulation of the .cu files, or a
// GPU) against the reference (runtime/cuda/twin's Machine). The emulation
// tests and the on-device check share these cases.
package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/realc-project/realc/runtime/cuda/kernels"
)

// Elem is a buffer's element type.
type Elem int

// Element types.
const (
	F32 Elem = iota
	BF16
	I32
	F64
)

func (e Elem) size() int {
	switch e {
	case BF16:
		return 2
	case F64:
		return 8
	}
	return 4
}

// Tol bounds |got - want| by Abs*max|want| + Rel*|want| (max over the buffer).
type Tol struct{ Abs, Rel float64 }

// Tolerances for the usual outputs.
var (
	// One bf16 rounding apart (two sides rounding float32 values that differ
	// in the last bits may land one bf16 ulp, 2^-7 relative at most, apart).
	BF16Tol = Tol{Abs: 1e-3, Rel: 1.0 / 128}
	// float32 sums taken in another order.
	F32Tol = Tol{Abs: 1e-5, Rel: 1e-5}
	// Exact.
	Exact = Tol{}
)

// Buf is one buffer of a case.
type Buf struct {
	Name string
	Elem Elem
	Data []float64 // initial contents (converted to Elem; bf16 rounded)
	Out  *Tol      // compared when not nil
}

// Op is one launch or GEMM.
type Op struct {
	Launch *kernels.Launch
	Gemm   *kernels.Gemm
}

// L wraps a launch.
func L(l kernels.Launch) Op { return Op{Launch: &l} }

// G wraps a GEMM.
func G(g kernels.Gemm) Op { return Op{Gemm: &g} }

// Case is one kernel (or GEMM) test: buffers and the operations over their
// addresses (in Bufs order).
type Case struct {
	Name string
	Bufs []Buf
	Ops  func(p []uintptr) []Op
}

// Run allocates and fills the buffers on m, runs the operations, and returns
// every output buffer's contents as float64.
func Run(m kernels.Machine, c Case) (map[string][]float64, error) {
	ps := make([]uintptr, len(c.Bufs))
	defer func() {
		for _, p := range ps {
			if p != 0 {
				m.Free(p)
			}
		}
	}()
	for i, b := range c.Bufs {
		p, err := m.Alloc(int64(len(b.Data) * b.Elem.size()))
		if err != nil {
			return nil, err
		}
		ps[i] = p
		if err := m.Write(p, encode(b.Elem, b.Data)); err != nil {
			return nil, err
		}
	}
	for _, op := range c.Ops(ps) {
		var err error
		if op.Launch != nil {
			err = m.Launch(*op.Launch)
		} else {
			err = m.Gemm(*op.Gemm)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c.Name, err)
		}
	}
	out := map[string][]float64{}
	for i, b := range c.Bufs {
		if b.Out == nil {
			continue
		}
		raw := make([]byte, len(b.Data)*b.Elem.size())
		if err := m.Read(raw, ps[i]); err != nil {
			return nil, err
		}
		out[b.Name] = decode(b.Elem, raw)
	}
	return out, nil
}

func encode(e Elem, xs []float64) []byte {
	switch e {
	case BF16:
		h := make([]uint16, len(xs))
		for i, x := range xs {
			u := math.Float32bits(float32(x))
			u += 0x7fff + (u>>16)&1
			h[i] = uint16(u >> 16)
		}
		return kernels.U16Bytes(h)
	case I32:
		v := make([]int32, len(xs))
		for i, x := range xs {
			v[i] = int32(x)
		}
		return kernels.I32Bytes(v)
	case F64:
		return kernels.F64Bytes(xs)
	}
	v := make([]float32, len(xs))
	for i, x := range xs {
		v[i] = float32(x)
	}
	return kernels.F32Bytes(v)
}

func decode(e Elem, b []byte) []float64 {
	var out []float64
	switch e {
	case BF16:
		for _, h := range kernels.BytesU16(b) {
			out = append(out, float64(math.Float32frombits(uint32(h)<<16)))
		}
	case I32:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, float64(int32(uint32(b[i])|uint32(b[i+1])<<8|uint32(b[i+2])<<16|uint32(b[i+3])<<24)))
		}
	case F64:
		out = kernels.BytesF64(b)
	default:
		for _, x := range kernels.BytesF32(b) {
			out = append(out, float64(x))
		}
	}
	return out
}

// Compare lists how got differs from want beyond each output's tolerance
// (nil when within). NaN or Inf on one side only is always a difference.
func Compare(c Case, want, got map[string][]float64) []string {
	var bad []string
	for _, b := range c.Bufs {
		if b.Out == nil {
			continue
		}
		w, g := want[b.Name], got[b.Name]
		if len(w) != len(g) {
			bad = append(bad, fmt.Sprintf("%s: %d values, want %d", b.Name, len(g), len(w)))
			continue
		}
		mx := 0.0
		for _, x := range w {
			if !math.IsInf(x, 0) && !math.IsNaN(x) {
				mx = max(mx, math.Abs(x))
			}
		}
		n, worst, wi := 0, 0.0, -1
		for i := range w {
			if w[i] == g[i] || (math.IsNaN(w[i]) && math.IsNaN(g[i])) {
				continue
			}
			d := math.Abs(g[i] - w[i])
			lim := b.Out.Abs*mx + b.Out.Rel*math.Abs(w[i])
			if !(d <= lim) {
				n++
				if r := d / math.Max(lim, 1e-300); !(r <= worst) {
					worst, wi = r, i
				}
			}
		}
		if n > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d of %d values off (worst [%d] = %v, want %v, %.3g x the tolerance %+v of max %v)", b.Name, n, len(w), wi, g[wi], w[wi], worst, *b.Out, mx))
		}
	}
	sort.Strings(bad)
	return bad
}

// Size selects case sizes: Small for the CPU emulation, Large adds
// realistic shapes for a GPU.
type Size int

// Sizes.
const (
	Small Size = iota
	Large
)

type gen struct{ r *rand.Rand }

func (g gen) normal(n int, std float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = g.r.NormFloat64() * std
	}
	return xs
}

func (g gen) around1(n int) []float64 {
	xs := g.normal(n, 0.2)
	for i := range xs {
		xs[i]++
	}
	return xs
}

func zeros(n int) []float64 { return make([]float64, n) }

func in(name string, e Elem, data []float64) Buf { return Buf{Name: name, Elem: e, Data: data} }

func out(name string, e Elem, data []float64, tol Tol) Buf {
	t := tol
	return Buf{Name: name, Elem: e, Data: data, Out: &t}
}

func ropeTables(g gen, rows, hd int) (cos, sin []float64) {
	half := hd / 2
	cos, sin = make([]float64, rows*half), make([]float64, rows*half)
	for r := 0; r < rows; r++ {
		pos := float64(g.r.IntN(4096))
		for i := 0; i < half; i++ {
			a := pos * math.Pow(1e6, -float64(2*i)/float64(hd))
			cos[r*half+i], sin[r*half+i] = math.Cos(a), math.Sin(a)
		}
	}
	return cos, sin
}

// Cases returns every kernel's cases for a seed.
func Cases(seed uint64, size Size) []Case {
	g := gen{rand.New(rand.NewPCG(seed, 0x6b65726e))}
	var cs []Case
	type dims struct{ n, d int }
	embed := []dims{{7, 40}, {33, 130}}
	norms := []dims{{5, 8}, {19, 72}, {9, 300}}
	elems := []int{1000, 3001}
	if size == Large {
		embed = append(embed, dims{512, 4096})
		norms = append(norms, dims{4096, 128}, dims{512, 4096}, dims{64, 8192})
		elems = append(elems, 1<<22+17)
	}
	for _, e := range embed {
		vocab := 50
		tok := make([]float64, e.n)
		for i := range tok {
			tok[i] = float64(g.r.IntN(vocab))
			if i%5 == 3 {
				tok[i] = -1 // padding
			}
			if i%7 == 2 {
				tok[i] = 4 // repeated: atomics in the backward
			}
		}
		n, d := e.n, e.d
		cs = append(cs, Case{Name: fmt.Sprintf("embedding/n%d/d%d", n, d),
			Bufs: []Buf{out("x", F32, g.normal(n*d, 1), Exact), in("table", BF16, g.normal(vocab*d, 1)), in("tokens", I32, tok)},
			Ops:  func(p []uintptr) []Op { return []Op{L(kernels.Embedding(p[0], p[1], p[2], n, d))} }})
		cs = append(cs, Case{Name: fmt.Sprintf("embedding_back/n%d/d%d", n, d),
			Bufs: []Buf{out("dtable", F32, g.normal(vocab*d, 1), F32Tol), in("dx", F32, g.normal(n*d, 1)), in("tokens", I32, tok)},
			Ops:  func(p []uintptr) []Op { return []Op{L(kernels.EmbeddingBack(p[0], p[1], p[2], n, d))} }})
	}
	for _, nd := range norms {
		rows, d := nd.n, nd.d
		for _, xt := range []kernels.DType{kernels.F32, kernels.BF16} {
			xe := F32
			if xt == kernels.BF16 {
				xe = BF16
			}
			cs = append(cs, Case{Name: fmt.Sprintf("rmsnorm_%v/rows%d/d%d", xt, rows, d),
				Bufs: []Buf{out("y", BF16, zeros(rows*d), BF16Tol), out("inv", F32, zeros(rows), F32Tol), in("x", xe, g.normal(rows*d, 2)), in("w", BF16, g.around1(d))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.RMSNorm(p[0], p[1], p[2], p[3], xt, rows, d, 1e-6))} }})
			// Overwriting for fp32 rows, accumulating for bf16 (both paths
			// of both kernels, at half the emulation time).
			for _, accum := range []bool{xt == kernels.BF16} {
				nparts := kernels.RMSNormBackParts(rows)
				x := g.normal(rows*d, 2)
				inv := make([]float64, rows)
				for r := range inv {
					var ss float64
					for _, v := range x[r*d : r*d+d] {
						ss += v * v
					}
					inv[r] = 1 / math.Sqrt(ss/float64(d)+1e-6)
				}
				cs = append(cs, Case{Name: fmt.Sprintf("rmsnorm_back_%v/rows%d/d%d/accum%v", xt, rows, d, accum),
					Bufs: []Buf{out("dx", F32, g.normal(rows*d, 1), Tol{Abs: 1e-5, Rel: 1e-4}), in("part", F32, zeros(nparts*d)), in("dy", F32, g.normal(rows*d, 1)),
						in("x", xe, x), in("w", BF16, g.around1(d)), in("inv", F32, inv), out("dw", F32, g.normal(d, 1), Tol{Abs: 1e-5, Rel: 1e-4})},
					Ops: func(p []uintptr) []Op {
						return []Op{L(kernels.RMSNormBack(p[0], p[1], p[2], p[3], p[4], p[5], xt, rows, d, accum)), L(kernels.ColSumAdd(p[6], p[1], nparts, d))}
					}})
			}
		}
	}
	ropes := []struct{ rows, heads, hd int }{{5, 3, 8}, {9, 2, 64}}
	if size == Large {
		ropes = append(ropes, struct{ rows, heads, hd int }{2048, 32, 128})
	}
	for _, rp := range ropes {
		rows, heads, hd := rp.rows, rp.heads, rp.hd
		cos, sin := ropeTables(g, rows, hd)
		for _, t := range []kernels.DType{kernels.F32, kernels.BF16} {
			e, tol := F32, F32Tol
			if t == kernels.BF16 {
				e, tol = BF16, BF16Tol
			}
			for _, inv := range []bool{false, true} {
				cs = append(cs, Case{Name: fmt.Sprintf("rope_%v/rows%d/h%d/hd%d/inverse%v", t, rows, heads, hd, inv),
					Bufs: []Buf{out("x", e, g.normal(rows*heads*hd, 1), tol), in("cos", F32, cos), in("sin", F32, sin)},
					Ops:  func(p []uintptr) []Op { return []Op{L(kernels.RoPE(p[0], p[1], p[2], t, rows, heads, hd, inv))} }})
			}
		}
	}
	for _, n := range elems {
		n := n
		cs = append(cs,
			Case{Name: fmt.Sprintf("swiglu/n%d", n),
				Bufs: []Buf{out("act", BF16, zeros(n), BF16Tol), in("gate", BF16, g.normal(n, 3)), in("up", BF16, g.normal(n, 1))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.SwiGLU(p[0], p[1], p[2], n))} }},
			Case{Name: fmt.Sprintf("swiglu_back/n%d", n),
				Bufs: []Buf{out("dgate", BF16, zeros(n), BF16Tol), out("dup", BF16, zeros(n), BF16Tol), in("dact", BF16, g.normal(n, 1)), in("gate", BF16, g.normal(n, 3)), in("up", BF16, g.normal(n, 1))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.SwiGLUBack(p[0], p[1], p[2], p[3], p[4], n))} }},
			Case{Name: fmt.Sprintf("residual_add/n%d", n),
				Bufs: []Buf{out("x", F32, g.normal(n, 1), Exact), in("y", BF16, g.normal(n, 1))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.ResidualAdd(p[0], p[1], n))} }},
			Case{Name: fmt.Sprintf("add_f32/n%d", n),
				Bufs: []Buf{out("x", F32, g.normal(n, 1), Exact), in("y", F32, g.normal(n, 1))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.AddF32(p[0], p[1], n))} }},
			Case{Name: fmt.Sprintf("to_bf16/n%d", n),
				Bufs: []Buf{out("out", BF16, zeros(n), Exact), in("in", F32, g.normal(n, 100))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.ToBF16(p[0], p[1], n))} }},
			Case{Name: fmt.Sprintf("to_f32/n%d", n),
				Bufs: []Buf{out("out", F32, zeros(n), Exact), in("in", BF16, g.normal(n, 100))},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.ToF32(p[0], p[1], n))} }},
		)
		v := g.normal(n, 0.01)
		for i := range v {
			v[i] = math.Abs(v[i])
		}
		a := kernels.AdamWArgs{LR: 3e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Step: 3, GradScale: 0.7}
		cs = append(cs, Case{Name: fmt.Sprintf("adamw/n%d", n),
			Bufs: []Buf{out("p", F32, g.normal(n, 0.2), Exact), out("pb", BF16, zeros(n), Exact), in("g", F32, g.normal(n, 1)),
				out("m", F32, g.normal(n, 0.1), Exact), out("v", F32, v, Exact)},
			Ops: func(p []uintptr) []Op { return []Op{L(kernels.AdamW(p[0], p[1], p[2], p[3], p[4], n, a))} }})
	}
	// The global norm over three tensors: partials of each, then one sum.
	{
		sizes := []int{1000, 37, 5000}
		if size == Large {
			sizes = append(sizes, 1<<24+3)
		}
		bufs := []Buf{out("out", F64, zeros(1), Tol{Rel: 1e-12}), in("partial", F64, zeros(len(sizes)*kernels.SumSqBlocks))}
		for i, n := range sizes {
			bufs = append(bufs, in(fmt.Sprint("g", i), F32, g.normal(n, 1)))
		}
		cs = append(cs, Case{Name: "gradnorm", Bufs: bufs, Ops: func(p []uintptr) []Op {
			var ops []Op
			for i, n := range sizes {
				ops = append(ops, L(kernels.SumSq(p[1]+uintptr(8*i*kernels.SumSqBlocks), p[2+i], n)))
			}
			return append(ops, L(kernels.SumFinal(p[0], p[1], len(sizes)*kernels.SumSqBlocks)))
		}})
	}
	// Gathers and scatters: the loss's rows from the model's, repeats
	// included.
	for _, nd := range embed {
		n, d, src := nd.n, nd.d, nd.n+5
		rows := make([]float64, n)
		for i := range rows {
			rows[i] = float64(g.r.IntN(src))
		}
		rows[n-1] = rows[0]
		cs = append(cs,
			Case{Name: fmt.Sprintf("gather_rows/n%d/d%d", n, d),
				Bufs: []Buf{out("out", BF16, zeros(n*d), Exact), in("in", BF16, g.normal(src*d, 1)), in("rows", I32, rows)},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.GatherRows(p[0], p[1], p[2], n, d))} }},
			Case{Name: fmt.Sprintf("scatter_add_rows/n%d/d%d", n, d),
				Bufs: []Buf{out("out", F32, g.normal(src*d, 1), F32Tol), in("in", F32, g.normal(n*d, 1)), in("rows", I32, rows)},
				Ops:  func(p []uintptr) []Op { return []Op{L(kernels.ScatterAddRows(p[0], p[1], p[2], n, d))} }})
	}
	cs = append(cs, attentionCases(g, size)...)
	cs = append(cs, gemmCases(g, size)...)
	return cs
}

func attentionCases(g gen, size Size) []Case {
	type shape struct {
		B, T, H, KVH, HD, Window int
		mask                     bool
	}
	shapes := []shape{{2, 21, 4, 2, 8, 0, false}, {1, 37, 2, 1, 40, 0, true}, {2, 19, 3, 3, 16, 5, false}, {1, 9, 2, 2, 256, 0, false}}
	if size == Large {
		shapes = append(shapes, shape{2, 512, 16, 4, 128, 0, true}, shape{1, 1024, 8, 8, 64, 100, false}, shape{4, 256, 32, 8, 128, 0, false})
	}
	var cs []Case
	for _, s := range shapes {
		n := s.B * s.T
		qd, kvd := s.H*s.HD, s.KVH*s.HD
		a := kernels.Attn{B: s.B, T: s.T, H: s.H, KVH: s.KVH, HD: s.HD, Window: s.Window, Scale: float32(1 / math.Sqrt(float64(s.HD)))}
		var mask []float64
		if s.mask {
			mask = make([]float64, n)
			for b := 0; b < s.B; b++ {
				for t := 0; t < s.T; t++ {
					if t >= 3+b || t%11 == 10 { // left padding, and a hole
						mask[b*s.T+t] = 1
					}
				}
			}
		}
		name := fmt.Sprintf("B%d/T%d/H%d/KVH%d/hd%d/window%d/mask%v", s.B, s.T, s.H, s.KVH, s.HD, s.Window, s.mask)
		q, k, v := g.normal(n*qd, 1), g.normal(n*kvd, 1), g.normal(n*kvd, 1)
		maskBuf := func() Buf {
			if mask == nil {
				return in("mask", I32, zeros(1))
			}
			return in("mask", I32, mask)
		}
		withMask := func(a kernels.Attn, p uintptr) kernels.Attn {
			if mask != nil {
				a.Mask = p
			}
			return a
		}
		cs = append(cs, Case{Name: "attention/" + name,
			Bufs: []Buf{out("o", BF16, zeros(n*qd), BF16Tol), out("lse", F32, zeros(s.B*s.H*s.T), F32Tol), in("q", BF16, q), in("k", BF16, k), in("v", BF16, v), maskBuf()},
			Ops: func(p []uintptr) []Op {
				return []Op{L(kernels.Attention(p[0], p[1], p[2], p[3], p[4], withMask(a, p[5])))}
			}})
		// The backward from the forward's own o and lse (the twin's: both
		// sides start from the same numbers).
		do := g.normal(n*qd, 1)
		gradTol := Tol{Abs: 2e-4, Rel: 2e-3}
		cs = append(cs, Case{Name: "attention_back/" + name,
			Bufs: []Buf{out("dq", F32, zeros(n*qd), gradTol), out("dk", F32, zeros(n*kvd), gradTol), out("dv", F32, zeros(n*kvd), gradTol),
				in("q", BF16, q), in("k", BF16, k), in("v", BF16, v), in("dout", BF16, do), in("o", BF16, zeros(n*qd)), in("lse", F32, zeros(s.B*s.H*s.T)),
				out("dots", F32, zeros(s.B*s.H*s.T), Tol{Abs: 1e-5, Rel: 1e-4}), maskBuf()},
			Ops: func(p []uintptr) []Op {
				aa := withMask(a, p[10])
				return []Op{
					L(kernels.Attention(p[7], p[8], p[3], p[4], p[5], aa)),
					L(kernels.AttentionDots(p[9], p[7], p[6], aa)),
					L(kernels.AttentionBackDQ(p[0], p[3], p[4], p[5], p[6], p[8], p[9], aa)),
					L(kernels.AttentionBackDKV(p[1], p[2], p[3], p[4], p[5], p[6], p[8], p[9], aa)),
				}
			}})
		// Decoding: every sequence's last real position over a cache of
		// maxLen rows (the tail rows are garbage the kernel must not read).
		maxLen := s.T + 3
		stride := maxLen * kvd
		kc, vc := g.normal(s.B*stride, 1), g.normal(s.B*stride, 1)
		lens := make([]float64, s.B)
		for b := range lens {
			lens[b] = float64(s.T - b)
		}
		d := kernels.Decode{B: s.B, H: s.H, KVH: s.KVH, HD: s.HD, Window: s.Window, SeqStride: int64(stride), Scale: a.Scale}
		cs = append(cs, Case{Name: "attention_decode/" + name,
			Bufs: []Buf{out("o", BF16, zeros(s.B*qd), BF16Tol), in("q", BF16, g.normal(s.B*qd, 1)), in("kc", BF16, kc), in("vc", BF16, vc), in("lens", I32, lens)},
			Ops:  func(p []uintptr) []Op { return []Op{L(kernels.AttentionDecode(p[0], p[1], p[2], p[3], p[4], d))} }})
		pos := make([]float64, s.B)
		for b := range pos {
			pos[b] = float64(s.T - 1 - b)
		}
		cs = append(cs, Case{Name: "kv_append/" + name,
			Bufs: []Buf{out("kc", BF16, kc, Exact), out("vc", BF16, vc, Exact), in("k", BF16, g.normal(s.B*kvd, 1)), in("v", BF16, g.normal(s.B*kvd, 1)), in("pos", I32, pos)},
			Ops: func(p []uintptr) []Op {
				return []Op{L(kernels.KVAppend(p[0], p[1], p[2], p[3], p[4], s.B, kvd, int64(stride)))}
			}})
	}
	return cs
}

func gemmCases(g gen, size Size) []Case {
	type shape struct{ m, n, k int }
	shapes := []shape{{5, 7, 3}, {33, 17, 40}}
	if size == Large {
		shapes = append(shapes, shape{1024, 4096, 4096}, shape{4096, 1024, 4096})
	}
	var cs []Case
	for _, s := range shapes {
		for _, types := range [][2]kernels.DType{{kernels.F32, kernels.F32}, {kernels.BF16, kernels.BF16}, {kernels.BF16, kernels.F32}} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				s, types, tr := s, types, tr
				ab, ct := F32, F32
				if types[0] == kernels.BF16 {
					ab = BF16
				}
				tol := Tol{Abs: 1e-5 * math.Sqrt(float64(s.k)), Rel: 1e-5}
				if types[1] == kernels.BF16 {
					ct, tol = BF16, BF16Tol
				}
				ra, ca := s.m, s.k
				if tr[0] {
					ra, ca = s.k, s.m
				}
				rb, cb := s.k, s.n
				if tr[1] {
					rb, cb = s.n, s.k
				}
				cs = append(cs, Case{Name: fmt.Sprintf("gemm/%v->%v/trans%v%v/%dx%dx%d", types[0], types[1], tr[0], tr[1], s.m, s.n, s.k),
					Bufs: []Buf{in("A", ab, g.normal(ra*ca, 1)), in("B", ab, g.normal(rb*cb, 1)), out("C", ct, g.normal(s.m*s.n, 1), tol)},
					Ops: func(p []uintptr) []Op {
						return []Op{G(kernels.Gemm{TransA: tr[0], TransB: tr[1], M: s.m, N: s.n, K: s.k, Alpha: 1.25, Beta: 0.5,
							A: p[0], LDA: ca, B: p[1], LDB: cb, C: p[2], LDC: s.n, AB: types[0], CT: types[1]})}
					}})
			}
		}
	}
	return cs
}
