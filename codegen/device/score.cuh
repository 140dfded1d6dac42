// score.cuh: the score-slot readouts and their gradients, pasted into every
// recipe's kernels.cu after realc.cuh and the recipe's
//
//	__device__ __forceinline__ double realc_score_value(int k)
//
// (the score value of score token k, 0 past the last). A score row s has
// its log-sum-exp score_lse[s] and the logits of the K score tokens
// score_z[s * K + k] (row_stats); renorm readouts use q = softmax over the
// score tokens only. The rules are compiler.ReadoutGrad's:
//
//	expect:     dE/dz_j    = p_j (v(j) - E)        renorm: q_j (v(j) - E) on score tokens
//	prob(k):    dp/dz_j    = p(k) ([j=k] - p_j)    renorm: q(k) ([j=k] - q_j)
//	logprob(k): dlogp/dz_j = [j=k] - p_j           renorm: [j=k] - q_j
//
// A gradient helper adds a times its rule to the row's coefficients: alpha,
// the factor of p_j over the whole row (full softmax), and v[k] at score
// token k.

// p_k of score token k at sequence s (renorm: over the score tokens only).
__device__ __forceinline__ double realc_pk(const float* score_lse, const float* score_z, int K, int s, int k, int renorm) {
	double p = exp((double)score_z[s * K + k] - (double)score_lse[s]);
	if (!renorm) {
		return p;
	}
	double tot = 0.0;
	for (int j = 0; j < K; j++) {
		tot += exp((double)score_z[s * K + j] - (double)score_lse[s]);
	}
	return p / tot;
}

__device__ __forceinline__ double realc_expect(const float* score_lse, const float* score_z, int K, int s, int renorm) {
	double e = 0.0;
	for (int k = 0; k < K; k++) {
		e += realc_score_value(k) * realc_pk(score_lse, score_z, K, s, k, renorm);
	}
	return e;
}

// The index of score value v, or -1 (and err[0] = s + 1: not a score value).
__device__ __forceinline__ int realc_score_index(int K, int s, double v, int* err) {
	for (int k = 0; k < K; k++) {
		if (realc_score_value(k) == v) {
			return k;
		}
	}
	atomicCAS(err, 0, s + 1);
	return -1;
}

__device__ __forceinline__ double realc_prob(const float* score_lse, const float* score_z, int K, int s, double v, int renorm, int* err) {
	int k = realc_score_index(K, s, v, err);
	return k < 0 ? realc_nan() : realc_pk(score_lse, score_z, K, s, k, renorm);
}

__device__ __forceinline__ double realc_logprob(const float* score_lse, const float* score_z, int K, int s, double v, int renorm, int* err) {
	int k = realc_score_index(K, s, v, err);
	if (k < 0) {
		return realc_nan();
	}
	if (renorm) {
		return log(realc_pk(score_lse, score_z, K, s, k, 1));
	}
	return (double)score_z[s * K + k] - (double)score_lse[s];
}

// realc_expect_grad adds a * dE/dz of sequence s's score row.
__device__ __forceinline__ void realc_expect_grad(const float* score_lse, const float* score_z, int K, int s, int renorm, double a, double* alpha, double* v) {
	double e = realc_expect(score_lse, score_z, K, s, renorm);
	for (int k = 0; k < K; k++) {
		double q = realc_pk(score_lse, score_z, K, s, k, renorm);
		if (renorm) {
			v[k] += a * q * (realc_score_value(k) - e);
		} else {
			v[k] += a * q * realc_score_value(k);
		}
	}
	if (!renorm) {
		*alpha += -a * e;
	}
}

// realc_prob_grad adds a * dp(kv)/dz (logprob = 0) or a * dlogp(kv)/dz
// (logprob = 1) of sequence s's score row; a kv that is no score value
// adds nothing (the forward stage has raised err).
__device__ __forceinline__ void realc_prob_grad(const float* score_lse, const float* score_z, int K, int s, double kv, int renorm, int logprob, double a, double* alpha, double* v, int* err) {
	int j = realc_score_index(K, s, kv, err);
	if (j < 0) {
		return;
	}
	double scale = logprob ? a : a * realc_pk(score_lse, score_z, K, s, j, renorm);
	if (renorm) {
		for (int k = 0; k < K; k++) {
			v[k] += scale * ((k == j ? 1.0 : 0.0) - realc_pk(score_lse, score_z, K, s, k, 1));
		}
	} else {
		*alpha += -scale;
		v[j] += scale;
	}
}
