package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder is one step of HF's decoder chain: tokens in, tokens out; the
// decoded text is the concatenation of the final tokens.
type decoder interface {
	decode(toks []string) []string
}

// Decode turns ids back into text as HF decode(ids, skip_special_tokens=False)
// does. An id outside the vocabulary is an error.
func (t *Tokenizer) Decode(ids []int) (string, error) { return t.decode(ids, false) }

// DecodeSkipSpecial is HF decode(ids, skip_special_tokens=True).
func (t *Tokenizer) DecodeSkipSpecial(ids []int) (string, error) { return t.decode(ids, true) }

func (t *Tokenizer) decode(ids []int, skipSpecial bool) (string, error) {
	for i, id := range ids {
		if id < 0 || id >= len(t.tokens) || !t.assigned[id] {
			return "", fmt.Errorf("tokenizer %s: id %d (position %d) is not in the vocabulary of %d tokens", t.source, id, i, len(t.tokens))
		}
	}
	switch t.decodeFast {
	case fastByteLevel:
		// Bytes of every token, then one lossy UTF-8 pass.
		var buf []byte
		for _, id := range ids {
			if !(skipSpecial && t.special[id]) {
				buf = append(buf, t.decodeBytes[id]...)
			}
		}
		return lossyUTF8(buf), nil
	case fastSentencePiece:
		return t.decodeSentencePiece(ids, skipSpecial), nil
	}
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if skipSpecial && t.special[id] {
			continue
		}
		toks = append(toks, t.tokens[id])
	}
	for _, d := range t.decoders {
		toks = d.decode(toks)
	}
	return strings.Join(toks, ""), nil
}

const (
	fastByteLevel = 1 + iota
	fastSentencePiece
)

// prepareDecode recognizes the decoder chains of byte-level BPE (ByteLevel)
// and of SentencePiece-style BPE (Replace ▁, ByteFallback, Fuse, Strip) and
// precomputes each token's contribution, so that Decode is one pass.
func (t *Tokenizer) prepareDecode() {
	switch {
	case len(t.decoders) == 1 && t.decoders[0] == decoder(byteLevelDec{}):
		// One arena for all tokens' bytes rather than an allocation each.
		arena := make([]byte, 0, 8*len(t.tokens))
		ends := make([]int, len(t.tokens))
		for id, tok := range t.tokens {
			arena = appendByteLevel(arena, tok)
			ends[id] = len(arena)
		}
		t.decodeBytes = make([][]byte, len(t.tokens))
		start := 0
		for id, end := range ends {
			t.decodeBytes[id] = arena[start:end:end]
			start = end
		}
		t.decodeFast = fastByteLevel
	case len(t.decoders) >= 3 && t.decoders[0] == decoder(replaceDec{"▁", " "}) &&
		t.decoders[1] == decoder(byteFallbackDec{}) && t.decoders[2] == decoder(fuseDec{}):
		switch {
		case len(t.decoders) == 3:
		case len(t.decoders) == 4 && t.decoders[3] == decoder(stripDec{' ', 1, 0}):
			t.stripFirst = true
		default:
			return
		}
		t.decodeBytes = make([][]byte, len(t.tokens))
		t.byteTok = make([]int16, len(t.tokens))
		for id, tok := range t.tokens {
			t.byteTok[id] = -1
			if b, ok := parseByteToken(tok); ok {
				t.byteTok[id] = int16(b)
			}
			t.decodeBytes[id] = []byte(strings.ReplaceAll(tok, "▁", " "))
		}
		t.decodeFast = fastSentencePiece
	}
}

// decodeSentencePiece is the chain Replace(▁, " "), ByteFallback, Fuse,
// Strip(" ", 1, 0) in one pass.
func (t *Tokenizer) decodeSentencePiece(ids []int, skipSpecial bool) string {
	out := make([]byte, 0, 4*len(ids))
	var run []byte
	flush := func() {
		if utf8.Valid(run) {
			out = append(out, run...)
		} else {
			for range run {
				out = append(out, "\uFFFD"...)
			}
		}
		run = run[:0]
	}
	for _, id := range ids {
		if skipSpecial && t.special[id] {
			continue
		}
		if b := t.byteTok[id]; b >= 0 {
			run = append(run, byte(b))
			continue
		}
		if len(run) > 0 {
			flush()
		}
		out = append(out, t.decodeBytes[id]...)
	}
	flush()
	s := string(out)
	if t.stripFirst {
		s = strings.TrimPrefix(s, " ")
	}
	return s
}

