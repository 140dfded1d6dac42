// Code in this file is hand-written AVX2+FMA assembly for the row epilogue.
// The exponential is Exp32's algorithm, 8 lanes at a time.

#include "textflag.h"

DATA expc<>+0(SB)/4, $0xc2aeac4f
DATA expc<>+4(SB)/4, $0xc2aeac4f
DATA expc<>+8(SB)/4, $0xc2aeac4f
DATA expc<>+12(SB)/4, $0xc2aeac4f
DATA expc<>+16(SB)/4, $0xc2aeac4f
DATA expc<>+20(SB)/4, $0xc2aeac4f
DATA expc<>+24(SB)/4, $0xc2aeac4f
DATA expc<>+28(SB)/4, $0xc2aeac4f
DATA expc<>+32(SB)/4, $0x3fb8aa3b
DATA expc<>+36(SB)/4, $0x3fb8aa3b
DATA expc<>+40(SB)/4, $0x3fb8aa3b
DATA expc<>+44(SB)/4, $0x3fb8aa3b
DATA expc<>+48(SB)/4, $0x3fb8aa3b
DATA expc<>+52(SB)/4, $0x3fb8aa3b
DATA expc<>+56(SB)/4, $0x3fb8aa3b
DATA expc<>+60(SB)/4, $0x3fb8aa3b
DATA expc<>+64(SB)/4, $0x4b400000
DATA expc<>+68(SB)/4, $0x4b400000
DATA expc<>+72(SB)/4, $0x4b400000
DATA expc<>+76(SB)/4, $0x4b400000
DATA expc<>+80(SB)/4, $0x4b400000
DATA expc<>+84(SB)/4, $0x4b400000
DATA expc<>+88(SB)/4, $0x4b400000
DATA expc<>+92(SB)/4, $0x4b400000
DATA expc<>+96(SB)/4, $0x3f318000
DATA expc<>+100(SB)/4, $0x3f318000
DATA expc<>+104(SB)/4, $0x3f318000
DATA expc<>+108(SB)/4, $0x3f318000
DATA expc<>+112(SB)/4, $0x3f318000
DATA expc<>+116(SB)/4, $0x3f318000
DATA expc<>+120(SB)/4, $0x3f318000
DATA expc<>+124(SB)/4, $0x3f318000
DATA expc<>+128(SB)/4, $0xb95e8083
DATA expc<>+132(SB)/4, $0xb95e8083
DATA expc<>+136(SB)/4, $0xb95e8083
DATA expc<>+140(SB)/4, $0xb95e8083
DATA expc<>+144(SB)/4, $0xb95e8083
DATA expc<>+148(SB)/4, $0xb95e8083
DATA expc<>+152(SB)/4, $0xb95e8083
DATA expc<>+156(SB)/4, $0xb95e8083
DATA expc<>+160(SB)/4, $0x39506967
DATA expc<>+164(SB)/4, $0x39506967
DATA expc<>+168(SB)/4, $0x39506967
DATA expc<>+172(SB)/4, $0x39506967
DATA expc<>+176(SB)/4, $0x39506967
DATA expc<>+180(SB)/4, $0x39506967
DATA expc<>+184(SB)/4, $0x39506967
DATA expc<>+188(SB)/4, $0x39506967
DATA expc<>+192(SB)/4, $0x3ab743ce
DATA expc<>+196(SB)/4, $0x3ab743ce
DATA expc<>+200(SB)/4, $0x3ab743ce
DATA expc<>+204(SB)/4, $0x3ab743ce
DATA expc<>+208(SB)/4, $0x3ab743ce
DATA expc<>+212(SB)/4, $0x3ab743ce
DATA expc<>+216(SB)/4, $0x3ab743ce
DATA expc<>+220(SB)/4, $0x3ab743ce
DATA expc<>+224(SB)/4, $0x3c088908
DATA expc<>+228(SB)/4, $0x3c088908
DATA expc<>+232(SB)/4, $0x3c088908
DATA expc<>+236(SB)/4, $0x3c088908
DATA expc<>+240(SB)/4, $0x3c088908
DATA expc<>+244(SB)/4, $0x3c088908
DATA expc<>+248(SB)/4, $0x3c088908
DATA expc<>+252(SB)/4, $0x3c088908
DATA expc<>+256(SB)/4, $0x3d2aa9c1
DATA expc<>+260(SB)/4, $0x3d2aa9c1
DATA expc<>+264(SB)/4, $0x3d2aa9c1
DATA expc<>+268(SB)/4, $0x3d2aa9c1
DATA expc<>+272(SB)/4, $0x3d2aa9c1
DATA expc<>+276(SB)/4, $0x3d2aa9c1
DATA expc<>+280(SB)/4, $0x3d2aa9c1
DATA expc<>+284(SB)/4, $0x3d2aa9c1
DATA expc<>+288(SB)/4, $0x3e2aaaaa
DATA expc<>+292(SB)/4, $0x3e2aaaaa
DATA expc<>+296(SB)/4, $0x3e2aaaaa
DATA expc<>+300(SB)/4, $0x3e2aaaaa
DATA expc<>+304(SB)/4, $0x3e2aaaaa
DATA expc<>+308(SB)/4, $0x3e2aaaaa
DATA expc<>+312(SB)/4, $0x3e2aaaaa
DATA expc<>+316(SB)/4, $0x3e2aaaaa
DATA expc<>+320(SB)/4, $0x3f000000
DATA expc<>+324(SB)/4, $0x3f000000
DATA expc<>+328(SB)/4, $0x3f000000
DATA expc<>+332(SB)/4, $0x3f000000
DATA expc<>+336(SB)/4, $0x3f000000
DATA expc<>+340(SB)/4, $0x3f000000
DATA expc<>+344(SB)/4, $0x3f000000
DATA expc<>+348(SB)/4, $0x3f000000
DATA expc<>+352(SB)/4, $0x3f800000
DATA expc<>+356(SB)/4, $0x3f800000
DATA expc<>+360(SB)/4, $0x3f800000
DATA expc<>+364(SB)/4, $0x3f800000
DATA expc<>+368(SB)/4, $0x3f800000
DATA expc<>+372(SB)/4, $0x3f800000
DATA expc<>+376(SB)/4, $0x3f800000
DATA expc<>+380(SB)/4, $0x3f800000
DATA expc<>+384(SB)/4, $0x3f800000
DATA expc<>+388(SB)/4, $0x3f800000
DATA expc<>+392(SB)/4, $0x3f800000
DATA expc<>+396(SB)/4, $0x3f800000
DATA expc<>+400(SB)/4, $0x3f800000
DATA expc<>+404(SB)/4, $0x3f800000
DATA expc<>+408(SB)/4, $0x3f800000
DATA expc<>+412(SB)/4, $0x3f800000
DATA expc<>+416(SB)/4, $0xff800000
DATA expc<>+420(SB)/4, $0xff800000
DATA expc<>+424(SB)/4, $0xff800000
DATA expc<>+428(SB)/4, $0xff800000
DATA expc<>+432(SB)/4, $0xff800000
DATA expc<>+436(SB)/4, $0xff800000
DATA expc<>+440(SB)/4, $0xff800000
DATA expc<>+444(SB)/4, $0xff800000
GLOBL expc<>(SB), RODATA|NOPTR, $448

