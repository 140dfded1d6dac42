// Attention: a flash-style fused forward (scores never stored: online
// softmax over key tiles in shared memory, the row's log-sum-exp kept for
// the backward), its backward in three kernels (row dots, dq, dk/dv; each
// recomputes the probabilities from the log-sum-exp, no atomics), and a
// decode kernel over a KV cache. The semantics are runtime/model's:
// causal, grouped-query (query head h reads kv head h / (H/KVH)), an
// optional sliding window (query t sees keys t-window+1..t) and an optional
// padding mask (both query and key must be real tokens); a row that sees no
// key outputs zeros and has log-sum-exp +Inf.
//
// Layouts (row = token, b*T + t): q, o [B*T, H*hd]; k, v [B*T, KVH*hd];
// lse and the backward's row dots [B, H, T]. hd <= ATT_HD. These kernels
// use CUDA cores only (no mma.sync): correct on sm_80 and sm_90, not yet
// tensor-core fast.
#include "prelude.cuh"

#define ATT_THREADS 128
#define ATT_WARPS (ATT_THREADS / 32)
#define ATT_BC 32                // keys (or queries) per shared tile
#define ATT_HD 256               // the largest head dimension
#define ATT_DPL (ATT_HD / 32)    // head dims per lane
#define ATT_PAD (ATT_HD + 2)     // padded row: lanes reading rows hit distinct banks
#define ATT_FWD_ROWS 4           // query rows per warp in the forward
#define ATT_FWD_BR (ATT_WARPS * ATT_FWD_ROWS)
#define ATT_BWD_ROWS 2           // rows per warp in the backward kernels
#define ATT_BWD_BR (ATT_WARPS * ATT_BWD_ROWS)

__device__ __forceinline__ bool att_visible(const int* __restrict__ mask, long long base, int t, int s, int window) {
	if (s > t || (window > 0 && t - s >= window)) {
		return false;
	}
	return mask == 0 || (mask[base + s] != 0 && mask[base + t] != 0);
}

// Copies rows [r0, r0+n) of a [*, ld] bf16 matrix (columns col..col+hd)
// into a shared tile, zero rows past `limit`.
__device__ __forceinline__ void att_load(bf16 (*dst)[ATT_PAD], const bf16* __restrict__ src, long long base, int r0, int n, int limit,
                                         int ld, int col, int hd) {
	for (int i = threadIdx.x; i < n * hd; i += blockDim.x) {
		int r = i / hd, d = i - r * hd;
		dst[r][d] = r0 + r < limit ? src[(base + r0 + r) * ld + col + d] : (bf16)0;
	}
}

__device__ __forceinline__ float att_dot(const bf16* a, const bf16* b, int hd) {
	float s = 0.0f;
	for (int d = 0; d < hd; d++) {
		s += bf2f(a[d]) * bf2f(b[d]);
	}
	return s;
}

