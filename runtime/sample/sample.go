// Package sample generates n responses per prompt from a causal language model:
// temperature, top-k, top-p (nucleus), seeds with one random stream per
// response, stop tokens, stop token sequences and stop strings, and per-token
// log-probabilities under both the sampling policy and the plain model.
//
// Log-probabilities (for RL: importance ratios need the policy that sampled):
//
//   - Response.LogProbs[t] = log π_t(x_t), the SAMPLING policy: with logits l
//     and temperature T, π_t(x) = exp(l_x/T) / Σ_{y∈K} exp(l_y/T) for x in the
//     kept set K and 0 outside it. K is all tokens, cut first to the TopK most
//     probable, then to the smallest most-probable prefix whose mass under the
//     top-k-renormalized distribution is >= TopP (the order HF and vLLM apply
//     them). This is vLLM V1's logprobs_mode="processed_logprobs". Greedy
//     decoding is a point mass, so every LogProbs entry is 0 (vLLM reports
//     the plain log-softmax for greedy requests: that is ModelLogProbs).
//   - Response.ModelLogProbs[t] = l_x - log Σ_y exp(l_y): the model's own
//     distribution at temperature 1 with nothing cut (vLLM's default
//     "raw_logprobs").
//
// Both are computed in float64 from the float32 logits (exp within 2 ulp).
//
// Drawing: each response has its own PCG stream and takes one uniform u per
// token; the token is the first kept token, in id order, at which the running
// sum of kept weights exp((l - max)/T) exceeds u times their total. Finding
// the kept set never sorts the vocabulary (a heap for top-k, a mass-weighted
// quickselect for top-p), so one token from 151,936 logits costs about two
// passes of exp (see BenchmarkSampleToken).
package sample

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"

	"github.com/realc-project/realc/runtime/blas"
)

// LM is a causal language model with per-sequence KV caches.
type LM interface {
	Vocab() int
	NewCache() Cache
	// Forward appends toks[i] to caches[i] for every i (one batched call) and returns, for each i, the
	// logits after the last appended token ([]float32 of length Vocab()).
	Forward(caches []Cache, toks [][]int) ([][]float32, error)
}

// IntoLM is an LM that can write the logits into a buffer its caller owns
// (dst, when it holds len(caches) * Vocab() floats; else it allocates), so
// that a decoding loop allocates nothing for them. Generate uses it when the
// LM has it, reusing one buffer for every step: the rows it returns are valid
// until the next call with the same buffer.
type IntoLM interface {
	LM
	ForwardInto(dst []float32, caches []Cache, toks [][]int) ([][]float32, error)
}

// forward calls lm.ForwardInto with *buf (grown to rows*V floats) when lm is
// an IntoLM, else lm.Forward.
func forward(lm LM, buf *[]float32, caches []Cache, toks [][]int) ([][]float32, error) {
	il, ok := lm.(IntoLM)
	if !ok {
		return lm.Forward(caches, toks)
	}
	if need := len(caches) * lm.Vocab(); len(*buf) < need {
		*buf = make([]float32, need)
	}
	return il.ForwardInto(*buf, caches, toks)
}

// Cache is one sequence's KV cache.
type Cache interface {
	Len() int
	Clone() Cache
}

// Releaser is a Cache that can give its memory back for later caches to
// reuse; Generate releases every cache it made when it returns.
type Releaser interface {
	Release()
}

// Reserver is a Cache that can make room ahead for a number of positions;
// Generate reserves each response's prompt plus MaxNewTokens before decoding,
// so that the cache never moves while it grows.
type Reserver interface {
	Reserve(tokens int)
}

// Options controls Generate.
type Options struct {
	Params
	// Seed derives one random stream per response: response j of prompt i draws
	// from a stream seeded by (Seed, i, j), or (Seeds[i], j) when Seeds is set,
	// so a response never depends on what else is in the batch. The same
	// prompt at the same index (or with the same Seeds entry) and seed gives
	// the same responses.
	Seed  uint64
	Seeds []uint64 // optional: one seed per prompt, overriding Seed
	// N is the number of responses per prompt (0 means 1). The prompt is
	// prefilled once and its cache cloned for the other N-1 responses.
	N int
	// MaxNewTokens caps each response's length (required, >= 1). A response
	// that reaches it without stopping is marked Truncated.
	MaxNewTokens int
	// EOS ends a response when sampled; the EOS token is kept in Tokens, with
	// its log-probs (the policy chose it, and training needs it).
	EOS []int
	// StopSequences end a response when its tokens end with one of them (kept
	// in Tokens).
	StopSequences [][]int
	// StopStrings end a response when Decode(response tokens) contains one of
	// them; the tokens up to the one that completed the match are kept.
	// Decode is required with StopStrings; it is called with the response's
	// tokens (not the prompt's) after every new token, possibly from several
	// goroutines at once.
	StopStrings []string
	Decode      func(ids []int) string
}

