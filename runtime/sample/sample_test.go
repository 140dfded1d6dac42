package sample

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// bigram is a deterministic fake LM: the logits after a sequence depend only
// on its last token (table[last]). It counts calls to check batching.
type bigram struct {
	table     [][]float32
	newCaches int
	clones    int
	forwards  [][]int // per Forward call: the lengths of toks[i]
	failAt    int     // Forward call number (1-based) that fails; 0: never
}

type hist struct {
	toks     []int
	lm       *bigram
	reserved int // what Reserve was last asked for
}

func (h *hist) Reserve(tokens int) { h.reserved = tokens }

func (h *hist) Len() int { return len(h.toks) }
func (h *hist) Clone() Cache {
	h.lm.clones++
	return &hist{toks: slices.Clone(h.toks), lm: h.lm}
}

func (b *bigram) Vocab() int { return len(b.table) }
func (b *bigram) NewCache() Cache {
	b.newCaches++
	return &hist{lm: b}
}
func (b *bigram) Forward(caches []Cache, toks [][]int) ([][]float32, error) {
	lens := make([]int, len(toks))
	out := make([][]float32, len(toks))
	for i, c := range caches {
		h := c.(*hist)
		h.toks = append(h.toks, toks[i]...)
		lens[i] = len(toks[i])
		out[i] = slices.Clone(b.table[h.toks[len(h.toks)-1]])
	}
	b.forwards = append(b.forwards, lens)
	if len(b.forwards) == b.failAt {
		return nil, errors.New("device on fire")
	}
	return out, nil
}

// randomBigram has V tokens with normal(0, scale) logits.
func randomBigram(V int, scale float64, seed uint64) *bigram {
	r := rand.New(rand.NewPCG(seed, 7))
	b := &bigram{table: make([][]float32, V)}
	for i := range b.table {
		b.table[i] = make([]float32, V)
		for j := range b.table[i] {
			b.table[i][j] = float32(r.NormFloat64() * scale)
		}
	}
	return b
}

// chain is 0->1->2->3->0 with margin 5 (greedy follows it).
func chain() *bigram {
	b := &bigram{table: make([][]float32, 4)}
	for i := range b.table {
		b.table[i] = make([]float32, 4)
		b.table[i][(i+1)%4] = 5
	}
	return b
}

func logSumExp(ls []float64) float64 {
	m := math.Inf(-1)
	for _, l := range ls {
		m = math.Max(m, l)
	}
	var z float64
	for _, l := range ls {
		z += math.Exp(l - m)
	}
	return m + math.Log(z)
}

func f64s(ls []float32) []float64 {
	out := make([]float64, len(ls))
	for i, l := range ls {
		out[i] = float64(l)
	}
	return out
}

func TestGreedy(t *testing.T) {
	lm := chain()
	lm.table[1] = []float32{0, 1, 7, 7} // tie: the lower id (2) wins
	out, err := Generate(lm, [][]int{{0}, {3, 1}}, Options{MaxNewTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 2, 3, 0, 1}, {2, 3, 0, 1, 2}}
	for i, w := range want {
		r := out[i][0]
		if !reflect.DeepEqual(r.Tokens, w) || !r.Truncated || r.StopReason != StopLength || r.StopIndex != -1 {
			t.Errorf("prompt %d: %+v, want tokens %v truncated", i, r, w)
		}
		for k, lp := range r.LogProbs {
			if lp != 0 {
				t.Errorf("greedy policy log-prob %v, want 0", lp)
			}
			prev := []int{0, 1}[i] // the last prompt token
			if k > 0 {
				prev = r.Tokens[k-1]
			}
			row := f64s(lm.table[prev])
			want := row[r.Tokens[k]] - logSumExp(row)
			if !numtest.Within(r.ModelLogProbs[k], want, 1e-12, 0) {
				t.Errorf("model log-prob %v, want %v", r.ModelLogProbs[k], want)
			}
		}
	}
	// Greedy flag overrides a temperature.
	out2, _ := Generate(lm, [][]int{{0}, {3, 1}}, Options{Params: Params{Greedy: true, Temperature: 2}, MaxNewTokens: 5, Seed: 9})
	if !reflect.DeepEqual(out, out2) {
		t.Errorf("Greedy with a temperature differs from temperature 0")
	}
}

