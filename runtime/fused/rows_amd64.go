package fused

import "golang.org/x/sys/cpu"

// Implemented in rows_amd64.s (AVX2 + FMA, n a multiple of 8).
//
//go:noescape
func maxAVX2(z *float32, n int) (m, sum float32)

//go:noescape
func expSumAVX2(z *float32, n int, m float32, store bool) float32

//go:noescape
func expSumZAVX2(z *float32, n int, m float32) (s, sz float32)

//go:noescape
func gradAVX2(z *float32, n int, m, inv, alpha, beta float32)

//go:noescape
func scaleAVX2(z *float32, n int, a float32)

// useAVX2: AVX2 and FMA with the OS saving the YMM registers
// (golang.org/x/sys/cpu checks XGETBV too).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
