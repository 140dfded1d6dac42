//go:build !amd64

package sample

const hasExpVec = false

func expSumAVX512(dst *float64, src *float32, n int, m, invT float64, c *[24]float64) float64 {
	panic("sample: no AVX-512 on this architecture")
}

func maxIndexAVX512(x *float32, n int) int {
	panic("sample: no AVX-512 on this architecture")
}