// Registers while a loop runs: Y8=min Y9=log2e Y10=round Y11=ln2hi Y12=ln2lo
// Y13=one Y14=broadcast m (the row max). EXP8 turns Y0 = z into Y0 = exp(z - m),
// 0 where z - m < min (a masked logit, -Inf, included), and leaves
// Y5 = max(z - m, min), finite, for the shifted sums; it uses Y1..Y4.
#define LOADC \
	VMOVUPS expc<>+0(SB), Y8 \
	VMOVUPS expc<>+32(SB), Y9 \
	VMOVUPS expc<>+64(SB), Y10 \
	VMOVUPS expc<>+96(SB), Y11 \
	VMOVUPS expc<>+128(SB), Y12 \
	VMOVUPS expc<>+352(SB), Y13

#define EXP8 \
	VSUBPS Y14, Y0, Y0 \
	VCMPPS $13, Y8, Y0, Y4 \
	VMAXPS Y8, Y0, Y0 \
	VMOVAPS Y0, Y5 \
	VMOVAPS Y0, Y1 \
	VFMADD213PS Y10, Y9, Y1 \
	VSUBPS Y10, Y1, Y2 \
	VPSLLD $23, Y1, Y1 \
	VPADDD expc<>+384(SB), Y1, Y1 \
	VFNMADD231PS Y11, Y2, Y0 \
	VFNMADD231PS Y12, Y2, Y0 \
	VMOVUPS expc<>+160(SB), Y3 \
	VFMADD213PS expc<>+192(SB), Y0, Y3 \
	VFMADD213PS expc<>+224(SB), Y0, Y3 \
	VFMADD213PS expc<>+256(SB), Y0, Y3 \
	VFMADD213PS expc<>+288(SB), Y0, Y3 \
	VFMADD213PS expc<>+320(SB), Y0, Y3 \
	VFMADD213PS Y13, Y0, Y3 \
	VFMADD213PS Y13, Y0, Y3 \
	VMULPS Y1, Y3, Y0 \
	VANDPS Y4, Y0, Y0

