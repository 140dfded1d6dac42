// Token embedding and its backward.
#include "prelude.cuh"

// x[r, :] = table[tokens[r], :] for r < n: bf16 rows widened into the fp32
// residual stream. A negative token is padding and gives a row of zeros.
// Grid: n blocks (one row each).
extern "C" __global__ void realc_embedding(float* __restrict__ x, const bf16* __restrict__ table, const int* __restrict__ tokens,
                                           int n, int d) {
	int r = blockIdx.x;
	if (r >= n) {
		return;
	}
	int t = tokens[r];
	for (int i = threadIdx.x; i < d; i += blockDim.x) {
		x[(long long)r * d + i] = t < 0 ? 0.0f : bf2f(table[(long long)t * d + i]);
	}
}

// dtable[tokens[r], :] += dx[r, :] for every non-padding row r (fp32;
// atomic, since rows may share a token). Grid: n blocks.
extern "C" __global__ void realc_embedding_back(float* __restrict__ dtable, const float* __restrict__ dx,
                                                const int* __restrict__ tokens, int n, int d) {
	int r = blockIdx.x;
	if (r >= n) {
		return;
	}
	int t = tokens[r];
	if (t < 0) {
		return;
	}
	for (int i = threadIdx.x; i < d; i += blockDim.x) {
		atomicAdd(&dtable[(long long)t * d + i], dx[(long long)r * d + i]);
	}
}
