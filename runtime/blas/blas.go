// Package blas is realc's single-precision matrix multiply, the one entry point
// that models and fused kernels call. A pure-Go implementation is always there;
// OpenBLAS through cgo replaces it under the `openblas` build tag.
package blas

// Sgemm computes C = alpha * op(A) * op(B) + beta * C on row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n;
// lda, ldb, ldc are the row strides of A, B and C as stored.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
