// Package asm holds the AVX2+FMA kernels of the pure-Go Sgemm (the 6x16
// micro-kernel, and the matrix-vector kernels of its gemv path). It is a
// package of its own because Go assembly cannot sit in a cgo package (blas
// has OpenBLAS under the openblas tag).
package asm
