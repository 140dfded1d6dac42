// Package tokenizer encodes text to token ids and back, exactly as Hugging Face
// `tokenizers` does for the vocabularies realc trains on.
//
// Two sources are read:
//   - a Hugging Face tokenizer.json with a BPE model: byte-level BPE (Qwen2/Qwen3,
//     GPT-2 style) and SentencePiece-style BPE with `▁` and byte fallback
//     (Llama, Mistral);
//   - a SentencePiece tokenizer.model (protobuf) of type BPE (Llama 2, Mistral),
//     encoded with SentencePiece's score-ordered merges.
//
// Encode matches HF `encode(text, add_special_tokens=False)`: added tokens such
// as `<|im_start|>` or `<s>` written in the text are recognized; EncodeSpecial
// adds what the post-processor adds (BOS for Llama/Mistral, nothing for Qwen).
// Decode matches HF `decode(ids)`; PieceBytes gives one token's bytes for
// incremental stop-string checks; ScoreTokenIDs finds the ids of judge scores.
// Unsupported files (a Unigram model, an unknown normalizer...) are errors
// that name the file and the JSON path or protobuf field.
//
// A Tokenizer is safe for concurrent use once loaded.
package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Tokenizer is a loaded vocabulary with its encoding pipeline.
type Tokenizer struct {
	source string // file it was read from, for messages

	tokens   []string         // id -> token as stored in the vocabulary
	vocab    map[string]int32 // token -> id (model vocabulary and added tokens)
	special  []bool           // id is a special added token (skipped by DecodeSkipSpecial)
	assigned []bool           // id has a token (ids may have holes)

	merges *mergeTable // (left id, right id) -> merge rank and result

	added *addedMatcher // added tokens recognized in raw text before the model

	normalizers []normalizer
	pre         preTokenizer // nil: the whole normalized segment is one word
	byteLevel   bool         // words are mapped to the GPT-2 byte alphabet before BPE
	// spaceSplit: no merge result has "▁" after another character, so a
	// segment can be cut before each run of "▁" without changing the result
	// (SentencePiece-style models, which have no pre-tokenizer).
	spaceSplit bool

	byteID       [256]int32 // byte-level: id of each byte's symbol; byte fallback: id of <0xNN> (-1 if absent)
	asciiID      [128]int32 // id of each ASCII character as a token (-1 if absent)
	byteFallback bool
	unkID        int32 // -1 when the model has no unknown token
	fuseUnk      bool
	ignoreMerges bool // a word found whole in the vocabulary is emitted as is

	cache *wordCache // nil: no caching

	decoders []decoder
	// Fast decoding for the two common chains (see prepareDecode):
	// decodeBytes[id] is what token id contributes; byteTok[id] is the byte
	// of a <0xNN> token (-1 otherwise).
	decodeFast  int // 0: run the decoder chain; fastByteLevel; fastSentencePiece
	decodeBytes [][]byte
	byteTok     []int16
	stripFirst  bool // drop one leading space of the text (Strip decoder)

	postPrefix, postSuffix []int // added around the ids by EncodeSpecial
	bos, eos               int   // -1 when unknown
}

// merge is one BPE merge: lower rank merges first; id is the merged symbol.
type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Load reads a tokenizer from a Hugging Face tokenizer.json, a SentencePiece
// tokenizer.model, or a Hugging Face model folder holding either.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() {
		for _, name := range []string{"tokenizer.json", "tokenizer.model"} {
			p := filepath.Join(path, name)
			if _, err := os.Stat(p); err == nil {
				return Load(p)
			}
		}
		return nil, fmt.Errorf("tokenizer: %s holds neither tokenizer.json nor tokenizer.model", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if strings.HasSuffix(path, ".json") || (len(data) > 0 && data[0] == '{') {
		return ParseHF(path, data)
	}
	return ParseSentencePiece(path, data)
}

// Source is the file the tokenizer was read from.
func (t *Tokenizer) Source() string { return t.source }

// VocabSize is one more than the largest id (model vocabulary and added tokens).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token is the vocabulary string of id ("" when out of range).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// TokenID is the id of a vocabulary string, as stored (e.g. "Ġthe", "▁the", "<s>").
func (t *Tokenizer) TokenID(token string) (int, bool) {
	id, ok := t.vocab[token]
	return int(id), ok
}

// IsSpecial reports whether id is a special added token such as <|im_end|> or </s>.
func (t *Tokenizer) IsSpecial(id int) bool { return id >= 0 && id < len(t.special) && t.special[id] }

// BOS is the beginning-of-sequence id that EncodeSpecial prepends, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the end-of-sequence id: the post-processor's, else the eos_token of a
// tokenizer_config.json beside the file (<|im_end|> for Qwen3), else </s> or
// <|endoftext|> when present; -1 when none is found.
func (t *Tokenizer) EOS() int { return t.eos }

// Tokens maps ids to their vocabulary strings.
func (t *Tokenizer) Tokens(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.Token(id)
	}
	return out
}

// Encode tokenizes text as HF encode(text, add_special_tokens=False) does.
func (t *Tokenizer) Encode(text string) []int {
	out := make([]int32, 0, len(text)/3+4)
	var ws wordScratch
	start := true
	t.added.split(validUTF8(text), func(seg string, id int32) {
		if id >= 0 {
			out = append(out, id)
		} else {
			out = t.encodeSegment(seg, start, out, &ws)
		}
		start = false
	})
	ids := make([]int, len(out))
	for i, v := range out {
		ids[i] = int(v)
	}
	return ids
}

