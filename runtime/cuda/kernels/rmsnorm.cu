// RMSNorm forward and backward, as runtime/model's rmsnorm and rmsnormBack:
// y = w * (x * s) with s = 1 / sqrt(mean(x^2) + eps) per row of width d.
#include "prelude.cuh"

// One warp per row; blockDim.x / 32 rows per block.
template <typename X>
__device__ __forceinline__ void rmsnorm_fwd(bf16* __restrict__ y, float* __restrict__ inv, const X* __restrict__ x,
                                            const bf16* __restrict__ w, int rows, int d, double eps) {
	int lane = threadIdx.x & 31;
	int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (r >= rows) {
		return; // the whole warp leaves together
	}
	const X* xr = x + (long long)r * d;
	float ss = 0.0f;
	for (int i = lane; i < d; i += 32) {
		float v = ld(xr, i);
		ss += v * v;
	}
	ss = warp_sum(ss);
	float s = (float)(1.0 / sqrt((double)(ss / (float)d) + eps));
	if (inv != 0 && lane == 0) {
		inv[r] = s;
	}
	for (int i = lane; i < d; i += 32) {
		y[(long long)r * d + i] = f2bf(bf2f(w[i]) * (ld(xr, i) * s));
	}
}

// Grid: ceil(rows / (blockDim.x/32)) blocks. inv may be null.
extern "C" __global__ void realc_rmsnorm_f32(bf16* y, float* inv, const float* x, const bf16* w, int rows, int d, double eps) {
	rmsnorm_fwd(y, inv, x, w, rows, d, eps);
}

extern "C" __global__ void realc_rmsnorm_bf16(bf16* y, float* inv, const bf16* x, const bf16* w, int rows, int d, double eps) {
	rmsnorm_fwd(y, inv, x, w, rows, d, eps);
}

// The largest row width the backward handles: each of its 256 threads keeps
// up to RMS_PER weight-gradient partials in registers.
#define RMS_THREADS 256
#define RMS_PER 32

// Backward over a contiguous chunk of rows per block: dx = (accum ? dx : 0)
// + s*w*dy - c*x with c = s^3/d * sum(w*dy*x), and the block's partial weight
// gradient sum_r dy*x*s into part[blockIdx.x, :] (reduce with
// realc_colsum_add). Launch with blockDim.x = RMS_THREADS, d <= RMS_THREADS*RMS_PER.
template <typename X>
__device__ __forceinline__ void rmsnorm_bwd(float* __restrict__ dx, float* __restrict__ part, const float* __restrict__ dy,
                                            const X* __restrict__ x, const bf16* __restrict__ w, const float* __restrict__ inv,
                                            int rows, int d, int accum) {
	__shared__ float scratch[32];
	int per = (rows + gridDim.x - 1) / gridDim.x;
	int r0 = blockIdx.x * per, r1 = min(rows, r0 + per);
	float acc[RMS_PER];
#pragma unroll
	for (int k = 0; k < RMS_PER; k++) {
		acc[k] = 0.0f;
	}
	for (int r = r0; r < r1; r++) {
		const X* xr = x + (long long)r * d;
		const float* dyr = dy + (long long)r * d;
		float* dxr = dx + (long long)r * d;
		float s = inv[r];
		float dot = 0.0f;
#pragma unroll
		for (int k = 0; k < RMS_PER; k++) {
			int i = threadIdx.x + k * RMS_THREADS;
			if (i < d) {
				float g = dyr[i], v = ld(xr, i);
				acc[k] += g * v * s;
				dot += bf2f(w[i]) * g * v;
			}
		}
		dot = block_sum(dot, scratch);
		float c = dot * s * s * s / (float)d;
#pragma unroll
		for (int k = 0; k < RMS_PER; k++) {
			int i = threadIdx.x + k * RMS_THREADS;
			if (i < d) {
				float g = s * bf2f(w[i]) * dyr[i] - c * ld(xr, i);
				dxr[i] = accum ? dxr[i] + g : g;
			}
		}
	}
#pragma unroll
	for (int k = 0; k < RMS_PER; k++) {
		int i = threadIdx.x + k * RMS_THREADS;
		if (i < d) {
			part[(long long)blockIdx.x * d + i] = acc[k];
		}
	}
}

extern "C" __global__ void __launch_bounds__(RMS_THREADS) realc_rmsnorm_back_f32(float* dx, float* part, const float* dy, const float* x,
                                                                                 const bf16* w, const float* inv, int rows, int d, int accum) {
	rmsnorm_bwd(dx, part, dy, x, w, inv, rows, d, accum);
}

extern "C" __global__ void __launch_bounds__(RMS_THREADS) realc_rmsnorm_back_bf16(float* dx, float* part, const float* dy, const bf16* x,
                                                                                  const bf16* w, const float* inv, int rows, int d, int accum) {
	rmsnorm_bwd(dx, part, dy, x, w, inv, rows, d, accum);
}

// dw[i] += sum_b part[b, i] for b < nparts (the second stage of the weight
// gradient; fixed order, so the result does not depend on timing). Grid:
// ceil(d / blockDim.x) blocks.
extern "C" __global__ void realc_colsum_add(float* __restrict__ dw, const float* __restrict__ part, int nparts, int d) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= d) {
		return;
	}
	float s = 0.0f;
	for (int b = 0; b < nparts; b++) {
		s += part[(long long)b * d + i];
	}
	dw[i] += s;
}
