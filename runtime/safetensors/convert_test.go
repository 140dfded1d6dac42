package safetensors

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBF16Rounding(t *testing.T) {
	cases := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3F800000, 0x3F80}, // 1
		{0x3F808000, 0x3F80}, // tie, even below
		{0x3F818000, 0x3F82}, // tie, odd below: up
		{0x3F808001, 0x3F81}, // above the tie
		{0x3F807FFF, 0x3F80}, // below the tie
		{0xBF808001, 0xBF81}, // negative
		{0x7F7FFFFF, 0x7F80}, // max float rounds to +Inf
		{0x7F800000, 0x7F80}, // +Inf
		{0xFF800000, 0xFF80}, // -Inf
		{0x7FC00001, 0x7FC0}, // NaN
		{0xFFFFFFFF, 0x7FC0}, // negative NaN: PyTorch's 0x7FC0
		{0x00000001, 0x0000}, // tiny subnormal
		{0x80000000, 0x8000}, // -0
	}
	for _, c := range cases {
		if got := Float32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	// Every bf16 widens and narrows back to itself (NaNs to the canonical NaN).
	for h := 0; h < 1<<16; h++ {
		f := BF16ToFloat32(uint16(h))
		got := Float32ToBF16(f)
		if f != f {
			if got != 0x7FC0 {
				t.Fatalf("NaN %#04x -> %#04x", h, got)
			}
		} else if got != uint16(h) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, f, got)
		}
	}
}

func TestF16Conversion(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3C00}, {-2, 0xC000}, {65504, 0x7BFF}, {65519, 0x7BFF}, {65520, 0x7C00}, // tie at max: even = Inf
		{1e9, 0x7C00}, {float32(math.Inf(-1)), 0xFC00},
		{0x1p-14, 0x0400},     // smallest normal
		{0x1p-24, 0x0001},     // smallest subnormal
		{0x1p-25, 0x0000},     // tie with 0: even
		{0x1.8p-25, 0x0001},   // above the tie
		{0x1.8p-24, 0x0002},   // tie between 1 and 2 subnormal units: even
		{0x1.4p-24, 0x0001},   // 1.25 units
		{0x1.ffcp-15, 0x0400}, // largest subnormal+ rounds up into the normals
		{-0x1p-24, 0x8001}, {0, 0}, {float32(math.Copysign(0, -1)), 0x8000},
		{1 + 0x1p-11, 0x3C00}, // tie: even
		{1 + 0x3p-11, 0x3C02}, // tie: odd below, up
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	for _, nan := range []uint32{0x7FC00000, 0x7F800001, 0x7FFFFFFF} {
		if h := Float32ToF16(math.Float32frombits(nan)); h != 0x7E00 {
			t.Errorf("NaN %#08x -> %#04x, want PyTorch's 0x7E00", nan, h)
		}
		if h := Float32ToF16(math.Float32frombits(nan | 0x80000000)); h != 0xFE00 {
			t.Errorf("-NaN %#08x -> %#04x, want 0xFE00", nan, h)
		}
	}
	// Every finite half widens exactly and narrows back to itself.
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		if f != f {
			if h&0x7C00 != 0x7C00 || h&0x3FF == 0 {
				t.Fatalf("half %#04x decodes to NaN", h)
			}
			continue
		}
		if got := Float32ToF16(f); got != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, got)
		}
	}
	// Random floats in range: the result is a nearest half, and even on ties.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		f := float32(math.Ldexp(r.Float64()*2-1, r.IntN(44)-28))
		h := Float32ToF16(f)
		got := float64(F16ToFloat32(h))
		for _, nb := range []uint16{h - 1, h + 1} {
			if nb&0x7FFF > 0x7C00 || (nb^h)&0x8000 != 0 && h&0x7FFF != 0 {
				continue
			}
			other := float64(F16ToFloat32(nb))
			dg, do := math.Abs(float64(f)-got), math.Abs(float64(f)-other)
			if do < dg || (do == dg && h&1 == 1) {
				t.Fatalf("Float32ToF16(%g) = %#04x (%g), but %#04x (%g) is nearer or even", f, h, got, nb, other)
			}
		}
	}
}

func TestFP8(t *testing.T) {
	cases := []struct {
		dt   DType
		b    byte
		want float64
	}{
		{F8_E4M3, 0x38, 1}, {F8_E4M3, 0xB8, -1}, {F8_E4M3, 0x7E, 448}, {F8_E4M3, 0x01, 0x1p-9},
		{F8_E4M3, 0x08, 0x1p-6}, {F8_E4M3, 0x07, 7 * 0x1p-9}, {F8_E4M3, 0x3C, 1.5}, {F8_E4M3, 0x00, 0},
		{F8_E5M2, 0x3C, 1}, {F8_E5M2, 0x7B, 57344}, {F8_E5M2, 0x01, 0x1p-16}, {F8_E5M2, 0x04, 0x1p-14},
		{F8_E5M2, 0x7C, math.Inf(1)}, {F8_E5M2, 0xFC, math.Inf(-1)}, {F8_E5M2, 0xBE, -1.5},
	}
	for _, c := range cases {
		got := make([]float32, 1)
		decode(got, []byte{c.b}, c.dt)
		if float64(got[0]) != c.want {
			t.Errorf("%s %#02x = %v, want %v", c.dt, c.b, got[0], c.want)
		}
	}
	for _, c := range []struct {
		dt DType
		b  byte
	}{{F8_E4M3, 0x7F}, {F8_E4M3, 0xFF}, {F8_E5M2, 0x7D}, {F8_E5M2, 0xFF}} {
		got := make([]float32, 1)
		decode(got, []byte{c.b}, c.dt)
		if got[0] == got[0] {
			t.Errorf("%s %#02x = %v, want NaN", c.dt, c.b, got[0])
		}
	}
}
