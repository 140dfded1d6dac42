// Package twin holds the CPU twin of every kernel in runtime/cuda/kernels:
// the same arithmetic in float32 (float64 where the kernel uses it) in plain
// loops, the reference each kernel is checked against (on the CPU through
// the kernels' host emulation, on a GPU by the device check). Buffers are
// float32 slices; where a kernel stores bf16, the twin rounds its result to
// a bf16 value (to nearest even) when Round is true, so the twin and the
// kernel see the same numbers. With Round false the twins are the model's
// float32 math, and twin_test checks them against runtime/model's Forward,
// BackwardHidden and Step.
//
// The twins call the model's own kernels where they are exported
// (runtime/blas.SwiGLU, SwiGLUBack, Exp32, Sgemm); runtime/model's rmsnorm,
// RoPE table and attention are unexported, so those are written out here
// and tested against the model's exported passes.
package twin

import (
	"math"

	"github.com/realc-project/realc/runtime/blas"
)

// R rounds x to the nearest bf16 value (ties to even; NaN stays NaN).
func R(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return math.Float32frombits((u | 0x400000) & 0xffff0000)
	}
	u += 0x7fff + (u>>16)&1
	return math.Float32frombits(u & 0xffff0000)
}

// RoundAll rounds every element of xs to bf16 in place.
func RoundAll(xs []float32) {
	for i, x := range xs {
		xs[i] = R(x)
	}
}

func rnd(round bool, x float32) float32 {
	if round {
		return R(x)
	}
	return x
}

// Embedding: x[r] = table[tokens[r]] (zeros for a negative token).
func Embedding(x, table []float32, tokens []int32, n, d int) {
	for r := 0; r < n; r++ {
		t := int(tokens[r])
		if t < 0 {
			clear(x[r*d : r*d+d])
			continue
		}
		copy(x[r*d:r*d+d], table[t*d:t*d+d])
	}
}

// EmbeddingBack: dtable[tokens[r]] += dx[r].
func EmbeddingBack(dtable, dx []float32, tokens []int32, n, d int) {
	for r := 0; r < n; r++ {
		t := int(tokens[r])
		if t < 0 {
			continue
		}
		row := dtable[t*d : t*d+d]
		for i, v := range dx[r*d : r*d+d] {
			row[i] += v
		}
	}
}

// RMSNorm: y = w*(x*s), s = 1/sqrt(mean(x^2)+eps) per row; inv (may be nil)
// gets s. y is rounded to bf16 when round.
func RMSNorm(y, inv, x, w []float32, rows, d int, eps float64, round bool) {
	for r := 0; r < rows; r++ {
		xr := x[r*d : r*d+d]
		var ss float32
		for _, v := range xr {
			ss += v * v
		}
		s := float32(1 / math.Sqrt(float64(ss/float32(d))+eps))
		if inv != nil {
			inv[r] = s
		}
		for i, v := range xr {
			y[r*d+i] = rnd(round, w[i]*(v*s))
		}
	}
}

// RMSNormBack: dx = (accum ? dx : 0) + s*w*dy - c*x with c = s^3/d *
// sum(w*dy*x), and dw += dy*x*s summed over rows (as the model's rmsnormBack).
func RMSNormBack(dx, dw, dy, x, w, inv []float32, rows, d int, accum bool) {
	for r := 0; r < rows; r++ {
		xr, dyr, dxr := x[r*d:r*d+d], dy[r*d:r*d+d], dx[r*d:r*d+d]
		s := inv[r]
		var dot float32
		for i, v := range xr {
			g := dyr[i]
			dw[i] += g * v * s
			dot += w[i] * g * v
		}
		c := dot * s * s * s / float32(d)
		for i, v := range xr {
			g := s*w[i]*dyr[i] - c*v
			if accum {
				dxr[i] += g
			} else {
				dxr[i] = g
			}
		}
	}
}