// byteLevelDec maps byte-alphabet characters back to bytes. A token holding a
// character outside the alphabet (an added token) contributes its own UTF-8.
type byteLevelDec struct{}

func (byteLevelDec) decode(toks []string) []string {
	var buf []byte
	for _, t := range toks {
		buf = appendByteLevel(buf, t)
	}
	return []string{lossyUTF8(buf)}
}

func appendByteLevel(buf []byte, tok string) []byte {
	start := len(buf)
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeByte) || runeByte[r] < 0 {
			return append(buf[:start], tok...)
		}
		buf = append(buf, byte(runeByte[r]))
	}
	return buf
}

type replaceDec struct{ from, to string }

func (d replaceDec) decode(toks []string) []string {
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(t, d.from, d.to)
	}
	return toks
}

// byteFallbackDec turns runs of <0xNN> tokens into text; a run that is not
// valid UTF-8 gives one U+FFFD per byte, as HF's ByteFallback does.
type byteFallbackDec struct{}

func (byteFallbackDec) decode(toks []string) []string {
	out := make([]string, 0, len(toks))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// parseByteToken reads "<0xNN>".
func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

type fuseDec struct{}

func (fuseDec) decode(toks []string) []string { return []string{strings.Join(toks, "")} }

// stripDec removes up to start leading and stop trailing copies of content
// from every token.
type stripDec struct {
	content     rune
	start, stop int
}

func (d stripDec) decode(toks []string) []string {
	for i, t := range toks {
		r := []rune(t)
		a := 0
		for a < d.start && a < len(r) && r[a] == d.content {
			a++
		}
		b := len(r)
		for k := 0; k < d.stop && b > a && r[b-1] == d.content; k++ {
			b--
		}
		toks[i] = string(r[a:b])
	}
	return toks
}

// metaspaceDec replaces ▁ by spaces and drops the space the pre-tokenizer
// prepended to the first token.
type metaspaceDec struct {
	repl        string
	stripFirst  bool
	stripPrefix bool
}

func (d metaspaceDec) decode(toks []string) []string {
	for i, t := range toks {
		t = strings.ReplaceAll(t, d.repl, " ")
		if i == 0 && d.stripFirst {
			t = strings.TrimPrefix(t, " ")
		}
		toks[i] = t
	}
	return toks
}

// lossyUTF8 is Rust's String::from_utf8_lossy: each maximal invalid subpart
// becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			sb.WriteByte(c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		default:
			sb.WriteString("\uFFFD")
			i++
			continue
		}
		j, ok := i+1, true
		for k := 0; k < need; k++ {
			l, h := byte(0x80), byte(0xBF)
			if k == 0 {
				l, h = lo, hi
			}
			if j >= len(b) || b[j] < l || b[j] > h {
				ok = false
				break
			}
			j++
		}
		if ok {
			sb.Write(b[i:j])
		} else {
			sb.WriteString("\uFFFD")
		}
		i = j
	}
	return sb.String()
}

// PieceBytes is the bytes token id stands for in decoded text, before UTF-8
// is assembled across tokens: "Ġthe" -> " the", "▁the" -> " the", "<0x0A>" ->
// "\n". A sampler can match stop strings on these bytes as tokens arrive.
// (Decode also drops the leading space of SentencePiece text; this does not.)
func (t *Tokenizer) PieceBytes(id int) ([]byte, error) {
	if id < 0 || id >= len(t.tokens) || !t.assigned[id] {
		return nil, fmt.Errorf("tokenizer %s: id %d is not in the vocabulary of %d tokens", t.source, id, len(t.tokens))
	}
	switch t.decodeFast {
	case fastByteLevel:
		return t.decodeBytes[id], nil
	case fastSentencePiece:
		if b := t.byteTok[id]; b >= 0 {
			return []byte{byte(b)}, nil
		}
		return t.decodeBytes[id], nil
	}
	if b, ok := parseByteToken(t.tokens[id]); ok {
		return []byte{b}, nil
	}
	s, err := t.Decode([]int{id})
	return []byte(s), err
}