func TestStopConditions(t *testing.T) {
	decode := func(ids []int) string {
		var b strings.Builder
		for _, id := range ids {
			b.WriteByte("abcd"[id])
		}
		return b.String()
	}
	cases := []struct {
		name   string
		o      Options
		tokens []int
		reason StopReason
		index  int
		trunc  bool
	}{
		{"eos", Options{EOS: []int{0, 3}}, []int{1, 2, 3}, StopEOS, 1, false},
		{"eos on the last allowed token", Options{EOS: []int{3}, MaxNewTokens: 3}, []int{1, 2, 3}, StopEOS, 0, false},
		{"length", Options{EOS: []int{3}, MaxNewTokens: 2}, []int{1, 2}, StopLength, -1, true},
		{"stop sequence", Options{StopSequences: [][]int{{3, 3}, {1, 2}}}, []int{1, 2}, StopSequence, 1, false},
		{"stop sequence spans the prompt: no", Options{StopSequences: [][]int{{0, 1}}, MaxNewTokens: 6}, []int{1, 2, 3, 0, 1}, StopSequence, 0, false},
		{"stop string", Options{StopStrings: []string{"x", "cd"}, Decode: decode}, []int{1, 2, 3}, StopString, 1, false},
		{"eos before stop string", Options{StopStrings: []string{"d"}, EOS: []int{3}, Decode: decode}, []int{1, 2, 3}, StopEOS, 0, false},
	}
	for _, c := range cases {
		if c.o.MaxNewTokens == 0 {
			c.o.MaxNewTokens = 10
		}
		out, err := Generate(chain(), [][]int{{0}}, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r := out[0][0]
		if !reflect.DeepEqual(r.Tokens, c.tokens) || r.StopReason != c.reason || r.StopIndex != c.index || r.Truncated != c.trunc {
			t.Errorf("%s: got tokens %v %s[%d] truncated=%v; want %v %s[%d] %v", c.name, r.Tokens, r.StopReason, r.StopIndex, r.Truncated, c.tokens, c.reason, c.index, c.trunc)
		}
		if len(r.LogProbs) != len(r.Tokens) || len(r.ModelLogProbs) != len(r.Tokens) {
			t.Errorf("%s: %d tokens, %d/%d log-probs", c.name, len(r.Tokens), len(r.LogProbs), len(r.ModelLogProbs))
		}
	}
}

// The prompt is prefilled once in one batched call, its cache cloned for the
// other responses, and each later step is one batched call of single tokens.
func TestPrefillOnceAndBatching(t *testing.T) {
	lm := randomBigram(20, 1, 3)
	prompts := [][]int{{1, 2, 3}, {4}, {5, 6}}
	out, err := Generate(lm, prompts, Options{Params: Params{Temperature: 1}, N: 4, MaxNewTokens: 6, EOS: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	if lm.newCaches != 3 || lm.clones != 9 {
		t.Errorf("NewCache %d times, Clone %d times; want 3 and 9", lm.newCaches, lm.clones)
	}
	if !reflect.DeepEqual(lm.forwards[0], []int{3, 1, 2}) {
		t.Errorf("prefill call %v", lm.forwards[0])
	}
	live := 12
	for step, call := range lm.forwards[1:] {
		for _, n := range call {
			if n != 1 {
				t.Errorf("step %d: a sequence got %d tokens", step+1, n)
			}
		}
		if len(call) > live {
			t.Errorf("step %d: %d sequences, more than were running", step+1, len(call))
		}
		live = len(call)
	}
	// No Forward after the final tokens: 1 prefill + at most 5 decoding calls.
	if len(lm.forwards) > 6 {
		t.Errorf("%d Forward calls for 6 new tokens", len(lm.forwards))
	}
	for i := range prompts {
		if len(out[i]) != 4 {
			t.Fatalf("prompt %d: %d responses", i, len(out[i]))
		}
	}
}

func TestDeterminismAndIndependence(t *testing.T) {
	lm := func() *bigram { return randomBigram(50, 1.5, 11) }
	prompts := [][]int{{1}, {2, 3}, {4}}
	o := Options{Params: Params{Temperature: 0.9, TopP: 0.95, TopK: 30}, N: 3, MaxNewTokens: 12, Seed: 42, EOS: []int{7}}
	a, err := Generate(lm(), prompts, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(lm(), prompts, o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different responses")
	}
	o2 := o
	o2.Seed = 43
	c, _ := Generate(lm(), prompts, o2)
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave identical responses")
	}
	if reflect.DeepEqual(a[0][0].Tokens, a[0][1].Tokens) && reflect.DeepEqual(a[0][1].Tokens, a[0][2].Tokens) {
		t.Error("the n responses of a prompt are identical: streams not independent")
	}
	// Dropping later prompts, or asking fewer responses, does not change the others.
	d, _ := Generate(lm(), prompts[:2], Options{Params: o.Params, N: 2, MaxNewTokens: 12, Seed: 42, EOS: []int{7}})
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			if !reflect.DeepEqual(d[i][j], a[i][j]) {
				t.Errorf("prompt %d response %d depends on the batch", i, j)
			}
		}
	}
	// With per-prompt seeds, a prompt alone gives what it gives in a batch.
	seeds := []uint64{5, 6, 7}
	o.Seeds = seeds
	all, _ := Generate(lm(), prompts, o)
	o.Seeds = seeds[1:2]
	alone, _ := Generate(lm(), prompts[1:2], o)
	if !reflect.DeepEqual(all[1], alone[0]) {
		t.Error("prompt 1 alone differs from prompt 1 in the batch (same Seeds entry)")
	}
}

// Log-probs against hand computation: logits [1, 2, 3, 0], T = 0.5, top-k 2
// keeps {2, 1}; scaled logits 6 and 4, so π(2) = 1/(1+e^-2), π(1) = 1/(1+e^2).
func TestLogProbsByHand(t *testing.T) {
	lm := &bigram{table: [][]float32{{1, 2, 3, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}}
	seen := map[int]bool{}
	for seed := uint64(0); seed < 40; seed++ {
		out, err := Generate(lm, [][]int{{0}}, Options{Params: Params{Temperature: 0.5, TopK: 2}, MaxNewTokens: 1, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		r := out[0][0]
		tok := r.Tokens[0]
		seen[tok] = true
		var wantLP float64
		switch tok {
		case 2:
			wantLP = -math.Log1p(math.Exp(-2))
		case 1:
			wantLP = -math.Log1p(math.Exp(2))
		default:
			t.Fatalf("token %d is outside the top-2", tok)
		}
		wantModel := float64(tok+1) - math.Log(math.E+math.Exp(2)+math.Exp(3)+1)
		if !numtest.Within(r.LogProbs[0], wantLP, 1e-12, 0) || !numtest.Within(r.ModelLogProbs[0], wantModel, 1e-12, 0) {
			t.Errorf("token %d: log-probs %v %v, want %v %v", tok, r.LogProbs[0], r.ModelLogProbs[0], wantLP, wantModel)
		}
	}
	if !seen[1] || !seen[2] {
		t.Errorf("40 seeds sampled only %v (P(1) = 0.12)", seen)
	}
	// Temperature 1 without cuts: the policy is the model.
	out, _ := Generate(lm, [][]int{{0}}, Options{Params: Params{Temperature: 1}, MaxNewTokens: 1})
	if r := out[0][0]; !numtest.Within(r.LogProbs[0], r.ModelLogProbs[0], 1e-12, 0) {
		t.Errorf("T=1: policy %v != model %v", r.LogProbs[0], r.ModelLogProbs[0])
	}
}

func TestGenerateErrors(t *testing.T) {
	ok := Options{MaxNewTokens: 3}
	cases := []struct {
		prompts [][]int
		o       Options
		lm      *bigram
		want    string
	}{
		{[][]int{{}}, ok, nil, "prompt 0 is empty"},
		{[][]int{{0}, {1, 9}}, ok, nil, "prompt 1, position 1: token 9"},
		{[][]int{{0}}, Options{}, nil, "MaxNewTokens"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, Params: Params{TopP: 1.5}}, nil, "TopP"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, Params: Params{Temperature: -1}}, nil, "Temperature"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, Params: Params{TopK: -1}}, nil, "TopK"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, StopStrings: []string{"x"}}, nil, "Decode"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, EOS: []int{4}}, nil, "EOS[0] = 4"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, Seeds: []uint64{1, 2}}, nil, "Seeds has 2 entries for 1 prompts"},
		{[][]int{{0}}, Options{MaxNewTokens: 1, StopSequences: [][]int{{}}}, nil, "StopSequences[0] is empty"},
		{[][]int{{0}}, Options{MaxNewTokens: 3}, &bigram{table: chain().table, failAt: 2}, "decoding step 1: device on fire"},
		{[][]int{{0}}, Options{MaxNewTokens: 3}, &bigram{table: chain().table, failAt: 1}, "prefill: device on fire"},
		{[][]int{{0}}, Options{MaxNewTokens: 3}, &bigram{table: [][]float32{{float32(math.NaN()), 0}, {0, 0}}}, "prompt 0, response 0, new token 0: logit 0 is NaN"},
		{[][]int{{0}}, Options{MaxNewTokens: 3, Params: Params{Temperature: 1}}, &bigram{table: [][]float32{{float32(math.Inf(-1)), float32(math.Inf(-1))}, {0, 0}}}, "every logit is -Inf"},
	}
	for _, c := range cases {
		lm := c.lm
		if lm == nil {
			lm = chain()
		}
		_, err := Generate(lm, c.prompts, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
}

// badLM returns logits of the wrong shape.
type badLM struct{ bigram }

func (b *badLM) Forward(caches []Cache, toks [][]int) ([][]float32, error) {
	return [][]float32{{1}}, nil
}

func TestWrongLogitShape(t *testing.T) {
	lm := &badLM{*chain()}
	_, err := Generate(lm, [][]int{{0}}, Options{MaxNewTokens: 2})
	if err == nil || !strings.Contains(err.Error(), "logit row 0 has 1 entries, the vocabulary has 4") {
		t.Errorf("got %v", err)
	}
	_, err = Generate(lm, [][]int{{0}, {1}}, Options{MaxNewTokens: 2})
	if err == nil || !strings.Contains(err.Error(), "1 logit rows for 2 sequences") {
		t.Errorf("got %v", err)
	}
}

// weights is exp((l - max) / T), as the sampler computes it.
func weights(logits []float32, T float64) []float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	w := make([]float64, len(logits))
	for i, l := range logits {
		w[i] = math.Exp((float64(l) - m) / T)
	}
	return w
}

