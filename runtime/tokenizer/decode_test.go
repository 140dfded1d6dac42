package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestLossyUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", "abc"},
		{"a\xe2\x82b", "a\uFFFDb"},             // truncated 3-byte sequence: one replacement
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated 4-byte sequence
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: ED cannot take A0
		{"\xff\xfe", "\uFFFD\uFFFD"},
		{"\xc3\xa9\xc3", "é\uFFFD"},
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"}, // overlong
	} {
		if got := lossyUTF8([]byte(c.in)); got != c.want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDecode(t *testing.T) {
	q := load(t, qwen3JSON)
	ids := q.Encode("<|im_start|>user\nHi 🦙<|im_end|>")
	if got, _ := q.Decode(ids); got != "<|im_start|>user\nHi 🦙<|im_end|>" {
		t.Errorf("qwen decode: %q", got)
	}
	if got, _ := q.DecodeSkipSpecial(ids); got != "user\nHi 🦙" {
		t.Errorf("qwen decode skipping special tokens: %q", got)
	}
	// The byte-level symbols of F0 9F (the start of a 4-byte character)
	// decode to one U+FFFD, as Rust's from_utf8_lossy gives.
	if got, _ := q.Decode([]int{int(q.byteID[0xF0]), int(q.byteID[0x9F]), int(q.byteID['a'])}); got != "\uFFFDa" {
		t.Errorf("partial character: %q", got)
	}
	if _, err := q.Decode([]int{5, 999999}); err == nil || !strings.Contains(err.Error(), "999999") {
		t.Errorf("out-of-range id: %v", err)
	}

	for _, file := range []string{mistralJSON, mistralModel, llama2Model} {
		m := load(t, file)
		ids := m.Encode("this is 🦙.cpp")
		// Llama's vocabulary has no 🦙: four byte-fallback tokens <0xF0> <0x9F> <0xA6> <0x99>.
		var bytes []int
		for _, id := range ids {
			if _, ok := parseByteToken(m.Token(id)); ok {
				bytes = append(bytes, id)
			}
		}
		if len(bytes) != 4 {
			t.Fatalf("%s: byte fallback tokens %v in %q", file, bytes, m.Tokens(ids))
		}
		if got, _ := m.Decode(ids); got != "this is 🦙.cpp" {
			t.Errorf("%s: round trip %q", file, got)
		}
		// An incomplete byte run gives one U+FFFD per byte (HF ByteFallback).
		if got, _ := m.Decode(bytes[:2]); got != "\uFFFD\uFFFD" {
			t.Errorf("%s: partial byte run %q", file, got)
		}
		if got, _ := m.Decode(m.EncodeSpecial("Hello")); got != "<s> Hello" {
			t.Errorf("%s: decode with BOS %q", file, got)
		}
	}
}

// The heap merge loop (long words) and the quadratic one (short words) must
// give the same tokens on any word.
func TestBPEHeapMatchesSmall(t *testing.T) {
	var texts []string
	for _, g := range readGoldens(t, "qwen3.goldens.jsonl") {
		texts = append(texts, g.Text)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, file := range []string{qwen3JSON, mistralJSON} {
		tk := load(t, file)
		var ws wordScratch
		for range 400 {
			s := texts[rng.IntN(len(texts))]
			if len(s) < 2 {
				continue
			}
			a := rng.IntN(len(s) - 1)
			b := min(len(s), a+2+rng.IntN(300))
			var syms []int32
			if tk.byteLevel {
				for i := a; i < b; i++ {
					syms = append(syms, tk.byteID[s[i]])
				}
			} else {
				for _, r := range strings.ToValidUTF8(s[a:b], "") {
					id, ok := tk.vocab[string(r)]
					if !ok {
						id = tk.unkID
					}
					syms = append(syms, id)
				}
			}
			small := slices.Clone(tk.bpeSmall(slices.Clone(syms), &ws))
			heap := tk.bpeHeap(slices.Clone(syms), nil, &ws)
			if !slices.Equal(toInts(small), toInts(heap)) {
				t.Fatalf("%s %q: small %v heap %v", file, s[a:b], small, heap)
			}
		}
	}
}

func toInts(v []int32) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// The one-pass decoders must agree with the decoder chains they replace.
func TestFastDecodeMatchesChain(t *testing.T) {
	for _, c := range []struct {
		file, goldens string
		kind          int
	}{
		{qwen3JSON, "qwen3.goldens.jsonl", fastByteLevel},
		{mistralJSON, "mistral_v1.goldens.jsonl", fastSentencePiece},
		{mistralModel, "mistral_v1.goldens.jsonl", fastSentencePiece},
	} {
		tk := load(t, c.file)
		if tk.decodeFast != c.kind {
			t.Fatalf("%s: fast decoder %d, want %d", c.file, tk.decodeFast, c.kind)
		}
		chain := *tk
		chain.decodeFast = 0
		rng := rand.New(rand.NewPCG(9, 10))
		for _, g := range readGoldens(t, c.goldens) {
			ids := slices.Clone(g.IDsWithSpecial)
			// Also cut byte runs and characters apart at random.
			if len(ids) > 2 {
				ids = ids[rng.IntN(len(ids)/2):]
			}
			for _, skip := range []bool{false, true} {
				a, _ := tk.decode(ids, skip)
				b, _ := chain.decode(ids, skip)
				if a != b {
					t.Fatalf("%s #%d skip=%v: fast %.80q chain %.80q", c.file, g.Idx, skip, a, b)
				}
			}
		}
	}
}

func TestPieceBytes(t *testing.T) {
	for _, c := range []struct {
		file, text, want string
	}{
		{qwen3JSON, "Hi there 🦙\n<|im_end|>", "Hi there 🦙\n<|im_end|>"},
		// SentencePiece text keeps the ▁ prepended to the segment as a space.
		{mistralJSON, "Hi there 🦙\n</s>", " Hi there 🦙\n</s>"},
		{mistralModel, "Hi there 🦙\n</s>", " Hi there 🦙\n</s>"},
	} {
		tk := load(t, c.file)
		var b []byte
		for _, id := range tk.Encode(c.text) {
			p, err := tk.PieceBytes(id)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, p...)
		}
		if string(b) != c.want {
			t.Errorf("%s: %q, want %q", c.file, b, c.want)
		}
	}
	if _, err := load(t, qwen3JSON).PieceBytes(-1); err == nil {
		t.Error("id -1: want an error")
	}
}
