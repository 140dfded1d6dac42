#include "textflag.h"
#include "rows512_amd64.h"

#define PFD 4096
// PFD83 is DotPanel8x3's prefetch distance along its weight rows. 4-8 KiB
// streamed a 64 MB matrix 5-7% faster than 16 KiB (2 KiB: 11% slower, 32
// KiB: 7%), and 8 KiB gave 8-10% more tok/s to 8-sequence rollouts of the
// stories15M shape (alternating runs).
#define PFD83 8192


// ZERO16 and ZERO8HI clear the accumulators Z0-Z15 and Z16-Z23.
#define ZERO16 \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15

#define ZERO8HI \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23


// PREFETCHC12 asks for the 12 x 32 tile of C at DX (row stride R8 bytes;
// AX is clobbered) before the k loop, so that its read and write at the end
// do not wait on L2 or L3: each row's 128 bytes span two or three lines.
// (Paired training steps of the 16M Qwen3: 0.983, 0.973 and 0.954 of the
// time without it.)
#define PREFETCHROW \
	PREFETCHT0 (AX); \
	PREFETCHT0 64(AX); \
	PREFETCHT0 124(AX)

#define PREFETCH4ROWS \
	PREFETCHROW; \
	ADDQ R8, AX; \
	PREFETCHROW; \
	ADDQ R8, AX; \
	PREFETCHROW; \
	ADDQ R8, AX; \
	PREFETCHROW

#define PREFETCHC12 \
	MOVQ DX, AX; \
	PREFETCH4ROWS; \
	ADDQ R8, AX; \
	PREFETCH4ROWS; \
	ADDQ R8, AX; \
	PREFETCH4ROWS

// AVX-512 kernels (AVX512F). See kernel_amd64.go for the contracts.