// refKeep is the definition, by full sort: top-k, then the smallest prefix with
// mass >= p * (kept mass) (with the documented 1e-12 relative slack).
func refKeep(w []float64, k int, p float64) []int32 {
	var ids []int32
	for i, e := range w {
		if e > 0 {
			ids = append(ids, int32(i))
		}
	}
	sort.Slice(ids, func(a, b int) bool {
		if w[ids[a]] != w[ids[b]] {
			return w[ids[a]] > w[ids[b]]
		}
		return ids[a] < ids[b]
	})
	if k > 0 && k < len(ids) {
		ids = ids[:k]
	}
	if p <= 0 || p >= 1 {
		return ids
	}
	var total float64
	for _, id := range ids {
		total += w[id]
	}
	var c float64
	for i, id := range ids {
		c += w[id]
		if c >= p*total*(1-1e-12) {
			return ids[:i+1]
		}
	}
	return ids
}

// keepOf is the kept set, sorted by id.
func keepOf(logits []float32, p Params) []int32 {
	var s Sampler
	w := weights(logits, p.Temperature)
	topK := p.TopK > 0 && p.TopK < len(w)
	topP := p.TopP > 0 && p.TopP < 1
	kept, last := s.keep(w, p, topK, topP)
	kept = slices.Clone(kept)
	for _, id := range kept {
		if before(w, last, id) {
			t := fmt.Sprintf("keep: %d is kept but comes after the last kept %d", id, last)
			panic(t)
		}
	}
	slices.Sort(kept)
	return kept
}

