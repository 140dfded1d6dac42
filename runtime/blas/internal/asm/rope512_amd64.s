#include "textflag.h"
#include "rows512_amd64.h"

// func RopeRow(x, cs, sn *float32, heads, half int, sign float32)
// Rotates each of the heads of one row (2*half floats each, element i
// paired with i+half) by the angles whose cosines and sines are cs and sn
// (sign -1 rotates backwards): a = x[i], b = x[i+half] become
// a*c - b*s and b*c + a*s. AVX-512F; the last half%16 by masks.
TEXT ·RopeRow(SB), NOSPLIT, $0-44
	MOVQ x+0(FP), DI
	MOVQ cs+8(FP), SI
	MOVQ sn+16(FP), BX
	MOVQ heads+24(FP), R9
	MOVQ half+32(FP), CX
	VBROADCASTSS sign+40(FP), Z7
	TESTQ R9, R9
	JZ rdone
	MOVQ CX, R10
	SHRQ $4, R10        // full vectors in a half
	MASKTAIL
	MOVQ CX, R11        // the rest
	MOVQ half+32(FP), CX
	LEAQ (CX*4), R12    // bytes from a to b
	LEAQ (CX*8), R13    // bytes per head
rhead:
	XORQ R8, R8
	MOVQ R10, DX
	TESTQ DX, DX
	JZ rtail
rloop:
	VMOVUPS (SI)(R8*1), Z0
	VMULPS (BX)(R8*1), Z7, Z1
	LEAQ (DI)(R8*1), R14
	VMOVUPS (R14), Z2
	VMOVUPS (R14)(R12*1), Z3
	VMULPS Z0, Z2, Z4
	VFNMADD231PS Z1, Z3, Z4
	VMULPS Z0, Z3, Z5
	VFMADD231PS Z1, Z2, Z5
	VMOVUPS Z4, (R14)
	VMOVUPS Z5, (R14)(R12*1)
	ADDQ $64, R8
	DECQ DX
	JNZ rloop
rtail:
	TESTQ R11, R11
	JZ rnext
	VMOVUPS.Z (SI)(R8*1), K1, Z0
	VMOVUPS.Z (BX)(R8*1), K1, Z1
	VMULPS Z7, Z1, Z1
	LEAQ (DI)(R8*1), R14
	VMOVUPS.Z (R14), K1, Z2
	VMOVUPS.Z (R14)(R12*1), K1, Z3
	VMULPS Z0, Z2, Z4
	VFNMADD231PS Z1, Z3, Z4
	VMULPS Z0, Z3, Z5
	VFMADD231PS Z1, Z2, Z5
	VMOVUPS Z4, K1, (R14)
	VMOVUPS Z5, K1, (R14)(R12*1)
rnext:
	ADDQ R13, DI
	DECQ R9
	JNZ rhead
rdone:
	VZEROUPPER
	RET
