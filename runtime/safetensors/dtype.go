// Package safetensors reads and writes Hugging Face .safetensors files, single or
// sharded with a model.safetensors.index.json, byte for byte in the layout the
// Python `safetensors` library (and transformers' save_pretrained) writes.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header
// ({"__metadata__": {str: str}, "name": {"dtype", "shape", "data_offsets"}}),
// then the data section; offsets are relative to the data section, tensors are
// row-major little-endian and the offsets tile the data section exactly.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// DType is a safetensors element type, spelled as in the header ("BF16", "F32", ...).
type DType string

// The dtypes of the safetensors format, in the order of the Rust enum (increasing
// alignment). The writer orders tensors by this rank, descending, then by name.
const (
	BOOL        DType = "BOOL"
	F4          DType = "F4"
	F6_E2M3     DType = "F6_E2M3"
	F6_E3M2     DType = "F6_E3M2"
	U8          DType = "U8"
	I8          DType = "I8"
	F8_E5M2     DType = "F8_E5M2"
	F8_E4M3     DType = "F8_E4M3"
	F8_E8M0     DType = "F8_E8M0"
	F8_E4M3FNUZ DType = "F8_E4M3FNUZ"
	F8_E5M2FNUZ DType = "F8_E5M2FNUZ"
	I16         DType = "I16"
	U16         DType = "U16"
	F16         DType = "F16"
	BF16        DType = "BF16"
	I32         DType = "I32"
	U32         DType = "U32"
	F32         DType = "F32"
	C64         DType = "C64"
	F64         DType = "F64"
	I64         DType = "I64"
	U64         DType = "U64"
)

type dtypeInfo struct {
	rank int // position in the Rust enum: the sort key of the writer
	bits int // element size in bits
}

var dtypes = map[DType]dtypeInfo{}

func init() {
	for i, d := range []struct {
		t    DType
		bits int
	}{
		{BOOL, 8}, {F4, 4}, {F6_E2M3, 6}, {F6_E3M2, 6}, {U8, 8}, {I8, 8}, {F8_E5M2, 8}, {F8_E4M3, 8},
		{F8_E8M0, 8}, {F8_E4M3FNUZ, 8}, {F8_E5M2FNUZ, 8}, {I16, 16}, {U16, 16}, {F16, 16}, {BF16, 16},
		{I32, 32}, {U32, 32}, {F32, 32}, {C64, 64}, {F64, 64}, {I64, 64}, {U64, 64},
	} {
		dtypes[d.t] = dtypeInfo{rank: i, bits: d.bits}
	}
}

// Valid reports whether d is a dtype of the format.
func (d DType) Valid() bool { _, ok := dtypes[d]; return ok }

// Bits is the element size in bits (4 for F4, 6 for F6_*), 0 for an unknown dtype.
func (d DType) Bits() int { return dtypes[d].bits }

// Size is the element size in bytes, 0 for sub-byte and unknown dtypes.
func (d DType) Size() int {
	if b := dtypes[d].bits; b%8 == 0 {
		return b / 8
	}
	return 0
}

// ConvertsToFloat32 reports whether Float32 can decode this dtype.
func (d DType) ConvertsToFloat32() bool {
	switch d {
	case F32, F16, BF16, F64, I64, I32, I16, I8, U8, U16, U32, BOOL, F8_E4M3, F8_E5M2:
		return true
	}
	return false
}

// byteSize is the data size of n elements, or an error when the bits do not fill
// whole bytes or the size overflows.
func byteSize(d DType, n uint64) (uint64, error) {
	bits := uint64(d.Bits())
	if n != 0 && bits > math.MaxUint64/n {
		return 0, fmt.Errorf("size of %d elements of %s overflows", n, d)
	}
	if (n*bits)%8 != 0 {
		return 0, fmt.Errorf("%d elements of %s (%d bits each) do not fill whole bytes", n, d, bits)
	}
	return n * bits / 8, nil
}