func sorted(ids []int32) []int32 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func logitsOf(probs ...float64) []float32 {
	out := make([]float32, len(probs))
	for i, p := range probs {
		out[i] = float32(math.Log(p))
	}
	return out
}

func TestTopPBoundaryAndTies(t *testing.T) {
	// Probabilities by id: 0.05, 0.5, 0.1, 0.2, 0.15 -> order 1, 3, 4, 2, 0.
	l := logitsOf(0.05, 0.5, 0.1, 0.2, 0.15)
	w := weights(l, 1)
	var total float64
	for _, e := range w {
		total += e
	}
	mass := func(ids []int32) float64 {
		var m float64
		for _, id := range ids {
			m += w[id]
		}
		return m / total
	}
	m2 := mass([]int32{1, 3})
	cases := []struct {
		p    float64
		want []int32
	}{
		{0.3, []int32{1}},
		{0.5, []int32{1}},               // exactly reached by the first token
		{0.7, []int32{1, 3}},            // 0.5 + 0.2 reaches 0.7 (up to rounding)
		{m2 - 1e-9, []int32{1, 3}},      // just below the two-token mass
		{m2 + 1e-9, []int32{1, 3, 4}},   // just above: a third token is needed
		{0.85, []int32{1, 3, 4}},        // 0.85 reached exactly
		{0.9, []int32{1, 3, 4, 2}},      //
		{0.999, []int32{1, 3, 4, 2, 0}}, // everything
	}
	for _, c := range cases {
		got := keepOf(l, Params{Temperature: 1, TopP: c.p})
		if !reflect.DeepEqual(got, sorted(c.want)) {
			t.Errorf("top-p %v: kept %v (mass %v), want %v", c.p, got, mass(got), c.want)
		}
		// The definition: mass >= p, and without its lightest token the mass is < p.
		lightest := w[got[0]]
		for _, id := range got {
			lightest = math.Min(lightest, w[id])
		}
		if m := mass(got); m < c.p*(1-1e-12) || m-lightest/total >= c.p*(1-1e-12) {
			t.Errorf("top-p %v: kept mass %v, without the lightest %v", c.p, m, m-lightest/total)
		}
	}
	// Ties at the boundary: the lower ids are kept first.
	tie := logitsOf(0.1, 0.3, 0.3, 0.3)
	if got := keepOf(tie, Params{Temperature: 1, TopP: 0.5}); !reflect.DeepEqual(got, []int32{1, 2}) {
		t.Errorf("ties: kept %v, want [1 2]", got)
	}
	tie2 := logitsOf(0.3, 0.1, 0.3, 0.3) // ids 0, 2, 3 tied
	if got := keepOf(tie2, Params{Temperature: 1, TopP: 0.35}); !reflect.DeepEqual(got, []int32{0, 2}) {
		t.Errorf("ties: kept %v, want [0 2]", got)
	}
	// Top-k, with ties at the cut and then top-p on the renormalized top-k mass:
	// top-2 of tie2 is {0, 2} (mass 0.6); p = 0.6 of it needs both (0.3/0.6 = 0.5 < 0.6).
	if got := keepOf(tie2, Params{Temperature: 1, TopK: 2}); !reflect.DeepEqual(got, []int32{0, 2}) {
		t.Errorf("top-k ties: kept %v", got)
	}
	if got := keepOf(tie2, Params{Temperature: 1, TopK: 2, TopP: 0.6}); !reflect.DeepEqual(got, []int32{0, 2}) {
		t.Errorf("top-k then top-p: kept %v", got)
	}
	if got := keepOf(tie2, Params{Temperature: 1, TopK: 2, TopP: 0.5}); !reflect.DeepEqual(got, []int32{0}) {
		t.Errorf("top-k then top-p 0.5: kept %v", got)
	}
	// -Inf logits are never kept, even when top-k asks for more.
	masked := []float32{float32(math.Inf(-1)), 1, float32(math.Inf(-1)), 2}
	if got := keepOf(masked, Params{Temperature: 1, TopK: 3}); !reflect.DeepEqual(got, []int32{1, 3}) {
		t.Errorf("masked top-k: kept %v", got)
	}
}

