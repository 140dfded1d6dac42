package gpumodel

import (
	"math"

	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/model"
)

// Decoder is the LM's decoder (its caches, for tests that read them).
func (lm *LM) Decoder() *Decoder { return lm.dc }

// CacheRows reads rows 0 to n-1 of sequence b's cached keys and values in
// layer li (bf16, as float32).
func (dc *Decoder) CacheRows(li, b, n int) (k, v []float32, err error) {
	kvd := dc.g.Cfg.KVDim()
	slot := uintptr(b) * uintptr(2*dc.slotLen*kvd)
	read := func(p uintptr) ([]float32, error) {
		raw := make([]byte, 2*n*kvd)
		if err := dc.g.M.Read(raw, p+slot); err != nil {
			return nil, err
		}
		out := make([]float32, n*kvd)
		for i, h := range kernels.BytesU16(raw) {
			out[i] = math.Float32frombits(uint32(h) << 16)
		}
		return out, nil
	}
	if k, err = read(dc.kc[li]); err != nil {
		return nil, nil, err
	}
	v, err = read(dc.vc[li])
	return k, v, err
}

// ActivationBytes is what Forward (keep) or Infer allocates for a batch of
// B sequences of T tokens of a model of configuration c.
func ActivationBytes(c model.Config, B, T int, keep bool) int64 {
	g := &Model{Cfg: c}
	if keep {
		return g.passBytes(B*T, B, T)
	}
	return g.inferBytes(B*T, B, T)
}
