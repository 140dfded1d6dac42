package asm

import "golang.org/x/sys/cpu"

// Kernel6x16 adds A6 * B16 over k steps into C[0:6, 0:16]: A packed as k
// groups of 6 floats (one per row), B as k groups of 16 (one per column),
// ldc C's row stride in floats. No bounds checks: callers check.
//
//go:noescape
func Kernel6x16(k int, a, b, c *float32, ldc int)

// Dot4x8 sets out[r] to the dot product of x[0:8n] with b[r*ldb : r*ldb+8n]
// for r < 4 (matrix-vector products against rows of B). No bounds checks:
// callers check.
//
//go:noescape
func Dot4x8(n int, x, b *float32, ldb int, out *[4]float32)

// SumRows8 sets out to the sum over p < n of x[p] * b[p*ldb : p*ldb+8]
// (eight columns of x times B). No bounds checks: callers check.
//
//go:noescape
func SumRows8(n int, x, b *float32, ldb int, out *[8]float32)

// HasAVX2 reports AVX2 and FMA with the OS saving the YMM registers
// (golang.org/x/sys/cpu checks XGETBV too).
var HasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// HasAVX512 reports AVX-512 F, BW, DQ and VL (every AVX-512 CPU since
// Skylake-SP and Zen 4; the kernels use 32-bit masks and masked 128- and
// 256-bit moves) with the OS saving the ZMM and opmask state.
var HasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && HasAVX2

// Kernel12x32 sets (add == 0) or adds to (add != 0) C[0:12, 0:32] the
// product A12 * B32 over k steps: A packed as k groups of 12 floats (one per
// row), B as k groups of 32 (one per column), ldc C's row stride in floats.
// AVX-512. No bounds checks: callers check.
//
//go:noescape
func Kernel12x32(k int, a, b, c *float32, ldc int, add int)

// DotRows16 sets (add == 0) or adds to (add != 0) c[r], r < 16, alpha
// times the dot product of x[0:k] with w[r*ldw : r*ldw+k]: one vector
// against sixteen rows of a matrix stored [out, in]. AVX-512. No bounds
// checks: callers check.
//
//go:noescape
func DotRows16(k int, x, w *float32, ldw int, c *float32, alpha float32, add int)

// DotTile4x4 sets (add == 0) or adds to (add != 0) c[r*ldc+s], r < nx,
// s < nw (both in 1..4), alpha times the dot product of x[r][0:k] with
// w[s][0:k]. Every one of the eight
// pointers must address k readable floats (repeat one past nx or nw); only
// the nx x nw results are written. AVX-512. No bounds checks: callers check.
//
//go:noescape
func DotTile4x4(k int, x, w *[4]*float32, c *float32, ldc int, nx, nw int, alpha float32, add int)

// DotPanel8x3 sets (add == 0) or adds to (add != 0) c[r*ldc+3p+s], for
// r < 8, p < triples and s < 3, alpha times the dot product of
// x[r*ldx:][0:k] with w[(3p+s)*ldw:][0:k]: eight rows of x against
// 3*triples rows of w, each weight row read once for all eight (a batched
// decoding step), with the same sums as DotTile4x4 bit for bit. AVX-512. No
// bounds checks: callers check.
//
//go:noescape
func DotPanel8x3(k int, x *float32, ldx int, w *float32, ldw int, triples int, c *float32, ldc int, alpha float32, add int)

// AxpyRows64 sets (add == 0) or adds to (add != 0) c[j], j < cols (1..64),
// alpha times the sum over p < n of x[p] * b[p*ldb+j]: up to 64 columns of
// a vector-matrix product in one pass over b's rows. Columns past cols are
// neither read nor written, and each column's sum is the same whatever cols
// is. AVX-512. No bounds checks: callers check.
//
//go:noescape
func AxpyRows64(n int, x, b *float32, ldb int, c *float32, cols int, alpha float32, add int)

