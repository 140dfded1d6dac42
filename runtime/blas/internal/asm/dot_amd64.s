#include "textflag.h"

// func Dot4x8(n int, x, b *float32, ldb int, out *[4]float32)
// out[r] = sum over p < 8n of x[p] * b[r*ldb+p], r < 4: four rows of B
// against one vector, 8 lanes at a time. AVX2 + FMA.
TEXT ·Dot4x8(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	MOVQ out+32(FP), DX
	SHLQ $2, R8
	LEAQ (DI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JZ sum
loop:
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS (R9), Y4, Y1
	VFMADD231PS (R10), Y4, Y2
	VFMADD231PS (R11), Y4, Y3
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R9
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ CX
	JNZ loop
sum:
	// Fold each accumulator to 4 lanes, then three horizontal adds leave
	// the four row sums in X0's lanes.
	VEXTRACTF128 $1, Y0, X4
	VADDPS X4, X0, X0
	VEXTRACTF128 $1, Y1, X4
	VADDPS X4, X1, X1
	VEXTRACTF128 $1, Y2, X4
	VADDPS X4, X2, X2
	VEXTRACTF128 $1, Y3, X4
	VADDPS X4, X3, X3
	VHADDPS X1, X0, X0
	VHADDPS X3, X2, X2
	VHADDPS X2, X0, X0
	VMOVUPS X0, (DX)
	VZEROUPPER
	RET

// func SumRows8(n int, x, b *float32, ldb int, out *[8]float32)
// out = sum over p < n of x[p] * b[p*ldb : p*ldb+8]: eight columns of a
// vector-matrix product, two accumulators for alternate rows. AVX2 + FMA.
TEXT ·SumRows8(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	MOVQ out+32(FP), DX
	SHLQ $2, R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
pairs:
	CMPQ CX, $2
	JLT last
	VBROADCASTSS (SI), Y2
	VBROADCASTSS 4(SI), Y3
	VFMADD231PS (DI), Y2, Y0
	VFMADD231PS (DI)(R8*1), Y3, Y1
	ADDQ $8, SI
	LEAQ (DI)(R8*2), DI
	SUBQ $2, CX
	JMP pairs
last:
	TESTQ CX, CX
	JZ done
	VBROADCASTSS (SI), Y2
	VFMADD231PS (DI), Y2, Y0
done:
	VADDPS Y1, Y0, Y0
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET
