package tokenizer

import (
	"fmt"
	"slices"
	"testing"
)

// firstDiff describes where two id lists part, for readable failures.
func firstDiff(tk *Tokenizer, got, want []int) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-3)
	return fmt.Sprintf("len got %d want %d; first difference at %d: got %v want %v",
		len(got), len(want), i, tk.Tokens(got[lo:min(len(got), i+4)]), tk.Tokens(want[lo:min(len(want), i+4)]))
}

func checkGoldens(t *testing.T, tk *Tokenizer, file string) {
	gs := readGoldens(t, file)
	if len(gs) != 64 {
		t.Fatalf("%s: %d rows, want 64", file, len(gs))
	}
	for _, g := range gs {
		ids := tk.Encode(g.Text)
		if !slices.Equal(ids, g.IDs) {
			t.Errorf("%s #%d (%s) ids: %s", file, g.Idx, g.Source, firstDiff(tk, ids, g.IDs))
			continue
		}
		if toks := tk.Tokens(ids); !slices.Equal(toks, g.Tokens) {
			t.Errorf("%s #%d tokens: got %q want %q", file, g.Idx, toks, g.Tokens)
		}
		if sp := tk.EncodeSpecial(g.Text); !slices.Equal(sp, g.IDsWithSpecial) {
			t.Errorf("%s #%d ids_with_special: %s", file, g.Idx, firstDiff(tk, sp, g.IDsWithSpecial))
		}
		text, err := tk.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if (text == g.Text) != g.RoundTrip {
			t.Errorf("%s #%d decode round trip equal = %v, golden says %v; decoded %q", file, g.Idx, text == g.Text, g.RoundTrip, text)
		}
	}
}

func TestQwen3Goldens(t *testing.T) { checkGoldens(t, load(t, qwen3JSON), "qwen3.goldens.jsonl") }

func TestMistralJSONGoldens(t *testing.T) {
	checkGoldens(t, load(t, mistralJSON), "mistral_v1.goldens.jsonl")
}

// The SentencePiece model of the same vocabulary must agree with the HF file.
func TestMistralModelGoldens(t *testing.T) {
	checkGoldens(t, load(t, mistralModel), "mistral_v1.goldens.jsonl")
}

// The word cache and the cut before each run of "▁" are shortcuts: encoding
// without them must give the same ids.
func TestShortcutsAgree(t *testing.T) {
	for _, c := range []struct{ file, goldens string }{
		{qwen3JSON, "qwen3.goldens.jsonl"},
		{mistralJSON, "mistral_v1.goldens.jsonl"},
		{mistralModel, "mistral_v1.goldens.jsonl"},
	} {
		tk := load(t, c.file)
		if tk.byteLevel == tk.spaceSplit {
			t.Errorf("%s: byteLevel %v, spaceSplit %v: want exactly one", c.file, tk.byteLevel, tk.spaceSplit)
		}
		plain := tk.withoutCache()
		plain.spaceSplit = false
		for _, g := range readGoldens(t, c.goldens) {
			text := g.Text + " " + g.Text // the second copy hits the cache
			if a, b := tk.Encode(text), plain.Encode(text); !slices.Equal(a, b) {
				t.Fatalf("%s #%d: %s", c.file, g.Idx, firstDiff(tk, a, b))
			}
		}
	}
}
