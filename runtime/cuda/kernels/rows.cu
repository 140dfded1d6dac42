// Row gathers and scatters between the model's rows (every token of every
// sequence) and a loss's rows (the response tokens and score slots it
// reads, in its own order).
#include "prelude.cuh"

// out[i, :] = in[rows[i], :] (bf16) for i < n. Grid: n blocks.
extern "C" __global__ void realc_gather_rows(bf16* __restrict__ out, const bf16* __restrict__ in, const int* __restrict__ rows, int n,
                                             int d) {
	int i = blockIdx.x;
	if (i >= n) {
		return;
	}
	const bf16* src = in + (long long)rows[i] * d;
	for (int j = threadIdx.x; j < d; j += blockDim.x) {
		out[(long long)i * d + j] = src[j];
	}
}

// out[rows[i], :] += in[i, :] (fp32, atomic: rows may repeat). Grid: n blocks.
extern "C" __global__ void realc_scatter_add_rows(float* __restrict__ out, const float* __restrict__ in, const int* __restrict__ rows,
                                                  int n, int d) {
	int i = blockIdx.x;
	if (i >= n) {
		return;
	}
	float* dst = out + (long long)rows[i] * d;
	for (int j = threadIdx.x; j < d; j += blockDim.x) {
		atomicAdd(&dst[j], in[(long long)i * d + j]);
	}
}