// HSUM reduces Y reg R to its lane sum in X R.
#define HSUM(R, XR, T) \
	VEXTRACTF128 $1, R, T \
	VADDPS T, XR, XR \
	VHADDPS XR, XR, XR \
	VHADDPS XR, XR, XR

// func maxAVX2(z *float32, n int) (m, sum float32)   (n a multiple of 8, > 0)
// sum is there to detect NaN and Inf, which VMAXPS would drop.
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ z+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS expc<>+416(SB), Y0
	VMOVAPS Y0, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
maxloop16:
	CMPQ CX, $16
	JLT maxloop8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMAXPS Y4, Y0, Y0
	VMAXPS Y5, Y1, Y1
	VADDPS Y4, Y2, Y2
	VADDPS Y5, Y3, Y3
	ADDQ $64, SI
	SUBQ $16, CX
	JMP maxloop16
maxloop8:
	CMPQ CX, $8
	JLT maxdone
	VMOVUPS (SI), Y4
	VMAXPS Y4, Y0, Y0
	VADDPS Y4, Y2, Y2
	ADDQ $32, SI
	SUBQ $8, CX
	JMP maxloop8
maxdone:
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VADDPS Y3, Y2, Y2
	HSUM(Y2, X2, X1)
	VZEROUPPER
	MOVSS X0, m+16(FP)
	MOVSS X2, sum+20(FP)
	RET

// func expSumAVX2(z *float32, n int, m float32, store bool) float32
// Returns sum exp(z_j - m); with store, also writes exp(z_j - m) over z.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-28
	MOVQ z+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y14
	MOVBLZX store+20(FP), DX
	LOADC
	VXORPS Y15, Y15, Y15
esloop:
	CMPQ CX, $8
	JLT esdone
	VMOVUPS (SI), Y0
	EXP8
	VADDPS Y0, Y15, Y15
	TESTQ DX, DX
	JZ esnext
	VMOVUPS Y0, (SI)
esnext:
	ADDQ $32, SI
	SUBQ $8, CX
	JMP esloop
esdone:
	HSUM(Y15, X15, X1)
	VZEROUPPER
	MOVSS X15, ret+24(FP)
	RET

// func expSumZAVX2(z *float32, n int, m float32) (s, sz float32)
// Returns sum e_j and sum e_j (z_j - m) with e_j = exp(z_j - m); z is unchanged.
TEXT ·expSumZAVX2(SB), NOSPLIT, $0-32
	MOVQ z+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y14
	LOADC
	VXORPS Y15, Y15, Y15
	VXORPS Y7, Y7, Y7
ezloop:
	CMPQ CX, $8
	JLT ezdone
	VMOVUPS (SI), Y0
	EXP8
	VADDPS Y0, Y15, Y15
	VFMADD231PS Y5, Y0, Y7
	ADDQ $32, SI
	SUBQ $8, CX
	JMP ezloop
ezdone:
	HSUM(Y15, X15, X1)
	HSUM(Y7, X7, X1)
	VZEROUPPER
	MOVSS X15, s+24(FP)
	MOVSS X7, sz+28(FP)
	RET

// func gradAVX2(z *float32, n int, m, inv, alpha, beta float32)
// Overwrites z_j with exp(z_j - m) * inv * (alpha + beta (z_j - m)).
TEXT ·gradAVX2(SB), NOSPLIT, $0-32
	MOVQ z+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y14
	VBROADCASTSS inv+20(FP), Y15
	VBROADCASTSS alpha+24(FP), Y6
	VBROADCASTSS beta+28(FP), Y7
	LOADC
grloop:
	CMPQ CX, $8
	JLT grdone
	VMOVUPS (SI), Y0
	EXP8
	VMOVAPS Y6, Y1
	VFMADD231PS Y7, Y5, Y1
	VMULPS Y15, Y0, Y0
	VMULPS Y1, Y0, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JMP grloop
grdone:
	VZEROUPPER
	RET

// func scaleAVX2(z *float32, n int, a float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ z+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS a+16(FP), Y1
scloop:
	CMPQ CX, $8
	JLT scdone
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JMP scloop
scdone:
	VZEROUPPER
	RET