// StopReason says why a response ended.
type StopReason string

const (
	StopEOS      StopReason = "eos"           // sampled one of Options.EOS
	StopSequence StopReason = "stop_sequence" // tokens ended with one of Options.StopSequences
	StopString   StopReason = "stop_string"   // decoded text contains one of Options.StopStrings
	StopLength   StopReason = "length"        // reached MaxNewTokens (Truncated)
)

// Response is one generated continuation.
type Response struct {
	Tokens        []int
	LogProbs      []float64 // log π(token) under the sampling policy (see the package comment)
	ModelLogProbs []float64 // log p(token) under the model at temperature 1, nothing cut
	// Truncated is true when the response hit MaxNewTokens without stopping.
	Truncated  bool
	StopReason StopReason
	// StopIndex is the index in EOS, StopSequences or StopStrings of what
	// stopped the response (-1 for StopLength).
	StopIndex int
}

// Generate samples opts.N responses for every prompt; out[i][j] is response j
// of prompts[i]. Each step makes one batched Forward call over every response
// still running.
func Generate(lm LM, prompts [][]int, opts Options) ([][]Response, error) {
	V := lm.Vocab()
	if err := opts.check(V, len(prompts)); err != nil {
		return nil, err
	}
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("sample: prompt %d is empty (the model needs at least one token to predict from)", i)
		}
		for k, id := range p {
			if id < 0 || id >= V {
				return nil, fmt.Errorf("sample: prompt %d, position %d: token %d is outside the vocabulary [0, %d)", i, k, id, V)
			}
		}
	}
	n := max(opts.N, 1)
	out := make([][]Response, len(prompts))
	if len(prompts) == 0 {
		return out, nil
	}

	// Prefill every prompt in one call.
	caches := make([]Cache, len(prompts))
	for i := range caches {
		caches[i] = lm.NewCache()
	}
	// One logits buffer for every call (IntoLM): each step's rows are
	// sampled from before the next call overwrites them.
	var buf []float32
	logits, err := forward(lm, &buf, caches, prompts)
	if err != nil {
		return nil, fmt.Errorf("sample: prefill: %w", err)
	}
	if err := checkLogits(logits, len(prompts), V, "prefill"); err != nil {
		return nil, err
	}

	type seq struct {
		prompt, j int
		cache     Cache
		logits    []float32
		rng       *rand.Rand
		resp      *Response
		done      bool
	}
	var seqs []*seq
	for i := range prompts {
		out[i] = make([]Response, n)
		seed := mix(opts.Seed, uint64(i))
		if opts.Seeds != nil {
			seed = opts.Seeds[i]
		}
		for j := 0; j < n; j++ {
			c := caches[i]
			if j < n-1 { // clones first; the last response takes the prefilled cache itself
				c = caches[i].Clone()
			}
			s1 := mix(seed, uint64(j))
			seqs = append(seqs, &seq{prompt: i, j: j, cache: c, logits: logits[i],
				rng: rand.New(rand.NewPCG(s1, mix(s1, 0x5eed))), resp: &out[i][j]})
		}
	}
	for _, s := range seqs {
		if r, ok := s.cache.(Reserver); ok {
			r.Reserve(len(prompts[s.prompt]) + opts.MaxNewTokens)
		}
	}

	// Every cache is released on return (none is read after: the
	// responses hold tokens only).
	defer func() {
		for _, s := range seqs {
			if r, ok := s.cache.(Releaser); ok {
				r.Release()
			}
		}
	}()
	active := seqs
	for step := 0; len(active) > 0; step++ {
		// Sample one token for every running response, in parallel when the work is large.
		errs := make([]error, len(active))
		forEach(len(active), len(active)*V >= 1<<17, func(k int, sm *Sampler) {
			s := active[k]
			pick, err := sm.sample(opts.Params, s.logits, uniform(s.rng))
			if err != nil {
				errs[k] = fmt.Errorf("sample: prompt %d, response %d, new token %d: %w", s.prompt, s.j, step, err)
				return
			}
			r := s.resp
			r.Tokens = append(r.Tokens, pick.Token)
			r.LogProbs = append(r.LogProbs, pick.LogProb)
			r.ModelLogProbs = append(r.ModelLogProbs, pick.ModelLogProb)
			r.StopIndex = -1
			if reason, idx := opts.stopped(r.Tokens); reason != "" {
				r.StopReason, r.StopIndex, s.done = reason, idx, true
			} else if len(r.Tokens) >= opts.MaxNewTokens {
				r.StopReason, r.Truncated, s.done = StopLength, true, true
			}
		})
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		next := active[:0:0]
		for _, s := range active {
			if !s.done {
				next = append(next, s)
			}
		}
		active = next
		if len(active) == 0 {
			break
		}
		cs := make([]Cache, len(active))
		toks := make([][]int, len(active))
		for k, s := range active {
			cs[k] = s.cache
			toks[k] = s.resp.Tokens[len(s.resp.Tokens)-1:]
		}
		lg, err := forward(lm, &buf, cs, toks)
		if err != nil {
			return nil, fmt.Errorf("sample: decoding step %d: %w", step+1, err)
		}
		if err := checkLogits(lg, len(active), V, fmt.Sprintf("decoding step %d", step+1)); err != nil {
			return nil, err
		}
		for k, s := range active {
			s.logits = lg[k]
		}
	}
	return out, nil
}

