// Package asm holds the assembly kernels of the pure-Go Sgemm: AVX2+FMA (the
// 6x16 micro-kernel, the matrix-vector kernels of its gemv path) and
// AVX-512 (the 12x32 micro-kernel, the few-row dot tiles, a 16x16 transpose
// for packing, and the row kernels of a transformer step: exponentials for
// softmax and SwiGLU, softmax's maximum and backward, RMSNorm, RoPE). It is a
// package of its own because Go assembly cannot sit in a cgo package (blas
// has OpenBLAS under the openblas tag).
package asm
