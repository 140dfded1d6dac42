package model

import (
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// fullLogits runs one unpadded sequence through the training forward.
func fullLogits(t *testing.T, m *Model, seq []int) []float32 {
	t.Helper()
	p, err := m.Forward(&Batch{B: 1, T: len(seq), Tokens: seq})
	if err != nil {
		t.Fatal(err)
	}
	return m.Logits(p)
}

// maxAbsDiff is max |a_i - b_i|, +Inf when the lengths differ or a NaN or
// an infinity is on one side only (numtest.MaxAbsDiff), so that `d > tol`
// fails on it.
func maxAbsDiff(a, b []float32) float64 { return numtest.MaxAbsDiff(a, b) }

// TestPaddingMatchesUnpadded: a left-padded row with position ids
// cumsum(mask)-1 and a right-padded row give, at their real tokens, the
// logits of the same sequences run alone.
func TestPaddingMatchesUnpadded(t *testing.T) {
	for _, m := range []*Model{NewTinyQwen3(64, 5), tinyLlama(Mistral, 3)} {
		s1 := []int{5, 9, 2, 7}
		s2 := []int{3, 1, 4, 1, 5, 9}
		const T = 6
		b := &Batch{B: 2, T: T, Tokens: make([]int, 2*T), Pos: make([]int, 2*T), Mask: make([]bool, 2*T)}
		for i, tok := range s1 { // left padding by 2
			b.Tokens[2+i], b.Pos[2+i], b.Mask[2+i] = tok, i, true
		}
		b.Tokens[0], b.Tokens[1] = 999999, -4 // padding ids are never looked up
		for i, tok := range s2 {
			b.Tokens[T+i], b.Pos[T+i], b.Mask[T+i] = tok, i, true
		}
		p, err := m.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Logits(p)
		V := m.Cfg.Vocab
		if d := maxAbsDiff(got[2*V:T*V], fullLogits(t, m, s1)); d > 1e-5 {
			t.Errorf("%s: left-padded row differs from the unpadded sequence by %g", m.Cfg.Arch, d)
		}
		if d := maxAbsDiff(got[T*V:], fullLogits(t, m, s2)); d > 1e-5 {
			t.Errorf("%s: full row differs from the sequence alone by %g", m.Cfg.Arch, d)
		}
	}
}

// TestCachedDecodeMatchesFull prefills two sequences of different lengths in
// one batched Step, decodes both token by token in batched Steps, and checks
// every step's logits against the full forward of each sequence.
func TestCachedDecodeMatchesFull(t *testing.T) {
	for _, m := range []*Model{NewTinyQwen3(64, 9), tinyLlama(Llama, 0), tinyLlama(Mistral, 3)} {
		seqs := [][]int{{1, 7, 3, 8, 2, 9, 4, 4, 6}, {1, 5, 5, 2, 8, 3, 3, 7, 1, 2, 6}}
		prefill := []int{3, 1}
		caches := []*KVCache{m.NewKVCache(), m.NewKVCache()}
		out, err := m.Step(caches, [][]int{seqs[0][:prefill[0]], seqs[1][:prefill[1]]})
		if err != nil {
			t.Fatal(err)
		}
		V := m.Cfg.Vocab
		full := [][]float32{fullLogits(t, m, seqs[0]), fullLogits(t, m, seqs[1])}
		worst := 0.0
		for i := range seqs {
			worst = max(worst, maxAbsDiff(out[i], full[i][(prefill[i]-1)*V:prefill[i]*V]))
		}
		for step := 0; ; step++ {
			toks := make([][]int, 2)
			any := false
			for i, s := range seqs {
				if p := prefill[i] + step; p < len(s) {
					toks[i] = []int{s[p]}
					any = true
				}
			}
			if !any {
				break
			}
			out, err := m.Step(caches, toks)
			if err != nil {
				t.Fatal(err)
			}
			for i := range seqs {
				if toks[i] == nil {
					if out[i] != nil {
						t.Fatalf("sequence %d had no new token but got logits", i)
					}
					continue
				}
				p := prefill[i] + step
				worst = max(worst, maxAbsDiff(out[i], full[i][p*V:(p+1)*V]))
			}
		}
		if caches[0].Len() != len(seqs[0]) || caches[1].Len() != len(seqs[1]) {
			t.Fatalf("cache lengths %d, %d; want %d, %d", caches[0].Len(), caches[1].Len(), len(seqs[0]), len(seqs[1]))
		}
		if numtest.Exceeds(worst, 1e-5) {
			t.Errorf("%s: cached decode differs from the full forward by %g", m.Cfg.Arch, worst)
		}
	}
}

// TestCloneKV: two clones of a prefix cache extended differently match fresh runs.
func TestCloneKV(t *testing.T) {
	m := NewTinyQwen3(64, 2)
	base := m.NewKVCache()
	if _, err := m.Step([]*KVCache{base}, [][]int{{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	a, b := base.CloneKV(), base.CloneKV()
	outA, err := m.Step([]*KVCache{a, b}, [][]int{{4, 5}, {6}})
	if err != nil {
		t.Fatal(err)
	}
	outBase, err := m.Step([]*KVCache{base}, [][]int{{7}})
	if err != nil {
		t.Fatal(err)
	}
	V := m.Cfg.Vocab
	for _, c := range []struct {
		got []float32
		seq []int
	}{{outA[0], []int{1, 2, 3, 4, 5}}, {outA[1], []int{1, 2, 3, 6}}, {outBase[0], []int{1, 2, 3, 7}}} {
		want := fullLogits(t, m, c.seq)
		if d := maxAbsDiff(c.got, want[(len(c.seq)-1)*V:]); d > 1e-5 {
			t.Errorf("clone continuing %v differs by %g", c.seq, d)
		}
	}
}

// TestReleaseKeepsClonesIntact: a cache that outgrows the array its clones
// share, and caches released and grown afterwards (which take recycled
// arrays), leave an ungrown clone's prefix as it was; released memory
// serves new caches with the same results.
func TestReleaseKeepsClonesIntact(t *testing.T) {
	m := NewTinyQwen3(64, 3)
	prefix := make([]int, 60)
	for i := range prefix {
		prefix[i] = (i*7 + 1) % 64
	}
	base := m.NewKVCache()
	if _, err := m.Step([]*KVCache{base}, [][]int{prefix}); err != nil {
		t.Fatal(err)
	}
	clone := base.CloneKV()
	// base grows past its 64 rows (it moves), then is released; other
	// caches grow through recycled arrays and are released in turn.
	if _, err := m.Step([]*KVCache{base}, [][]int{{5, 6, 7, 8, 9, 10}}); err != nil {
		t.Fatal(err)
	}
	base.Release()
	for r := 0; r < 3; r++ {
		o := m.NewKVCache()
		if _, err := m.Step([]*KVCache{o}, [][]int{prefix[:50+r]}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Step([]*KVCache{o}, [][]int{prefix}); err != nil {
			t.Fatal(err)
		}
		o.Release()
	}
	out, err := m.Step([]*KVCache{clone}, [][]int{{11}})
	if err != nil {
		t.Fatal(err)
	}
	seq := append(append([]int(nil), prefix...), 11)
	want := fullLogits(t, m, seq)
	if d := maxAbsDiff(out[0], want[(len(seq)-1)*m.Cfg.Vocab:]); d > 1e-5 {
		t.Fatalf("the clone's continuation differs by %g after its source and others were released", d)
	}
}

func TestStepErrors(t *testing.T) {
	m := NewTinyQwen3(64, 2)
	if _, err := m.Step([]*KVCache{m.NewKVCache()}, [][]int{{64}}); err == nil {
		t.Fatal("token id 64 with vocab 64 should fail")
	}
	c := m.NewKVCache()
	if _, err := m.Step([]*KVCache{c, c}, [][]int{{1}, {2}}); err == nil || c.Len() != 0 {
		t.Fatalf("one cache twice in a step: err %v, len %d", err, c.Len())
	}
	if _, err := m.Step([]*KVCache{m.NewKVCache()}, nil); err == nil {
		t.Fatal("mismatched caches and tokens should fail")
	}
	if _, err := m.Forward(&Batch{B: 1, T: 2, Tokens: []int{1}}); err == nil {
		t.Fatal("a batch with too few tokens should fail")
	}
	p, err := m.Forward(&Batch{B: 1, T: 2, Tokens: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(p, make([]float32, 2*64), NewTinyQwen3(128, 1)); err == nil {
		t.Fatal("gradients of a differently shaped model should be refused")
	}
	if err := m.Backward(p, make([]float32, 64), m.NewGrads()); err == nil {
		t.Fatal("dLogits of the wrong length should be refused")
	}
}

// TestReserve: a cache reserved for its prompt plus what decoding adds never
// moves while it grows to that length (the arrays stay where Reserve put
// them, rounded as append rounds), a clone reserved after cloning leaves its
// source's prefix alone, and the logits are bit for bit those of the same
// steps without Reserve.
func TestReserve(t *testing.T) {
	m := NewTinyQwen3(64, 2)
	prompt := []int{1, 2, 3, 4, 5}
	const newTokens = 70 // past 64 rows: an unreserved cache moves once
	run := func(reserve bool) [][]float32 {
		base := m.NewKVCache()
		if _, err := m.Step([]*KVCache{base}, [][]int{prompt}); err != nil {
			t.Fatal(err)
		}
		clone := base.CloneKV()
		caches := []*KVCache{base, clone}
		if reserve {
			for _, c := range caches {
				c.Reserve(len(prompt) + newTokens)
			}
			for _, c := range caches {
				if got := cap(c.k[0]) / m.Cfg.KVDim(); got != 128 {
					t.Fatalf("Reserve(%d) made room for %d rows, want 128 (the power of two above)", len(prompt)+newTokens, got)
				}
			}
		}
		first := [2]*float32{&base.k[0][:1][0], &clone.k[0][:1][0]}
		var out [][]float32
		for s := 0; s < newTokens; s++ {
			lg, err := m.Step(caches, [][]int{{(s * 5) % 64}, {(s * 11) % 64}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, append(append([]float32(nil), lg[0]...), lg[1]...))
		}
		if reserve && (&base.k[0][:1][0] != first[0] || &clone.k[0][:1][0] != first[1]) {
			t.Errorf("a reserved cache moved while it grew to its reserved length")
		}
		return out
	}
	plain, reserved := run(false), run(true)
	for s := range plain {
		if d := maxAbsDiff(plain[s], reserved[s]); d != 0 {
			t.Fatalf("step %d: the reserved caches' logits differ by %g", s, d)
		}
	}
}
