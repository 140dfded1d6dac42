// prelude.cuh: what every realc transformer kernel shares. Header-free
// (NVRTC 11.8 has no cuda_bf16.h and no math.h): bf16 is an unsigned short
// converted by bit operations, infinities are built from bits. Every kernel
// is launched on a 1-D grid with blockDim.x a multiple of 32 (at most 1024)
// and uses only static shared memory.
//
// Storage is bf16 for weights and for activations that feed GEMMs, fp32 for
// the residual stream, gradients, norms' inverse RMS and attention's
// log-sum-exp; arithmetic is fp32 (fp64 in AdamW and the norm sums).
//
// The same source compiles for the host under REALC_EMU (runtime/cuda/kernels/
// emu: g++ with emu.h), so the kernels are checked against their Go twins on
// machines without a GPU.
#ifndef REALC_PRELUDE_CUH
#define REALC_PRELUDE_CUH

typedef unsigned short bf16;

__device__ __forceinline__ float bf2f(bf16 h) { return __uint_as_float(((unsigned int)h) << 16); }

// Round to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ bf16 f2bf(float f) {
	unsigned int u = __float_as_uint(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) {
		return (bf16)((u >> 16) | 0x40u);
	}
	u += 0x7fffu + ((u >> 16) & 1u);
	return (bf16)(u >> 16);
}

// Loads and stores of either storage type, so that one template body serves
// fp32 and bf16 buffers.
__device__ __forceinline__ float ld(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, long long i) { return bf2f(p[i]); }
__device__ __forceinline__ void st(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, long long i, float v) { p[i] = f2bf(v); }

__device__ __forceinline__ float realc_inf(void) { return __uint_as_float(0x7f800000u); }
__device__ __forceinline__ float realc_ninf(void) { return __uint_as_float(0xff800000u); }

#define REALC_FULL 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
	for (int o = 16; o > 0; o >>= 1) {
		v += __shfl_xor_sync(REALC_FULL, v, o);
	}
	return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
	for (int o = 16; o > 0; o >>= 1) {
		v += __shfl_xor_sync(REALC_FULL, v, o);
	}
	return v;
}

__device__ __forceinline__ float warp_max(float v) {
	for (int o = 16; o > 0; o >>= 1) {
		v = fmaxf(v, __shfl_xor_sync(REALC_FULL, v, o));
	}
	return v;
}

// block_sum returns the sum of v over the block to every thread; scratch
// holds 32 floats of shared memory. It synchronizes the block (call it from
// every thread).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp_sum(v);
	__syncthreads(); // scratch may still be read by a previous call
	if (lane == 0) {
		scratch[warp] = v;
	}
	__syncthreads();
	float s = lane < nw ? scratch[lane] : 0.0f;
	return warp_sum(s);
}

__device__ __forceinline__ double block_sum_d(double v, double* scratch) {
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp_sum_d(v);
	__syncthreads();
	if (lane == 0) {
		scratch[warp] = v;
	}
	__syncthreads();
	double s = lane < nw ? scratch[lane] : 0.0;
	return warp_sum_d(s);
}

#endif
