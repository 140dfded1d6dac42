package tokenizer

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tinyJSON is a small valid byte-level tokenizer.json; the tests below break
// one field at a time.
func tinyJSON(model, normalizer, pre string) string {
	vocab := `{`
	for b := 0; b < 256; b++ {
		if b > 0 {
			vocab += ","
		}
		vocab += `"` + strings.ReplaceAll(strings.ReplaceAll(string(byteRune[b]), `\`, `\\`), `"`, `\"`) + `":` + strconv.Itoa(b)
	}
	vocab += `,"ab":256,"abc":257}`
	if model == "" {
		model = `{"type":"BPE","vocab":` + vocab + `,"merges":["a b",["ab","c"]]}`
	}
	return `{"version":"1.0","added_tokens":[{"id":258,"content":"<|x|>","special":true}],` +
		`"normalizer":` + normalizer + `,"pre_tokenizer":` + pre + `,"post_processor":null,` +
		`"decoder":{"type":"ByteLevel"},"model":` + model + `}`
}

func writeTemp(t *testing.T, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const bytePre = `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`

func TestTinyByteLevel(t *testing.T) {
	tk, err := Load(writeTemp(t, "tokenizer.json", []byte(tinyJSON("", "null", bytePre))))
	if err != nil {
		t.Fatal(err)
	}
	// "abc abcab<|x|>": words "abc", " abcab"; merges a+b (rank 0) then ab+c.
	got := tk.Encode("abc abcab<|x|>")
	want := []int{257, int(tk.byteID[' ']), 257, 256, 258}
	if !equalInts(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	if s, _ := tk.Decode(got); s != "abc abcab<|x|>" {
		t.Errorf("decode %q", s)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUnsupportedJSON(t *testing.T) {
	for _, c := range []struct {
		name, json, want string
	}{
		{"wordpiece", tinyJSON(`{"type":"WordPiece","vocab":{"a":0}}`, "null", "null"), `model.type: "WordPiece" is not supported`},
		{"unigram", tinyJSON(`{"type":"Unigram","vocab":[["a",0.0]]}`, "null", "null"), `model.type: "Unigram"`},
		{"normalizer", tinyJSON("", `{"type":"BertNormalizer"}`, bytePre), `normalizer.type: normalizer "BertNormalizer"`},
		{"nested pre", tinyJSON("", "null", `{"type":"Sequence","pretokenizers":[`+bytePre+`,{"type":"Digits"}]}`), `pre_tokenizer.pretokenizers[1].type: pre-tokenizer "Digits"`},
		{"bad merge", tinyJSON(`{"type":"BPE","vocab":{"a":0},"merges":["a q"]}`, "null", "null"), `model.merges: merge 0 ("a", "q")`},
		{"dropout", tinyJSON(`{"type":"BPE","dropout":0.1,"vocab":{"a":0},"merges":[]}`, "null", "null"), `model.dropout`},
		{"not json", `{"model": [`, `not a usable tokenizer.json`},
		{"huge id", tinyJSON(`{"type":"BPE","vocab":{"a":2000000000},"merges":[]}`, "null", "null"), `out of range`},
		{"post id", strings.Replace(tinyJSON("", "null", bytePre), `"post_processor":null`, `"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[999],"tokens":["<s>"]}}}`, 1), `post_processor: special token id 999`},
		{"no vocab", tinyJSON(`{"type":"BPE","merges":[]}`, "null", "null"), `model.vocab: missing or empty`},
	} {
		p := writeTemp(t, "tokenizer.json", []byte(c.json))
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v; want it to name %s and contain %q", c.name, err, p, c.want)
		}
	}
}

// pbField appends a protobuf field to b.
func pbField(b []byte, field int, wire int, payload []byte, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|wire))
	switch wire {
	case 0:
		b = binary.AppendUvarint(b, v)
	case 5:
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	case 2:
		b = binary.AppendUvarint(b, uint64(len(payload)))
		b = append(b, payload...)
	}
	return b
}

