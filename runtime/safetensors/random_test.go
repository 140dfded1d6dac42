package safetensors

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

func TestRandomTensors(t *testing.T) {
	specs := []Spec{
		{Name: "model.embed_tokens.weight", Shape: []int{64, 16}, Std: 0.02},
		{Name: "model.norm.weight", Shape: []int{16}, Value: 1},
		{Name: "model.layers.0.self_attn.q_proj.weight", Shape: []int{200, 100}, Std: 0.5},
	}
	a, err := RandomTensors(specs, 7, F32)
	if err != nil {
		t.Fatal(err)
	}
	// Order and the other specs do not matter; the seed does.
	b, _ := RandomTensors([]Spec{specs[2], specs[0]}, 7, F32)
	if !bytes.Equal(a[2].Data, b[0].Data) || !bytes.Equal(a[0].Data, b[1].Data) {
		t.Error("a tensor changed when the other specs changed")
	}
	c, _ := RandomTensors(specs, 8, F32)
	if bytes.Equal(a[0].Data, c[0].Data) {
		t.Error("seed 8 gave the same tensor as seed 7")
	}
	// The values: the first entries pinned as bits (PCG-DXSM is a fixed
	// algorithm, so these never change), the fill, mean 0 and the asked std.
	f, err := Parse("rand", mustEncode(t, a))
	if err != nil {
		t.Fatal(err)
	}
	emb, _ := f.Float32("model.embed_tokens.weight")
	for i, bits := range []uint32{0x39e5cf66, 0xbcf486eb, 0x3ce0e072} {
		if math.Float32bits(emb[i]) != bits {
			t.Errorf("embed[%d] = %v (%#08x), want %#08x", i, emb[i], math.Float32bits(emb[i]), bits)
		}
	}
	norm, _ := f.Float32("model.norm.weight")
	for _, v := range norm {
		if v != 1 {
			t.Fatalf("norm weight %v, want 1", v)
		}
	}
	q, _ := f.Float32("model.layers.0.self_attn.q_proj.weight")
	var s, s2 float64
	for _, v := range q {
		if !numtest.Within(v, 0.0, math.Sqrt(3)*0.5, 0) {
			t.Fatalf("entry %v outside the uniform's support", v)
		}
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(q))
	mean, std := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	// 20000 draws: the mean's standard error is 0.0035, the std's about 0.0025.
	if !numtest.Within(mean, 0.0, 0.02, 0) || !numtest.Within(std, 0.5, 0.015, 0) {
		t.Errorf("mean %v std %v, want 0 and 0.5", mean, std)
	}
	// BF16 storage rounds the same values.
	h, _ := RandomTensors(specs[:1], 7, BF16)
	if got := BF16ToFloat32(uint16(h[0].Data[0]) | uint16(h[0].Data[1])<<8); got != BF16ToFloat32(Float32ToBF16(emb[0])) {
		t.Errorf("bf16 entry %v, want %v", got, emb[0])
	}
	// Written and read back through a folder.
	dir := t.TempDir()
	if _, err := WriteDir(dir, a, DirOptions{}); err != nil {
		t.Fatal(err)
	}
	set, err := Load(filepath.Join(dir, SingleName))
	if err != nil || len(set.Tensors()) != 3 {
		t.Fatalf("load: %v", err)
	}
	set.Close()
	if _, err := RandomTensors([]Spec{{Name: "x", Shape: []int{2}, Std: -1}}, 1, F32); err == nil {
		t.Error("negative Std accepted")
	}
	if _, err := RandomTensors([]Spec{{Name: "x", Shape: []int{1}}, {Name: "x", Shape: []int{1}}}, 1, F32); err == nil {
		t.Error("duplicate names accepted")
	}
}

func mustEncode(t *testing.T, ts []Tensor) []byte {
	t.Helper()
	b, err := Encode(ts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
