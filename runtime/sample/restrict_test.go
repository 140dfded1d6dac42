package sample

import (
	"math"
	"testing"
)

// vocabLM puts almost all mass on the padded ids past the first n: without
// Restrict the sampler would pick them.
type vocabLM struct{ v int }

type nopCache struct{ n int }

func (c *nopCache) Len() int     { return c.n }
func (c *nopCache) Clone() Cache { d := *c; return &d }

func (m vocabLM) Vocab() int      { return m.v }
func (m vocabLM) NewCache() Cache { return &nopCache{} }
func (m vocabLM) Forward(caches []Cache, toks [][]int) ([][]float32, error) {
	out := make([][]float32, len(caches))
	for i := range out {
		caches[i].(*nopCache).n += len(toks[i])
		row := make([]float32, m.v)
		for j := range row {
			row[j] = float32(j) // the largest ids are the most probable
		}
		out[i] = row
	}
	return out, nil
}

func TestRestrict(t *testing.T) {
	lm := Restrict(vocabLM{v: 10}, 6)
	if lm.Vocab() != 10 {
		t.Fatalf("Vocab() = %d, want the model's 10", lm.Vocab())
	}
	out, err := lm.Forward([]Cache{lm.NewCache()}, [][]int{{1}})
	if err != nil {
		t.Fatal(err)
	}
	for j, x := range out[0] {
		if want := float32(j); j >= 6 && !math.IsInf(float64(x), -1) || j < 6 && x != want {
			t.Fatalf("logit %d = %v after Restrict(6)", j, x)
		}
	}
	resps, err := Generate(lm, [][]int{{1}}, Options{Params: Params{Temperature: 1}, N: 4, MaxNewTokens: 32, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resps[0] {
		for _, id := range r.Tokens {
			if id >= 6 {
				t.Fatalf("sampled id %d past the restricted vocabulary of 6", id)
			}
		}
	}
	if Restrict(vocabLM{v: 10}, 10) != (vocabLM{v: 10}) {
		t.Fatal("Restrict to the full vocabulary should return the model itself")
	}
}