// On a Qwen3-sized vocabulary the partial selection keeps exactly what the
// full sort keeps.
func TestKeepMatchesFullSort(t *testing.T) {
	const V = 151936
	r := rand.New(rand.NewPCG(3, 4))
	l := make([]float32, V)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
		if i%1000 == 0 {
			l[i] = float32(math.Round(float64(l[i]))) // some exact ties
		}
	}
	for i := 0; i < 30; i++ {
		l[r.IntN(V)] += 12 // a few dominant tokens, like a real LM
	}
	for _, p := range []Params{
		{Temperature: 1, TopP: 0.5}, {Temperature: 1, TopP: 0.9}, {Temperature: 1, TopP: 0.99},
		{Temperature: 2, TopP: 0.9}, {Temperature: 0.6, TopP: 0.95},
		{Temperature: 1, TopK: 50}, {Temperature: 1, TopK: 5000, TopP: 0.9}, {Temperature: 1.5, TopK: 200, TopP: 0.8},
	} {
		got := keepOf(l, p)
		want := sorted(refKeep(weights(l, p.Temperature), p.TopK, p.TopP))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: kept %d tokens, full sort keeps %d", p, len(got), len(want))
		}
	}
}

// chiSquareSampler draws n tokens with Sampler and returns counts.
func drawCounts(t *testing.T, logits []float32, p Params, n int, seed uint64) []int {
	t.Helper()
	var s Sampler
	r := rand.New(rand.NewPCG(seed, seed))
	counts := make([]int, len(logits))
	for i := 0; i < n; i++ {
		pick, err := s.Sample(p, logits, uniform(r))
		if err != nil {
			t.Fatal(err)
		}
		counts[pick.Token]++
	}
	return counts
}

