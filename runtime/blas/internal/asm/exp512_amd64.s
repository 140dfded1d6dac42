#include "textflag.h"
#include "rows512_amd64.h"

// Vector exponentials (AVX-512F) for softmax and SwiGLU: the range
// reduction and degree-6 polynomial of runtime/model's exp32 (x = n ln2 + r,
// |r| <= ln2/2), with VSCALEFPS for the 2^n; exp(x) = 0 below -87.3, +Inf
// above 88.72, NaN stays NaN.

// EXPCONST loads the constants into Z20-Z30.
#define EXPCONST \
	MOVL $0x42b20000, AX; VPBROADCASTD AX, Z20; \
	MOVL $0x3fb8aa3b, AX; VPBROADCASTD AX, Z21; \
	MOVL $0x3f317200, AX; VPBROADCASTD AX, Z22; \
	MOVL $0x35bfbe8e, AX; VPBROADCASTD AX, Z23; \
	MOVL $0x3ab60b61, AX; VPBROADCASTD AX, Z24; \
	MOVL $0x3c088889, AX; VPBROADCASTD AX, Z25; \
	MOVL $0x3d2aaaab, AX; VPBROADCASTD AX, Z26; \
	MOVL $0x3e2aaaab, AX; VPBROADCASTD AX, Z27; \
	MOVL $0x3f000000, AX; VPBROADCASTD AX, Z28; \
	MOVL $0x3f800000, AX; VPBROADCASTD AX, Z29; \
	MOVL $0xc2ae999a, AX; VPBROADCASTD AX, Z30

// EXP sets out = exp(x), using t, s as scratch and K3 (x is kept).
#define EXP(x, out, t, s) \
	VMINPS x, Z20, out; \
	VMULPS Z21, out, t; \
	VRNDSCALEPS $0, t, t; \
	VFNMADD231PS Z22, t, out; \
	VFNMADD231PS Z23, t, out; \
	VMOVAPS Z24, s; \
	VFMADD213PS Z25, out, s; \
	VFMADD213PS Z26, out, s; \
	VFMADD213PS Z27, out, s; \
	VFMADD213PS Z28, out, s; \
	VFMADD213PS Z29, out, s; \
	VFMADD213PS Z29, out, s; \
	VSCALEFPS t, s, out; \
	VCMPPS $5, Z30, x, K3; \
	VMOVAPS.Z out, K3, out

// func ExpShift(x *float32, n int, shift float32) float32
// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new x.
TEXT ·ExpShift(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	EXPCONST
	VBROADCASTSS shift+16(FP), Z31
	VPXORD Z10, Z10, Z10
	MOVQ CX, DX
	SHRQ $4, DX
	JZ exptail
exploop:
	VMOVUPS (DI), Z0
	VSUBPS Z31, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVUPS Z1, (DI)
	VADDPS Z1, Z10, Z10
	ADDQ $64, DI
	DECQ DX
	JNZ exploop
exptail:
	MASKTAIL // ZF: no tail
	JZ expsum
	VMOVUPS.Z (DI), K1, Z0
	VSUBPS Z31, Z0, Z0
	EXP(Z0, Z1, Z2, Z3)
	VMOVAPS.Z Z1, K1, Z1
	VMOVUPS Z1, K1, (DI)
	VADDPS Z1, Z10, Z10
expsum:
	VMOVAPS Z10, Z0
	HSUM0
	MOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// SWIGLU computes act = g / (1 + exp(-g)) * u into Z1 from g in Z0 and
// u in Z4.
#define SWIGLU \
	VXORPS Z5, Z5, Z5; \
	VSUBPS Z0, Z5, Z5; \
	EXP(Z5, Z1, Z2, Z3); \
	VADDPS Z29, Z1, Z1; \
	VDIVPS Z1, Z0, Z1; \
	VMULPS Z4, Z1, Z1

// func SwiGLU(act, gate, up *float32, n int)
// act[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
TEXT ·SwiGLU(SB), NOSPLIT, $0-32
	MOVQ act+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), BX
	MOVQ n+24(FP), CX
	EXPCONST
	XORQ R8, R8
	MOVQ CX, DX
	SHRQ $4, DX
	JZ swtail
swloop:
	VMOVUPS (SI)(R8*1), Z0
	VMOVUPS (BX)(R8*1), Z4
	SWIGLU
	VMOVUPS Z1, (DI)(R8*1)
	ADDQ $64, R8
	DECQ DX
	JNZ swloop
swtail:
	MASKTAIL // ZF: no tail
	JZ swdone
	VMOVUPS.Z (SI)(R8*1), K1, Z0
	VMOVUPS.Z (BX)(R8*1), K1, Z4
	SWIGLU
	VMOVUPS Z1, K1, (DI)(R8*1)
swdone:
	VZEROUPPER
	RET

// func SwiGLUBack(dgate, dup, dact, gate, up *float32, n int)
// With s = 1 / (1 + exp(-g)): dup = dact * g * s and
// dgate = dact * up * s * (1 + g * (1 - s)).
TEXT ·SwiGLUBack(SB), NOSPLIT, $0-48
	MOVQ dgate+0(FP), DI
	MOVQ dup+8(FP), R9
	MOVQ dact+16(FP), R10
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), BX
	MOVQ n+40(FP), CX
	EXPCONST
	XORQ R8, R8
	MOVQ $0xffff, AX
	KMOVW AX, K1
	MOVQ CX, DX
	SHRQ $4, DX
	JZ sbtail
sbloop:
	CALL swigluback<>(SB)
	ADDQ $64, R8
	DECQ DX
	JNZ sbloop
sbtail:
	MASKTAIL // ZF: no tail
	JZ sbdone
	CALL swigluback<>(SB)
sbdone:
	VZEROUPPER
	RET

// swigluback does one masked (K1) block of SwiGLUBack at byte offset R8.
TEXT swigluback<>(SB), NOSPLIT|NOFRAME, $0-0
	VMOVUPS.Z (SI)(R8*1), K1, Z0   // g
	VMOVUPS.Z (R10)(R8*1), K1, Z4  // dact
	VMOVUPS.Z (BX)(R8*1), K1, Z6   // up
	VXORPS Z5, Z5, Z5
	VSUBPS Z0, Z5, Z5
	EXP(Z5, Z1, Z2, Z3)
	VADDPS Z29, Z1, Z1
	VDIVPS Z1, Z29, Z1             // s
	VMULPS Z0, Z4, Z7              // dact * g
	VMULPS Z1, Z7, Z7              // * s
	VMOVUPS Z7, K1, (R9)(R8*1)     // dup
	VMULPS Z6, Z4, Z7              // dact * up
	VMULPS Z1, Z7, Z7              // * s
	VSUBPS Z1, Z29, Z8             // 1 - s
	VMULPS Z8, Z0, Z8              // g * (1 - s)
	VADDPS Z29, Z8, Z8             // 1 + g (1 - s)
	VMULPS Z8, Z7, Z7
	VMOVUPS Z7, K1, (DI)(R8*1)     // dgate
	RET
