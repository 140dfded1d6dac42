package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var qwenSpecials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// judgeCorpus builds n deterministic Prometheus-style judge texts: task
// descriptions, responses made of color and animal words (and some invented
// words, so that the vocabulary keeps growing), feedback with a score.
func judgeCorpus(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 1))
	colors := []string{"red", "green", "blue", "yellow", "purple", "orange", "black", "white", "brown", "pink", "gray", "cyan"}
	animals := []string{"cat", "dog", "horse", "zebra", "lion", "tiger", "eagle", "shark", "whale", "rabbit", "mouse", "owl"}
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "shi", "pon", "dar", "vel", "qu", "ix"}
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	word := func() string {
		switch r.IntN(3) {
		case 0:
			return pick(colors)
		case 1:
			return pick(animals)
		}
		var sb strings.Builder
		for range 1 + r.IntN(3) {
			sb.WriteString(pick(syll))
		}
		return sb.String()
	}
	list := func(k int) string {
		ws := make([]string, k)
		for i := range ws {
			ws[i] = word()
		}
		return strings.Join(ws, ", ")
	}
	out := make([]string, n)
	for i := range out {
		score := 1 + r.IntN(5)
		switch i % 5 {
		case 0:
			out[i] = "###Task Description:\nAn instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, and a score rubric representing a evaluation criteria are given.\n"
		case 1:
			out[i] = fmt.Sprintf("###The instruction to evaluate:\nList %d %s animals in alphabetical order.\n", 2+r.IntN(8), pick(colors))
		case 2:
			out[i] = fmt.Sprintf("###Response to evaluate:\n%s\n###Reference Answer (Score 5):\n%s\n", list(3+r.IntN(5)), list(3+r.IntN(5)))
		case 3:
			out[i] = fmt.Sprintf("Feedback: The response differs from the reference answer in %d places. So the overall score is %d", r.IntN(10), score)
		default:
			out[i] = fmt.Sprintf("<|im_start|>user\nWhich %s %s is %s?<|im_end|>\n<|im_start|>assistant\nThe %s one. [RESULT] %d<|im_end|><|endoftext|>", pick(colors), word(), pick(animals), word(), score)
		}
	}
	return out
}

func trainLoad(t *testing.T, texts []string, o BPETrainOptions) (*Tokenizer, []byte) {
	t.Helper()
	data, err := TrainBPE(texts, o)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return tk, data
}