// decode converts raw little-endian elements of dtype d into dst (len(dst) elements).
func decode(dst []float32, raw []byte, d DType) {
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case F16:
		t := f16Table()
		for i := range dst {
			dst[i] = t[binary.LittleEndian.Uint16(raw[2*i:])]
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(binary.LittleEndian.Uint16(raw[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(raw[i]))
		}
	case U8, BOOL:
		for i := range dst {
			dst[i] = float32(raw[i])
		}
	case F8_E4M3, F8_E5M2:
		t := &fp8Tables[0]
		if d == F8_E5M2 {
			t = &fp8Tables[1]
		}
		for i := range dst {
			dst[i] = t[raw[i]]
		}
	default:
		panic("safetensors: decode of " + string(d)) // callers check ConvertsToFloat32
	}
}

// encode writes src as dtype d (F32, BF16 or F16) into dst (len(src)*size bytes).
func encode(dst []byte, src []float32, d DType) {
	switch d {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToBF16(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToF16(v))
		}
	default:
		panic("safetensors: encode to " + string(d))
	}
}

// BF16ToFloat32 widens a bfloat16 (exact).
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 rounds to the nearest bfloat16, ties to even, as PyTorch's
// c10::round_to_nearest_even does (so tensor.to(torch.bfloat16) gives the same
// bits); every NaN becomes the quiet NaN 0x7FC0.
func Float32ToBF16(f float32) uint16 {
	if f != f {
		return 0x7FC0
	}
	u := math.Float32bits(f)
	bias := (u>>16)&1 + 0x7FFF
	return uint16((u + bias) >> 16)
}

// F16ToFloat32 widens an IEEE half (exact, including subnormals, infinities, NaN payloads).
func F16ToFloat32(h uint16) float32 { return f16Table()[h] }

func f16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	man := uint32(h) & 0x3FF
	switch {
	case exp == 0x1F: // inf or NaN: keep the payload
		return math.Float32frombits(sign | 0x7F800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value = man * 2^-24, exact in float32.
	v := float32(man) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

var (
	f16Once sync.Once
	f16Tab  *[1 << 16]float32
)

// f16Table is the 256 KiB lookup table of all halves, built on first use: one load per element.
func f16Table() *[1 << 16]float32 {
	f16Once.Do(func() {
		f16Tab = new([1 << 16]float32)
		for i := range f16Tab {
			f16Tab[i] = f16ToFloat32(uint16(i))
		}
	})
	return f16Tab
}

// Float32ToF16 rounds to the nearest IEEE half, ties to even, overflowing to
// infinity, as PyTorch's fp16_ieee_from_fp32_value does; a NaN becomes the
// quiet NaN 0x7E00 with its sign.
func Float32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23) & 0xFF
	man := u & 0x7FFFFF
	if exp == 0xFF {
		if man != 0 {
			return sign | 0x7E00 // PyTorch's quiet NaN (payload dropped)
		}
		return sign | 0x7C00
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1F {
		return sign | 0x7C00
	}
	if e <= 0 {
		// Subnormal half (or zero): shift the full significand (with its hidden bit)
		// right by 14-e positions below the half's last bit, rounding to nearest even.
		if e < -10 {
			return sign // below half the smallest subnormal: rounds to zero
		}
		m := man | 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r) // r may carry into the exponent field: that is the right result
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1FFF
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, up to infinity: still correct
	}
	return sign | uint16(r)
}

// fp8Tables decode F8_E4M3 (OCP "E4M3FN": bias 7, no infinities, S.1111.111
// is NaN; what torch.float8_e4m3fn stores) and F8_E5M2 (bias 15, IEEE-like
// infinities and NaNs). Block-scaled FP8 checkpoints also need their scale
// tensors applied, which is the model's business.
var fp8Tables = func() (t [2][256]float32) {
	for b := 0; b < 256; b++ {
		sign := float32(1)
		if b&0x80 != 0 {
			sign = -1
		}
		// E4M3FN
		e, m := (b>>3)&0xF, b&7
		switch {
		case e == 15 && m == 7:
			t[0][b] = float32(math.NaN())
		case e == 0:
			t[0][b] = sign * float32(math.Ldexp(float64(m)/8, -6))
		default:
			t[0][b] = sign * float32(math.Ldexp(1+float64(m)/8, e-7))
		}
		// E5M2
		e, m = (b>>2)&0x1F, b&3
		switch {
		case e == 31 && m == 0:
			t[1][b] = sign * float32(math.Inf(1))
		case e == 31:
			t[1][b] = float32(math.NaN())
		case e == 0:
			t[1][b] = sign * float32(math.Ldexp(float64(m)/4, -14))
		default:
			t[1][b] = sign * float32(math.Ldexp(1+float64(m)/4, e-15))
		}
	}
	return
}()
