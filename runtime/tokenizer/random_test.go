package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// randomText draws pieces from an alphabet that exercises whitespace runs,
// digits, apostrophes, non-Latin scripts, emoji, byte fallback and added tokens.
func randomText(rng *rand.Rand, withAdded bool) string {
	alphabet := []string{" ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "the", " the", "Score", "'s", "'LL", "1", "23",
		"٣", "½", "é", "e\u0301", "中文", "ж", "!", "...", "(", ")", "😁", "🦙", "\u200d", "ក", "ា", "\u2028", "▁", "x"}
	added := []string{"<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<|endoftext|>"}
	var sb strings.Builder
	for range 1 + rng.IntN(16) {
		if withAdded && rng.IntN(8) == 0 {
			sb.WriteString(added[rng.IntN(len(added))])
		} else {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
	}
	return sb.String()
}

// Byte-level BPE loses nothing but NFC: decode(encode(s)) == s for NFC text.
func TestQwen3RoundTripRandom(t *testing.T) {
	tk := load(t, qwen3JSON)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		s := randomText(rng, true)
		if !norm.NFC.IsNormalString(s) {
			s = norm.NFC.String(s)
			if strings.Contains(s, ">\u0338") || !norm.NFC.IsNormalString(s) {
				continue
			}
		}
		got, err := tk.Decode(tk.Encode(s))
		if err != nil || got != s {
			t.Fatalf("%q: decoded %q (%v)", s, got, err)
		}
	}
}

// The SentencePiece model and the HF file of the same vocabulary agree, and
// decoding gives the text back when it starts with no space and holds no
// added token or literal ▁.
func TestMistralModelMatchesJSONRandom(t *testing.T) {
	js, sp := load(t, mistralJSON), load(t, mistralModel)
	rng := rand.New(rand.NewPCG(7, 8))
	for range 3000 {
		s := randomText(rng, true)
		a, b := js.Encode(s), sp.Encode(s)
		if !slices.Equal(a, b) {
			t.Fatalf("%q: json %q, model %q", s, js.Tokens(a), sp.Tokens(b))
		}
		if strings.HasPrefix(s, " ") || strings.Contains(s, "▁") || strings.Contains(s, "<") {
			continue
		}
		if got, _ := js.Decode(a); got != s {
			t.Fatalf("%q: decoded %q", s, got)
		}
	}
}

func FuzzQwen3RoundTrip(f *testing.F) {
	for _, s := range []string{"", "Hello world", " \n\t x", "<|im_start|>user\nHi<|im_end|>", "e\u0301", "🦙'S"} {
		f.Add(s)
	}
	tk := load(f, qwen3JSON)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || !norm.NFC.IsNormalString(s) {
			return
		}
		if got, err := tk.Decode(tk.Encode(s)); err != nil || got != s {
			t.Fatalf("%q: decoded %q (%v)", s, got, err)
		}
	})
}
