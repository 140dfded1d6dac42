package cuda

import "math"

// ToBF16 rounds float32 to bfloat16 bits (nearest even; NaN stays NaN), as
// the kernels' realc_f32_to_bf16 does.
func ToBF16(xs []float32) []uint16 {
	out := make([]uint16, len(xs))
	for i, x := range xs {
		u := math.Float32bits(x)
		if u&0x7fffffff > 0x7f800000 {
			out[i] = uint16(u>>16) | 0x40
			continue
		}
		u += 0x7fff + (u>>16)&1
		out[i] = uint16(u >> 16)
	}
	return out
}

// FromBF16 widens bfloat16 bits to float32.
func FromBF16(hs []uint16) []float32 {
	out := make([]float32, len(hs))
	for i, h := range hs {
		out[i] = math.Float32frombits(uint32(h) << 16)
	}
	return out
}