// RopeTables returns cos and sin of pos*theta^(-2i/hd) for each position,
// [len(pos), hd/2], computed in float64 as runtime/model's rope table (plain
// RoPE; Llama 3's rope_scaling is not supported here).
func RopeTables(pos []int, theta float64, hd int) (cos, sin []float32) {
	half := hd / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = math.Pow(theta, -float64(2*i)/float64(hd))
	}
	cos, sin = make([]float32, len(pos)*half), make([]float32, len(pos)*half)
	for r, p := range pos {
		for i, f := range inv {
			s, c := math.Sincos(float64(p) * f)
			cos[r*half+i], sin[r*half+i] = float32(c), float32(s)
		}
	}
	return cos, sin
}

// RoPE rotates x [rows, heads*hd] in place (rotate_half layout); inverse
// rotates backwards.
func RoPE(x, cos, sin []float32, rows, heads, hd int, inverse, round bool) {
	half := hd / 2
	for r := 0; r < rows; r++ {
		for h := 0; h < heads; h++ {
			v := x[r*heads*hd+h*hd : r*heads*hd+h*hd+hd]
			for i := 0; i < half; i++ {
				c, s := cos[r*half+i], sin[r*half+i]
				if inverse {
					s = -s
				}
				x1, x2 := v[i], v[i+half]
				v[i] = rnd(round, x1*c-x2*s)
				v[i+half] = rnd(round, x2*c+x1*s)
			}
		}
	}
}

// SwiGLU: act = silu(gate)*up (runtime/blas.SwiGLU, the model's kernel).
func SwiGLU(act, gate, up []float32, round bool) {
	blas.SwiGLU(act, gate, up)
	if round {
		RoundAll(act)
	}
}

// SwiGLUBack: dgate, dup from dact (runtime/blas.SwiGLUBack).
func SwiGLUBack(dgate, dup, dact, gate, up []float32, round bool) {
	blas.SwiGLUBack(dgate, dup, dact, gate, up)
	if round {
		RoundAll(dgate)
		RoundAll(dup)
	}
}

// AdamW is runtime/train's AdamW.Update on one flat tensor: p (float32
// master weights), m, v (float32 moments) and g (float32 gradient), the
// arithmetic of each element in float64; pb (may be nil) gets p rounded to
// bf16.
func AdamW(p, pb, g, m, v []float32, lr, beta1, beta2, eps, wd, bc1, bc2, gscale float64) {
	for j := range p {
		x := float64(p[j])
		gr := float64(g[j]) * gscale
		x *= 1 - lr*wd
		mj := beta1*float64(m[j]) + (1-beta1)*gr
		vj := beta2*float64(v[j]) + (1-beta2)*gr*gr
		m[j], v[j] = float32(mj), float32(vj)
		x -= lr * (mj / bc1) / (math.Sqrt(vj/bc2) + eps)
		p[j] = float32(x)
		if pb != nil {
			pb[j] = R(p[j])
		}
	}
}

// SumSq is the sum of squares of g in float64.
func SumSq(g []float32) float64 {
	var s float64
	for _, v := range g {
		s += float64(v) * float64(v)
	}
	return s
}

// Attn is the shape of an attention call (see kernels.Attn); Mask is nil or
// one entry per token (0: padding).
type Attn struct {
	B, T, H, KVH, HD, Window int
	Scale                    float32
	Mask                     []int32
}

func (a *Attn) visible(b, t, s int) bool {
	if s > t || (a.Window > 0 && t-s >= a.Window) {
		return false
	}
	return a.Mask == nil || (a.Mask[b*a.T+s] != 0 && a.Mask[b*a.T+t] != 0)
}

