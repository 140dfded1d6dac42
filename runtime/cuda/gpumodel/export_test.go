package gpumodel

import "github.com/realc-project/realc/runtime/model"

// ActivationBytes is what Forward (keep) or Infer allocates for a batch of
// B sequences of T tokens of a model of configuration c.
func ActivationBytes(c model.Config, B, T int, keep bool) int64 {
	g := &Model{Cfg: c}
	if keep {
		return g.passBytes(B*T, B, T)
	}
	return g.inferBytes(B*T, B, T)
}