// Forward. Grid: B*H*ceil(T/ATT_FWD_BR) blocks of ATT_THREADS; block
// (b, h, tile) computes query rows tile*ATT_FWD_BR.. of head h.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) realc_attention(bf16* __restrict__ o, float* __restrict__ lse,
                                                                          const bf16* __restrict__ q, const bf16* __restrict__ k,
                                                                          const bf16* __restrict__ v, const int* __restrict__ mask,
                                                                          int B, int T, int H, int KVH, int hd, int window, float scale) {
	__shared__ bf16 ks[ATT_BC][ATT_PAD];
	__shared__ bf16 vs[ATT_BC][ATT_PAD];
	__shared__ bf16 qs[ATT_FWD_BR][ATT_PAD];
	int tiles = (T + ATT_FWD_BR - 1) / ATT_FWD_BR;
	int tile = blockIdx.x % tiles, h = (blockIdx.x / tiles) % H, b = blockIdx.x / tiles / H;
	if (b >= B) {
		return;
	}
	int kh = h / (H / KVH), qd = H * hd, kvd = KVH * hd;
	long long base = (long long)b * T;
	int t0 = tile * ATT_FWD_BR, t1 = min(T, t0 + ATT_FWD_BR);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	att_load(qs, q, base, t0, ATT_FWD_BR, T, qd, h * hd, hd);
	float m[ATT_FWD_ROWS], l[ATT_FWD_ROWS], acc[ATT_FWD_ROWS][ATT_DPL];
#pragma unroll
	for (int rr = 0; rr < ATT_FWD_ROWS; rr++) {
		m[rr] = realc_ninf();
		l[rr] = 0.0f;
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			acc[rr][e] = 0.0f;
		}
	}
	int klo = window > 0 ? max(0, t0 - window + 1) : 0;
	for (int s0 = klo; s0 < t1; s0 += ATT_BC) {
		__syncthreads();
		att_load(ks, k, base, s0, ATT_BC, T, kvd, kh * hd, hd);
		att_load(vs, v, base, s0, ATT_BC, T, kvd, kh * hd, hd);
		__syncthreads();
#pragma unroll
		for (int rr = 0; rr < ATT_FWD_ROWS; rr++) {
			int r = warp * ATT_FWD_ROWS + rr, t = t0 + r, s = s0 + lane;
			if (t >= T) {
				continue; // uniform over the warp
			}
			float sc = realc_ninf();
			if (s < T && att_visible(mask, base, t, s, window)) {
				sc = att_dot(qs[r], ks[lane], hd) * scale;
			}
			float mnew = fmaxf(m[rr], warp_max(sc));
			if (mnew == realc_ninf()) {
				continue; // nothing visible yet (uniform)
			}
			float p = expf(sc - mnew);
			float corr = expf(m[rr] - mnew);
			l[rr] = l[rr] * corr + warp_sum(p);
#pragma unroll
			for (int e = 0; e < ATT_DPL; e++) {
				acc[rr][e] *= corr;
			}
			for (int j = 0; j < ATT_BC; j++) {
				float pj = __shfl_sync(REALC_FULL, p, j);
#pragma unroll
				for (int e = 0; e < ATT_DPL; e++) {
					int d = lane + 32 * e;
					if (d < hd) {
						acc[rr][e] += pj * bf2f(vs[j][d]);
					}
				}
			}
			m[rr] = mnew;
		}
	}
#pragma unroll
	for (int rr = 0; rr < ATT_FWD_ROWS; rr++) {
		int t = t0 + warp * ATT_FWD_ROWS + rr;
		if (t >= T) {
			continue;
		}
		bool none = l[rr] == 0.0f;
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			int d = lane + 32 * e;
			if (d < hd) {
				o[(base + t) * qd + h * hd + d] = f2bf(none ? 0.0f : acc[rr][e] / l[rr]);
			}
		}
		if (lane == 0) {
			lse[((long long)b * H + h) * T + t] = none ? realc_inf() : m[rr] + logf(l[rr]);
		}
	}
}

// Backward, stage 1: dots[b, h, t] = sum_d dout * o over the row (= the
// sum over keys of P*dP). One warp per (b, t, h) row; grid:
// ceil(B*T*H / ATT_WARPS) blocks of ATT_THREADS.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) realc_attention_dots(float* __restrict__ dots, const bf16* __restrict__ o,
                                                                               const bf16* __restrict__ dout, int B, int T, int H, int hd) {
	long long row = (long long)blockIdx.x * ATT_WARPS + (threadIdx.x >> 5);
	int lane = threadIdx.x & 31;
	if (row >= (long long)B * T * H) {
		return;
	}
	int h = (int)(row % H);
	long long bt = row / H;
	int t = (int)(bt % T), b = (int)(bt / T);
	const bf16* orow = o + bt * H * hd + (long long)h * hd;
	const bf16* drow = dout + bt * H * hd + (long long)h * hd;
	float s = 0.0f;
	for (int d = lane; d < hd; d += 32) {
		s += bf2f(drow[d]) * bf2f(orow[d]);
	}
	s = warp_sum(s);
	if (lane == 0) {
		dots[((long long)b * H + h) * T + t] = s;
	}
}