// EncodeSpecial is HF encode(text, add_special_tokens=True): Encode plus the
// post-processor's special tokens (BOS for Llama/Mistral; none for Qwen).
func (t *Tokenizer) EncodeSpecial(text string) []int {
	ids := t.Encode(text)
	if len(t.postPrefix) == 0 && len(t.postSuffix) == 0 {
		return ids
	}
	out := make([]int, 0, len(ids)+len(t.postPrefix)+len(t.postSuffix))
	out = append(out, t.postPrefix...)
	out = append(out, ids...)
	return append(out, t.postSuffix...)
}

// encodeSegment normalizes, pre-tokenizes and BPE-encodes text that holds no
// added token. first is true for the segment that starts the input.
func (t *Tokenizer) encodeSegment(seg string, first bool, out []int32, ws *wordScratch) []int32 {
	if seg == "" {
		return out
	}
	for _, n := range t.normalizers {
		seg = n.apply(seg, first)
	}
	if seg == "" {
		return out
	}
	if t.pre == nil {
		if !t.spaceSplit {
			return t.encodeWord(seg, out, ws)
		}
		start := 0
		for i := 1; i+len(spaceSym) <= len(seg); i++ {
			if seg[i:i+len(spaceSym)] == spaceSym && !strings.HasSuffix(seg[:i], spaceSym) {
				out = t.encodeWord(seg[start:i], out, ws)
				start = i
			}
		}
		return t.encodeWord(seg[start:], out, ws)
	}
	t.pre.split(seg, first, func(word string) {
		out = t.encodeWord(word, out, ws)
	})
	return out
}

// encodeWord runs the BPE model on one pre-token, through the word cache.
func (t *Tokenizer) encodeWord(word string, out []int32, ws *wordScratch) []int32 {
	if word == "" {
		return out
	}
	if t.cache == nil || len(word) > maxCachedWord {
		return t.encodeWordBPE(word, out, ws)
	}
	if ids, ok := t.cache.get(word); ok {
		return append(out, ids...)
	}
	n := len(out)
	out = t.encodeWordBPE(word, out, ws)
	t.cache.put(word, out[n:])
	return out
}

// encodeWordBPE runs the BPE model on one pre-token.
func (t *Tokenizer) encodeWordBPE(word string, out []int32, ws *wordScratch) []int32 {
	if t.byteLevel {
		if t.ignoreMerges {
			if id, ok := t.vocab[byteLevelString(word)]; ok {
				return append(out, id)
			}
		}
		syms := ws.syms[:0]
		for i := 0; i < len(word); i++ {
			syms = append(syms, t.byteID[word[i]])
		}
		ws.syms = syms
		return t.bpe(syms, out, ws)
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[word]; ok {
			return append(out, id)
		}
	}
	syms := ws.syms[:0]
	unkPending := false
	for i := 0; i < len(word); {
		n := runeLen(word, i)
		var id int32
		var ok bool
		if c := word[i]; c < utf8.RuneSelf {
			id = t.asciiID[c]
			ok = id >= 0
		} else {
			id, ok = t.vocab[word[i:i+n]]
		}
		if ok {
			if unkPending {
				syms = append(syms, t.unkID)
				unkPending = false
			}
			syms = append(syms, id)
			i += n
			continue
		}
		if t.byteFallback && t.hasBytes(word[i:i+n]) {
			for j := i; j < i+n; j++ {
				syms = append(syms, t.byteID[word[j]])
			}
			i += n
			continue
		}
		if t.unkID >= 0 {
			if unkPending && !t.fuseUnk {
				syms = append(syms, t.unkID)
			}
			unkPending = true
		}
		i += n
	}
	if unkPending {
		syms = append(syms, t.unkID)
	}
	ws.syms = syms
	return t.bpe(syms, out, ws)
}

func (t *Tokenizer) hasBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if t.byteID[s[i]] < 0 {
			return false
		}
	}
	return true
}

const spaceSym = "▁"

// finish sets up the derived tables once the vocabulary, the pipeline and
// the merges are known.
func (t *Tokenizer) finish() {
	for c := range t.asciiID {
		t.asciiID[c] = -1
		if id, ok := t.vocab[string(rune(c))]; ok {
			t.asciiID[c] = id
		}
	}
	t.setSpaceSplit()
	t.prepareDecode()
	t.cache = newWordCache()
}

// setSpaceSplit enables spaceSplit when the vocabulary allows it: no merge
// result holds "▁" after another character, so no merge can join symbols
// across such a cut. (ignore_merges looks up whole words, so it rules it out.)
func (t *Tokenizer) setSpaceSplit() {
	if t.pre != nil || t.byteLevel || t.merges == nil || t.ignoreMerges {
		return
	}
	for _, e := range t.merges.ents {
		if e.key != emptyKey && strings.Contains(strings.TrimLeft(t.tokens[e.id], spaceSym), spaceSym) {
			return
		}
	}
	t.spaceSplit = true
}

func runeLen(s string, i int) int {
	c := s[i]
	switch {
	case c < 0x80:
		return 1
	case c>>5 == 0x6:
		return minInt(2, len(s)-i)
	case c>>4 == 0xe:
		return minInt(3, len(s)-i)
	case c>>3 == 0x1e:
		return minInt(4, len(s)-i)
	}
	return 1
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