// probs writes the attention probabilities of query row (b, h, t) over
// keys 0..T-1 into p (0 where not visible) and returns the log-sum-exp
// (+Inf when no key is visible).
func (a *Attn) probs(p, q, k []float32, b, h, t int) float32 {
	qd, kvd, hd := a.H*a.HD, a.KVH*a.HD, a.HD
	kh := h / (a.H / a.KVH)
	qr := q[(b*a.T+t)*qd+h*hd : (b*a.T+t)*qd+h*hd+hd]
	mx := float32(math.Inf(-1))
	for s := 0; s < a.T; s++ {
		p[s] = float32(math.Inf(-1))
		if !a.visible(b, t, s) {
			continue
		}
		kr := k[(b*a.T+s)*kvd+kh*hd : (b*a.T+s)*kvd+kh*hd+hd]
		var dot float32
		for d := range qr {
			dot += qr[d] * kr[d]
		}
		p[s] = dot * a.Scale
		mx = max(mx, p[s])
	}
	if math.IsInf(float64(mx), -1) {
		clear(p[:a.T])
		return float32(math.Inf(1))
	}
	var sum float32
	for s := 0; s < a.T; s++ {
		p[s] = blas.Exp32(p[s] - mx) // exp(-Inf) = 0 for hidden keys
		sum += p[s]
	}
	for s := 0; s < a.T; s++ {
		p[s] /= sum
	}
	return mx + float32(math.Log(float64(sum)))
}

// Attention: o = softmax(q k^T * scale) v per row (bf16-rounded when round)
// and lse [B, H, T].
func Attention(o, lse, q, k, v []float32, a Attn, round bool) {
	qd, kvd, hd := a.H*a.HD, a.KVH*a.HD, a.HD
	p := make([]float32, a.T)
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			kh := h / (a.H / a.KVH)
			for t := 0; t < a.T; t++ {
				lse[(b*a.H+h)*a.T+t] = a.probs(p, q, k, b, h, t)
				out := o[(b*a.T+t)*qd+h*hd : (b*a.T+t)*qd+h*hd+hd]
				clear(out)
				for s := 0; s < a.T; s++ {
					if p[s] == 0 {
						continue
					}
					vr := v[(b*a.T+s)*kvd+kh*hd : (b*a.T+s)*kvd+kh*hd+hd]
					for d := range out {
						out[d] += p[s] * vr[d]
					}
				}
				for d := range out {
					out[d] = rnd(round, out[d])
				}
			}
		}
	}
}

// AttentionDots: dots[b, h, t] = sum_d dout * o.
func AttentionDots(dots, o, dout []float32, a Attn) {
	qd, hd := a.H*a.HD, a.HD
	for b := 0; b < a.B; b++ {
		for t := 0; t < a.T; t++ {
			for h := 0; h < a.H; h++ {
				var s float32
				at := (b*a.T+t)*qd + h*hd
				for d := 0; d < hd; d++ {
					s += dout[at+d] * o[at+d]
				}
				dots[(b*a.H+h)*a.T+t] = s
			}
		}
	}
}

// AttentionBack: dq (overwritten), dk and dv (overwritten, summed over the
// query heads of each kv head) from dout, with the probabilities recomputed
// from lse: dS = P*(dP - dot)*scale, dP = dout v^T, dq = dS k, dk = dS^T q,
// dv = P^T dout.
func AttentionBack(dq, dk, dv, q, k, v, dout, lse, dots []float32, a Attn) {
	qd, kvd, hd := a.H*a.HD, a.KVH*a.HD, a.HD
	clear(dq[:a.B*a.T*qd])
	clear(dk[:a.B*a.T*kvd])
	clear(dv[:a.B*a.T*kvd])
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			kh := h / (a.H / a.KVH)
			for t := 0; t < a.T; t++ {
				l := lse[(b*a.H+h)*a.T+t]
				if math.IsInf(float64(l), 1) {
					continue
				}
				dot := dots[(b*a.H+h)*a.T+t]
				qr := q[(b*a.T+t)*qd+h*hd : (b*a.T+t)*qd+h*hd+hd]
				dor := dout[(b*a.T+t)*qd+h*hd : (b*a.T+t)*qd+h*hd+hd]
				dqr := dq[(b*a.T+t)*qd+h*hd : (b*a.T+t)*qd+h*hd+hd]
				for s := 0; s < a.T; s++ {
					if !a.visible(b, t, s) {
						continue
					}
					kr := k[(b*a.T+s)*kvd+kh*hd : (b*a.T+s)*kvd+kh*hd+hd]
					vr := v[(b*a.T+s)*kvd+kh*hd : (b*a.T+s)*kvd+kh*hd+hd]
					var sc, dp float32
					for d := 0; d < hd; d++ {
						sc += qr[d] * kr[d]
						dp += dor[d] * vr[d]
					}
					p := blas.Exp32(sc*a.Scale - l)
					ds := p * (dp - dot) * a.Scale
					dkr := dk[(b*a.T+s)*kvd+kh*hd : (b*a.T+s)*kvd+kh*hd+hd]
					dvr := dv[(b*a.T+s)*kvd+kh*hd : (b*a.T+s)*kvd+kh*hd+hd]
					for d := 0; d < hd; d++ {
						dqr[d] += ds * kr[d]
						dkr[d] += ds * qr[d]
						dvr[d] += p * dor[d]
					}
				}
			}
		}
	}
}

