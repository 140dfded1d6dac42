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

// HasAVX512 is false off amd64.
var HasAVX512 = false

// Kernel12x32 is never called off amd64.
func Kernel12x32(k int, a, b, c *float32, ldc int, add int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// DotRows16 is never called off amd64.
func DotRows16(k int, x, w *float32, ldw int, c *float32, alpha float32, add int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// DotTile4x4 is never called off amd64.
func DotTile4x4(k int, x, w *[4]*float32, c *float32, ldc int, nx, nw int, alpha float32, add int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// DotPanel8x3 is never called off amd64.
func DotPanel8x3(k int, x *float32, ldx int, w *float32, ldw int, triples int, c *float32, ldc int, alpha float32, add int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// AxpyRows64 is never called off amd64.
func AxpyRows64(n int, x, b *float32, ldb int, c *float32, cols int, alpha float32, add int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// Transpose16 is never called off amd64.
func Transpose16(src *float32, lds, nrows, ncols int, dst *float32, ldd, width int, alpha float32) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// ExpShift is never called off amd64.
func ExpShift(x *float32, n int, shift float32) float32 {
	panic("asm: no AVX-512 kernel on this architecture")
}

// SwiGLU is never called off amd64.
func SwiGLU(act, gate, up *float32, n int) { panic("asm: no AVX-512 kernel on this architecture") }

// SwiGLUBack is never called off amd64.
func SwiGLUBack(dgate, dup, dact, gate, up *float32, n int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// PackRows is never called off amd64.
func PackRows(src *float32, lds, n, cols int, dst *float32, ldd, width int, alpha float32) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// SumSq is never called off amd64.
func SumSq(x *float32, n int) float64 { panic("asm: no AVX-512 kernel on this architecture") }

// ScaleMul is never called off amd64.
func ScaleMul(y, x, w *float32, n int, s float32) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// RMSBackRow is never called off amd64.
func RMSBackRow(dx, dw, dy, x, w *float32, n int, s float32) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// Kernel12x32Rows is never called off amd64.
func Kernel12x32Rows(k int, a *float32, lda int, b, c *float32, ldc int, add int) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// MaxOf is never called off amd64.
func MaxOf(x *float32, n int) float32 { panic("asm: no AVX-512 kernel on this architecture") }

// Scale is never called off amd64.
func Scale(x *float32, n int, s float32) { panic("asm: no AVX-512 kernel on this architecture") }

// SoftmaxBackRow is never called off amd64.
func SoftmaxBackRow(p, d *float32, n int, scale float32) {
	panic("asm: no AVX-512 kernel on this architecture")
}

// RopeRow is never called off amd64.
func RopeRow(x, cs, sn *float32, heads, half int, sign float32) {
	panic("asm: no AVX-512 kernel on this architecture")
}