// spModelBytes builds a ModelProto with pieces ▁, a, b, ▁a, ab, ▁ab and the
// given model type.
func spModelBytes(modelType uint64) []byte {
	var m []byte
	for i, p := range []string{"<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab"} {
		typ := uint64(spNormal)
		switch i {
		case 0:
			typ = spUnknown
		case 1, 2:
			typ = spControl
		}
		var piece []byte
		piece = pbField(piece, 1, 2, []byte(p), 0)
		piece = pbField(piece, 2, 5, nil, uint64(math.Float32bits(-float32(i))))
		piece = pbField(piece, 3, 0, nil, typ)
		m = pbField(m, 1, 2, piece, 0)
	}
	var trainer []byte
	trainer = pbField(trainer, 3, 0, nil, modelType)
	m = pbField(m, 2, 2, trainer, 0)
	var normSpec []byte
	normSpec = pbField(normSpec, 1, 2, []byte("identity"), 0)
	normSpec = pbField(normSpec, 4, 0, nil, 0)
	return pbField(m, 3, 2, normSpec, 0)
}

func TestSentencePieceTiny(t *testing.T) {
	tk, err := Load(writeTemp(t, "tokenizer.model", spModelBytes(2)))
	if err != nil {
		t.Fatal(err)
	}
	// "ab ab" is ▁ab▁ab. Scores: ▁a (-6) > ab (-7) > ▁ab (-8); so
	// ▁,a,b,▁,a,b -> ▁a,b,▁,a,b -> ▁a,b,▁a,b -> ▁ab,▁a,b -> ▁ab,▁ab.
	if got := tk.EncodeSpecial("ab ab"); !equalInts(got, []int{1, 8, 8}) {
		t.Errorf("got %v (%q)", got, tk.Tokens(got))
	}
	// "ba": ▁,b,a -> no ▁b piece and no "ba": three tokens.
	if got := tk.Encode("ba"); !equalInts(got, []int{3, 5, 4}) {
		t.Errorf("got %v (%q)", got, tk.Tokens(got))
	}
	if s, _ := tk.Decode([]int{1, 8, 8}); s != "<s> ab ab" {
		t.Errorf("decode %q", s)
	}
}

func TestUnsupportedSentencePiece(t *testing.T) {
	p := writeTemp(t, "tokenizer.model", spModelBytes(1))
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "trainer_spec.model_type: UNIGRAM") || !strings.Contains(err.Error(), p) {
		t.Errorf("unigram: %v", err)
	}
	real, err := os.ReadFile(tokPath(t, llama2Model))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 7, 1000, len(real) / 2} {
		p := writeTemp(t, "tokenizer.model", real[:n])
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither tokenizer.json nor tokenizer.model") {
		t.Errorf("empty folder: %v", err)
	}
}

// Characters outside the vocabulary become <unk>, fused into one per run when
// fuse_unk is set (no byte fallback here).
func TestUnknownFusion(t *testing.T) {
	for _, c := range []struct {
		fuse string
		want []int
	}{
		{"true", []int{3, 0, 3}},
		{"false", []int{3, 0, 0, 3}},
	} {
		js := `{"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":{"type":"Fuse"},` +
			`"model":{"type":"BPE","unk_token":"<unk>","fuse_unk":` + c.fuse + `,"byte_fallback":true,` +
			`"vocab":{"<unk>":0,"a":1,"b":2,"ab":3},"merges":["a b"]}}`
		tk, err := ParseHF("tiny.json", []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Encode("abxéab"); !equalInts(got, c.want) {
			t.Errorf("fuse_unk %s: got %v want %v", c.fuse, got, c.want)
		}
	}
}

// With ignore_merges a word found whole in the vocabulary is one token even
// when the merges could not build it.
func TestIgnoreMerges(t *testing.T) {
	js := tinyJSON("", "null", bytePre)
	js = strings.Replace(js, `"abc":257}`, `"abc":257,"xyz":259}`, 1)
	plain, err := ParseHF("tiny.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	ignoring, err := ParseHF("tiny.json", []byte(strings.Replace(js, `"type":"BPE",`, `"type":"BPE","ignore_merges":true,`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.Encode("xyz"); !equalInts(got, []int{'x', 'y', 'z'}) {
		t.Errorf("without ignore_merges: %v", got)
	}
	if got := ignoring.Encode("xyz"); !equalInts(got, []int{259}) {
		t.Errorf("with ignore_merges: %v", got)
	}
}
