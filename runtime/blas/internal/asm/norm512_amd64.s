#include "textflag.h"
#include "rows512_amd64.h"

// RMSNorm kernels (AVX-512F). Each takes a row of n floats; the last n%16
// by masked loads and stores.

// func SumSq(x *float32, n int) float64
// The sum of x[i]^2, accumulated in float64 (eight lanes).
TEXT ·SumSq(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sstail
ssloop:
	VCVTPS2PD (SI), Z2
	VCVTPS2PD 32(SI), Z3
	VFMADD231PD Z2, Z2, Z0
	VFMADD231PD Z3, Z3, Z1
	ADDQ $64, SI
	DECQ DX
	JNZ ssloop
sstail:
	MASKTAIL
	VMOVUPS.Z (SI), K1, Z4
	VCVTPS2PD Y4, Z2
	VEXTRACTF64X4 $1, Z4, Y5
	VCVTPS2PD Y5, Z3
	VFMADD231PD Z2, Z2, Z0
	VFMADD231PD Z3, Z3, Z1
	VADDPD Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VHADDPD X0, X0, X0
	MOVSD X0, ret+16(FP)
	VZEROUPPER
	RET

// func ScaleMul(y, x, w *float32, n int, s float32)
// y[i] = w[i] * (x[i] * s).
TEXT ·ScaleMul(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Z3
	XORQ R8, R8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ smtail
smloop:
	VMULPS (SI)(R8*1), Z3, Z0
	VMULPS (BX)(R8*1), Z0, Z0
	VMOVUPS Z0, (DI)(R8*1)
	ADDQ $64, R8
	DECQ DX
	JNZ smloop
smtail:
	MASKTAIL
	VMOVUPS.Z (SI)(R8*1), K1, Z1
	VMOVUPS.Z (BX)(R8*1), K1, Z2
	VMULPS Z3, Z1, Z0
	VMULPS Z2, Z0, Z0
	VMOVUPS Z0, K1, (DI)(R8*1)
	VZEROUPPER
	RET

// func RMSBackRow(dx, dw, dy, x, w *float32, n int, s float32)
// The backward of y = w * x * s (s the row's inverse RMS): with
// dot = sum of w*dy*x and c = dot*s^3/n, dw[i] += dy[i]*x[i]*s and
// dx[i] += s*w[i]*dy[i] - c*x[i].
TEXT ·RMSBackRow(SB), NOSPLIT, $0-52
	MOVQ dw+8(FP), R9
	MOVQ dy+16(FP), R10
	MOVQ x+24(FP), SI
	MOVQ w+32(FP), BX
	MOVQ n+40(FP), CX
	VBROADCASTSS s+48(FP), Z3
	VPXORD Z0, Z0, Z0
	XORQ R8, R8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ rb1tail
rb1loop:
	VMOVUPS (R10)(R8*1), Z4       // dy
	VMULPS (SI)(R8*1), Z4, Z5     // dy*x
	VFMADD231PS (BX)(R8*1), Z5, Z0 // dot += dy*x*w
	VMOVUPS (R9)(R8*1), Z6
	VFMADD231PS Z3, Z5, Z6         // dw += dy*x*s
	VMOVUPS Z6, (R9)(R8*1)
	ADDQ $64, R8
	DECQ DX
	JNZ rb1loop
rb1tail:
	MASKTAIL
	VMOVUPS.Z (R10)(R8*1), K1, Z4
	VMOVUPS.Z (SI)(R8*1), K1, Z7
	VMULPS Z7, Z4, Z5
	VMOVUPS.Z (BX)(R8*1), K1, Z7
	VFMADD231PS Z7, Z5, Z0
	VMOVUPS.Z (R9)(R8*1), K1, Z6
	VFMADD231PS Z3, Z5, Z6
	VMOVUPS Z6, K1, (R9)(R8*1)
	HSUM0                          // X0 = dot
	VMULSS X3, X0, X0
	VMULSS X3, X0, X0
	VMULSS X3, X0, X0              // dot*s^3
	MOVQ n+40(FP), CX
	VCVTSI2SSQ CX, X1, X1
	VDIVSS X1, X0, X0              // c
	VBROADCASTSS X0, Z2
	MOVQ dx+0(FP), DI
	XORQ R8, R8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ rb2tail
rb2loop:
	VMULPS (BX)(R8*1), Z3, Z4      // s*w
	VMULPS (R10)(R8*1), Z4, Z4     // s*w*dy
	VFNMADD231PS (SI)(R8*1), Z2, Z4 // - c*x
	VADDPS (DI)(R8*1), Z4, Z4
	VMOVUPS Z4, (DI)(R8*1)
	ADDQ $64, R8
	DECQ DX
	JNZ rb2loop
rb2tail:
	MASKTAIL
	VMOVUPS.Z (BX)(R8*1), K1, Z5
	VMULPS Z5, Z3, Z4
	VMOVUPS.Z (R10)(R8*1), K1, Z5
	VMULPS Z5, Z4, Z4
	VMOVUPS.Z (SI)(R8*1), K1, Z5
	VFNMADD231PS Z5, Z2, Z4
	VMOVUPS.Z (DI)(R8*1), K1, Z5
	VADDPS Z5, Z4, Z4
	VMOVUPS Z4, K1, (DI)(R8*1)
	VZEROUPPER
	RET
