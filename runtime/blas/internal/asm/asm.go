// Package asm holds the AVX2+FMA micro-kernel of the pure-Go Sgemm. It is a
// package of its own because Go assembly cannot sit in a cgo package (blas
// has OpenBLAS under the openblas tag).
package asm
