// Macros shared by the row kernels (AVX-512F) that take n floats and do
// the last n%16 with masked loads and stores.

// MASKTAIL sets K1 to the low CX%16 lanes (and CX to that count); ZF is
// set when there are none, so that a JZ may skip the tail.
#define MASKTAIL \
	ANDQ $15, CX; \
	MOVQ $1, AX; \
	SHLQ CX, AX; \
	DECQ AX; \
	KMOVW AX, K1

// HSUM0 leaves the sum of Z0's lanes in X0's low lane.
#define HSUM0 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VHADDPS X0, X0, X0; \
	VHADDPS X0, X0, X0
