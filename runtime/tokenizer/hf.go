package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// hfFile is the part of tokenizer.json decoded by encoding/json; the model's
// vocab and merges (most of the bytes) are scanned by hand (jsonscan.go).
type hfFile struct {
	AddedTokens   []hfAdded       `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string   `json:"type"`
		Dropout                 *float64 `json:"dropout"`
		UnkToken                *string  `json:"unk_token"`
		ContinuingSubwordPrefix *string  `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string  `json:"end_of_word_suffix"`
		FuseUnk                 bool     `json:"fuse_unk"`
		ByteFallback            bool     `json:"byte_fallback"`
		IgnoreMerges            bool     `json:"ignore_merges"`
	} `json:"model"`
}

type hfAdded struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// hfComp holds the fields of any normalizer, pre-tokenizer, post-processor or
// decoder; which ones matter depends on Type.
type hfComp struct {
	Type          string            `json:"type"`
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`
	Prepend       string            `json:"prepend"`
	Pattern       *struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content        string  `json:"content"`
	Behavior       string  `json:"behavior"`
	Invert         bool    `json:"invert"`
	AddPrefixSpace bool    `json:"add_prefix_space"`
	UseRegex       *bool   `json:"use_regex"`
	Replacement    string  `json:"replacement"`
	PrependScheme  *string `json:"prepend_scheme"`
	Split          *bool   `json:"split"`
	Start          int     `json:"start"`
	Stop           int     `json:"stop"`
	Single         []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Sep []any `json:"sep"`
	Cls []any `json:"cls"`
}

// fieldError names the file and the JSON path of a field realc cannot use.
func fieldError(file, path, format string, args ...any) error {
	return fmt.Errorf("tokenizer %s: %s: %s", file, path, fmt.Sprintf(format, args...))
}

// ParseHF builds a Tokenizer from the bytes of a Hugging Face tokenizer.json;
// file names it in errors and locates a sibling tokenizer_config.json.
func ParseHF(file string, data []byte) (*Tokenizer, error) {
	f, vocab, maxID, merges, err := decodeHF(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: not a usable tokenizer.json: %v", file, err)
	}
	m := &f.Model
	if m.Type == "" && merges != nil {
		m.Type = "BPE" // files from before the model type was written
	}
	if m.Type != "BPE" {
		return nil, fieldError(file, "model.type", "%q is not supported (supported: BPE); Unigram and WordPiece vocabularies need another encoder", m.Type)
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, fieldError(file, "model.dropout", "%g: BPE dropout is a training-time randomization; set it to null", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, fieldError(file, "model.continuing_subword_prefix", "%q is not supported (only empty or null)", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, fieldError(file, "model.end_of_word_suffix", "%q is not supported (only empty or null)", *m.EndOfWordSuffix)
	}
	if len(vocab) == 0 {
		return nil, fieldError(file, "model.vocab", "missing or empty")
	}
	t := &Tokenizer{source: file, unkID: -1, bos: -1, eos: -1,
		byteFallback: m.ByteFallback, fuseUnk: m.FuseUnk, ignoreMerges: m.IgnoreMerges}

	for i, a := range f.AddedTokens {
		p := fmt.Sprintf("added_tokens[%d]", i)
		if a.ID < 0 || a.ID >= maxVocabID {
			return nil, fieldError(file, p+".id", "id %d out of range", a.ID)
		}
		if a.SingleWord || a.LStrip || a.RStrip {
			return nil, fieldError(file, p, "%q: single_word, lstrip and rstrip are not supported; set them to false", a.Content)
		}
		if a.Normalized && a.Special {
			return nil, fieldError(file, p+".normalized", "%q: special tokens matched after normalization are not supported; set normalized to false", a.Content)
		}
		if a.ID > maxID {
			maxID = a.ID
		}
	}
	t.tokens = make([]string, maxID+1)
	t.assigned = make([]bool, maxID+1)
	t.special = make([]bool, maxID+1)
	for tok, id := range vocab {
		t.tokens[id] = tok
		t.assigned[id] = true
	}
	var added []addedTok
	for _, a := range f.AddedTokens {
		t.tokens[a.ID] = a.Content
		t.assigned[a.ID] = true
		t.special[a.ID] = a.Special
		vocab[a.Content] = int32(a.ID)
		added = append(added, addedTok{a.Content, int32(a.ID)})
	}
	t.vocab = vocab
	t.added = newAddedMatcher(added)

	if m.UnkToken != nil {
		id, ok := vocab[*m.UnkToken]
		if !ok {
			return nil, fieldError(file, "model.unk_token", "%q is not in model.vocab", *m.UnkToken)
		}
		t.unkID = id
	}

	if t.normalizers, err = hfNormalizers(file, "normalizer", f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = t.hfPreTokenizer(file, "pre_tokenizer", f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.decoders, err = t.hfDecoders(file, "decoder", f.Decoder); err != nil {
		return nil, err
	}
	if err := t.hfPost(file, "post_processor", f.PostProcessor); err != nil {
		return nil, err
	}
	for _, id := range append(slices.Clone(t.postPrefix), t.postSuffix...) {
		if id < 0 || id >= len(t.tokens) || !t.assigned[id] {
			return nil, fieldError(file, "post_processor", "special token id %d is not in the vocabulary", id)
		}
	}

	for b := 0; b < 256; b++ {
		t.byteID[b] = -1
		if t.byteLevel {
			id, ok := vocab[string(byteRune[b])]
			if !ok {
				return nil, fieldError(file, "model.vocab", "byte-level vocabulary lacks the symbol %q for byte 0x%02X", string(byteRune[b]), b)
			}
			t.byteID[b] = id
		} else if t.byteFallback {
			if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.byteID[b] = id
			}
		}
	}

	t.merges = merges
	t.findEOS(filepath.Dir(file))
	t.finish()
	return t, nil
}

// decodeHF reads the file in one pass: model.vocab and model.merges (most of
// the bytes) with the scanner, everything else with encoding/json. Validating
// Qwen's 11 MB with encoding/json alone cost more than reading it.
func decodeHF(data []byte) (*hfFile, map[string]int32, int, *mergeTable, error) {
	var vocab map[string]int32
	maxID := -1
	var merges *mergeTable
	var modelRest map[string]json.RawMessage
	sawVocab, sawMerges := false, false
	top, err := objectFieldsFn(&jscan{b: data}, true, func(key string, s *jscan) (bool, error) {
		if key != "model" {
			return false, nil
		}
		var err error
		modelRest, err = objectFieldsFn(s, false, func(key string, s *jscan) (bool, error) {
			var err error
			switch {
			case key == "vocab" && s.peek() == '{': // Unigram has a list: rejected below by type
				sawVocab = true
				vocab, maxID, err = scanVocabAt(s)
				if err != nil {
					err = fmt.Errorf("model.vocab: %w (it must map token strings to integer ids)", err)
				}
				return true, err
			case key == "merges" && sawVocab:
				sawMerges = true
				tokens := make([]string, maxID+1)
				for tok, id := range vocab {
					tokens[id] = tok
				}
				if merges, err = scanMergesAt(s, vocab, tokens); err != nil {
					err = fmt.Errorf("model.merges: %w", err)
				}
				return true, err
			}
			return false, nil
		})
		return true, err
	})
	if err != nil {
		return nil, nil, 0, nil, err
	}
	if modelRest == nil {
		return nil, nil, 0, nil, fmt.Errorf("no model field")
	}
	if !sawVocab {
		vocab = map[string]int32{}
	}
	if !sawMerges && len(modelRest["merges"]) > 0 { // merges written before vocab
		if merges, err = scanMerges(modelRest["merges"], vocab); err != nil {
			return nil, nil, 0, nil, fmt.Errorf("model.merges: %w", err)
		}
	}
	delete(modelRest, "merges")
	f := &hfFile{}
	small, err := json.Marshal(top)
	if err == nil {
		err = json.Unmarshal(small, f)
	}
	if err == nil {
		if small, err = json.Marshal(modelRest); err == nil {
			err = json.Unmarshal(small, &f.Model)
		}
	}
	if err != nil {
		return nil, nil, 0, nil, err
	}
	return f, vocab, maxID, merges, nil
}

func hfNormalizers(file, path string, raw json.RawMessage) ([]normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c hfComp
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fieldError(file, path, "%v", err)
	}
	switch c.Type {
	case "Sequence":
		var out []normalizer
		for i, r := range c.Normalizers {
			n, err := hfNormalizers(file, fmt.Sprintf("%s.normalizers[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			out = append(out, n...)
		}
		return out, nil
	case "NFC":
		return []normalizer{unicodeNorm{norm.NFC}}, nil
	case "NFD":
		return []normalizer{unicodeNorm{norm.NFD}}, nil
	case "NFKC":
		return []normalizer{unicodeNorm{norm.NFKC}}, nil
	case "NFKD":
		return []normalizer{unicodeNorm{norm.NFKD}}, nil
	case "Lowercase":
		return []normalizer{lowercaseNorm{}}, nil
	case "Prepend":
		return []normalizer{prependNorm{c.Prepend}}, nil
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil {
			return nil, fieldError(file, path+".pattern", "only a String pattern is supported in Replace")
		}
		return []normalizer{replaceNorm{*c.Pattern.String, c.Content}}, nil
	}
	return nil, fieldError(file, path+".type", "normalizer %q is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace)", c.Type)
}

func (t *Tokenizer) hfPreTokenizer(file, path string, raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c hfComp
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fieldError(file, path, "%v", err)
	}
	switch c.Type {
	case "Sequence":
		var seq seqPre
		for i, r := range c.Pretokenizers {
			p, err := t.hfPreTokenizer(file, fmt.Sprintf("%s.pretokenizers[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		switch len(seq) {
		case 0:
			return nil, nil
		case 1:
			return seq[0], nil
		}
		return seq, nil
	case "Split":
		if c.Behavior != "Isolated" || c.Invert {
			return nil, fieldError(file, path+".behavior", "Split with behavior %q, invert %v is not supported (only Isolated, invert false)", c.Behavior, c.Invert)
		}
		if c.Pattern == nil || c.Pattern.Regex == nil {
			return nil, fieldError(file, path+".pattern", "only a Regex pattern is supported in Split")
		}
		return splitPre(file, path+".pattern.Regex", *c.Pattern.Regex)
	case "ByteLevel":
		t.byteLevel = true
		var seq seqPre
		if c.AddPrefixSpace {
			seq = append(seq, prefixSpacePre{})
		}
		if c.UseRegex == nil || *c.UseRegex {
			p, err := splitPre(file, path, gpt2Pattern)
			if err != nil {
				return nil, err
			}
			seq = append(seq, p)
		}
		switch len(seq) {
		case 0:
			return nil, nil
		case 1:
			return seq[0], nil
		}
		return seq, nil
	case "Metaspace":
		scheme := "always"
		if c.PrependScheme != nil {
			scheme = *c.PrependScheme
		} else if !c.AddPrefixSpace && strings.Contains(string(raw), "add_prefix_space") {
			scheme = "never"
		}
		if scheme != "always" && scheme != "first" && scheme != "never" {
			return nil, fieldError(file, path+".prepend_scheme", "%q is not one of always, first, never", scheme)
		}
		split := c.Split == nil || *c.Split
		return metaspacePre{repl: orDefault(c.Replacement, "▁"), scheme: scheme, split_: split}, nil
	}
	return nil, fieldError(file, path+".type", "pre-tokenizer %q is not supported (supported: Sequence, Split, ByteLevel, Metaspace)", c.Type)
}

// splitPre picks the scanner for Qwen's pattern and regexp2 for any other.
func splitPre(file, path, pattern string) (preTokenizer, error) {
	switch pattern {
	case qwenPattern:
		return qwenPre{1}, nil
	case llama3Pattern:
		return qwenPre{3}, nil
	}
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fieldError(file, path, "regex does not compile: %v", err)
	}
	return regexPre{re}, nil
}

func (t *Tokenizer) hfDecoders(file, path string, raw json.RawMessage) ([]decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c hfComp
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fieldError(file, path, "%v", err)
	}
	switch c.Type {
	case "Sequence":
		var out []decoder
		for i, r := range c.Decoders {
			d, err := t.hfDecoders(file, fmt.Sprintf("%s.decoders[%d]", path, i), r)
			if err != nil {
				return nil, err
			}
			out = append(out, d...)
		}
		return out, nil
	case "ByteLevel":
		return []decoder{byteLevelDec{}}, nil
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil {
			return nil, fieldError(file, path+".pattern", "only a String pattern is supported in Replace")
		}
		return []decoder{replaceDec{*c.Pattern.String, c.Content}}, nil
	case "ByteFallback":
		return []decoder{byteFallbackDec{}}, nil
	case "Fuse":
		return []decoder{fuseDec{}}, nil
	case "Strip":
		r := []rune(c.Content)
		if len(r) != 1 {
			return nil, fieldError(file, path+".content", "%q must be one character", c.Content)
		}
		return []decoder{stripDec{r[0], c.Start, c.Stop}}, nil
	case "Metaspace":
		scheme := "always"
		if c.PrependScheme != nil {
			scheme = *c.PrependScheme
		}
		return []decoder{metaspaceDec{repl: orDefault(c.Replacement, "▁"), stripFirst: scheme != "never"}}, nil
	}
	return nil, fieldError(file, path+".type", "decoder %q is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)", c.Type)
}

// hfPost reads what add_special_tokens=True adds around a single sequence.
func (t *Tokenizer) hfPost(file, path string, raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var c hfComp
	if err := json.Unmarshal(raw, &c); err != nil {
		return fieldError(file, path, "%v", err)
	}
	switch c.Type {
	case "ByteLevel":
		return nil // offsets only
	case "Sequence":
		for i, r := range c.Processors {
			if err := t.hfPost(file, fmt.Sprintf("%s.processors[%d]", path, i), r); err != nil {
				return err
			}
		}
		return nil
	case "TemplateProcessing":
		seen := false
		for i, it := range c.Single {
			switch {
			case it.Sequence != nil:
				seen = true
			case it.SpecialToken != nil:
				st, ok := c.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return fieldError(file, fmt.Sprintf("%s.single[%d]", path, i), "special token %q is not in special_tokens", it.SpecialToken.ID)
				}
				if seen {
					t.postSuffix = append(t.postSuffix, st.IDs...)
				} else {
					t.postPrefix = append(t.postPrefix, st.IDs...)
				}
			default:
				return fieldError(file, fmt.Sprintf("%s.single[%d]", path, i), "neither SpecialToken nor Sequence")
			}
		}
		if len(t.postPrefix) > 0 {
			t.bos = t.postPrefix[0]
		}
		if len(t.postSuffix) > 0 {
			t.eos = t.postSuffix[len(t.postSuffix)-1]
		}
		return nil
	case "BertProcessing", "RobertaProcessing":
		cls, ok1 := pairID(c.Cls)
		sep, ok2 := pairID(c.Sep)
		if !ok1 || !ok2 {
			return fieldError(file, path, "cls and sep must be [token, id] pairs")
		}
		t.postPrefix, t.postSuffix = []int{cls}, []int{sep}
		t.bos, t.eos = cls, sep
		return nil
	}
	return fieldError(file, path+".type", "post-processor %q is not supported (supported: ByteLevel, TemplateProcessing, Sequence, BertProcessing, RobertaProcessing)", c.Type)
}

func pairID(v []any) (int, bool) {
	if len(v) != 2 {
		return 0, false
	}
	f, ok := v[1].(float64)
	return int(f), ok
}

// findEOS takes eos_token from a tokenizer_config.json beside the file, else
// the first of the usual end tokens present in the vocabulary.
func (t *Tokenizer) findEOS(dir string) {
	if t.eos >= 0 {
		return
	}
	if data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		var cfg struct {
			EOS json.RawMessage `json:"eos_token"`
		}
		if json.Unmarshal(data, &cfg) == nil && !isNull(cfg.EOS) {
			var s string
			var obj struct {
				Content string `json:"content"`
			}
			if json.Unmarshal(cfg.EOS, &s) != nil {
				if json.Unmarshal(cfg.EOS, &obj) == nil {
					s = obj.Content
				}
			}
			if id, ok := t.vocab[s]; ok {
				t.eos = int(id)
				return
			}
		}
	}
	for _, s := range []string{"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"} {
		if id, ok := t.vocab[s]; ok {
			t.eos = int(id)
			return
		}
	}
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
