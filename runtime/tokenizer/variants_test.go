package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// rewriteJSON loads a tokenizer.json with some top-level fields replaced.
func rewriteJSON(t *testing.T, rel string, fields map[string]string) *Tokenizer {
	data, err := os.ReadFile(tokPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		top[k] = json.RawMessage(v)
	}
	out, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ParseHF(rel+" (rewritten)", out)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Newer HF Llama/Mistral files express the same scheme with a Metaspace
// pre-tokenizer instead of Prepend+Replace normalizers. With
// prepend_scheme "always" and no split they agree on every text that does not
// start with a space (Metaspace does not prepend a second ▁ there).
func TestMetaspaceEquivalent(t *testing.T) {
	meta := rewriteJSON(t, mistralJSON, map[string]string{
		"normalizer":    "null",
		"pre_tokenizer": `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}`,
		"decoder":       `{"type":"Sequence","decoders":[{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false},{"type":"ByteFallback"},{"type":"Fuse"}]}`,
	})
	n := 0
	for _, g := range readGoldens(t, "mistral_v1.goldens.jsonl") {
		if strings.HasPrefix(g.Text, " ") || strings.Contains(g.Text, "<s>") {
			continue
		}
		n++
		ids := meta.Encode(g.Text)
		if !slices.Equal(ids, g.IDs) {
			t.Errorf("#%d: %s", g.Idx, firstDiff(meta, ids, g.IDs))
			continue
		}
		if s, _ := meta.Decode(ids); s != g.Text {
			t.Errorf("#%d: decode %q", g.Idx, s)
		}
	}
	if n < 50 {
		t.Fatalf("only %d texts compared", n)
	}
	// A leading space: Prepend gives ▁▁Hello, Metaspace ▁Hello.
	if got := meta.Tokens(meta.Encode(" Hello")); !slices.Equal(got, []string{"▁Hello"}) {
		t.Errorf("Metaspace on \" Hello\": %q", got)
	}
}

// GPT-2's ByteLevel(use_regex=true) split goes through regexp2.
func TestGPT2Split(t *testing.T) {
	p, err := splitPre("x", "y", gpt2Pattern)
	if err != nil {
		t.Fatal(err)
	}
	got := splitAll(p, "Hello world's  123abc!!\n")
	want := []string{"Hello", " world", "'s", " ", " 123", "abc", "!!", "\n"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

// A Tokenizer (and its word cache) is shared by goroutines.
func TestConcurrentEncode(t *testing.T) {
	tk := load(t, qwen3JSON)
	gs := readGoldens(t, "qwen3.goldens.jsonl")
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range gs {
				g := gs[(i+w*16)%len(gs)]
				if !slices.Equal(tk.Encode(g.Text), g.IDs) {
					errs <- g.Text
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent encode differs on %.40q", s)
	}
}
