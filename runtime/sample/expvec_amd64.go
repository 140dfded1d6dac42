package sample

import "golang.org/x/sys/cpu"

// hasExpVec: the CPU runs expSumAVX512 (AVX-512 F, DQ and VL, with the OS
// saving the ZMM and opmask state).
var hasExpVec = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL

//go:noescape
func expSumAVX512(dst *float64, src *float32, n int, m, invT float64, c *[24]float64) float64

//go:noescape
func maxIndexAVX512(x *float32, n int) int