// Backward, stage 2: dq (fp32, overwritten) for query rows of one head.
// dS = P * (dP - dot) * scale with P = exp(score - lse), dP = dout . v;
// dq = dS k. Grid: B*H*ceil(T/ATT_BWD_BR) blocks of ATT_THREADS.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) realc_attention_back_dq(
    float* __restrict__ dq, const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
    const bf16* __restrict__ dout, const float* __restrict__ lse, const float* __restrict__ dots, const int* __restrict__ mask, int B,
    int T, int H, int KVH, int hd, int window, float scale) {
	__shared__ bf16 ks[ATT_BC][ATT_PAD];
	__shared__ bf16 vs[ATT_BC][ATT_PAD];
	__shared__ bf16 qs[ATT_BWD_BR][ATT_PAD];
	__shared__ bf16 ds[ATT_BWD_BR][ATT_PAD];
	int tiles = (T + ATT_BWD_BR - 1) / ATT_BWD_BR;
	int tile = blockIdx.x % tiles, h = (blockIdx.x / tiles) % H, b = blockIdx.x / tiles / H;
	if (b >= B) {
		return;
	}
	int kh = h / (H / KVH), qd = H * hd, kvd = KVH * hd;
	long long base = (long long)b * T;
	int t0 = tile * ATT_BWD_BR, t1 = min(T, t0 + ATT_BWD_BR);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	att_load(qs, q, base, t0, ATT_BWD_BR, T, qd, h * hd, hd);
	att_load(ds, dout, base, t0, ATT_BWD_BR, T, qd, h * hd, hd);
	float acc[ATT_BWD_ROWS][ATT_DPL], rl[ATT_BWD_ROWS], rd[ATT_BWD_ROWS];
#pragma unroll
	for (int rr = 0; rr < ATT_BWD_ROWS; rr++) {
		int t = t0 + warp * ATT_BWD_ROWS + rr;
		rl[rr] = t < T ? lse[((long long)b * H + h) * T + t] : realc_inf();
		rd[rr] = t < T ? dots[((long long)b * H + h) * T + t] : 0.0f;
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			acc[rr][e] = 0.0f;
		}
	}
	int klo = window > 0 ? max(0, t0 - window + 1) : 0;
	for (int s0 = klo; s0 < t1; s0 += ATT_BC) {
		__syncthreads();
		att_load(ks, k, base, s0, ATT_BC, T, kvd, kh * hd, hd);
		att_load(vs, v, base, s0, ATT_BC, T, kvd, kh * hd, hd);
		__syncthreads();
#pragma unroll
		for (int rr = 0; rr < ATT_BWD_ROWS; rr++) {
			int r = warp * ATT_BWD_ROWS + rr, t = t0 + r, s = s0 + lane;
			if (t >= T || rl[rr] == realc_inf()) {
				continue; // uniform over the warp
			}
			float dsc = 0.0f;
			if (s < T && att_visible(mask, base, t, s, window)) {
				float p = expf(att_dot(qs[r], ks[lane], hd) * scale - rl[rr]);
				float dp = att_dot(ds[r], vs[lane], hd);
				dsc = p * (dp - rd[rr]) * scale;
			}
			for (int j = 0; j < ATT_BC; j++) {
				float g = __shfl_sync(REALC_FULL, dsc, j);
#pragma unroll
				for (int e = 0; e < ATT_DPL; e++) {
					int d = lane + 32 * e;
					if (d < hd) {
						acc[rr][e] += g * bf2f(ks[j][d]);
					}
				}
			}
		}
	}
#pragma unroll
	for (int rr = 0; rr < ATT_BWD_ROWS; rr++) {
		int t = t0 + warp * ATT_BWD_ROWS + rr;
		if (t >= T) {
			continue;
		}
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			int d = lane + 32 * e;
			if (d < hd) {
				dq[(base + t) * qd + h * hd + d] = acc[rr][e];
			}
		}
	}
}

