// Rotary position embedding in the Hugging Face rotate_half layout (element
// i of a head pairs with i + hd/2), as runtime/model's ropeTable.apply.
#include "prelude.cuh"

// x is [rows, heads*hd], rotated in place by the angles of each row:
// cosv/sinv are [rows, hd/2] (the host computes them in float64 from the
// positions, as the model does). inverse rotates backwards (the gradient).
// Grid-stride over rows*heads*hd/2 pairs.
template <typename T>
__device__ __forceinline__ void rope_body(T* x, const float* __restrict__ cosv, const float* __restrict__ sinv, int rows, int heads,
                                          int hd, int inverse) {
	int half = hd / 2;
	long long n = (long long)rows * heads * half;
	for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < n; p += (long long)gridDim.x * blockDim.x) {
		int i = (int)(p % half);
		long long rh = p / half;
		int h = (int)(rh % heads);
		long long r = rh / heads;
		float c = cosv[r * half + i], s = sinv[r * half + i];
		if (inverse) {
			s = -s;
		}
		long long a = r * heads * hd + (long long)h * hd + i;
		float x1 = ld(x, a), x2 = ld(x, a + half);
		st(x, a, x1 * c - x2 * s);
		st(x, a + half, x2 * c + x1 * s);
	}
}

extern "C" __global__ void realc_rope_bf16(bf16* x, const float* cosv, const float* sinv, int rows, int heads, int hd, int inverse) {
	rope_body(x, cosv, sinv, rows, heads, hd, inverse);
}

extern "C" __global__ void realc_rope_f32(float* x, const float* cosv, const float* sinv, int rows, int heads, int hd, int inverse) {
	rope_body(x, cosv, sinv, rows, heads, hd, inverse);
}