// Empirical distribution against the policy, computed here by hand. With a
// fixed seed the test is deterministic; the bound is the chi-square 99.9%
// quantile, so a correct sampler passes it for almost every seed and the
// fixed one cannot flake.
func TestEmpiricalDistribution(t *testing.T) {
	l := []float32{2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -3.0}
	// T = 0.8: exp(l/T) for the top 6 = e^2.5, e^1.875, e^1.25, e^0.625, 1, e^-0.625;
	// normalized: .4759 .2548 .1364 .0730 .0391 .0209, cumulative .4759 .7307
	// .8671 .9401: top-p 0.9 keeps ids 0..3.
	T := 0.8
	var z float64
	for _, v := range l[:6] {
		z += math.Exp(float64(v) / T)
	}
	var zk float64
	for _, v := range l[:4] {
		zk += math.Exp(float64(v) / T)
	}
	policy := make([]float64, len(l))
	for i := 0; i < 4; i++ {
		policy[i] = math.Exp(float64(l[i])/T) / zk
	}
	if c := zk / z; c < 0.9 || (zk-math.Exp(float64(l[3])/T))/z >= 0.9 {
		t.Fatalf("hand computation: kept mass %v", c)
	}
	cases := []struct {
		p      Params
		policy []float64
		crit   float64 // chi-square 0.999 quantile for len(kept)-1 degrees of freedom
	}{
		{Params{Temperature: T, TopK: 6, TopP: 0.9}, policy, 16.27},
		{Params{Temperature: 1.3}, nil, 24.32},
	}
	for _, c := range cases {
		pol := c.policy
		if pol == nil { // no cut: softmax(l / 1.3)
			var s float64
			pol = make([]float64, len(l))
			for i, v := range l {
				pol[i] = math.Exp(float64(v) / c.p.Temperature)
				s += pol[i]
			}
			for i := range pol {
				pol[i] /= s
			}
		}
		const n = 50000
		counts := drawCounts(t, l, c.p, n, 2026)
		var chi float64
		for i, cnt := range counts {
			e := pol[i] * n
			if e == 0 {
				if cnt != 0 {
					t.Errorf("%+v: token %d is outside the kept set but was drawn %d times", c.p, i, cnt)
				}
				continue
			}
			chi += (float64(cnt) - e) * (float64(cnt) - e) / e
		}
		if chi > c.crit {
			t.Errorf("%+v: chi-square %.2f > %.2f (counts %v)", c.p, chi, c.crit, counts)
		}
		// The reported policy log-prob is log of this distribution.
		var s Sampler
		for tok := range l {
			for u := 0.0; u < 1; u += 0.01 {
				pick, _ := s.Sample(c.p, l, u)
				if pick.Token == tok && !numtest.Within(pick.LogProb, math.Log(pol[tok]), 1e-12, 0) {
					t.Errorf("%+v: token %d log-prob %v, want %v", c.p, tok, pick.LogProb, math.Log(pol[tok]))
				}
			}
		}
	}
}

