// Package blas is realc's single-precision matrix multiply, the one entry point
// that models and fused kernels call. A pure-Go implementation is always there;
// OpenBLAS through cgo replaces it under the `openblas` build tag.
//
// The pure-Go Sgemm runs assembly micro-kernels: AVX-512 (a 12x32 tile, and
// for products of a few rows against weights stored [n x k], as in decoding,
// dot-product tiles that read each weight once for all rows) where the CPU
// has it, else AVX2+FMA (6x16), else Go (4x4). SgemmSerial's products may
// skip a causal triangle (Triangle). ExpShift, Max, Scale, SoftmaxBackRow,
// SwiGLU, SwiGLUBack, SumSq, ScaleMul, RMSNormBackRow and RopeRow are the
// row kernels of a transformer step, AVX-512 where the CPU has it (Go
// otherwise).
package blas

// Sgemm computes C = alpha * op(A) * op(B) + beta * C on row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n;
// lda, ldb, ldc are the row strides of A, B and C as stored.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial returns Sgemm computed on the calling goroutine alone (the
// pure-Go multiply without its two-way split), for callers that already run
// independent products on every processor: attention's heads, whose many
// small products each paid a handoff and waited for the slower half. It
// also skips what its Triangle says is zero or unneeded. ok is false with a
// native library, which threads inside every call (OpenBLAS called from two
// goroutines at once measured 3.5x slower than from one): such callers then
// keep to one goroutine and call Sgemm (Whole).
func SgemmSerial() (fn TriFunc, ok bool) {
	if native != nil {
		return nil, false
	}
	return sgemmSerialGo, true
}

// TriFunc is an Sgemm that may skip the part of the product its Triangle
// marks as zero or unneeded.
type TriFunc func(tri Triangle, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// Whole is f as a TriFunc that computes the whole product whatever the
// Triangle (which only ever marks work that may be skipped).
func Whole(f Func) TriFunc {
	return func(_ Triangle, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		f(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// Func is the signature shared by every Sgemm implementation.
type Func func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// Impl names one implementation, for benchmarks that compare them side by side.
type Impl struct {
	Name string
	Fn   Func
}

// Impls lists the implementations compiled in, the default (used by Sgemm) first.
func Impls() []Impl {
	if native != nil {
		return []Impl{{nativeName, native}, {"go", SgemmGo}}
	}
	return []Impl{{"go", SgemmGo}}
}

// Backend names the implementation behind Sgemm: "go" or "openblas".
func Backend() string {
	if native != nil {
		return nativeName
	}
	return "go"
}

// sgemm is what Sgemm calls: the native library when compiled in, else pure Go.
var sgemm Func = SgemmGo

// native is set by the cgo file of a build tag (openblas).
var (
	native     Func
	nativeName string
)

// checkArgs panics with a message naming the bad argument: a short slice here
// is a programming error of the caller, like an out-of-range index.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("blas: negative dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if k > 0 {
		if lda < max(1, ac) || len(a) < (ar-1)*lda+ac {
			panic("blas: A too short for its shape and lda")
		}
		if ldb < max(1, bc) || len(b) < (br-1)*ldb+bc {
			panic("blas: B too short for its shape and ldb")
		}
	}
	if ldc < max(1, n) || len(c) < (m-1)*ldc+n {
		panic("blas: C too short for its shape and ldc")
	}
}