// Transpose16 reads rows r < nrows (1..16) of src (row stride lds floats),
// columns c < ncols (1..16), taking zeros beyond them, and writes alpha times
// the transpose: row c < ncols of dst (stride ldd) gets lanes 0..width-1
// (width 1..16), lane r holding src[r*lds+c]. AVX-512. No bounds checks:
// callers check.
//
//go:noescape
func Transpose16(src *float32, lds, nrows, ncols int, dst *float32, ldd, width int, alpha float32)

// ExpShift sets x[i] = exp(x[i] - shift) for i < n and returns their sum
// (a softmax numerator). The exponential is runtime/model's exp32 in
// 16 lanes: 0 below -87.3, +Inf above 88.72, NaN kept. AVX-512. No bounds
// checks: callers check.
//
//go:noescape
func ExpShift(x *float32, n int, shift float32) float32

// SwiGLU sets act[i] = gate[i] / (1 + exp(-gate[i])) * up[i] for i < n.
// AVX-512. No bounds checks: callers check.
//
//go:noescape
func SwiGLU(act, gate, up *float32, n int)

// SwiGLUBack sets, with s = 1 / (1 + exp(-gate[i])), dup[i] = dact[i] *
// gate[i] * s and dgate[i] = dact[i] * up[i] * s * (1 + gate[i] * (1 - s))
// for i < n. AVX-512. No bounds checks: callers check.
//
//go:noescape
func SwiGLUBack(dgate, dup, dact, gate, up *float32, n int)

// PackRows sets, for p < n, dst[p*ldd+j] = alpha * src[p*lds+j] for j < cols
// and 0 for cols <= j < width (cols <= width <= 32): packing where the packed
// order is the stored one. AVX-512. No bounds checks: callers check.
//
//go:noescape
func PackRows(src *float32, lds, n, cols int, dst *float32, ldd, width int, alpha float32)

// SumSq returns the sum of x[i]^2 for i < n, accumulated in float64.
// AVX-512. No bounds checks.
//
//go:noescape
func SumSq(x *float32, n int) float64

// ScaleMul sets y[i] = w[i] * (x[i] * s) for i < n. AVX-512. No bounds checks.
//
//go:noescape
func ScaleMul(y, x, w *float32, n int, s float32)

// RMSBackRow is the backward of y = w*x*s over one row of n (s the row's
// inverse RMS): with c = (sum of w*dy*x) * s^3 / n, dw[i] += dy[i]*x[i]*s
// and dx[i] += s*w[i]*dy[i] - c*x[i]. AVX-512. No bounds checks.
//
//go:noescape
func RMSBackRow(dx, dw, dy, x, w *float32, n int, s float32)

// Kernel12x32Rows is Kernel12x32 reading A where it lies: row i of the 12 at
// a[i*lda:], element p at a[i*lda+p] (no packing for a row-major A). AVX-512.
// No bounds checks: callers check.
//
//go:noescape
func Kernel12x32Rows(k int, a *float32, lda int, b, c *float32, ldc int, add int)

// MaxOf returns the largest of x[i] for i < n, skipping NaNs (-Inf when
// there is none, or n is 0). AVX-512. No bounds checks: callers check.
//
//go:noescape
func MaxOf(x *float32, n int) float32

// Scale sets x[i] *= s for i < n. AVX-512. No bounds checks: callers check.
//
//go:noescape
func Scale(x *float32, n int, s float32)

// SoftmaxBackRow sets, with dot the sum of p[i]*d[i] over i < n,
// d[i] = p[i] * (d[i] - dot) * scale. AVX-512. No bounds checks: callers
// check.
//
//go:noescape
func SoftmaxBackRow(p, d *float32, n int, scale float32)

// RopeRow rotates each of the heads of one row of x (2*half floats a head,
// element i paired with i+half) by the angles with cosines cs[i] and sines
// sign*sn[i]: x[i], x[i+half] become x[i]*c - x[i+half]*s and
// x[i+half]*c + x[i]*s. AVX-512. No bounds checks: callers check.
//
//go:noescape
func RopeRow(x, cs, sn *float32, heads, half int, sign float32)
