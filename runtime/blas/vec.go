package blas

import (
	"math"

	"github.com/realc-project/realc/runtime/blas/internal/asm"
)

// The vector kernels of a transformer's elementwise steps, AVX-512 where the
// CPU has it (16 lanes of the same arithmetic as the Go fallback: results may
// differ in the last bit).

// vecAVX512 selects the AVX-512 kernels (a variable so that tests run the Go
// fallbacks too).
var vecAVX512 = asm.HasAVX512

// Exp32 is e^x in float32 by range reduction (x = n ln2 + r, |r| <= ln2/2) and
// a degree-6 Taylor polynomial: relative error below 3e-7, several times
// cheaper than math.Exp, which dominated softmax and SiLU in decoding.
func Exp32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < -87.3:
		return 0
	case x > 88.7:
		return float32(math.Inf(1))
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125
		ln2lo = 1.42860682030941723212e-6
	)
	k := x * log2e
	if k < 0 {
		k -= 0.5
	} else {
		k += 0.5
	}
	n := int32(k)
	fn := float32(n)
	r := x - fn*ln2hi - fn*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	if n > 127 { // x in (88.03, 88.7]: scale in two steps to avoid 2^128
		return p * 2 * math.Float32frombits(uint32(n-1+127)<<23)
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// ExpShift sets x[i] = Exp32(x[i] - shift) and returns the sum of the new
// values (a softmax numerator and its normalizer).
func ExpShift(x []float32, shift float32) float32 {
	if len(x) == 0 {
		return 0
	}
	if vecAVX512 {
		return asm.ExpShift(&x[0], len(x), shift)
	}
	var sum float32
	for i, v := range x {
		e := Exp32(v - shift)
		x[i] = e
		sum += e
	}
	return sum
}

// SwiGLU sets act[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g)
// (act may be gate or up).
func SwiGLU(act, gate, up []float32) {
	n := len(act)
	if n == 0 {
		return
	}
	gate, up = gate[:n], up[:n]
	if vecAVX512 {
		asm.SwiGLU(&act[0], &gate[0], &up[0], n)
		return
	}
	for i, g := range gate {
		act[i] = g / (1 + Exp32(-g)) * up[i]
	}
}

// SwiGLUBack turns d(act) into d(gate) and d(up) for act = SwiGLU(gate, up):
// with s = 1 / (1 + e^-gate), dup = dact * gate * s and
// dgate = dact * up * s * (1 + gate * (1 - s)).
func SwiGLUBack(dgate, dup, dact, gate, up []float32) {
	n := len(dgate)
	if n == 0 {
		return
	}
	dup, dact, gate, up = dup[:n], dact[:n], gate[:n], up[:n]
	if vecAVX512 {
		asm.SwiGLUBack(&dgate[0], &dup[0], &dact[0], &gate[0], &up[0], n)
		return
	}
	for i, g := range gate {
		s := 1 / (1 + Exp32(-g))
		dup[i] = dact[i] * g * s
		dgate[i] = dact[i] * up[i] * s * (1 + g*(1-s))
	}
}

// SumSq returns the sum of the squares of x, accumulated in float64 (RMSNorm's
// statistic: one rounding at the end instead of one per term).
func SumSq(x []float32) float64 {
	if vecAVX512 && len(x) > 0 {
		return asm.SumSq(&x[0], len(x))
	}
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// ScaleMul sets y[i] = w[i] * (x[i] * s) (RMSNorm's output given the row's
// inverse RMS s).
func ScaleMul(y, x, w []float32, s float32) {
	n := len(y)
	if n == 0 {
		return
	}
	x, w = x[:n], w[:n]
	if vecAVX512 {
		asm.ScaleMul(&y[0], &x[0], &w[0], n, s)
		return
	}
	for i, v := range x {
		y[i] = w[i] * (v * s)
	}
}

// RMSNormBackRow is the backward of y = w*x*s over one row (s its inverse
// RMS): with c = (Σ w*dy*x) s^3 / len(x), it adds dy*x*s into dw and
// s*w*dy - c*x into dx.
func RMSNormBackRow(dx, dw, dy, x, w []float32, s float32) {
	n := len(x)
	if n == 0 {
		return
	}
	dx, dw, dy, w = dx[:n], dw[:n], dy[:n], w[:n]
	if vecAVX512 {
		asm.RMSBackRow(&dx[0], &dw[0], &dy[0], &x[0], &w[0], n, s)
		return
	}
	var dot float32 // sum_i w_i dy_i x_i
	for i, v := range x {
		g := dy[i]
		dw[i] += g * v * s
		dot += w[i] * g * v
	}
	c := dot * s * s * s / float32(n)
	for i, v := range x {
		dx[i] += s*w[i]*dy[i] - c*v
	}
}

// Max returns the largest x[i], skipping NaNs; -Inf when x is empty or all
// NaN or -Inf (a softmax row's shift: a NaN score still poisons the
// exponentials that follow).
func Max(x []float32) float32 {
	if vecAVX512 && len(x) > 0 {
		return asm.MaxOf(&x[0], len(x))
	}
	mx := float32(math.Inf(-1))
	for _, v := range x {
		if v > mx { // not max(): its NaN handling costs more
			mx = v
		}
	}
	return mx
}

// Scale sets x[i] *= s.
func Scale(x []float32, s float32) {
	if vecAVX512 && len(x) > 0 {
		asm.Scale(&x[0], len(x), s)
		return
	}
	for i := range x {
		x[i] *= s
	}
}

// SoftmaxBackRow turns d, the gradient of one softmax row p's
// probabilities, into scale times the gradient of its scores:
// d[i] = p[i] * (d[i] - Σ_j p[j]*d[j]) * scale.
func SoftmaxBackRow(p, d []float32, scale float32) {
	n := len(p)
	if n == 0 {
		return
	}
	d = d[:n]
	if vecAVX512 {
		asm.SoftmaxBackRow(&p[0], &d[0], n, scale)
		return
	}
	var dot float32
	for i, pv := range p {
		dot += pv * d[i]
	}
	for i, pv := range p {
		d[i] = pv * (d[i] - dot) * scale
	}
}

// RopeRow rotates each head of the row x (heads of 2*len(cs) floats in the
// Hugging Face rotate_half layout: element i pairs with i+len(cs)) by the
// angles whose cosines and sines are cs and sn; inverse rotates backwards
// (the gradient of the rotation): x[i], x[i+half] become x[i]*c - x[i+half]*s
// and x[i+half]*c + x[i]*s, with s negated when inverse.
func RopeRow(x, cs, sn []float32, inverse bool) {
	half := len(cs)
	if half == 0 || len(x) == 0 {
		return
	}
	sn = sn[:half]
	heads := len(x) / (2 * half)
	x = x[:heads*2*half]
	if vecAVX512 {
		sign := float32(1)
		if inverse {
			sign = -1
		}
		asm.RopeRow(&x[0], &cs[0], &sn[0], heads, half, sign)
		return
	}
	for h := 0; h < heads; h++ {
		a, b := x[h*2*half:h*2*half+half], x[h*2*half+half:(h+1)*2*half]
		for i := range a {
			c, s := cs[i], sn[i]
			if inverse {
				s = -s
			}
			x1, x2 := a[i], b[i]
			a[i] = x1*c - x2*s
			b[i] = x2*c + x1*s
		}
	}
}
