package sample_test

import (
	"fmt"

	"github.com/realc-project/realc/runtime/sample"
)

// counter is a toy LM over 4 tokens that strongly predicts last+1 (mod 4).
type counter struct{}

type hist struct{ toks []int }

func (h *hist) Len() int            { return len(h.toks) }
func (h *hist) Clone() sample.Cache { return &hist{append([]int(nil), h.toks...)} }

func (counter) Vocab() int             { return 4 }
func (counter) NewCache() sample.Cache { return &hist{} }
func (counter) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	out := make([][]float32, len(caches))
	for i, c := range caches {
		h := c.(*hist)
		h.toks = append(h.toks, toks[i]...)
		row := make([]float32, 4)
		row[(h.toks[len(h.toks)-1]+1)%4] = 3
		out[i] = row
	}
	return out, nil
}

func ExampleGenerate() {
	out, err := sample.Generate(counter{}, [][]int{{0}, {2}}, sample.Options{
		Params:       sample.Params{Greedy: true},
		MaxNewTokens: 5,
		EOS:          []int{3},
	})
	if err != nil {
		panic(err)
	}
	for i, rs := range out {
		r := rs[0]
		fmt.Printf("prompt %d: %v %s truncated=%v model log-prob of the first token %.4f\n",
			i, r.Tokens, r.StopReason, r.Truncated, r.ModelLogProbs[0])
	}
	// 3 - log(e^3 + 3) = -0.1392: the model log-prob of a token with logit 3 among zeros.
	// Output:
	// prompt 0: [1 2 3] eos truncated=false model log-prob of the first token -0.1392
	// prompt 1: [3] eos truncated=false model log-prob of the first token -0.1392
}