// Backward, stage 3: dk and dv (fp32, overwritten) for key rows of one kv
// head, summed over the query heads of its group: dv = P^T dout, dk = dS^T q.
// Grid: B*KVH*ceil(T/ATT_BWD_BR) blocks of ATT_THREADS.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) realc_attention_back_dkv(
    float* __restrict__ dk, float* __restrict__ dv, const bf16* __restrict__ q, const bf16* __restrict__ k,
    const bf16* __restrict__ v, const bf16* __restrict__ dout, const float* __restrict__ lse, const float* __restrict__ dots,
    const int* __restrict__ mask, int B, int T, int H, int KVH, int hd, int window, float scale) {
	__shared__ bf16 qs[ATT_BC][ATT_PAD];
	__shared__ bf16 ds[ATT_BC][ATT_PAD];
	__shared__ bf16 ks[ATT_BWD_BR][ATT_PAD];
	__shared__ bf16 vs[ATT_BWD_BR][ATT_PAD];
	__shared__ float ls[ATT_BC], dd[ATT_BC];
	int tiles = (T + ATT_BWD_BR - 1) / ATT_BWD_BR;
	int tile = blockIdx.x % tiles, kh = (blockIdx.x / tiles) % KVH, b = blockIdx.x / tiles / KVH;
	if (b >= B) {
		return;
	}
	int group = H / KVH, qd = H * hd, kvd = KVH * hd;
	long long base = (long long)b * T;
	int s0 = tile * ATT_BWD_BR, s1 = min(T, s0 + ATT_BWD_BR);
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	att_load(ks, k, base, s0, ATT_BWD_BR, T, kvd, kh * hd, hd);
	att_load(vs, v, base, s0, ATT_BWD_BR, T, kvd, kh * hd, hd);
	float gk[ATT_BWD_ROWS][ATT_DPL], gv[ATT_BWD_ROWS][ATT_DPL];
#pragma unroll
	for (int rr = 0; rr < ATT_BWD_ROWS; rr++) {
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			gk[rr][e] = 0.0f;
			gv[rr][e] = 0.0f;
		}
	}
	// Queries that can see a key of this block: s0 .. (s1-1)+window-1.
	int qhi = window > 0 ? min(T, s1 - 1 + window) : T;
	for (int h = kh * group; h < (kh + 1) * group; h++) {
		for (int t0 = s0; t0 < qhi; t0 += ATT_BC) {
			__syncthreads();
			att_load(qs, q, base, t0, ATT_BC, T, qd, h * hd, hd);
			att_load(ds, dout, base, t0, ATT_BC, T, qd, h * hd, hd);
			for (int i = threadIdx.x; i < ATT_BC; i += blockDim.x) {
				int t = t0 + i;
				ls[i] = t < T ? lse[((long long)b * H + h) * T + t] : realc_inf();
				dd[i] = t < T ? dots[((long long)b * H + h) * T + t] : 0.0f;
			}
			__syncthreads();
#pragma unroll
			for (int rr = 0; rr < ATT_BWD_ROWS; rr++) {
				int r = warp * ATT_BWD_ROWS + rr, s = s0 + r, t = t0 + lane;
				if (s >= T) {
					continue; // uniform over the warp
				}
				float p = 0.0f, dsc = 0.0f;
				if (t < T && ls[lane] != realc_inf() && att_visible(mask, base, t, s, window)) {
					p = expf(att_dot(qs[lane], ks[r], hd) * scale - ls[lane]);
					float dp = att_dot(ds[lane], vs[r], hd);
					dsc = p * (dp - dd[lane]) * scale;
				}
				for (int j = 0; j < ATT_BC; j++) {
					float pj = __shfl_sync(REALC_FULL, p, j);
					float gj = __shfl_sync(REALC_FULL, dsc, j);
#pragma unroll
					for (int e = 0; e < ATT_DPL; e++) {
						int d = lane + 32 * e;
						if (d < hd) {
							gv[rr][e] += pj * bf2f(ds[j][d]);
							gk[rr][e] += gj * bf2f(qs[j][d]);
						}
					}
				}
			}
		}
	}
#pragma unroll
	for (int rr = 0; rr < ATT_BWD_ROWS; rr++) {
		int s = s0 + warp * ATT_BWD_ROWS + rr;
		if (s >= T) {
			continue;
		}
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			int d = lane + 32 * e;
			if (d < hd) {
				dk[(base + s) * kvd + kh * hd + d] = gk[rr][e];
				dv[(base + s) * kvd + kh * hd + d] = gv[rr][e];
			}
		}
	}
}

