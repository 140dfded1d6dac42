package sample

import "math"

// expNeg is exp(x) for x <= 0 in double precision (within 2 ulp of math.Exp,
// tested), about three times faster: the sampler takes one or two per
// vocabulary entry per token. exp(x) = 2^(k/64) * exp(r) with k = round(64 x /
// ln 2), 2^(k/64) from a table and exp(r), |r| <= ln2/128, by its Taylor
// polynomial to r^5 (the r^6 term is below 4e-17).
func expNeg(x float64) float64 {
	if !(x >= -700) { // near and below the subnormals, -Inf and NaN
		return math.Exp(x)
	}
	k := int64(x*(64/math.Ln2) - 0.5) // round to nearest (x <= 0)
	kf := float64(k)
	// ln2/64 split so that kf*ln2Hi is exact (|k| < 2^17, ln2Hi has 32 bits).
	const ln2Hi = 6.93147180369123816490e-01 / 64
	const ln2Lo = 1.90821492927058770002e-10 / 64
	r := (x - kf*ln2Hi) - kf*ln2Lo
	p := r + r*r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120))))
	s := math.Float64frombits(uint64(int64(exp2Tab[k&63]) + (k>>6)<<52))
	return s + s*p
}

// exp2Tab holds the bits of 2^(j/64), j = 0..63.
var exp2Tab = func() (t [64]uint64) {
	for j := range t {
		t[j] = math.Float64bits(math.Exp2(float64(j) / 64))
	}
	return
}()

// expConsts are expSumAVX512's constants (see its comment).
var expConsts = func() (c [24]float64) {
	c[0] = 8 / math.Ln2
	c[1] = 6.93147180369123816490e-01 / 8
	c[2] = 1.90821492927058770002e-10 / 8
	c[3] = -746
	f := 1.0
	for k := 1; k <= 8; k++ {
		f *= float64(k)
		c[12-k] = 1 / f // c[11] = 1/1!, ..., c[4] = 1/8!
	}
	c[12] = math.Float64frombits(7)
	for j := 0; j < 8; j++ {
		c[16+j] = math.Exp2(float64(j) / 8)
	}
	return
}()

// expWeights sets w[i] = exp((float64(l[i]) - m) * invT) for every logit
// (w may be nil: only the sum is wanted) and returns their sum; m is at
// least every logit, so each exponent is <= 0 (or -Inf, or NaN). With
// AVX-512 eight at a time (2^(j/8) from a table and a degree-8 polynomial on
// |r| <= ln2/16: within 2 ulp of math.Exp, like expNeg, tested), else by
// expNeg.
func expWeights(w []float64, l []float32, m, invT float64) float64 {
	if hasExpVec && len(l) > 0 {
		var dst *float64
		if w != nil {
			dst = &w[:len(l)][0]
		}
		return expSumAVX512(dst, &l[0], len(l), m, invT, &expConsts)
	}
	var z float64
	for i, v := range l {
		e := expNeg((float64(v) - m) * invT)
		if w != nil {
			w[i] = e
		}
		z += e
	}
	return z
}
