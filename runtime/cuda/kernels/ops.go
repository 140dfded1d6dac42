package kernels

import (
	"fmt"

	"github.com/realc-project/realc/runtime/cuda"
)

// DType is a storage type of a buffer.
type DType int

// The storage types (the values are cudaDataType_t's, as cuBLAS takes them).
const (
	F32  DType = 0
	BF16 DType = 14
)

func (t DType) String() string {
	if t == BF16 {
		return "bf16"
	}
	return "f32"
}

// Size is the element size in bytes.
func (t DType) Size() int {
	if t == BF16 {
		return 2
	}
	return 4
}

// Launch is one kernel launch on a 1-D grid, its arguments marshalled one
// 8-byte slot each. Err is set by a builder given impossible sizes; a
// Machine refuses such a launch.
type Launch struct {
	Kernel      string
	Grid, Block int
	Args        []cuda.Arg
	Err         error
}

func (l Launch) String() string {
	return fmt.Sprintf("%s<<<%d, %d>>>%v", l.Kernel, l.Grid, l.Block, l.Args)
}

func bad(kernel, format string, args ...any) Launch {
	return Launch{Kernel: kernel, Err: fmt.Errorf("kernels: %s: %s", kernel, fmt.Sprintf(format, args...))}
}

func ceil(a, b int) int { return (a + b - 1) / b }

// Grid sizes of the grid-stride kernels: enough blocks to fill a GPU, no more.
const (
	strideBlock = 256
	maxStride   = 8192
)

func strideGrid(n int) int { return max(1, min(ceil(n, strideBlock), maxStride)) }

func i32(x bool) cuda.Arg {
	if x {
		return cuda.I32(1)
	}
	return cuda.I32(0)
}

// Embedding: x [n, d] fp32 = table[tokens] (bf16 [vocab, d]); token -1 is
// padding (zeros).
func Embedding(x, table, tokens uintptr, n, d int) Launch {
	return Launch{Kernel: "realc_embedding", Grid: n, Block: 128,
		Args: []cuda.Arg{cuda.Ptr(x), cuda.Ptr(table), cuda.Ptr(tokens), cuda.I32(n), cuda.I32(d)}}
}

// EmbeddingBack: dtable[tokens[r]] += dx[r] (fp32).
func EmbeddingBack(dtable, dx, tokens uintptr, n, d int) Launch {
	return Launch{Kernel: "realc_embedding_back", Grid: n, Block: 128,
		Args: []cuda.Arg{cuda.Ptr(dtable), cuda.Ptr(dx), cuda.Ptr(tokens), cuda.I32(n), cuda.I32(d)}}
}

// RMSNorm: y (bf16) = w * x * s per row of width d, s = 1/sqrt(mean(x^2)+eps)
// stored in inv (fp32, may be 0). x is fp32 or bf16.
func RMSNorm(y, inv, x, w uintptr, xt DType, rows, d int, eps float64) Launch {
	name := "realc_rmsnorm_" + xt.String()
	return Launch{Kernel: name, Grid: ceil(rows, 8), Block: 256,
		Args: []cuda.Arg{cuda.Ptr(y), cuda.Ptr(inv), cuda.Ptr(x), cuda.Ptr(w), cuda.I32(rows), cuda.I32(d), cuda.F64(eps)}}
}

// RMSNormMaxWidth is the widest row RMSNormBack handles.
const RMSNormMaxWidth = 256 * 32

// RMSNormBackParts is the number of partial weight-gradient rows
// RMSNormBack writes (part holds RMSNormBackParts(rows) x d floats).
func RMSNormBackParts(rows int) int { return max(1, min(rows, 256)) }

