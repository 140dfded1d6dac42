// AdamW on fp32 master weights with a bf16 copy for the forward, as
// runtime/train's AdamW.Update: float32 state, each element's arithmetic in
// float64. The operations are the _rn intrinsics, so that nvcc does not fuse
// them into FMAs: the result is bit-identical to the Go loop.
#include "prelude.cuh"

// bc1 = 1 - beta1^step, bc2 = 1 - beta2^step (host); gscale multiplies the
// gradient (the clip factor). Grid-stride over n elements.
extern "C" __global__ void realc_adamw(float* __restrict__ p, bf16* __restrict__ pb, const float* __restrict__ g,
                                       float* __restrict__ m, float* __restrict__ v, long long n, double lr, double beta1,
                                       double beta2, double eps, double wd, double bc1, double bc2, double gscale) {
	double decay = __dadd_rn(1.0, -__dmul_rn(lr, wd));
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		double x = (double)p[i];
		double gr = __dmul_rn((double)g[i], gscale);
		x = __dmul_rn(x, decay);
		double mj = __dadd_rn(__dmul_rn(beta1, (double)m[i]), __dmul_rn(__dadd_rn(1.0, -beta1), gr));
		double vj = __dadd_rn(__dmul_rn(beta2, (double)v[i]), __dmul_rn(__dmul_rn(__dadd_rn(1.0, -beta2), gr), gr));
		m[i] = (float)mj;
		v[i] = (float)vj;
		double den = __dadd_rn(__dsqrt_rn(__ddiv_rn(vj, bc2)), eps);
		x = __dadd_rn(x, -__ddiv_rn(__dmul_rn(lr, __ddiv_rn(mj, bc1)), den));
		float xf = (float)x;
		p[i] = xf;
		if (pb != 0) {
			pb[i] = f2bf(xf);
		}
	}
}