// Temperature scales the logits: the policy at T is softmax(l / T).
func TestTemperature(t *testing.T) {
	l := []float32{0, 1, 3}
	var s Sampler
	for _, T := range []float64{0.25, 1, 4} {
		z := logSumExp([]float64{0 / T, 1 / T, 3 / T})
		for _, u := range []float64{0, 0.3, 0.7, 0.999} {
			pick, err := s.Sample(Params{Temperature: T}, l, u)
			if err != nil {
				t.Fatal(err)
			}
			want := float64(l[pick.Token])/T - z
			if !numtest.Within(pick.LogProb, want, 1e-12, 0) {
				t.Errorf("T=%v token %d: %v, want %v", T, pick.Token, pick.LogProb, want)
			}
			wantModel := float64(l[pick.Token]) - logSumExp([]float64{0, 1, 3})
			if !numtest.Within(pick.ModelLogProb, wantModel, 1e-12, 0) {
				t.Errorf("T=%v model log-prob %v, want %v", T, pick.ModelLogProb, wantModel)
			}
		}
	}
	// u walks the inverse CDF in id order: u = 0 gives token 0 (p > 0), u -> 1 the last.
	if p0, _ := s.Sample(Params{Temperature: 1}, l, 0); p0.Token != 0 {
		t.Errorf("u=0: token %d", p0.Token)
	}
	if p1, _ := s.Sample(Params{Temperature: 1}, l, 0.9999); p1.Token != 2 {
		t.Errorf("u=0.9999: token %d", p1.Token)
	}
}

// Sampling from a sorted list of kept ids and sweeping the vocabulary with the
// boundary test pick the same tokens with the same log-probs.
func TestDrawPathsAgree(t *testing.T) {
	defer func(v int) { sortLimit = v }(sortLimit)
	for _, peaked := range []bool{true, false} {
		l := qwenLogits(peaked)
		for _, p := range []Params{{Temperature: 1, TopP: 0.9}, {Temperature: 0.8, TopK: 100}, {Temperature: 1, TopK: 6000, TopP: 0.5}} {
			var s Sampler
			for _, u := range []float64{0, 0.1, 0.37, 0.5, 0.9, 0.999999} {
				sortLimit = 0 // always sort
				a, err := s.Sample(p, l, u)
				if err != nil {
					t.Fatal(err)
				}
				sortLimit = 1 << 40 // always sweep
				b, _ := s.Sample(p, l, u)
				if a != b {
					t.Errorf("peaked=%v %+v u=%v: sorted path %+v, sweep path %+v", peaked, p, u, a, b)
				}
			}
		}
	}
}

// hashLM computes pseudo-random logits from the last token on the fly: a
// large vocabulary without a table.
type hashLM struct{ V int }

func (h hashLM) Vocab() int      { return h.V }
func (h hashLM) NewCache() Cache { return &hist{lm: &bigram{}} }
func (h hashLM) Forward(caches []Cache, toks [][]int) ([][]float32, error) {
	out := make([][]float32, len(caches))
	for i, c := range caches {
		hc := c.(*hist)
		hc.toks = append(hc.toks, toks[i]...)
		last := uint64(hc.toks[len(hc.toks)-1])
		row := make([]float32, h.V)
		for j := range row {
			row[j] = float32(mix(last, uint64(j))>>40) / (1 << 22) // in [0, 4)
		}
		out[i] = row
	}
	return out, nil
}

// Sampling many responses runs on several goroutines; the result is the same
// as on one.
func TestParallelSamplingMatchesSerial(t *testing.T) {
	lm := hashLM{V: 20000}
	o := Options{Params: Params{Temperature: 1, TopP: 0.9}, N: 6, MaxNewTokens: 4, Seed: 3}
	prompts := [][]int{{1}, {2}}
	par, err := Generate(lm, prompts, o)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ser, _ := Generate(lm, prompts, o)
	if !reflect.DeepEqual(par, ser) {
		t.Error("parallel and serial sampling differ")
	}
}