func TestTrainBPEJudgeCorpus(t *testing.T) {
	corpus := judgeCorpus(2000, 7)
	tk, _ := trainLoad(t, corpus, BPETrainOptions{VocabSize: 512, Specials: qwenSpecials})
	// The corpus has enough distinct pairs that merges do not run out.
	if tk.VocabSize() != 512 {
		t.Fatalf("vocab size %d, want 512", tk.VocabSize())
	}
	for i, s := range qwenSpecials {
		if id, ok := tk.TokenID(s); !ok || id != 509+i || !tk.IsSpecial(id) {
			t.Errorf("special %q: id %d, %v, special %v; want %d", s, id, ok, tk.IsSpecial(id), 509+i)
		}
	}
	for b := 0; b < 256; b++ {
		if got := tk.Token(b); got != string(byteRune[b]) {
			t.Fatalf("id %d is %q, want the symbol of byte %#x", b, got, b)
		}
	}
	unseen := []string{"naïve café 日本", "Ünïcödé  tabs\tand\r\nCRLF", "emoji 🙂 and ZWJ 👩‍👩‍👧", "ＡＢＣ１２３", "e\u0301 (decomposed é)"}
	for _, s := range append(slices.Clone(corpus), unseen...) {
		got, err := tk.Decode(tk.Encode(s))
		if err != nil {
			t.Fatal(err)
		}
		// The normalizer is NFC, so decomposed input comes back composed.
		if want := norm.NFC.String(s); got != want {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	}
	const line = "So the overall score is 4"
	if ids := tk.Encode(line); len(ids) >= len(line) {
		t.Errorf("%q is %d tokens for %d bytes: no merges applied (%q)", line, len(ids), len(line), tk.Tokens(ids))
	} else {
		t.Logf("%q -> %q", line, tk.Tokens(ids))
	}
	ids, err := tk.ScoreTokenIDs([]string{"1", "2", "3", "4", "5"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int{'1', '2', '3', '4', '5'}) {
		t.Errorf("score ids %v, want the byte tokens of the digits", ids)
	}
	// Digits never merge with anything.
	for id := 256; id < 509; id++ {
		if tok := tk.Token(id); strings.ContainsAny(tok, "0123456789") {
			t.Errorf("learned token %d %q holds a digit", id, tok)
		}
	}
	got := tk.Encode("<|im_start|>user\nhi<|im_end|><|endoftext|>")
	if got[0] != 510 || got[len(got)-2] != 511 || got[len(got)-1] != 509 {
		t.Errorf("specials not recognized in text: %v %q", got, tk.Tokens(got))
	}
}

func TestTrainBPEDeterministic(t *testing.T) {
	corpus := judgeCorpus(500, 3)
	o := BPETrainOptions{VocabSize: 400, Specials: qwenSpecials}
	a, err := TrainBPE(corpus, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := TrainBPE(slices.Clone(corpus), o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two trainings on the same input wrote different JSON")
	}
}

// trainedMerges returns the merges of a trained tokenizer.json.
func trainedMerges(t *testing.T, texts []string, o BPETrainOptions) ([][2]string, map[string]int) {
	t.Helper()
	data, err := TrainBPE(texts, o)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct {
			Vocab  map[string]int `json:"vocab"`
			Merges [][2]string    `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f.Model.Merges, f.Model.Vocab
}

func TestTrainBPEMergeOrder(t *testing.T) {
	// Words "ab", " ab", " ab", "cd": (a, b) occurs 3 times, ( , a) twice.
	m, _ := trainedMerges(t, []string{"ab ab ab", "cd"}, BPETrainOptions{VocabSize: 257, MinFrequency: 1})
	if len(m) != 1 || m[0] != [2]string{"a", "b"} {
		t.Errorf("first merge %q, want [a b]", m)
	}
	// Words "zw", " xy" twice each: three pairs tie at 2 and go in byte order
	// of their left symbol (" " < "x" < "z"); with MinFrequency 2 the pairs
	// left at 1 are not merged, so the vocabulary stops short of VocabSize.
	m, v := trainedMerges(t, []string{"zw xy", "zw xy"}, BPETrainOptions{VocabSize: 1000, Specials: qwenSpecials})
	want := [][2]string{{"Ġ", "x"}, {"Ġx", "y"}, {"z", "w"}}
	if !slices.Equal(m, want) {
		t.Errorf("merges %q, want %q", m, want)
	}
	if len(v) != 259 || v["Ġxy"] != 257 || v["zw"] != 258 {
		t.Errorf("vocab of %d: Ġxy %d, zw %d; want 259 tokens, ids 257 and 258", len(v), v["Ġxy"], v["zw"])
	}
}

func TestTrainBPEErrors(t *testing.T) {
	for _, c := range []struct {
		texts []string
		o     BPETrainOptions
		want  string
	}{
		{[]string{"abc"}, BPETrainOptions{VocabSize: 258, Specials: qwenSpecials}, "VocabSize 258"},
		{nil, BPETrainOptions{VocabSize: 300}, "no text"},
		{[]string{"", "<|im_end|>"}, BPETrainOptions{VocabSize: 300, Specials: qwenSpecials}, "no text"},
		{[]string{"abc"}, BPETrainOptions{VocabSize: 300, Specials: []string{"<a>", "<a>"}}, "twice"},
		{[]string{"abc"}, BPETrainOptions{VocabSize: 300, Specials: []string{""}}, "empty"},
		{[]string{"abc"}, BPETrainOptions{VocabSize: 300, Specials: []string{"!"}}, "also a vocabulary token"},
		{[]string{"abc"}, BPETrainOptions{VocabSize: 300, MinFrequency: -1}, "negative"},
	} {
		_, err := TrainBPE(c.texts, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TrainBPE(%q, %+v): got %v, want an error with %q", c.texts, c.o, err, c.want)
		}
	}
}

// bpeBenchCorpus is about 1 MB of judge text.
func bpeBenchCorpus() ([]string, int) {
	var texts []string
	size := 0
	for seed := uint64(0); size < 1<<20; seed++ {
		for _, s := range judgeCorpus(1000, seed) {
			texts = append(texts, s)
			size += len(s)
		}
	}
	return texts, size
}

func TestTrainBPEMegabyte(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	texts, size := bpeBenchCorpus()
	if !utf8.ValidString(texts[0]) || size < 1<<20 {
		t.Fatal("bad corpus")
	}
	tk, _ := trainLoad(t, texts, BPETrainOptions{VocabSize: 1024, Specials: qwenSpecials})
	if tk.VocabSize() != 1024 {
		t.Errorf("vocab size %d, want 1024", tk.VocabSize())
	}
}

// BenchmarkTrainBPE trains about 1 MB of judge text to 1024 tokens.
func BenchmarkTrainBPE(b *testing.B) {
	texts, size := bpeBenchCorpus()
	b.SetBytes(int64(size))
	for b.Loop() {
		if _, err := TrainBPE(texts, BPETrainOptions{VocabSize: 1024, Specials: qwenSpecials}); err != nil {
			b.Fatal(err)
		}
	}
}

// naiveMerges is the textbook algorithm, recounting every pair before each
// merge, for checking the incremental counts of TrainBPE.
func naiveMerges(t *testing.T, texts []string, vocabSize int, minFreq int64) [][2]string {
	words, err := bpeCountWords(texts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := make([][]string, len(words))
	for i, w := range words {
		for _, c := range w.syms {
			ws[i] = append(ws[i], string([]byte{byte(c)}))
		}
	}
	have := map[string]bool{}
	n := 256
	var out [][2]string
	for n < vocabSize {
		counts := map[[2]string]int64{}
		for i, w := range ws {
			for j := 0; j+1 < len(w); j++ {
				counts[[2]string{w[j], w[j+1]}] += words[i].n
			}
		}
		var best [2]string
		var bn int64
		for p, c := range counts {
			if c > bn || (c == bn && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bn = p, c
			}
		}
		if bn < minFreq || bn == 0 {
			break
		}
		out = append(out, [2]string{byteLevelString(best[0]), byteLevelString(best[1])})
		m := best[0] + best[1]
		if !have[m] {
			have[m] = true
			n++
		}
		for i, w := range ws {
			var nw []string
			for j := 0; j < len(w); j++ {
				if j+1 < len(w) && w[j] == best[0] && w[j+1] == best[1] {
					nw = append(nw, m)
					j++
				} else {
					nw = append(nw, w[j])
				}
			}
			ws[i] = nw
		}
	}
	return out
}

func TestTrainBPEMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for trial := range 40 {
		// Few symbols, so that runs ("aaaa") and ties are common.
		var texts []string
		for range 30 {
			var sb strings.Builder
			for range 1 + r.IntN(40) {
				sb.WriteRune([]rune("aabbc .é")[r.IntN(8)])
			}
			texts = append(texts, sb.String())
		}
		vs := 256 + r.IntN(300)
		minFreq := 1 + r.IntN(2)
		got, _ := trainedMerges(t, texts, BPETrainOptions{VocabSize: vs, MinFrequency: minFreq})
		want := naiveMerges(t, texts, vs, int64(minFreq))
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: merges\n%q\nwant\n%q", trial, got, want)
		}
	}
}
