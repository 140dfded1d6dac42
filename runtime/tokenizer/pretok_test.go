package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

func splitAll(p preTokenizer, s string) []string {
	var out []string
	p.split(s, true, func(w string) { out = append(out, w) })
	return out
}

// The hand-written scanner must cut exactly where the regex does (regexp2
// supports the (?!\S) lookahead that Go's regexp lacks).
func TestQwenScannerMatchesRegex(t *testing.T) {
	qwenOracle := regexPre{regexp2.MustCompile(qwenPattern, regexp2.None)}
	llamaOracle := regexPre{regexp2.MustCompile(llama3Pattern, regexp2.None)}
	check := func(s string) {
		t.Helper()
		if got, want := splitAll(qwenPre{1}, s), splitAll(qwenOracle, s); !slices.Equal(got, want) {
			t.Fatalf("qwen split %q:\n got  %q\n want %q", s, got, want)
		}
		if got, want := splitAll(qwenPre{3}, s), splitAll(llamaOracle, s); !slices.Equal(got, want) {
			t.Fatalf("llama3 split %q:\n got  %q\n want %q", s, got, want)
		}
	}
	fixed := []string{
		"", " ", "  ", "a", "Hello world", "  Hello", "\n\n\t  trailing spaces   ", "x \n y", " \r\n z",
		"I'm sure they'LL say 'Re ' s", "don't", "'s", "'", "a'", "(hello) [world]!!\n\n", "3.14 + 2,000",
		"\u00a0nbsp\u00a0", "tab\tsep", "x\u2028y", "½ ٣ 三", "12345 1234567", "e\u0301te", "🦙.cpp", "...\r\n", " ...",
	}
	for _, s := range fixed {
		check(s)
	}
	for _, g := range readGoldens(t, "qwen3.goldens.jsonl") {
		check(g.Text)
	}
	alphabet := []string{" ", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "a", "Z", "é", "ж", "中",
		"1", "1", "٣", "½", "'", "s", "S", "re", "ll", "D", "!", ".", "(", "-", "_", "😁", "\u0301", "\u200d", "\u2028"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var sb strings.Builder
		for range rng.IntN(12) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		check(sb.String())
	}
}

// Oniguruma's (?i) matches ſ (long s, folded to s) where regexp2's does not.
func TestQwenLongS(t *testing.T) {
	if got := splitAll(qwenPre{1}, "it'ſ"); !slices.Equal(got, []string{"it", "'ſ"}) {
		t.Errorf("got %q", got)
	}
}

func TestMetaspaceSplit(t *testing.T) {
	p := metaspacePre{repl: "▁", scheme: "first", split_: true}
	if got := splitAll(p, "Hello  big world"); !slices.Equal(got, []string{"▁Hello", "▁", "▁big", "▁world"}) {
		t.Errorf("got %q", got)
	}
	var got []string
	p.split("x y", false, func(w string) { got = append(got, w) })
	if !slices.Equal(got, []string{"x", "▁y"}) { // not first: no prefix
		t.Errorf("not-first segment: got %q", got)
	}
}
