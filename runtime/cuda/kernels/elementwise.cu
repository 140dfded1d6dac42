// Residual adds and conversions. All grid-stride over n elements.
#include "prelude.cuh"

// x += y: a bf16 branch output added into the fp32 residual stream.
extern "C" __global__ void realc_residual_add(float* __restrict__ x, const bf16* __restrict__ y, long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		x[i] += bf2f(y[i]);
	}
}

// x += y in fp32 (gradients of the residual stream).
extern "C" __global__ void realc_add_f32(float* __restrict__ x, const float* __restrict__ y, long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		x[i] += y[i];
	}
}

// out = bf16(in), rounded to nearest even.
extern "C" __global__ void realc_to_bf16(bf16* __restrict__ out, const float* __restrict__ in, long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		out[i] = f2bf(in[i]);
	}
}

// out = float(in).
extern "C" __global__ void realc_to_f32(float* __restrict__ out, const bf16* __restrict__ in, long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		out[i] = bf2f(in[i]);
	}
}