// Decode is the shape of a decoding-attention call (see kernels.Decode).
type Decode struct {
	B, H, KVH, HD, Window int
	SeqStride             int
	Scale                 float32
}

// AttentionDecode: o[b] = attention of q[b] over cache positions [lo, lens[b]).
func AttentionDecode(o, q, kc, vc []float32, lens []int32, dc Decode, round bool) {
	qd, kvd, hd := dc.H*dc.HD, dc.KVH*dc.HD, dc.HD
	for b := 0; b < dc.B; b++ {
		L := int(lens[b])
		lo := 0
		if dc.Window > 0 && L > dc.Window {
			lo = L - dc.Window
		}
		for h := 0; h < dc.H; h++ {
			kh := h / (dc.H / dc.KVH)
			qr := q[b*qd+h*hd : b*qd+h*hd+hd]
			out := o[b*qd+h*hd : b*qd+h*hd+hd]
			clear(out)
			if L <= lo {
				continue
			}
			sc := make([]float32, L-lo)
			mx := float32(math.Inf(-1))
			for s := lo; s < L; s++ {
				kr := kc[b*dc.SeqStride+s*kvd+kh*hd:]
				var dot float32
				for d := 0; d < hd; d++ {
					dot += qr[d] * kr[d]
				}
				sc[s-lo] = dot * dc.Scale
				mx = max(mx, sc[s-lo])
			}
			var sum float32
			for i := range sc {
				sc[i] = blas.Exp32(sc[i] - mx)
				sum += sc[i]
			}
			for s := lo; s < L; s++ {
				vr := vc[b*dc.SeqStride+s*kvd+kh*hd:]
				p := sc[s-lo] / sum
				for d := 0; d < hd; d++ {
					out[d] += p * vr[d]
				}
			}
			for d := range out {
				out[d] = rnd(round, out[d])
			}
		}
	}
}

// KVAppend: kc[b, pos[b]] = k[b], vc[b, pos[b]] = v[b].
func KVAppend(kc, vc, k, v []float32, pos []int32, B, kvd, seqStride int) {
	for b := 0; b < B; b++ {
		at := b*seqStride + int(pos[b])*kvd
		copy(kc[at:at+kvd], k[b*kvd:b*kvd+kvd])
		copy(vc[at:at+kvd], v[b*kvd:b*kvd+kvd])
	}
}

// Sgemm is the row-major product the Machine's Gemm runs (runtime/blas).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	blas.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GatherRows: out[i] = in[rows[i]] for rows of width d.
func GatherRows(out, in []float32, rows []int32, d int) {
	for i, r := range rows {
		copy(out[i*d:i*d+d], in[int(r)*d:int(r)*d+d])
	}
}

// ScatterAddRows: out[rows[i]] += in[i].
func ScatterAddRows(out, in []float32, rows []int32, d int) {
	for i, r := range rows {
		dst := out[int(r)*d : int(r)*d+d]
		for j, x := range in[i*d : i*d+d] {
			dst[j] += x
		}
	}
}
