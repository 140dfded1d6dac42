// realc.cuh: the device helpers every recipe's kernels.cu starts with
// (codegen pastes this file in, so that kernels stay header-free for NVRTC):
// bf16 by bit operations, NaN-propagating min and max, the online softmax of
// a row of bf16 logits with warp-shuffle and shared-memory reductions, and
// the streamed row gradient. Plain CUDA C: nvcc compiles it standalone
// (codegen's TestCUDAHelpersCompile).

#define REALC_MAX_SCORE 32

__device__ __forceinline__ float realc_bf16_to_f32(unsigned short h) {
	return __uint_as_float(((unsigned int)h) << 16);
}

// Round to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ unsigned short realc_f32_to_bf16(float f) {
	unsigned int u = __float_as_uint(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) {
		return (unsigned short)((u >> 16) | 0x40u);
	}
	u += 0x7fffu + ((u >> 16) & 1u);
	return (unsigned short)(u >> 16);
}

__device__ __forceinline__ float realc_neg_inf(void) {
	return __uint_as_float(0xff800000u);
}

__device__ __forceinline__ double realc_nan(void) {
	return __longlong_as_double(0x7ff8000000000000LL);
}

// min and max that propagate NaN, like Go's math.Min and math.Max.
__device__ __forceinline__ double realc_min(double a, double b) {
	return (a != a || b != b) ? realc_nan() : fmin(a, b);
}

__device__ __forceinline__ double realc_max(double a, double b) {
	return (a != a || b != b) ? realc_nan() : fmax(a, b);
}

// Online softmax state (max m, sum of exp(z - m) s, sum of exp(z - m) z sz):
// merge (m2, s2, sz2) into (m, s, sz).
__device__ __forceinline__ void realc_merge(float* m, float* s, float* sz, float m2, float s2, float sz2) {
	float mn = fmaxf(*m, m2);
	if (mn == realc_neg_inf()) {
		return;
	}
	float a = expf(*m - mn);
	float b = expf(m2 - mn);
	*s = *s * a + s2 * b;
	*sz = *sz * a + sz2 * b;
	*m = mn;
}

__device__ __forceinline__ void realc_push(float* m, float* s, float* sz, float x) {
	if (x == realc_neg_inf()) {
		return; // a masked logit: probability 0
	}
	if (x > *m) {
		float a = expf(*m - x);
		*s = *s * a + 1.0f;
		*sz = *sz * a + x;
		*m = x;
	} else {
		float e = expf(x - *m);
		*s += e;
		*sz += e * x;
	}
}

// realc_row_softmax_stats streams one row of bf16 logits in tiles of
// blockDim.x * 8 (16-byte loads when aligned), then reduces (m, s, sz) with
// warp shuffles and shared memory. Every thread gets the row's result.
__device__ void realc_row_softmax_stats(const unsigned short* __restrict__ z, int V, float* m_out, float* s_out, float* sz_out) {
	__shared__ float sm[32], ss[32], ssz[32];
	float m = realc_neg_inf(), s = 0.0f, sz = 0.0f;
	int j0 = 0;
	if ((((unsigned long long)z) & 15ull) == 0) {
		int tiles = V / 8;
		const uint4* z4 = (const uint4*)z;
		for (int q = threadIdx.x; q < tiles; q += blockDim.x) {
			uint4 w = z4[q];
			unsigned int u[4] = {w.x, w.y, w.z, w.w};
			for (int h = 0; h < 4; h++) {
				realc_push(&m, &s, &sz, __uint_as_float(u[h] << 16));
				realc_push(&m, &s, &sz, __uint_as_float(u[h] & 0xffff0000u));
			}
		}
		j0 = tiles * 8;
	}
	for (int j = j0 + threadIdx.x; j < V; j += blockDim.x) {
		realc_push(&m, &s, &sz, realc_bf16_to_f32(z[j]));
	}
	for (int o = 16; o > 0; o >>= 1) {
		float m2 = __shfl_xor_sync(0xffffffffu, m, o);
		float s2 = __shfl_xor_sync(0xffffffffu, s, o);
		float sz2 = __shfl_xor_sync(0xffffffffu, sz, o);
		realc_merge(&m, &s, &sz, m2, s2, sz2);
	}
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	if (lane == 0) {
		sm[warp] = m;
		ss[warp] = s;
		ssz[warp] = sz;
	}
	__syncthreads();
	if (warp == 0) {
		int nw = (blockDim.x + 31) / 32;
		m = lane < nw ? sm[lane] : realc_neg_inf();
		s = lane < nw ? ss[lane] : 0.0f;
		sz = lane < nw ? ssz[lane] : 0.0f;
		for (int o = 16; o > 0; o >>= 1) {
			float m2 = __shfl_xor_sync(0xffffffffu, m, o);
			float s2 = __shfl_xor_sync(0xffffffffu, s, o);
			float sz2 = __shfl_xor_sync(0xffffffffu, sz, o);
			realc_merge(&m, &s, &sz, m2, s2, sz2);
		}
		if (lane == 0) {
			sm[0] = m;
			ss[0] = s;
			ssz[0] = sz;
		}
	}
	__syncthreads();
	*m_out = sm[0];
	*s_out = ss[0];
	*sz_out = ssz[0];
}

// realc_row_grad writes dz_j = p_j (alpha + beta z_j) + val[i] at j = idx[i],
// p_j = exp(z_j - lse), in bf16, fp32 arithmetic.
__device__ void realc_row_grad(const unsigned short* __restrict__ z, unsigned short* __restrict__ dz, int V, float lse, float alpha, float beta, const int* idx, const float* val, int nsparse) {
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		float x = realc_bf16_to_f32(z[j]);
		float g = expf(x - lse) * (alpha + beta * x);
		for (int i = 0; i < nsparse; i++) {
			if (idx[i] == j) {
				g += val[i];
			}
		}
		dz[j] = realc_f32_to_bf16(g);
	}
}
