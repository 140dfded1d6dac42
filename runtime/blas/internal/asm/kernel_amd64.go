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