func (o *Options) check(V, nPrompts int) error {
	if err := o.Params.check(); err != nil {
		return err
	}
	switch {
	case V <= 0:
		return fmt.Errorf("sample: the model's vocabulary size is %d", V)
	case o.MaxNewTokens < 1:
		return fmt.Errorf("sample: Options.MaxNewTokens must be at least 1, got %d", o.MaxNewTokens)
	case o.N < 0:
		return fmt.Errorf("sample: Options.N must be >= 0, got %d", o.N)
	case o.Seeds != nil && len(o.Seeds) != nPrompts:
		return fmt.Errorf("sample: Options.Seeds has %d entries for %d prompts", len(o.Seeds), nPrompts)
	case len(o.StopStrings) > 0 && o.Decode == nil:
		return errors.New("sample: Options.StopStrings needs Options.Decode to turn tokens into text")
	}
	for i, id := range o.EOS {
		if id < 0 || id >= V {
			return fmt.Errorf("sample: Options.EOS[%d] = %d is outside the vocabulary [0, %d)", i, id, V)
		}
	}
	for i, s := range o.StopSequences {
		if len(s) == 0 {
			return fmt.Errorf("sample: Options.StopSequences[%d] is empty", i)
		}
	}
	for i, s := range o.StopStrings {
		if s == "" {
			return fmt.Errorf("sample: Options.StopStrings[%d] is empty", i)
		}
	}
	return nil
}

// stopped checks the stop conditions on a response's tokens after a new one.
func (o *Options) stopped(toks []int) (StopReason, int) {
	last := toks[len(toks)-1]
	for i, id := range o.EOS {
		if id == last {
			return StopEOS, i
		}
	}
	for i, seq := range o.StopSequences {
		if len(seq) <= len(toks) && equal(toks[len(toks)-len(seq):], seq) {
			return StopSequence, i
		}
	}
	if len(o.StopStrings) > 0 {
		text := o.Decode(toks)
		for i, s := range o.StopStrings {
			if strings.Contains(text, s) {
				return StopString, i
			}
		}
	}
	return "", -1
}

func equal(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkLogits(lg [][]float32, n, V int, where string) error {
	if len(lg) != n {
		return fmt.Errorf("sample: %s: the model returned %d logit rows for %d sequences", where, len(lg), n)
	}
	for i, row := range lg {
		if len(row) != V {
			return fmt.Errorf("sample: %s: logit row %d has %d entries, the vocabulary has %d", where, i, len(row), V)
		}
	}
	return nil
}

// mix is splitmix64 of a combined with b: independent-looking seeds from
// (seed, index) pairs.
func mix(a, b uint64) uint64 {
	z := a + 0x9E3779B97F4A7C15*(b+1)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// uniform is a float64 in [0, 1) from the top 53 bits of the PCG output (our
// own, so results do not depend on how math/rand/v2 derives floats).
func uniform(r *rand.Rand) float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// forEach runs f(k) for k in [0, n), on GOMAXPROCS workers (each with its own
// Sampler scratch) when parallel is set.
func forEach(n int, parallel bool, f func(k int, s *Sampler)) {
	w := runtime.GOMAXPROCS(0)
	if !parallel || w < 2 || n < 2 {
		s := getSampler()
		for k := 0; k < n; k++ {
			f(k, s)
		}
		putSampler(s)
		return
	}
	w = min(w, n)
	part := func(g int) func() {
		return func() {
			s := getSampler()
			for k := g; k < n; k += w {
				f(k, s)
			}
			putSampler(s)
		}
	}
	if w == 2 { // the polling helper: no processor to wake per step
		blas.Both(part(0), part(1))
		return
	}
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			s := getSampler()
			for k := g; k < n; k += w {
				f(k, s)
			}
			putSampler(s)
		}(g)
	}
	wg.Wait()
}

var samplers = sync.Pool{New: func() any { return new(Sampler) }}

func getSampler() *Sampler  { return samplers.Get().(*Sampler) }
func putSampler(s *Sampler) { samplers.Put(s) }