// Decoding: one new query per sequence attends over its cache positions
// [lo, L) with L = lens[b] (the new token's key already appended) and lo =
// L - window when a window is set. q, o [B, H*hd]; kc, vc hold sequence b
// at b*seq_stride, [maxLen, KVH*hd]. Grid: B*H blocks of ATT_THREADS; each
// warp takes every ATT_WARPS-th key with its own online softmax, and the
// warps are merged at the end.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) realc_attention_decode(
    bf16* __restrict__ o, const bf16* __restrict__ q, const bf16* __restrict__ kc, const bf16* __restrict__ vc,
    const int* __restrict__ lens, int B, int H, int KVH, int hd, long long seq_stride, int window, float scale) {
	__shared__ float wm[ATT_WARPS], wl[ATT_WARPS];
	__shared__ float wacc[ATT_WARPS][ATT_HD];
	int h = blockIdx.x % H, b = blockIdx.x / H;
	if (b >= B) {
		return;
	}
	int kh = h / (H / KVH), qd = H * hd, kvd = KVH * hd;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	int L = lens[b];
	int lo = window > 0 && L > window ? L - window : 0;
	float qr[ATT_DPL], acc[ATT_DPL];
#pragma unroll
	for (int e = 0; e < ATT_DPL; e++) {
		int d = lane + 32 * e;
		qr[e] = d < hd ? bf2f(q[(long long)b * qd + h * hd + d]) : 0.0f;
		acc[e] = 0.0f;
	}
	float m = realc_ninf(), l = 0.0f;
	const bf16* kb = kc + (long long)b * seq_stride + kh * hd;
	const bf16* vb = vc + (long long)b * seq_stride + kh * hd;
	for (int s = lo + warp; s < L; s += ATT_WARPS) {
		float part = 0.0f;
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			int d = lane + 32 * e;
			if (d < hd) {
				part += qr[e] * bf2f(kb[(long long)s * kvd + d]);
			}
		}
		float sc = warp_sum(part) * scale;
		float mnew = fmaxf(m, sc);
		float corr = expf(m - mnew), p = expf(sc - mnew);
		l = l * corr + p;
#pragma unroll
		for (int e = 0; e < ATT_DPL; e++) {
			int d = lane + 32 * e;
			acc[e] = acc[e] * corr + (d < hd ? p * bf2f(vb[(long long)s * kvd + d]) : 0.0f);
		}
		m = mnew;
	}
	if (lane == 0) {
		wm[warp] = m;
		wl[warp] = l;
	}
#pragma unroll
	for (int e = 0; e < ATT_DPL; e++) {
		int d = lane + 32 * e;
		if (d < hd) {
			wacc[warp][d] = acc[e];
		}
	}
	__syncthreads();
	float M = realc_ninf();
	for (int w = 0; w < ATT_WARPS; w++) {
		M = fmaxf(M, wm[w]);
	}
	float Ltot = 0.0f;
	for (int w = 0; w < ATT_WARPS; w++) {
		Ltot += wm[w] == realc_ninf() ? 0.0f : wl[w] * expf(wm[w] - M);
	}
	for (int d = threadIdx.x; d < hd; d += blockDim.x) {
		float s = 0.0f;
		for (int w = 0; w < ATT_WARPS; w++) {
			s += wm[w] == realc_ninf() ? 0.0f : wacc[w][d] * expf(wm[w] - M);
		}
		o[(long long)b * qd + h * hd + d] = f2bf(Ltot > 0.0f ? s / Ltot : 0.0f);
	}
}

// kc[b, pos[b], :] = k[b, :] and the same for v: the new token's key and
// value appended to each sequence's cache. Grid: B blocks.
extern "C" __global__ void realc_kv_append(bf16* __restrict__ kc, bf16* __restrict__ vc, const bf16* __restrict__ k,
                                           const bf16* __restrict__ v, const int* __restrict__ pos, int B, int kvd,
                                           long long seq_stride) {
	int b = blockIdx.x;
	if (b >= B) {
		return;
	}
	long long at = (long long)b * seq_stride + (long long)pos[b] * kvd;
	for (int i = threadIdx.x; i < kvd; i += blockDim.x) {
		kc[at + i] = k[(long long)b * kvd + i];
		vc[at + i] = v[(long long)b * kvd + i];
	}
}
