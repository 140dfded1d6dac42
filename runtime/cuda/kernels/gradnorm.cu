// The global gradient norm in two stages: per-block partial sums of squares
// (float64) over each tensor, then one block adding the partials in a fixed
// order.
#include "prelude.cuh"

// partial[blockIdx.x] = sum of g[i]^2 over the block's grid-stride slice.
extern "C" __global__ void realc_sumsq(double* __restrict__ partial, const float* __restrict__ g, long long n) {
	__shared__ double scratch[32];
	double s = 0.0;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		double x = (double)g[i];
		s += x * x;
	}
	s = block_sum_d(s, scratch);
	if (threadIdx.x == 0) {
		partial[blockIdx.x] = s;
	}
}

// out[0] = sum of partial[0..count) (launch one block).
extern "C" __global__ void realc_sum_final(double* __restrict__ out, const double* __restrict__ partial, int count) {
	__shared__ double scratch[32];
	double s = 0.0;
	for (int i = threadIdx.x; i < count; i += blockDim.x) {
		s += partial[i];
	}
	s = block_sum_d(s, scratch);
	if (threadIdx.x == 0) {
		out[0] = s;
	}
}