// TestGenerateReserves: every response's cache is reserved, before its first
// decoding step, for its prompt plus MaxNewTokens.
func TestGenerateReserves(t *testing.T) {
	b := chain()
	var seen []*hist
	lm := &reserveSpy{bigram: b, seen: &seen}
	prompts := [][]int{{0}, {1, 2, 3}}
	if _, err := Generate(lm, prompts, Options{N: 3, MaxNewTokens: 5}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 6 {
		t.Fatalf("%d caches decoded, want 6", len(seen))
	}
	for _, h := range seen {
		p := prompts[h.toks[0]] // prompt 0 starts with token 0, prompt 1 with 1
		if want := len(p) + 5; h.reserved != want {
			t.Errorf("a cache of prompt %v was reserved for %d tokens, want %d", p, h.reserved, want)
		}
	}
}

// reserveSpy records, at each decoding step, the caches it is handed with
// what they had been reserved for at that point.
type reserveSpy struct {
	*bigram
	seen *[]*hist
	step int
}

func (r *reserveSpy) Forward(caches []Cache, toks [][]int) ([][]float32, error) {
	if r.step == 1 { // the first decoding step (0 is the prefill)
		for _, c := range caches {
			h := c.(*hist)
			if h.reserved == 0 {
				return nil, errors.New("a cache reached decoding unreserved")
			}
			*r.seen = append(*r.seen, h)
		}
	}
	r.step++
	return r.bigram.Forward(caches, toks)
}

// TestInverseCDFMatchesScan holds the blocked inverse CDF to the sequential
// scan it stands for, on random weights (zeros, ties, a long tail, lengths
// around the block), at random targets and at targets on and next to the
// scan's own running sums, where the blocked sums may round the other way
// and only the rescan gives the scan's token.
func TestInverseCDFMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	exact, rescans := 0, 0
	for trial := 0; trial < 400; trial++ {
		n := []int{1, 7, cdfBlock - 1, cdfBlock, cdfBlock + 1, 3*cdfBlock + 17, 32000}[trial%7]
		w := make([]float64, n)
		var z float64
		for i := range w {
			switch r.IntN(6) {
			case 0:
				w[i] = 0
			case 1:
				w[i] = 1
			default:
				w[i] = math.Exp(-20 * r.Float64())
			}
			z += w[i]
		}
		if z == 0 {
			w[0], z = 1, 1
		}
		targets := []float64{0, z * r.Float64(), z * (1 - 1e-17), z}
		// Running sums of the scan itself, and their neighbours.
		var c float64
		for i, e := range w {
			c += e
			if i%(n/5+1) == 0 {
				targets = append(targets, c, math.Nextafter(c, 0), math.Nextafter(c, math.Inf(1)))
			}
		}
		for _, target := range targets {
			got, want := inverseCDF(w, target, z), scanCDF(w, target)
			if got != want {
				t.Fatalf("n=%d target=%v: inverseCDF %d, scan %d", n, target, got, want)
			}
			if _, ok := blockedCDF(w, target, z); !ok {
				rescans++
			}
			exact++
		}
	}
	if rescans == 0 {
		t.Error("no target fell back to the sequential scan: the boundary cases test nothing")
	}
	// Random targets take the fast path (a uniform row: the scan's sums
	// are whole numbers, so only targets within the slack of one rescan).
	w := make([]float64, 32000)
	for i := range w {
		w[i] = 1
	}
	fast := 0
	for i := 0; i < 1000; i++ {
		target := 32000 * r.Float64()
		tok, ok := blockedCDF(w, target, 32000)
		if ok {
			fast++
			if want := scanCDF(w, target); tok != want {
				t.Fatalf("target %v: %d, want %d", target, tok, want)
			}
		}
	}
	if fast < 990 {
		t.Errorf("the fast path served %d of 1000 random targets", fast)
	}
	t.Logf("%d targets agree (%d by the rescan); the fast path served %d of 1000 random ones", exact, rescans, fast)
}
