package asm

// Kernel6x16 adds A6 * B16 over k steps into C[0:6, 0:16]: A packed as k
// groups of 6 floats (one per row), B as k groups of 16 (one per column),
// ldc C's row stride in floats. No bounds checks: callers check.
//
//go:noescape
func Kernel6x16(k int, a, b, c *float32, ldc int)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax uint32)

// HasAVX2 reports AVX2 and FMA with the OS saving the YMM registers.
var HasAVX2 = hasAVX2()

func hasAVX2() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&fma == 0 || c1&osxsave == 0 || c1&avx == 0 || xgetbv()&6 != 6 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0
}
