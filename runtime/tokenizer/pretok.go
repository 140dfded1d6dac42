package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text segment before pre-tokenization.
type normalizer interface {
	apply(s string, first bool) string
}

type unicodeNorm struct{ form norm.Form }

func (n unicodeNorm) apply(s string, _ bool) string {
	if isASCII(s) { // every normal form leaves ASCII unchanged
		return s
	}
	return n.form.String(s)
}

// prependNorm is HF's Prepend normalizer: added to every non-empty segment.
type prependNorm struct{ prefix string }

func (n prependNorm) apply(s string, _ bool) string {
	if s == "" {
		return s
	}
	return n.prefix + s
}

type replaceNorm struct{ from, to string }

func (n replaceNorm) apply(s string, _ bool) string { return strings.ReplaceAll(s, n.from, n.to) }

type lowercaseNorm struct{}

func (lowercaseNorm) apply(s string, _ bool) string { return strings.ToLower(s) }

// spaceNorm is SentencePiece's normalizer for identity-normalized models:
// optional removal of extra spaces, the dummy prefix, and ' ' -> '▁'.
type spaceNorm struct {
	dummyPrefix, removeExtra bool
}

func (n spaceNorm) apply(s string, _ bool) string {
	if n.removeExtra {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
	}
	if s == "" {
		return s
	}
	if n.dummyPrefix {
		s = " " + s
	}
	return strings.ReplaceAll(s, " ", "▁")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// preTokenizer cuts a normalized segment into words; first is true when the
// segment starts the input (Metaspace's prepend_scheme "first").
type preTokenizer interface {
	split(s string, first bool, emit func(word string))
}

// seqPre applies pre-tokenizers in turn, each to every piece of the previous.
type seqPre []preTokenizer

func (q seqPre) split(s string, first bool, emit func(string)) { q.run(0, s, first, emit) }

func (q seqPre) run(i int, s string, first bool, emit func(string)) {
	if i == len(q) {
		emit(s)
		return
	}
	isFirst := first
	q[i].split(s, first, func(w string) {
		q.run(i+1, w, isFirst, emit)
		isFirst = false
	})
}

// prefixSpacePre is ByteLevel's add_prefix_space: a space before every piece
// that does not start with one.
type prefixSpacePre struct{}

func (prefixSpacePre) split(s string, _ bool, emit func(string)) {
	if !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	emit(s)
}

// metaspacePre is HF's Metaspace pre-tokenizer.
type metaspacePre struct {
	repl   string
	scheme string // always, first, never
	split_ bool
}

func (m metaspacePre) split(s string, first bool, emit func(string)) {
	s = strings.ReplaceAll(s, " ", m.repl)
	if (m.scheme == "always" || (m.scheme == "first" && first)) && !strings.HasPrefix(s, m.repl) {
		s = m.repl + s
	}
	if !m.split_ {
		emit(s)
		return
	}
	// MergedWithNext: each replacement character starts a new word.
	start := 0
	for off := 0; ; {
		k := strings.Index(s[off:], m.repl)
		if k < 0 {
			break
		}
		idx := off + k
		if idx > start {
			emit(s[start:idx])
			start = idx
		}
		off = idx + len(m.repl)
	}
	if start < len(s) {
		emit(s[start:])
	}
}

// regexPre is a Split pre-tokenizer with behavior Isolated: matches and the
// text between them are both words. regexp2 gives the lookarounds Go's regexp
// lacks; known patterns get hand-written scanners instead (qwenPre).
type regexPre struct{ re *regexp2.Regexp }

func (p regexPre) split(s string, _ bool, emit func(string)) {
	runes := []rune(s)
	last := 0
	m, err := p.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		if m.Index > last {
			emit(string(runes[last:m.Index]))
		}
		if m.Length > 0 {
			emit(string(runes[m.Index : m.Index+m.Length]))
		}
		last = m.Index + m.Length
		m, err = p.re.FindNextMatch(m)
	}
	if last < len(runes) {
		emit(string(runes[last:]))
	}
}

// qwenPattern is the Split regex of Qwen2/Qwen2.5/Qwen3 tokenizer.json files.
const qwenPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// gpt2Pattern is what ByteLevel with use_regex=true splits on.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// llama3Pattern is the same with runs of up to three digits (Llama 3).
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// qwenPre is qwenPattern (digits 1) or llama3Pattern (digits 3) as a
// scanner: each alternative is tried in order at the current position, with
// the backtracking the regex would do written out.
type qwenPre struct{ digits int }

