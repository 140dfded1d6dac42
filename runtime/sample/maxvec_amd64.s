#include "textflag.h"

// func maxIndexAVX512(x *float32, n int) int
// The index of the first largest of x[0:n] (n >= 1), or -2 when some x[i]
// is NaN or +Inf. An all -Inf x gives the index of its first element.
// Pass 1: the maximum sixteen lanes at a time, flagging lanes that are not
// <= MaxFloat32 (NaN, +Inf); pass 2: the first lane equal to it.
// AVX-512 F and DQ.
TEXT ·maxIndexAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0xff800000, AX       // -Inf
	VPBROADCASTD AX, Z4
	MOVL $0x7f7fffff, AX       // MaxFloat32
	VPBROADCASTD AX, Z2
	VMOVAPS Z4, Z0
	VMOVAPS Z4, Z1
	KXORW K2, K2, K2
	MOVQ CX, DX
	SHRQ $4, DX
	XORQ BX, BX                // byte offset
	TESTQ DX, DX
	JZ tail1
loop1:
	VMOVUPS (SI)(BX*1), Z3
	VCMPPS $6, Z2, Z3, K3      // not (x <= MaxFloat32): NaN or +Inf
	KORW K3, K2, K2
	VMAXPS Z3, Z0, Z0
	ADDQ $64, BX
	DECQ DX
	JNZ loop1
tail1:
	MOVQ CX, DX
	ANDQ $15, DX
	JZ reduce
	MOVQ CX, R8                // R8: mask of the last n%16 lanes
	ANDQ $15, R8
	MOVQ $1, AX
	MOVQ R8, CX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	VMOVAPS Z4, Z3
	VMOVUPS (SI)(BX*1), K1, Z3 // lanes past n stay -Inf
	VCMPPS $6, Z2, Z3, K3
	KORW K3, K2, K2
	VMAXPS Z3, Z1, Z1
reduce:
	KORTESTW K2, K2
	JNZ bad
	VMAXPS Z1, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4E, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xB1, X0, X1
	VMAXPS X1, X0, X0
	VBROADCASTSS X0, Z0
	// Pass 2: the first lane equal to the maximum (there is one).
	MOVQ n+8(FP), CX
	XORQ BX, BX
loop2:
	CMPQ CX, $16
	JLT tail2
	VCMPPS $0, (SI)(BX*1), Z0, K3
	KMOVW K3, AX
	TESTL AX, AX
	JNZ found
	ADDQ $64, BX
	SUBQ $16, CX
	JMP loop2
tail2:
	VMOVAPS Z4, Z3
	VMOVUPS (SI)(BX*1), K1, Z3
	VCMPPS $0, Z0, Z3, K1, K3
	KMOVW K3, AX
found:
	BSFL AX, AX
	SHRQ $2, BX
	ADDQ BX, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET
bad:
	MOVQ $-2, ret+16(FP)
	VZEROUPPER
	RET
