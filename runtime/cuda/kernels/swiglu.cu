// SwiGLU, as runtime/blas.SwiGLU and SwiGLUBack: act = silu(gate) * up.
#include "prelude.cuh"

// Grid-stride over n elements.
extern "C" __global__ void realc_swiglu(bf16* __restrict__ act, const bf16* __restrict__ gate, const bf16* __restrict__ up,
                                        long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float g = bf2f(gate[i]);
		act[i] = f2bf(g / (1.0f + expf(-g)) * bf2f(up[i]));
	}
}

// With s = 1/(1+e^-gate): dup = dact*gate*s, dgate = dact*up*s*(1+gate*(1-s)).
extern "C" __global__ void realc_swiglu_back(bf16* __restrict__ dgate, bf16* __restrict__ dup, const bf16* __restrict__ dact,
                                             const bf16* __restrict__ gate, const bf16* __restrict__ up, long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float g = bf2f(gate[i]), u = bf2f(up[i]), da = bf2f(dact[i]);
		float s = 1.0f / (1.0f + expf(-g));
		dup[i] = f2bf(da * g * s);
		dgate[i] = f2bf(da * u * s * (1.0f + g * (1.0f - s)));
	}
}
