//go:build !amd64

package asm

// HasAVX2 is false off amd64: the portable Go kernel runs.
var HasAVX2 = false

// Kernel6x16 is never called off amd64.
func Kernel6x16(k int, a, b, c *float32, ldc int) { panic("asm: no AVX2 kernel on this architecture") }

// Dot4x8 is never called off amd64.
func Dot4x8(n int, x, b *float32, ldb int, out *[4]float32) {
	panic("asm: no AVX2 kernel on this architecture")
}

// SumRows8 is never called off amd64.
func SumRows8(n int, x, b *float32, ldb int, out *[8]float32) {
	panic("asm: no AVX2 kernel on this architecture")
}
