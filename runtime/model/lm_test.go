package model

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/sample"
)

// TestLMGreedyStories: sample.Generate over the adapter reproduces run.c's
// first greedy ids from BOS.
func TestLMGreedyStories(t *testing.T) {
	m, _ := loadStories(t)
	out, err := sample.Generate(LM{m}, [][]int{{1}}, sample.Options{Params: sample.Params{Greedy: true}, MaxNewTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435, 299, 362, 409, 283, 264, 283, 452, 288, 13}
	if got := out[0][0].Tokens; !slices.Equal(got, want) {
		t.Fatalf("greedy via sample: %v, want %v", got, want)
	}
}

// TestLMSampledLogProbs samples 3 responses for each of 2 prompts (prefill,
// cache clones, batched decode) and checks every ModelLogProbs entry against
// log-softmax of the full forward over prompt+response; the same seed gives
// the same responses.
func TestLMSampledLogProbs(t *testing.T) {
	m := NewTinyQwen3(64, 21)
	prompts := [][]int{{1, 2, 3}, {7, 8}}
	opts := sample.Options{Params: sample.Params{Temperature: 1, TopP: 0.95}, N: 3, MaxNewTokens: 6, Seed: 5}
	out, err := sample.Generate(LM{m}, prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := sample.Generate(LM{m}, prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Cfg.Vocab
	distinct := map[string]bool{}
	for i, p := range prompts {
		for j, r := range out[i] {
			if !slices.Equal(r.Tokens, again[i][j].Tokens) {
				t.Fatalf("prompt %d response %d differs between two runs with one seed", i, j)
			}
			distinct[fmt.Sprint(i, r.Tokens)] = true
			seq := append(slices.Clone(p), r.Tokens...)
			full := fullLogits(t, m, seq)
			for k, tok := range r.Tokens {
				row := full[(len(p)-1+k)*V : (len(p)+k)*V]
				mx := float64(row[0])
				for _, v := range row {
					mx = math.Max(mx, float64(v))
				}
				s := 0.0
				for _, v := range row {
					s += math.Exp(float64(v) - mx)
				}
				want := float64(row[tok]) - mx - math.Log(s)
				if !numtest.Within(r.ModelLogProbs[k], want, 1e-4, 0) {
					t.Fatalf("prompt %d response %d token %d: model log-prob %g, full forward gives %g", i, j, k, r.ModelLogProbs[k], want)
				}
			}
		}
	}
	if len(distinct) < 4 {
		t.Fatalf("6 sampled responses gave only %d distinct sequences", len(distinct))
	}
}

func TestLMRejectsForeignCache(t *testing.T) {
	a, b := NewTinyQwen3(64, 1), NewTinyQwen3(64, 2)
	if _, err := (LM{a}).Forward([]sample.Cache{LM{b}.NewCache()}, [][]int{{1}}); err == nil {
		t.Fatal("a cache from another model was accepted")
	}
}

// plainLM hides LM's ForwardInto, so that sample.Generate allocates the
// logits of every step.
type plainLM struct{ sample.LM }

// TestLMForwardIntoSameResponses: Generate over the IntoLM path (one logits
// buffer reused every step, also through sample.Restrict) gives the same
// responses and log-probabilities as over plain Forward.
func TestLMForwardIntoSameResponses(t *testing.T) {
	m := NewTinyQwen3(64, 5)
	opts := sample.Options{Params: sample.Params{Temperature: 1}, N: 5, MaxNewTokens: 12, Seed: 9, EOS: []int{3}}
	prompts := [][]int{{1, 2}, {4}}
	for _, restrict := range []bool{false, true} {
		var a, b sample.LM = LM{m}, plainLM{LM{m}}
		if restrict {
			a, b = sample.Restrict(a, 60), sample.Restrict(b, 60)
			if _, ok := a.(sample.IntoLM); !ok {
				t.Fatal("Restrict hides ForwardInto")
			}
		}
		got, err := sample.Generate(a, prompts, opts)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sample.Generate(b, prompts, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			for j := range want[i] {
				g, w := got[i][j], want[i][j]
				if !slices.Equal(g.Tokens, w.Tokens) || !slices.Equal(g.LogProbs, w.LogProbs) || !slices.Equal(g.ModelLogProbs, w.ModelLogProbs) {
					t.Fatalf("restrict=%v prompt %d response %d: %v, want %v", restrict, i, j, g.Tokens, w.Tokens)
				}
			}
		}
	}
}
