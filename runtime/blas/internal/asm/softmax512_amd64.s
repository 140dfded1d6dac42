#include "textflag.h"
#include "rows512_amd64.h"

// Softmax row kernels of attention (AVX-512F): the row's maximum, a scale,
// and the softmax backward. Each takes a row of n floats; the last n%16 by
// masked loads and stores.

// func MaxOf(x *float32, n int) float32
// The largest x[i], skipping NaNs (-Inf when there is none): VMAXPS returns
// its second source when either is NaN, and that source is the running max.
TEXT ·MaxOf(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z5 // -Inf
	VMOVAPS Z5, Z0
	MOVQ CX, DX
	SHRQ $4, DX
	JZ mxtail
mxloop:
	VMOVUPS (DI), Z1
	VMAXPS Z0, Z1, Z0 // Intel order max(Z1, Z0): Z0 when either is NaN
	ADDQ $64, DI
	DECQ DX
	JNZ mxloop
mxtail:
	MASKTAIL
	VMOVAPS Z5, Z1
	VMOVUPS (DI), K1, Z1 // inactive lanes keep -Inf
	VMAXPS Z0, Z1, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS Y0, Y1, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X0, X1, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X0, X1, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X0, X1, X0
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func Scale(x *float32, n int, s float32)
// x[i] *= s.
TEXT ·Scale(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z3
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sctail
scloop:
	VMULPS (DI), Z3, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	DECQ DX
	JNZ scloop
sctail:
	MASKTAIL
	VMOVUPS.Z (DI), K1, Z0
	VMULPS Z3, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	VZEROUPPER
	RET

// func SoftmaxBackRow(p, d *float32, n int, scale float32)
// With dot = sum of p[i]*d[i]: d[i] = p[i] * (d[i] - dot) * scale (the
// gradient of the scores of one softmax row, given that of its
// probabilities).
TEXT ·SoftmaxBackRow(SB), NOSPLIT, $0-28
	MOVQ p+0(FP), SI
	MOVQ d+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Z3
	VPXORD Z0, Z0, Z0
	XORQ R8, R8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sd1tail
sd1loop:
	VMOVUPS (SI)(R8*1), Z4
	VFMADD231PS (DI)(R8*1), Z4, Z0
	ADDQ $64, R8
	DECQ DX
	JNZ sd1loop
sd1tail:
	MASKTAIL
	VMOVUPS.Z (SI)(R8*1), K1, Z4
	VMOVUPS.Z (DI)(R8*1), K1, Z5
	VFMADD231PS Z5, Z4, Z0
	HSUM0
	VBROADCASTSS X0, Z2 // dot
	MOVQ n+16(FP), CX
	XORQ R8, R8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sd2tail
sd2loop:
	VMOVUPS (DI)(R8*1), Z4
	VSUBPS Z2, Z4, Z4
	VMULPS (SI)(R8*1), Z4, Z4
	VMULPS Z3, Z4, Z4
	VMOVUPS Z4, (DI)(R8*1)
	ADDQ $64, R8
	DECQ DX
	JNZ sd2loop
sd2tail:
	MASKTAIL
	VMOVUPS.Z (DI)(R8*1), K1, Z4
	VMOVUPS.Z (SI)(R8*1), K1, Z5
	VSUBPS Z2, Z4, Z4
	VMULPS Z5, Z4, Z4
	VMULPS Z3, Z4, Z4
	VMOVUPS Z4, K1, (DI)(R8*1)
	VZEROUPPER
	RET
