package safetensors

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// Spec describes one tensor of a random checkpoint.
type Spec struct {
	Name  string
	Shape []int
	// Std > 0 fills the tensor with uniform noise of mean 0 and standard
	// deviation Std (on [-sqrt(3) Std, sqrt(3) Std]); Std == 0 fills it with
	// Value (e.g. 1 for RMSNorm weights, 0 for biases).
	Std   float64
	Value float32
}

// RandomTensors makes a deterministic checkpoint for tests: the entries of
// each tensor come from a PCG stream seeded by (seed, FNV-1a of its name)
// alone, so adding, removing or reordering specs leaves the other tensors
// unchanged. Only integer arithmetic and one rounded multiply per entry are
// involved, so the values are bit-identical on every platform. dtype is F32,
// BF16 or F16 (rounded to nearest even). Write them with WriteFile or WriteDir.
func RandomTensors(specs []Spec, seed uint64, dtype DType) ([]Tensor, error) {
	out := make([]Tensor, 0, len(specs))
	for _, s := range specs {
		if s.Std < 0 || math.IsNaN(s.Std) || math.IsInf(s.Std, 0) {
			return nil, fmt.Errorf("safetensors: random tensor %q: Std must be finite and >= 0, got %v", s.Name, s.Std)
		}
		n := 1
		for _, d := range s.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: random tensor %q: negative dimension in shape %v", s.Name, s.Shape)
			}
			n *= d
		}
		v := make([]float32, n)
		if s.Std == 0 {
			for i := range v {
				v[i] = s.Value
			}
		} else {
			h := fnv.New64a()
			h.Write([]byte(s.Name))
			r := rand.NewPCG(seed, h.Sum64())
			scale := math.Sqrt(3) * s.Std
			for i := range v {
				u := float64(r.Uint64()>>11) * 0x1p-52 // in [0, 2): exact
				v[i] = float32((u - 1) * scale)
			}
		}
		t, err := FromFloat32(s.Name, s.Shape, v, dtype)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := checkTensors(out); err != nil {
		return nil, err
	}
	return out, nil
}