const (
	clsL = 1 << iota
	clsN
	clsS
	clsNL // \r or \n
)

var asciiCls = func() (t [128]uint8) {
	for c := 0; c < 128; c++ {
		r := rune(c)
		if unicode.IsLetter(r) {
			t[c] |= clsL
		}
		if unicode.IsNumber(r) {
			t[c] |= clsN
		}
		if unicode.IsSpace(r) {
			t[c] |= clsS
		}
	}
	t['\r'] |= clsNL
	t['\n'] |= clsNL
	return t
}()

// class returns the rune at s[i], its byte length and its classes.
func class(s string, i int) (rune, int, uint8) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1, asciiCls[c]
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	var k uint8
	if unicode.IsLetter(r) {
		k |= clsL
	} else if unicode.IsNumber(r) {
		k |= clsN
	} else if unicode.IsSpace(r) {
		k |= clsS
	}
	return r, n, k
}

// runWhile returns the end of the run of runes, from i, having a class in want
// (or, when not is set, having none of the classes in want).
func runWhile(s string, i int, want uint8, not bool) int {
	for i < len(s) {
		_, n, k := class(s, i)
		if (k&want != 0) == not {
			break
		}
		i += n
	}
	return i
}

func (q qwenPre) split(s string, _ bool, emit func(string)) {
	for i := 0; i < len(s); {
		j := qwenNext(s, i, q.digits)
		emit(s[i:j])
		i = j
	}
}

// qwenNext returns the end of the match that starts at i.
func qwenNext(s string, i, digits int) int {
	r, n, k := class(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d). Oniguruma (HF's regex engine) folds
	// case with Unicode's simple folding, under which ſ (U+017F) is s.
	if r == '\'' && i+1 < len(s) {
		if strings.HasPrefix(s[i+1:], "ſ") {
			return i + 1 + len("ſ")
		}
		c1 := s[i+1] | 0x20
		switch c1 {
		case 's', 't', 'm', 'd':
			return i + 2
		}
		if i+2 < len(s) {
			c2 := s[i+2] | 0x20
			if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
				return i + 3
			}
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if k&clsL != 0 {
		return runWhile(s, i+n, clsL, false)
	}
	if k&(clsN|clsNL) == 0 && i+n < len(s) {
		if _, _, k2 := class(s, i+n); k2&clsL != 0 {
			return runWhile(s, i+n, clsL, false)
		}
	}
	// \p{N}{1,digits}
	if k&clsN != 0 {
		j := i + n
		for d := 1; d < digits && j < len(s); d++ {
			_, n2, k2 := class(s, j)
			if k2&clsN == 0 {
				break
			}
			j += n2
		}
		return j
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	p := i
	if r == ' ' {
		p = i + 1
	}
	if p < len(s) {
		if _, _, kp := class(s, p); kp&(clsS|clsL|clsN) == 0 {
			j := runWhile(s, p, clsS|clsL|clsN, true)
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			return j
		}
	}
	// Only whitespace is left: r is \s.
	end := runWhile(s, i, clsS, false)
	// \s*[\r\n]+ : up to the last newline of the run.
	for j := end - 1; j >= i; j-- {
		if s[j] == '\r' || s[j] == '\n' {
			return j + 1
		}
	}
	// \s+(?!\S) : the run, less its last rune when a non-space follows.
	if end == len(s) {
		return end
	}
	_, lastN := utf8.DecodeLastRuneInString(s[i:end])
	if end-lastN > i {
		return end - lastN
	}
	// \s+
	return end
}

// byteRune is GPT-2's bytes_to_unicode: printable bytes stand for themselves,
// the others are moved to U+0100 onward in byte order. runeByte inverts it
// (-1 for runes outside the alphabet, which all lie below len(runeByte)).
var byteRune, runeByte = func() (br [256]rune, rb [324]int16) {
	for i := range rb {
		rb[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			br[b] = rune(b)
		} else {
			br[b] = rune(256 + n)
			n++
		}
		rb[br[b]] = int16(b)
	}
	return br, rb
}()

func byteLevelString(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteRune[s[i]])
	}
	return sb.String()
}
