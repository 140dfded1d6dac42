package fused

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

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax uint32)

// hasAVX2 reports AVX2 and FMA with the OS saving the YMM registers.
func hasAVX2() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&fma == 0 || c1&osxsave == 0 || c1&avx == 0 {
		return false
	}
	if xgetbv()&6 != 6 { // XMM and YMM state enabled
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}

var useAVX2 = hasAVX2()
