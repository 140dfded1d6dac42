package sample

import "math"

// Restrict wraps lm so that only ids below n can be produced: the logits of
// ids >= n become -Inf. Models pad their embedding past the tokenizer's
// vocabulary (Qwen3: 151,936 rows for 151,669 tokens); a trained model gives
// those rows negligible mass, an untrained or lightly trained one does not,
// and an id the tokenizer cannot decode must never be sampled.
func Restrict(lm LM, n int) LM {
	if n >= lm.Vocab() {
		return lm
	}
	if _, ok := lm.(IntoLM); ok {
		return restrictedInto{restricted{lm, n}}
	}
	return restricted{lm, n}
}

type restricted struct {
	LM
	n int
}

func (r restricted) Forward(caches []Cache, toks [][]int) ([][]float32, error) {
	out, err := r.LM.Forward(caches, toks)
	return r.cut(out, err)
}

// restrictedInto is restricted over an IntoLM, keeping ForwardInto.
type restrictedInto struct{ restricted }

func (r restrictedInto) ForwardInto(dst []float32, caches []Cache, toks [][]int) ([][]float32, error) {
	out, err := r.LM.(IntoLM).ForwardInto(dst, caches, toks)
	return r.cut(out, err)
}

func (r restricted) cut(out [][]float32, err error) ([][]float32, error) {
	if err != nil {
		return nil, err
	}
	ninf := float32(math.Inf(-1))
	for _, row := range out {
		for j := r.n; j < len(row); j++ {
			row[j] = ninf
		}
	}
	return out, nil
}