// func Kernel12x32(k int, a, b, c *float32, ldc int, add int)
// C[0:12, 0:32] (+)= A12 * B32 over k steps: A packed as k groups of 12
// floats (one per row), B as k groups of 32 floats (one per column); ldc is
// C's row stride in floats. add != 0 adds into C, else C is overwritten.
// Accumulators: row r in Z(2r), Z(2r+1).
TEXT ·Kernel12x32(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	PREFETCHC12
	ZERO16
	ZERO8HI
	TESTQ CX, CX
	JZ store12

loop12:
	VMOVUPS (DI), Z24
	VMOVUPS 64(DI), Z25
	VBROADCASTSS (SI), Z26
	VBROADCASTSS 4(SI), Z27
	VBROADCASTSS 8(SI), Z28
	VFMADD231PS Z24, Z26, Z0
	VFMADD231PS Z25, Z26, Z1
	VBROADCASTSS 12(SI), Z29
	VFMADD231PS Z24, Z27, Z2
	VFMADD231PS Z25, Z27, Z3
	VBROADCASTSS 16(SI), Z30
	VFMADD231PS Z24, Z28, Z4
	VFMADD231PS Z25, Z28, Z5
	VBROADCASTSS 20(SI), Z31
	VFMADD231PS Z24, Z29, Z6
	VFMADD231PS Z25, Z29, Z7
	VBROADCASTSS 24(SI), Z26
	VFMADD231PS Z24, Z30, Z8
	VFMADD231PS Z25, Z30, Z9
	VBROADCASTSS 28(SI), Z27
	VFMADD231PS Z24, Z31, Z10
	VFMADD231PS Z25, Z31, Z11
	VBROADCASTSS 32(SI), Z28
	VFMADD231PS Z24, Z26, Z12
	VFMADD231PS Z25, Z26, Z13
	VBROADCASTSS 36(SI), Z29
	VFMADD231PS Z24, Z27, Z14
	VFMADD231PS Z25, Z27, Z15
	VBROADCASTSS 40(SI), Z30
	VFMADD231PS Z24, Z28, Z16
	VFMADD231PS Z25, Z28, Z17
	VBROADCASTSS 44(SI), Z31
	VFMADD231PS Z24, Z29, Z18
	VFMADD231PS Z25, Z29, Z19
	VFMADD231PS Z24, Z30, Z20
	VFMADD231PS Z25, Z30, Z21
	VFMADD231PS Z24, Z31, Z22
	VFMADD231PS Z25, Z31, Z23
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNZ loop12

store12:
	MOVQ add+40(FP), AX
	TESTQ AX, AX
	JZ overwrite12
	VADDPS (DX), Z0, Z0
	VADDPS 64(DX), Z1, Z1
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z2, Z2
	VADDPS 64(DX), Z3, Z3
	VMOVUPS Z2, (DX)
	VMOVUPS Z3, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z4, Z4
	VADDPS 64(DX), Z5, Z5
	VMOVUPS Z4, (DX)
	VMOVUPS Z5, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z6, Z6
	VADDPS 64(DX), Z7, Z7
	VMOVUPS Z6, (DX)
	VMOVUPS Z7, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z8, Z8
	VADDPS 64(DX), Z9, Z9
	VMOVUPS Z8, (DX)
	VMOVUPS Z9, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z10, Z10
	VADDPS 64(DX), Z11, Z11
	VMOVUPS Z10, (DX)
	VMOVUPS Z11, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z12, Z12
	VADDPS 64(DX), Z13, Z13
	VMOVUPS Z12, (DX)
	VMOVUPS Z13, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z14, Z14
	VADDPS 64(DX), Z15, Z15
	VMOVUPS Z14, (DX)
	VMOVUPS Z15, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z16, Z16
	VADDPS 64(DX), Z17, Z17
	VMOVUPS Z16, (DX)
	VMOVUPS Z17, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z18, Z18
	VADDPS 64(DX), Z19, Z19
	VMOVUPS Z18, (DX)
	VMOVUPS Z19, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z20, Z20
	VADDPS 64(DX), Z21, Z21
	VMOVUPS Z20, (DX)
	VMOVUPS Z21, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z22, Z22
	VADDPS 64(DX), Z23, Z23
	VMOVUPS Z22, (DX)
	VMOVUPS Z23, 64(DX)
	VZEROUPPER
	RET

overwrite12:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z2, (DX)
	VMOVUPS Z3, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z4, (DX)
	VMOVUPS Z5, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z6, (DX)
	VMOVUPS Z7, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z8, (DX)
	VMOVUPS Z9, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z10, (DX)
	VMOVUPS Z11, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z12, (DX)
	VMOVUPS Z13, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z14, (DX)
	VMOVUPS Z15, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z16, (DX)
	VMOVUPS Z17, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z18, (DX)
	VMOVUPS Z19, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z20, (DX)
	VMOVUPS Z21, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z22, (DX)
	VMOVUPS Z23, 64(DX)
	VZEROUPPER
	RET

// func Kernel12x32Rows(k int, a *float32, lda int, b, c *float32, ldc int, add int)
// Kernel12x32 with A unpacked: row i of the 12 at a + i*lda (floats),
// element p at offset p. Rows 0-3 from SI, 4-7 from R10, 8-11 from R11,
// each at 0, lda, 2 lda, 3 lda (R12 = lda, R13 = 3 lda bytes).
TEXT ·Kernel12x32Rows(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R12
	SHLQ $2, R12
	LEAQ (R12)(R12*2), R13
	LEAQ (SI)(R12*4), R10
	LEAQ (R10)(R12*4), R11
	MOVQ b+24(FP), DI
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	PREFETCHC12
	ZERO16
	ZERO8HI
	TESTQ CX, CX
	JZ store12r

loop12r:
	VMOVUPS (DI), Z24
	VMOVUPS 64(DI), Z25
	VBROADCASTSS (SI), Z26
	VBROADCASTSS (SI)(R12*1), Z27
	VBROADCASTSS (SI)(R12*2), Z28
	VFMADD231PS Z24, Z26, Z0
	VFMADD231PS Z25, Z26, Z1
	VBROADCASTSS (SI)(R13*1), Z29
	VFMADD231PS Z24, Z27, Z2
	VFMADD231PS Z25, Z27, Z3
	VBROADCASTSS (R10), Z30
	VFMADD231PS Z24, Z28, Z4
	VFMADD231PS Z25, Z28, Z5
	VBROADCASTSS (R10)(R12*1), Z31
	VFMADD231PS Z24, Z29, Z6
	VFMADD231PS Z25, Z29, Z7
	VBROADCASTSS (R10)(R12*2), Z26
	VFMADD231PS Z24, Z30, Z8
	VFMADD231PS Z25, Z30, Z9
	VBROADCASTSS (R10)(R13*1), Z27
	VFMADD231PS Z24, Z31, Z10
	VFMADD231PS Z25, Z31, Z11
	VBROADCASTSS (R11), Z28
	VFMADD231PS Z24, Z26, Z12
	VFMADD231PS Z25, Z26, Z13
	VBROADCASTSS (R11)(R12*1), Z29
	VFMADD231PS Z24, Z27, Z14
	VFMADD231PS Z25, Z27, Z15
	VBROADCASTSS (R11)(R12*2), Z30
	VFMADD231PS Z24, Z28, Z16
	VFMADD231PS Z25, Z28, Z17
	VBROADCASTSS (R11)(R13*1), Z31
	VFMADD231PS Z24, Z29, Z18
	VFMADD231PS Z25, Z29, Z19
	VFMADD231PS Z24, Z30, Z20
	VFMADD231PS Z25, Z30, Z21
	VFMADD231PS Z24, Z31, Z22
	VFMADD231PS Z25, Z31, Z23
	ADDQ $4, SI
	ADDQ $4, R10
	ADDQ $4, R11
	ADDQ $128, DI
	DECQ CX
	JNZ loop12r

store12r:
	MOVQ add+48(FP), AX
	TESTQ AX, AX
	JZ overwrite12r
	VADDPS (DX), Z0, Z0
	VADDPS 64(DX), Z1, Z1
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z2, Z2
	VADDPS 64(DX), Z3, Z3
	VMOVUPS Z2, (DX)
	VMOVUPS Z3, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z4, Z4
	VADDPS 64(DX), Z5, Z5
	VMOVUPS Z4, (DX)
	VMOVUPS Z5, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z6, Z6
	VADDPS 64(DX), Z7, Z7
	VMOVUPS Z6, (DX)
	VMOVUPS Z7, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z8, Z8
	VADDPS 64(DX), Z9, Z9
	VMOVUPS Z8, (DX)
	VMOVUPS Z9, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z10, Z10
	VADDPS 64(DX), Z11, Z11
	VMOVUPS Z10, (DX)
	VMOVUPS Z11, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z12, Z12
	VADDPS 64(DX), Z13, Z13
	VMOVUPS Z12, (DX)
	VMOVUPS Z13, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z14, Z14
	VADDPS 64(DX), Z15, Z15
	VMOVUPS Z14, (DX)
	VMOVUPS Z15, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z16, Z16
	VADDPS 64(DX), Z17, Z17
	VMOVUPS Z16, (DX)
	VMOVUPS Z17, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z18, Z18
	VADDPS 64(DX), Z19, Z19
	VMOVUPS Z18, (DX)
	VMOVUPS Z19, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z20, Z20
	VADDPS 64(DX), Z21, Z21
	VMOVUPS Z20, (DX)
	VMOVUPS Z21, 64(DX)
	ADDQ R8, DX
	VADDPS (DX), Z22, Z22
	VADDPS 64(DX), Z23, Z23
	VMOVUPS Z22, (DX)
	VMOVUPS Z23, 64(DX)
	VZEROUPPER
	RET

overwrite12r:
	VMOVUPS Z0, (DX)
	VMOVUPS Z1, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z2, (DX)
	VMOVUPS Z3, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z4, (DX)
	VMOVUPS Z5, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z6, (DX)
	VMOVUPS Z7, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z8, (DX)
	VMOVUPS Z9, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z10, (DX)
	VMOVUPS Z11, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z12, (DX)
	VMOVUPS Z13, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z14, (DX)
	VMOVUPS Z15, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z16, (DX)
	VMOVUPS Z17, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z18, (DX)
	VMOVUPS Z19, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z20, (DX)
	VMOVUPS Z21, 64(DX)
	ADDQ R8, DX
	VMOVUPS Z22, (DX)
	VMOVUPS Z23, 64(DX)
	VZEROUPPER
	RET

// REDUCE16 sums each of Z0..Z15 across its 16 lanes and leaves the sums in
// Z0, lane t holding the sum of Z(t). Z16, Z17 are scratch.
// PAIRPS and PAIRPD are its steps, with scratch registers s0 and s1.
#define PAIRPS(a, b, s0, s1) \
	VUNPCKLPS b, a, s0; \
	VUNPCKHPS b, a, s1; \
	VADDPS s1, s0, a

#define PAIRPD(a, b, s0, s1) \
	VUNPCKLPD b, a, s0; \
	VUNPCKHPD b, a, s1; \
	VADDPS s1, s0, a

// FOLDHALVES sets a's 128-bit blocks to (a0+a2, a1+a3, b0+b2, b1+b3);
// FOLDPAIRS sets them to (a0+a1, a2+a3, b0+b1, b2+b3). s0, s1 scratch.
#define FOLDHALVES(a, b, s0, s1) \
	VSHUFF32X4 $0x44, b, a, s0; \
	VSHUFF32X4 $0xEE, b, a, s1; \
	VADDPS s1, s0, a

#define FOLDPAIRS(a, b, s0, s1) \
	VSHUFF32X4 $0x88, b, a, s0; \
	VSHUFF32X4 $0xDD, b, a, s1; \
	VADDPS s1, s0, a

#define REDUCE16 \
	PAIRPS(Z0, Z1, Z16, Z17); \
	PAIRPS(Z2, Z3, Z16, Z17); \
	PAIRPS(Z4, Z5, Z16, Z17); \
	PAIRPS(Z6, Z7, Z16, Z17); \
	PAIRPS(Z8, Z9, Z16, Z17); \
	PAIRPS(Z10, Z11, Z16, Z17); \
	PAIRPS(Z12, Z13, Z16, Z17); \
	PAIRPS(Z14, Z15, Z16, Z17); \
	PAIRPD(Z0, Z2, Z16, Z17); \
	PAIRPD(Z4, Z6, Z16, Z17); \
	PAIRPD(Z8, Z10, Z16, Z17); \
	PAIRPD(Z12, Z14, Z16, Z17); \
	FOLDHALVES(Z0, Z4, Z16, Z17); \
	FOLDHALVES(Z8, Z12, Z16, Z17); \
	FOLDPAIRS(Z0, Z8, Z16, Z17)

// REDUCE8 sums each of Z16..Z23 across its 16 lanes, adding lanes in
// REDUCE16's order (so each sum is bit for bit the same), and leaves the
// sums in lanes 0-7 of Z16, lane t holding the sum of Z(16+t). Z24, Z25
// are scratch.
#define REDUCE8 \
	PAIRPS(Z16, Z17, Z24, Z25); \
	PAIRPS(Z18, Z19, Z24, Z25); \
	PAIRPS(Z20, Z21, Z24, Z25); \
	PAIRPS(Z22, Z23, Z24, Z25); \
	PAIRPD(Z16, Z18, Z24, Z25); \
	PAIRPD(Z20, Z22, Z24, Z25); \
	FOLDHALVES(Z16, Z20, Z24, Z25); \
	FOLDPAIRS(Z16, Z16, Z24, Z25)

// func DotRows16(k int, x, w *float32, ldw int, c *float32, alpha float32, add int)
// c[r] (+)= alpha * (x[0:k] . w[r*ldw : r*ldw+k]) for r < 16: one vector
// against sixteen rows (a matrix-vector product against weights stored
// [out, in]). k may be any length (the last k%16 by masked loads).
// Rows: 0-2, 3, 4 from DI; 5-7 from R12; 8-10, 11, 12 from BX; 13-15 from R13.
// Each iteration also asks for the line of rows 16, 21, 24 and 29 (R10 = 16
// rows) that the next block will read, which starts the hardware's streams
// over the next pages early: a 64 MB matrix-vector product streamed 3-4%
// faster, one-sequence decoding of the 15M shape 2-4% (alternating runs).
TEXT ·DotRows16(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9        // 3 rows
	LEAQ (DI)(R8*4), R12
	ADDQ R8, R12               // row 5
	LEAQ (DI)(R8*8), BX        // row 8
	LEAQ (BX)(R8*4), R13
	ADDQ R8, R13               // row 13
	MOVQ R8, R10
	SHLQ $4, R10               // 16 rows: the next call's block
	ZERO16
	MOVQ CX, AX
	SHRQ $4, AX
	JZ tail16

loop16:
	VMOVUPS (SI), Z18
	PREFETCHT0 (DI)(R10*1)
	PREFETCHT0 (R12)(R10*1)
	PREFETCHT0 (BX)(R10*1)
	PREFETCHT0 (R13)(R10*1)
	VFMADD231PS (DI), Z18, Z0
	VFMADD231PS (DI)(R8*1), Z18, Z1
	VFMADD231PS (DI)(R8*2), Z18, Z2
	VFMADD231PS (DI)(R9*1), Z18, Z3
	VFMADD231PS (DI)(R8*4), Z18, Z4
	VFMADD231PS (R12), Z18, Z5
	VFMADD231PS (R12)(R8*1), Z18, Z6
	VFMADD231PS (R12)(R8*2), Z18, Z7
	VFMADD231PS (BX), Z18, Z8
	VFMADD231PS (BX)(R8*1), Z18, Z9
	VFMADD231PS (BX)(R8*2), Z18, Z10
	VFMADD231PS (BX)(R9*1), Z18, Z11
	VFMADD231PS (BX)(R8*4), Z18, Z12
	VFMADD231PS (R13), Z18, Z13
	VFMADD231PS (R13)(R8*1), Z18, Z14
	VFMADD231PS (R13)(R8*2), Z18, Z15
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R12
	ADDQ $64, BX
	ADDQ $64, R13
	DECQ AX
	JNZ loop16

tail16:
	MASKTAIL // ZF: no tail
	JZ reduce16
	VMOVUPS.Z (SI), K1, Z18
	VMOVUPS.Z (DI), K1, Z19
	VFMADD231PS Z19, Z18, Z0
	VMOVUPS.Z (DI)(R8*1), K1, Z19
	VFMADD231PS Z19, Z18, Z1
	VMOVUPS.Z (DI)(R8*2), K1, Z19
	VFMADD231PS Z19, Z18, Z2
	VMOVUPS.Z (DI)(R9*1), K1, Z19
	VFMADD231PS Z19, Z18, Z3
	VMOVUPS.Z (DI)(R8*4), K1, Z19
	VFMADD231PS Z19, Z18, Z4
	VMOVUPS.Z (R12), K1, Z19
	VFMADD231PS Z19, Z18, Z5
	VMOVUPS.Z (R12)(R8*1), K1, Z19
	VFMADD231PS Z19, Z18, Z6
	VMOVUPS.Z (R12)(R8*2), K1, Z19
	VFMADD231PS Z19, Z18, Z7
	VMOVUPS.Z (BX), K1, Z19
	VFMADD231PS Z19, Z18, Z8
	VMOVUPS.Z (BX)(R8*1), K1, Z19
	VFMADD231PS Z19, Z18, Z9
	VMOVUPS.Z (BX)(R8*2), K1, Z19
	VFMADD231PS Z19, Z18, Z10
	VMOVUPS.Z (BX)(R9*1), K1, Z19
	VFMADD231PS Z19, Z18, Z11
	VMOVUPS.Z (BX)(R8*4), K1, Z19
	VFMADD231PS Z19, Z18, Z12
	VMOVUPS.Z (R13), K1, Z19
	VFMADD231PS Z19, Z18, Z13
	VMOVUPS.Z (R13)(R8*1), K1, Z19
	VFMADD231PS Z19, Z18, Z14
	VMOVUPS.Z (R13)(R8*2), K1, Z19
	VFMADD231PS Z19, Z18, Z15

reduce16:
	REDUCE16
	MOVQ c+32(FP), DX
	VBROADCASTSS alpha+40(FP), Z18
	VMULPS Z18, Z0, Z0
	MOVQ add+48(FP), AX
	TESTQ AX, AX
	JZ st16
	VADDPS (DX), Z0, Z0
st16:
	VMOVUPS Z0, (DX)
	VZEROUPPER
	RET

// func DotTile4x4(k int, x, w *[4]*float32, c *float32, ldc int, nx, nw int, alpha float32, add int)
// c[r*ldc+s] (+)= alpha * (x[r][0:k] . w[s][0:k]) for r < nx, s < nw (nx,
// nw in 1..4; the pointers past them must still be readable: repeat one).
// Sixteen accumulators Z(4r+s); the last k%16 by masked loads.
TEXT ·DotTile4x4(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), AX
	MOVQ 0(AX), SI
	MOVQ 8(AX), BX
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ w+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ 24(AX), DX
	ZERO16
	XORQ AX, AX               // byte offset along k
	MOVQ CX, R8
	SHRQ $4, R8
	JZ tail44

loop44:
	VMOVUPS (SI)(AX*1), Z16
	VMOVUPS (BX)(AX*1), Z17
	VMOVUPS (R10)(AX*1), Z18
	VMOVUPS (R11)(AX*1), Z19
	VMOVUPS (DI)(AX*1), Z20
	VMOVUPS (R12)(AX*1), Z21
	VMOVUPS (R13)(AX*1), Z22
	VMOVUPS (DX)(AX*1), Z23
	PREFETCHT0 PFD(DI)(AX*1)
	PREFETCHT0 PFD(R12)(AX*1)
	PREFETCHT0 PFD(R13)(AX*1)
	PREFETCHT0 PFD(DX)(AX*1)
	VFMADD231PS Z20, Z16, Z0
	VFMADD231PS Z21, Z16, Z1
	VFMADD231PS Z22, Z16, Z2
	VFMADD231PS Z23, Z16, Z3
	VFMADD231PS Z20, Z17, Z4
	VFMADD231PS Z21, Z17, Z5
	VFMADD231PS Z22, Z17, Z6
	VFMADD231PS Z23, Z17, Z7
	VFMADD231PS Z20, Z18, Z8
	VFMADD231PS Z21, Z18, Z9
	VFMADD231PS Z22, Z18, Z10
	VFMADD231PS Z23, Z18, Z11
	VFMADD231PS Z20, Z19, Z12
	VFMADD231PS Z21, Z19, Z13
	VFMADD231PS Z22, Z19, Z14
	VFMADD231PS Z23, Z19, Z15
	ADDQ $64, AX
	DECQ R8
	JNZ loop44

tail44:
	ANDQ $15, CX
	JZ reduce44
	MOVQ $1, R8
	SHLQ CX, R8
	DECQ R8
	KMOVW R8, K1
	VMOVUPS.Z (SI)(AX*1), K1, Z16
	VMOVUPS.Z (BX)(AX*1), K1, Z17
	VMOVUPS.Z (R10)(AX*1), K1, Z18
	VMOVUPS.Z (R11)(AX*1), K1, Z19
	VMOVUPS.Z (DI)(AX*1), K1, Z20
	VMOVUPS.Z (R12)(AX*1), K1, Z21
	VMOVUPS.Z (R13)(AX*1), K1, Z22
	VMOVUPS.Z (DX)(AX*1), K1, Z23
	VFMADD231PS Z20, Z16, Z0
	VFMADD231PS Z21, Z16, Z1
	VFMADD231PS Z22, Z16, Z2
	VFMADD231PS Z23, Z16, Z3
	VFMADD231PS Z20, Z17, Z4
	VFMADD231PS Z21, Z17, Z5
	VFMADD231PS Z22, Z17, Z6
	VFMADD231PS Z23, Z17, Z7
	VFMADD231PS Z20, Z18, Z8
	VFMADD231PS Z21, Z18, Z9
	VFMADD231PS Z22, Z18, Z10
	VFMADD231PS Z23, Z18, Z11
	VFMADD231PS Z20, Z19, Z12
	VFMADD231PS Z21, Z19, Z13
	VFMADD231PS Z22, Z19, Z14
	VFMADD231PS Z23, Z19, Z15

reduce44:
	REDUCE16
	VBROADCASTSS alpha+56(FP), Z18
	VMULPS Z18, Z0, Z0
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ nw+48(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	KXORW K4, K4, K4          // the load mask: none when overwriting
	MOVQ add+64(FP), AX
	TESTQ AX, AX
	JZ rows44
	KMOVW K1, K4
rows44:
	MOVQ nx+40(FP), CX
	// row 0: lanes 0-3
	VMOVUPS.Z (DX), K4, X16
	VADDPS X16, X0, X16
	VMOVUPS X16, K1, (DX)
	CMPQ CX, $1
	JLE done44
	ADDQ R8, DX
	VEXTRACTF32X4 $1, Z0, X17
	VMOVUPS.Z (DX), K4, X16
	VADDPS X16, X17, X16
	VMOVUPS X16, K1, (DX)
	CMPQ CX, $2
	JLE done44
	ADDQ R8, DX
	VEXTRACTF32X4 $2, Z0, X17
	VMOVUPS.Z (DX), K4, X16
	VADDPS X16, X17, X16
	VMOVUPS X16, K1, (DX)
	CMPQ CX, $3
	JLE done44
	ADDQ R8, DX
	VEXTRACTF32X4 $3, Z0, X17
	VMOVUPS.Z (DX), K4, X16
	VADDPS X16, X17, X16
	VMOVUPS X16, K1, (DX)
done44:
	VZEROUPPER
	RET

// FMA83 adds a row of x's line (x) times the triple's lines (Z24-Z26) to
// that row's accumulators for columns 0, 1 and 2.
#define FMA83(a0, a1, a2, x) \
	VFMADD231PS Z24, x, a0; \
	VFMADD231PS Z25, x, a1; \
	VFMADD231PS Z26, x, a2

// rows8 is 0..7, times ldc the offsets of a column's eight rows of c.
DATA rows8<>+0(SB)/4, $0
DATA rows8<>+4(SB)/4, $1
DATA rows8<>+8(SB)/4, $2
DATA rows8<>+12(SB)/4, $3
DATA rows8<>+16(SB)/4, $4
DATA rows8<>+20(SB)/4, $5
DATA rows8<>+24(SB)/4, $6
DATA rows8<>+28(SB)/4, $7
GLOBL rows8<>(SB), RODATA, $32

// func DotPanel8x3(k int, x *float32, ldx int, w *float32, ldw int, triples int, c *float32, ldc int, alpha float32, add int)
// For p < triples, s < 3, r < 8: c[r*ldc+3p+s] (+)= alpha * (x[r*ldx:][0:k] .
// w[(3p+s)*ldw:][0:k]): eight rows of x against a panel of 3*triples weight
// rows, three at a time, in one call. Accumulators Z(2r+s) for columns 0
// and 1 (REDUCE16, then one 64-bit move per row), Z(16+r) for column 2
// (REDUCE8, then a scatter); the lanes of each sum and the reduction are
// DotTile4x4's, so the sums are its sums bit for bit. Three weight rows
// take 24 multiply-adds per 11 loads, against 16 per 10 with two: 8-13%
// faster on the stories15M layers' shapes in cache, alike on its head,
// which memory bounds (interleaved single-core calls, best and median).
// Each weight row is read once for the eight
// rows of x, a line per iteration with a prefetch PFD83 ahead (without it
// the batched product ran at half the speed), so that a batched decoding
// step streams weights evenly while it computes.
// Registers: SI rows 0-3 and BX rows 4-7 of x (R8 = ldx bytes, R9 = 3 ldx);
// DI the triple's first weight row (R10 = ldw bytes); Z24-Z26 its lines,
// Z27-Z30 x's; DX the triple's column of c (R11 = ldc bytes, Y31 the
// offsets of its rows in floats); R12 triples left; R13 the bytes the k
// loop advances.
TEXT ·DotPanel8x3(SB), NOSPLIT, $0-80
	MOVQ x+8(FP), SI
	MOVQ ldx+16(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), BX
	MOVQ w+24(FP), DI
	MOVQ ldw+32(FP), R10
	SHLQ $2, R10
	MOVQ triples+40(FP), R12
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R11
	VPBROADCASTD R11, Y31
	VPMULLD rows8<>(SB), Y31, Y31
	SHLQ $2, R11
	MOVQ k+0(FP), CX
	MASKTAIL                  // K1: the mask of the last k%16 floats
	MOVQ k+0(FP), R13
	SHRQ $4, R13
	SHLQ $6, R13
	TESTQ R12, R12
	JZ donep83

triplep83:
	ZERO16
	ZERO8HI
	MOVQ k+0(FP), CX
	SHRQ $4, CX
	JZ tailp83
loopp83:
	VMOVUPS (DI), Z24
	VMOVUPS (DI)(R10*1), Z25
	VMOVUPS (DI)(R10*2), Z26
	PREFETCHT0 PFD83(DI)
	PREFETCHT0 PFD83(DI)(R10*1)
	PREFETCHT0 PFD83(DI)(R10*2)
	VMOVUPS (SI), Z27
	VMOVUPS (SI)(R8*1), Z28
	FMA83(Z0, Z1, Z16, Z27)
	VMOVUPS (SI)(R8*2), Z29
	FMA83(Z2, Z3, Z17, Z28)
	VMOVUPS (SI)(R9*1), Z30
	FMA83(Z4, Z5, Z18, Z29)
	VMOVUPS (BX), Z27
	FMA83(Z6, Z7, Z19, Z30)
	VMOVUPS (BX)(R8*1), Z28
	FMA83(Z8, Z9, Z20, Z27)
	VMOVUPS (BX)(R8*2), Z29
	FMA83(Z10, Z11, Z21, Z28)
	VMOVUPS (BX)(R9*1), Z30
	FMA83(Z12, Z13, Z22, Z29)
	FMA83(Z14, Z15, Z23, Z30)
	ADDQ $64, SI
	ADDQ $64, BX
	ADDQ $64, DI
	DECQ CX
	JNZ loopp83
tailp83:
	MOVQ k+0(FP), CX
	ANDQ $15, CX
	JZ reducep83
	VMOVUPS.Z (DI), K1, Z24
	VMOVUPS.Z (DI)(R10*1), K1, Z25
	VMOVUPS.Z (DI)(R10*2), K1, Z26
	VMOVUPS.Z (SI), K1, Z27
	VMOVUPS.Z (SI)(R8*1), K1, Z28
	FMA83(Z0, Z1, Z16, Z27)
	VMOVUPS.Z (SI)(R8*2), K1, Z29
	FMA83(Z2, Z3, Z17, Z28)
	VMOVUPS.Z (SI)(R9*1), K1, Z30
	FMA83(Z4, Z5, Z18, Z29)
	VMOVUPS.Z (BX), K1, Z27
	FMA83(Z6, Z7, Z19, Z30)
	VMOVUPS.Z (BX)(R8*1), K1, Z28
	FMA83(Z8, Z9, Z20, Z27)
	VMOVUPS.Z (BX)(R8*2), K1, Z29
	FMA83(Z10, Z11, Z21, Z28)
	VMOVUPS.Z (BX)(R9*1), K1, Z30
	FMA83(Z12, Z13, Z22, Z29)
	FMA83(Z14, Z15, Z23, Z30)
reducep83:
	SUBQ R13, SI              // back to column 0 of x and of the triple
	SUBQ R13, BX
	SUBQ R13, DI
	REDUCE8
	VMOVAPS Z16, Z30          // column 2; REDUCE16 takes Z16, Z17
	REDUCE16
	VBROADCASTSS alpha+64(FP), Z26
	VMULPS Z26, Z0, Z0
	VMULPS Y26, Y30, Y30
	VEXTRACTF32X4 $1, Z0, X1  // lanes 4-7: rows 2, 3
	VEXTRACTF32X4 $2, Z0, X2
	VEXTRACTF32X4 $3, Z0, X3
	LEAQ 8(DX), CX            // column 2 of the triple
	MOVQ add+72(FP), AX
	TESTQ AX, AX
	JZ storep83
	KXNORB K2, K2, K2
	VGATHERDPS (CX)(Y31*4), K2, Y29
	VADDPS Y29, Y30, Y30
	MOVQ DX, AX
	VMOVSD (AX), X4
	VMOVHPS (AX)(R11*1), X4, X4
	VADDPS X4, X0, X0
	LEAQ (AX)(R11*2), AX
	VMOVSD (AX), X4
	VMOVHPS (AX)(R11*1), X4, X4
	VADDPS X4, X1, X1
	LEAQ (AX)(R11*2), AX
	VMOVSD (AX), X4
	VMOVHPS (AX)(R11*1), X4, X4
	VADDPS X4, X2, X2
	LEAQ (AX)(R11*2), AX
	VMOVSD (AX), X4
	VMOVHPS (AX)(R11*1), X4, X4
	VADDPS X4, X3, X3
storep83:
	KXNORB K2, K2, K2
	VSCATTERDPS Y30, K2, (CX)(Y31*4)
	MOVQ DX, AX
	VMOVSD X0, (AX)
	VMOVHPS X0, (AX)(R11*1)
	LEAQ (AX)(R11*2), AX
	VMOVSD X1, (AX)
	VMOVHPS X1, (AX)(R11*1)
	LEAQ (AX)(R11*2), AX
	VMOVSD X2, (AX)
	VMOVHPS X2, (AX)(R11*1)
	LEAQ (AX)(R11*2), AX
	VMOVSD X3, (AX)
	VMOVHPS X3, (AX)(R11*1)
	LEAQ (DI)(R10*2), DI      // the next triple
	ADDQ R10, DI
	ADDQ $12, DX
	DECQ R12
	JNZ triplep83
donep83:
	VZEROUPPER
	RET

// AXPYROW64 multiplies one row of b (its four column groups at g0..g3,
// masks K1-K4) by the broadcast bc into accumulators z0..z3.
#define AXPYROW64(g0, g1, g2, g3, bc, z0, z1, z2, z3) \
	VMOVUPS.Z g0, K1, Z20; \
	VMOVUPS.Z g1, K2, Z21; \
	VMOVUPS.Z g2, K3, Z22; \
	VMOVUPS.Z g3, K4, Z23; \
	VFMADD231PS Z20, bc, z0; \
	VFMADD231PS Z21, bc, z1; \
	VFMADD231PS Z22, bc, z2; \
	VFMADD231PS Z23, bc, z3

// SUMSTORE64 adds a column group's four accumulators, (a0 + a1) + (a2 +
// a3), and stores alpha (Z16) times the sum plus, where K6 is set (add),
// C's old values at off(DX), under mask km. Z17 and K5 scratch.
#define SUMSTORE64(a0, a1, a2, a3, km, off) \
	VADDPS a1, a0, a0; \
	VADDPS a3, a2, a2; \
	VADDPS a2, a0, a0; \
	KANDW K6, km, K5; \
	VMOVUPS.Z off(DX), K5, Z17; \
	VFMADD231PS Z16, a0, Z17; \
	VMOVUPS Z17, km, off(DX)

// func AxpyRows64(n int, x, b *float32, ldb int, c *float32, cols int, alpha float32, add int)
// c[j] (+)= alpha * sum over p < n of x[p] * b[p*ldb + j] for j < cols
// (cols in 1..64; columns past it are neither read nor written): up to 64
// columns of a vector-matrix product, in one pass over b's rows, so that
// each row's lines are asked for together (decoding attention's
// probabilities times values: a 48-wide head took three passes of sixteen
// columns, 11-14% more attention time in a batched step). Column group g
// (16 columns, mask K(g+1)) sums into Z(4g+q) for p%4 == q, and the four
// are added (Z(4g) + Z(4g+1)) + (Z(4g+2) + Z(4g+3)): the same sums for
// any cols. Up to 16 columns take a loop over the first group alone.
TEXT ·AxpyRows64(SB), NOSPLIT, $0-64
	MOVQ cols+40(FP), CX      // K1-K4: columns 0-15, 16-31, 32-47, 48-63
	MOVQ $-1, DX
	CMPQ CX, $64
	JGE allcols64
	MOVQ $1, DX
	SHLQ CX, DX
	DECQ DX
allcols64:
	KMOVQ DX, K1
	KSHIFTRQ $16, K1, K2
	KSHIFTRQ $32, K1, K3
	KSHIFTRQ $48, K1, K4
	MOVQ cols+40(FP), R10
	MOVQ n+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8
	ZERO16
	LEAQ (R8)(R8*2), R9
	CMPQ R10, $16
	JG quads64
quads16:                      // one group
	CMPQ CX, $4
	JLT singles64
	VBROADCASTSS (SI), Z16
	VBROADCASTSS 4(SI), Z17
	VBROADCASTSS 8(SI), Z18
	VBROADCASTSS 12(SI), Z19
	VMOVUPS.Z (DI), K1, Z20
	VMOVUPS.Z (DI)(R8*1), K1, Z21
	VMOVUPS.Z (DI)(R8*2), K1, Z22
	VMOVUPS.Z (DI)(R9*1), K1, Z23
	VFMADD231PS Z20, Z16, Z0
	VFMADD231PS Z21, Z17, Z1
	VFMADD231PS Z22, Z18, Z2
	VFMADD231PS Z23, Z19, Z3
	ADDQ $16, SI
	LEAQ (DI)(R8*4), DI
	SUBQ $4, CX
	JMP quads16
quads64:                      // four groups
	CMPQ CX, $4
	JLT singles64
	VBROADCASTSS (SI), Z16
	VBROADCASTSS 4(SI), Z17
	VBROADCASTSS 8(SI), Z18
	VBROADCASTSS 12(SI), Z19
	AXPYROW64((DI), 64(DI), 128(DI), 192(DI), Z16, Z0, Z4, Z8, Z12)
	AXPYROW64((DI)(R8*1), 64(DI)(R8*1), 128(DI)(R8*1), 192(DI)(R8*1), Z17, Z1, Z5, Z9, Z13)
	AXPYROW64((DI)(R8*2), 64(DI)(R8*2), 128(DI)(R8*2), 192(DI)(R8*2), Z18, Z2, Z6, Z10, Z14)
	AXPYROW64((DI)(R9*1), 64(DI)(R9*1), 128(DI)(R9*1), 192(DI)(R9*1), Z19, Z3, Z7, Z11, Z15)
	ADDQ $16, SI
	LEAQ (DI)(R8*4), DI
	SUBQ $4, CX
	JMP quads64
singles64:
	TESTQ CX, CX
	JZ sum64
	VBROADCASTSS (SI), Z16
	AXPYROW64((DI), 64(DI), 128(DI), 192(DI), Z16, Z0, Z4, Z8, Z12)
	ADDQ $4, SI
	ADDQ R8, DI
	DECQ CX
	JMP singles64
sum64:
	KXORW K6, K6, K6          // K6: C's old values only when adding
	MOVQ add+56(FP), AX
	TESTQ AX, AX
	JZ set64
	KXNORW K6, K6, K6
set64:
	VBROADCASTSS alpha+48(FP), Z16
	MOVQ c+32(FP), DX
	SUMSTORE64(Z0, Z1, Z2, Z3, K1, 0)
	SUMSTORE64(Z4, Z5, Z6, Z7, K2, 64)
	SUMSTORE64(Z8, Z9, Z10, Z11, K3, 128)
	SUMSTORE64(Z12, Z13, Z14, Z15, K4, 192)
	VZEROUPPER
	RET

// func Transpose16(src *float32, lds, nrows, ncols int, dst *float32, ldd, width int, alpha float32)
// Reads rows r < nrows (1..16) of src (stride lds floats), columns c < ncols
// (1..16), as zero beyond them, and writes alpha times the transpose: row c
// < ncols of dst (stride ldd) gets lanes 0..width-1 (width 1..16), lane r
// holding src[r][c]. The packing of Sgemm's operands where they lie across
// the packed order.
TEXT ·Transpose16(SB), NOSPLIT, $0-60
	MOVQ ncols+24(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	MOVQ width+48(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K2
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $2, R8
	MOVQ nrows+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VMOVUPS.Z (SI), K1, Z0
	CMPQ CX, $1
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z1
	CMPQ CX, $2
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z2
	CMPQ CX, $3
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z3
	CMPQ CX, $4
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z4
	CMPQ CX, $5
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z5
	CMPQ CX, $6
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z6
	CMPQ CX, $7
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z7
	CMPQ CX, $8
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z8
	CMPQ CX, $9
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z9
	CMPQ CX, $10
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z10
	CMPQ CX, $11
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z11
	CMPQ CX, $12
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z12
	CMPQ CX, $13
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z13
	CMPQ CX, $14
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z14
	CMPQ CX, $15
	JLE loaded
	ADDQ R8, SI
	VMOVUPS.Z (SI), K1, Z15
loaded:
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xDD, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xDD, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xDD, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xDD, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xDD, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xDD, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xDD, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xDD, Z15, Z11, Z31
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VSHUFF32X4 $0xDD, Z24, Z16, Z8
	VSHUFF32X4 $0x88, Z25, Z17, Z1
	VSHUFF32X4 $0xDD, Z25, Z17, Z9
	VSHUFF32X4 $0x88, Z26, Z18, Z2
	VSHUFF32X4 $0xDD, Z26, Z18, Z10
	VSHUFF32X4 $0x88, Z27, Z19, Z3
	VSHUFF32X4 $0xDD, Z27, Z19, Z11
	VSHUFF32X4 $0x88, Z28, Z20, Z4
	VSHUFF32X4 $0xDD, Z28, Z20, Z12
	VSHUFF32X4 $0x88, Z29, Z21, Z5
	VSHUFF32X4 $0xDD, Z29, Z21, Z13
	VSHUFF32X4 $0x88, Z30, Z22, Z6
	VSHUFF32X4 $0xDD, Z30, Z22, Z14
	VSHUFF32X4 $0x88, Z31, Z23, Z7
	VSHUFF32X4 $0xDD, Z31, Z23, Z15
	VBROADCASTSS alpha+56(FP), Z16
	MOVQ dst+32(FP), DI
	MOVQ ldd+40(FP), R8
	SHLQ $2, R8
	MOVQ ncols+24(FP), CX
	VMULPS Z16, Z0, Z0
	VMOVUPS Z0, K2, (DI)
	CMPQ CX, $1
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z1, Z1
	VMOVUPS Z1, K2, (DI)
	CMPQ CX, $2
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z2, Z2
	VMOVUPS Z2, K2, (DI)
	CMPQ CX, $3
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z3, Z3
	VMOVUPS Z3, K2, (DI)
	CMPQ CX, $4
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z4, Z4
	VMOVUPS Z4, K2, (DI)
	CMPQ CX, $5
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z5, Z5
	VMOVUPS Z5, K2, (DI)
	CMPQ CX, $6
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z6, Z6
	VMOVUPS Z6, K2, (DI)
	CMPQ CX, $7
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z7, Z7
	VMOVUPS Z7, K2, (DI)
	CMPQ CX, $8
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z8, Z8
	VMOVUPS Z8, K2, (DI)
	CMPQ CX, $9
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z9, Z9
	VMOVUPS Z9, K2, (DI)
	CMPQ CX, $10
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z10, Z10
	VMOVUPS Z10, K2, (DI)
	CMPQ CX, $11
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z11, Z11
	VMOVUPS Z11, K2, (DI)
	CMPQ CX, $12
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z12, Z12
	VMOVUPS Z12, K2, (DI)
	CMPQ CX, $13
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z13, Z13
	VMOVUPS Z13, K2, (DI)
	CMPQ CX, $14
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z14, Z14
	VMOVUPS Z14, K2, (DI)
	CMPQ CX, $15
	JLE stored
	ADDQ R8, DI
	VMULPS Z16, Z15, Z15
	VMOVUPS Z15, K2, (DI)
stored:
	VZEROUPPER
	RET

// func PackRows(src *float32, lds, n, cols int, dst *float32, ldd, width int, alpha float32)
// For p < n: dst[p*ldd+j] = alpha * src[p*lds+j] for j < cols and 0 for
// cols <= j < width (cols <= width <= 32). Row-wise packing: Sgemm's
// operands whose packed order is their stored one.
TEXT ·PackRows(SB), NOSPLIT, $0-60
	// K1, K2: the source lanes of the two halves; K3, K4: the lanes written.
	MOVQ cols+24(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVD AX, K1
	KSHIFTRD $16, K1, K2
	MOVQ width+48(FP), CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVD AX, K3
	KSHIFTRD $16, K3, K4
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), R8
	SHLQ $2, R8
	MOVQ n+16(FP), CX
	MOVQ dst+32(FP), DI
	MOVQ ldd+40(FP), R9
	SHLQ $2, R9
	VBROADCASTSS alpha+56(FP), Z2
	TESTQ CX, CX
	JZ packdone
packloop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMULPS Z2, Z0, Z0
	VMULPS Z2, Z1, Z1
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	ADDQ R8, SI
	ADDQ R9, DI
	DECQ CX
	JNZ packloop
packdone:
	VZEROUPPER
	RET