// RMSNormBack: dx (fp32) = (accum ? dx : 0) + the gradient through the norm
// of dy (fp32); the weight gradient's partial sums go to part, which
// ColSumAdd adds into dw.
func RMSNormBack(dx, part, dy, x, w, inv uintptr, xt DType, rows, d int, accum bool) Launch {
	name := "realc_rmsnorm_back_" + xt.String()
	if d > RMSNormMaxWidth {
		return bad(name, "row width %d above %d", d, RMSNormMaxWidth)
	}
	return Launch{Kernel: name, Grid: RMSNormBackParts(rows), Block: 256,
		Args: []cuda.Arg{cuda.Ptr(dx), cuda.Ptr(part), cuda.Ptr(dy), cuda.Ptr(x), cuda.Ptr(w), cuda.Ptr(inv), cuda.I32(rows), cuda.I32(d), i32(accum)}}
}

// ColSumAdd: dw[i] += sum over nparts rows of part[:, i].
func ColSumAdd(dw, part uintptr, nparts, d int) Launch {
	return Launch{Kernel: "realc_colsum_add", Grid: ceil(d, 256), Block: 256,
		Args: []cuda.Arg{cuda.Ptr(dw), cuda.Ptr(part), cuda.I32(nparts), cuda.I32(d)}}
}

// RoPE rotates x [rows, heads*hd] in place by the angles cos/sin [rows, hd/2].
func RoPE(x, cos, sin uintptr, t DType, rows, heads, hd int, inverse bool) Launch {
	name := "realc_rope_" + t.String()
	if hd%2 != 0 {
		return bad(name, "odd head dimension %d", hd)
	}
	return Launch{Kernel: name, Grid: strideGrid(rows * heads * hd / 2), Block: strideBlock,
		Args: []cuda.Arg{cuda.Ptr(x), cuda.Ptr(cos), cuda.Ptr(sin), cuda.I32(rows), cuda.I32(heads), cuda.I32(hd), i32(inverse)}}
}

// SwiGLU: act = silu(gate) * up (bf16, n elements).
func SwiGLU(act, gate, up uintptr, n int) Launch {
	return Launch{Kernel: "realc_swiglu", Grid: strideGrid(n), Block: strideBlock,
		Args: []cuda.Arg{cuda.Ptr(act), cuda.Ptr(gate), cuda.Ptr(up), cuda.I64(int64(n))}}
}

// SwiGLUBack: dgate, dup from dact (all bf16).
func SwiGLUBack(dgate, dup, dact, gate, up uintptr, n int) Launch {
	return Launch{Kernel: "realc_swiglu_back", Grid: strideGrid(n), Block: strideBlock,
		Args: []cuda.Arg{cuda.Ptr(dgate), cuda.Ptr(dup), cuda.Ptr(dact), cuda.Ptr(gate), cuda.Ptr(up), cuda.I64(int64(n))}}
}

func unary(name string, a, b uintptr, n int) Launch {
	return Launch{Kernel: name, Grid: strideGrid(n), Block: strideBlock, Args: []cuda.Arg{cuda.Ptr(a), cuda.Ptr(b), cuda.I64(int64(n))}}
}

// ResidualAdd: x (fp32) += y (bf16).
func ResidualAdd(x, y uintptr, n int) Launch { return unary("realc_residual_add", x, y, n) }

// AddF32: x += y (fp32).
func AddF32(x, y uintptr, n int) Launch { return unary("realc_add_f32", x, y, n) }

// ToBF16: out (bf16) = in (fp32).
func ToBF16(out, in uintptr, n int) Launch { return unary("realc_to_bf16", out, in, n) }

// ToF32: out (fp32) = in (bf16).
func ToF32(out, in uintptr, n int) Launch { return unary("realc_to_f32", out, in, n) }

// AdamWArgs are one optimizer step's scalars (runtime/train's AdamW.Update).
type AdamWArgs struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int     // the step being taken, from 1
	GradScale                          float64 // the clip factor
}

