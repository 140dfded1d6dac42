//go:build !amd64

package fused

const useAVX2 = false

func maxAVX2(z *float32, n int) (m, sum float32)                  { panic("unreachable") }
func expSumAVX2(z *float32, n int, m float32, store bool) float32 { panic("unreachable") }
func expSumZAVX2(z *float32, n int, m float32) (s, sz float32)    { panic("unreachable") }
func gradAVX2(z *float32, n int, m, inv, alpha, beta float32)     { panic("unreachable") }
func scaleAVX2(z *float32, n int, a float32)                      { panic("unreachable") }