// AdamW updates the fp32 master weights p, the moments m, v and the bf16
// copy pb (may be 0) from the fp32 gradient g.
func AdamW(p, pb, g, m, v uintptr, n int, a AdamWArgs) Launch {
	if a.Step < 1 {
		return bad("realc_adamw", "step %d (steps count from 1)", a.Step)
	}
	bc1, bc2 := BiasCorrections(a)
	return Launch{Kernel: "realc_adamw", Grid: strideGrid(n), Block: strideBlock,
		Args: []cuda.Arg{cuda.Ptr(p), cuda.Ptr(pb), cuda.Ptr(g), cuda.Ptr(m), cuda.Ptr(v), cuda.I64(int64(n)), cuda.F64(a.LR), cuda.F64(a.Beta1),
			cuda.F64(a.Beta2), cuda.F64(a.Eps), cuda.F64(a.WeightDecay), cuda.F64(bc1), cuda.F64(bc2), cuda.F64(a.GradScale)}}
}

// SumSqBlocks is the number of partial sums SumSq writes per tensor.
const SumSqBlocks = 64

// SumSq writes SumSqBlocks partial sums of g[i]^2 (float64) to partial.
func SumSq(partial, g uintptr, n int) Launch {
	return Launch{Kernel: "realc_sumsq", Grid: SumSqBlocks, Block: strideBlock,
		Args: []cuda.Arg{cuda.Ptr(partial), cuda.Ptr(g), cuda.I64(int64(n))}}
}

// SumFinal: out[0] = sum of count float64 partials.
func SumFinal(out, partial uintptr, count int) Launch {
	return Launch{Kernel: "realc_sum_final", Grid: 1, Block: strideBlock,
		Args: []cuda.Arg{cuda.Ptr(out), cuda.Ptr(partial), cuda.I32(count)}}
}

// Attn is the shape of one attention call: B sequences of T tokens, H query
// heads and KVH kv heads of HD, an optional sliding Window, Scale (usually
// 1/sqrt(HD)) and Mask (int32 [B*T], 0 for padding; 0 pointer: none).
type Attn struct {
	B, T, H, KVH, HD, Window int
	Scale                    float32
	Mask                     uintptr
}

// AttnMaxHeadDim is the largest head dimension of the attention kernels.
const AttnMaxHeadDim = 256

func (a Attn) check(name string) *Launch {
	switch {
	case a.B <= 0 || a.T <= 0 || a.H <= 0 || a.KVH <= 0 || a.HD <= 0:
		l := bad(name, "sizes must be positive: %+v", a)
		return &l
	case a.H%a.KVH != 0:
		l := bad(name, "%d heads are not a multiple of %d kv heads", a.H, a.KVH)
		return &l
	case a.HD > AttnMaxHeadDim:
		l := bad(name, "head dimension %d above %d", a.HD, AttnMaxHeadDim)
		return &l
	}
	return nil
}

func (a Attn) shape() []cuda.Arg {
	return []cuda.Arg{cuda.I32(a.B), cuda.I32(a.T), cuda.I32(a.H), cuda.I32(a.KVH), cuda.I32(a.HD), cuda.I32(a.Window), cuda.F32(a.Scale)}
}

// Attention: o (bf16 [B*T, H*HD]) and lse (fp32 [B, H, T]) from q, k, v.
func Attention(o, lse, q, k, v uintptr, a Attn) Launch {
	if l := a.check("realc_attention"); l != nil {
		return *l
	}
	return Launch{Kernel: "realc_attention", Grid: a.B * a.H * ceil(a.T, 16), Block: 128,
		Args: append([]cuda.Arg{cuda.Ptr(o), cuda.Ptr(lse), cuda.Ptr(q), cuda.Ptr(k), cuda.Ptr(v), cuda.Ptr(a.Mask)}, a.shape()...)}
}

// AttentionDots: dots (fp32 [B, H, T]) = the row sums of dout * o.
func AttentionDots(dots, o, dout uintptr, a Attn) Launch {
	if l := a.check("realc_attention_dots"); l != nil {
		return *l
	}
	return Launch{Kernel: "realc_attention_dots", Grid: ceil(a.B*a.T*a.H, 4), Block: 128,
		Args: []cuda.Arg{cuda.Ptr(dots), cuda.Ptr(o), cuda.Ptr(dout), cuda.I32(a.B), cuda.I32(a.T), cuda.I32(a.H), cuda.I32(a.HD)}}
}

// AttentionBackDQ: dq (fp32 [B*T, H*HD], overwritten).
func AttentionBackDQ(dq, q, k, v, dout, lse, dots uintptr, a Attn) Launch {
	if l := a.check("realc_attention_back_dq"); l != nil {
		return *l
	}
	return Launch{Kernel: "realc_attention_back_dq", Grid: a.B * a.H * ceil(a.T, 8), Block: 128,
		Args: append([]cuda.Arg{cuda.Ptr(dq), cuda.Ptr(q), cuda.Ptr(k), cuda.Ptr(v), cuda.Ptr(dout), cuda.Ptr(lse), cuda.Ptr(dots), cuda.Ptr(a.Mask)}, a.shape()...)}
}

// AttentionBackDKV: dk, dv (fp32 [B*T, KVH*HD], overwritten).
func AttentionBackDKV(dk, dv, q, k, v, dout, lse, dots uintptr, a Attn) Launch {
	if l := a.check("realc_attention_back_dkv"); l != nil {
		return *l
	}
	return Launch{Kernel: "realc_attention_back_dkv", Grid: a.B * a.KVH * ceil(a.T, 8), Block: 128,
		Args: append([]cuda.Arg{cuda.Ptr(dk), cuda.Ptr(dv), cuda.Ptr(q), cuda.Ptr(k), cuda.Ptr(v), cuda.Ptr(dout), cuda.Ptr(lse), cuda.Ptr(dots), cuda.Ptr(a.Mask)}, a.shape()...)}
}

// Decode is the shape of one decoding-attention call: B sequences (one new
// query each), caches of SeqStride elements per sequence.
type Decode struct {
	B, H, KVH, HD, Window int
	SeqStride             int64
	Scale                 float32
}

// AttentionDecode: o (bf16 [B, H*HD]) from q [B, H*HD] over the caches
// kc, vc up to lens[b] (int32).
func AttentionDecode(o, q, kc, vc, lens uintptr, d Decode) Launch {
	if l := (Attn{B: d.B, T: 1, H: d.H, KVH: d.KVH, HD: d.HD}).check("realc_attention_decode"); l != nil {
		return *l
	}
	return Launch{Kernel: "realc_attention_decode", Grid: d.B * d.H, Block: 128,
		Args: []cuda.Arg{cuda.Ptr(o), cuda.Ptr(q), cuda.Ptr(kc), cuda.Ptr(vc), cuda.Ptr(lens), cuda.I32(d.B), cuda.I32(d.H), cuda.I32(d.KVH),
			cuda.I32(d.HD), cuda.I64(d.SeqStride), cuda.I32(d.Window), cuda.F32(d.Scale)}}
}

// KVAppend writes k, v [B, kvd] at row pos[b] (int32) of each cache.
func KVAppend(kc, vc, k, v, pos uintptr, B, kvd int, seqStride int64) Launch {
	return Launch{Kernel: "realc_kv_append", Grid: B, Block: 128,
		Args: []cuda.Arg{cuda.Ptr(kc), cuda.Ptr(vc), cuda.Ptr(k), cuda.Ptr(v), cuda.Ptr(pos), cuda.I32(B), cuda.I32(kvd), cuda.I64(seqStride)}}
}

// GatherRows: out[i] = in[rows[i]] (bf16 rows of width d; rows int32 [n]).
func GatherRows(out, in, rows uintptr, n, d int) Launch {
	return Launch{Kernel: "realc_gather_rows", Grid: n, Block: 128,
		Args: []cuda.Arg{cuda.Ptr(out), cuda.Ptr(in), cuda.Ptr(rows), cuda.I32(n), cuda.I32(d)}}
}

// ScatterAddRows: out[rows[i]] += in[i] (fp32 rows of width d).
func ScatterAddRows(out, in, rows uintptr, n, d int) Launch {
	return Launch{Kernel: "realc_scatter_add_rows", Grid: n, Block: 128,
		Args: []cuda.Arg{cuda.Ptr(out), cuda.Ptr(in), cuda.Ptr(rows), cuda.I32(n), cuda.I32(d)}}
}
