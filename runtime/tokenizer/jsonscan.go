package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A tokenizer.json is mostly model.vocab (an object of token -> id) and
// model.merges (an array of "a b" strings or ["a", "b"] pairs). encoding/json
// into maps and slices of strings takes several times longer than this scanner
// on Qwen's 151k + 151k entries, so they are read by hand.

type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *jscan) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return s.errf("expected %q", c)
	}
	s.i++
	return nil
}

// peek returns the next non-space byte (0 at the end).
func (s *jscan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *jscan) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		}
		if c == '\\' {
			return s.strSlow(start)
		}
		s.i++
	}
	return "", s.errf("unterminated string")
}

// strSlow decodes a string with escapes, from start (just after the quote).
func (s *jscan) strSlow(start int) (string, error) {
	var sb strings.Builder
	sb.Write(s.b[start:s.i])
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return sb.String(), nil
		case c != '\\':
			sb.WriteByte(c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			sb.WriteByte(e)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", s.errf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					if lo, ok := s.hex4(); ok {
						r2 = utf16.DecodeRune(r, lo)
					}
				}
				r = r2
			}
			sb.WriteRune(r)
		default:
			return "", s.errf("bad escape \\%c", e)
		}
	}
	return "", s.errf("unterminated string")
}

func (s *jscan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

func (s *jscan) integer() (int, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && (s.b[s.i] >= '0' && s.b[s.i] <= '9' || s.b[s.i] == '-') {
		s.i++
	}
	v, err := strconv.Atoi(string(s.b[start:s.i]))
	if err != nil {
		return 0, s.errf("expected an integer id")
	}
	return v, nil
}

// maxVocabID bounds ids so that a corrupt file cannot make Load allocate
// gigabytes; real vocabularies stay well under a million.
const maxVocabID = 1 << 24

// scanVocabAt reads {"token": id, ...}.
func scanVocabAt(s *jscan) (map[string]int32, int, error) {
	if err := s.expect('{'); err != nil {
		return nil, 0, err
	}
	// Keys go to one arena string (one allocation instead of one per token)
	// and the map is made at its final size.
	type entry struct{ off, n, id int32 }
	var arena []byte
	var ents []entry
	maxID := -1
	if s.peek() == '}' {
		s.i++
		return map[string]int32{}, maxID, nil
	}
	for {
		k, err := s.strBytes()
		if err != nil {
			return nil, 0, err
		}
		if err := s.expect(':'); err != nil {
			return nil, 0, err
		}
		id, err := s.integer()
		if err != nil {
			return nil, 0, err
		}
		if id < 0 || id >= maxVocabID {
			return nil, 0, fmt.Errorf("token %q has id %d out of range", k, id)
		}
		ents = append(ents, entry{int32(len(arena)), int32(len(k)), int32(id)})
		arena = append(arena, k...)
		maxID = max(maxID, id)
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
		default:
			return nil, 0, s.errf("expected ',' or '}'")
		}
		break
	}
	all := string(arena)
	vocab := make(map[string]int32, len(ents))
	for _, e := range ents {
		vocab[all[e.off:e.off+e.n]] = e.id
	}
	return vocab, maxID, nil
}

// scanMerges reads the merges in rank order and keys them by id pair.
func scanMerges(raw []byte, vocab map[string]int32) (*mergeTable, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	return scanMergesAt(&jscan{b: raw}, vocab, nil)
}

// scanMergesAt reads the merges at s. tokens (id -> token, may be nil) lets
// it guess the merged id: in GPT-2-style vocabularies (Qwen's) merge r
// yields id 256+r, so a string comparison replaces a hash lookup.
func scanMergesAt(s *jscan, vocab map[string]int32, tokens []string) (*mergeTable, error) {
	if s.peek() == 'n' {
		s.i += 4 // null
		return nil, nil
	}
	if err := s.expect('['); err != nil {
		return nil, err
	}
	merges := newMergeTable(len(vocab))
	var buf []byte
	if s.peek() == ']' {
		s.i++
		return merges, nil
	}
	off := 256
	for rank := 0; ; rank++ {
		var a, b []byte
		var err error
		if s.peek() == '[' {
			s.i++
			if a, err = s.strBytes(); err == nil {
				if err = s.expect(','); err == nil {
					if b, err = s.strBytes(); err == nil {
						err = s.expect(']')
					}
				}
			}
		} else {
			var line []byte
			if line, err = s.strBytes(); err == nil {
				var ok bool
				if a, b, ok = bytes.Cut(line, []byte(" ")); !ok {
					err = fmt.Errorf("merge %d %q is not two tokens separated by a space", rank, line)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		// string(x) in a map index or comparison does not allocate.
		ia, ok1 := vocab[string(a)]
		ib, ok2 := vocab[string(b)]
		buf = append(append(buf[:0], a...), b...)
		in, ok3 := int32(rank+off), false
		if g := rank + off; g >= 0 && g < len(tokens) && tokens[g] == string(buf) {
			ok3 = true
		} else if in, ok3 = vocab[string(buf)]; ok3 {
			off = int(in) - rank
		}
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("merge %d (%q, %q): %q, %q or %q is not in model.vocab", rank, a, b, a, b, buf)
		}
		// A repeated pair takes its last rank, as HF's HashMap collect does.
		merges.set(ia, ib, merge{int32(rank), in})
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return merges, nil
		default:
			return nil, s.errf("expected ',' or ']'")
		}
	}
}

// strBytes is str without an allocation when the string has no escapes: the
// bytes are a view of the input.
func (s *jscan) strBytes() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			v := s.b[start:s.i]
			s.i++
			return v, nil
		case '\\':
			v, err := s.strSlow(start)
			return []byte(v), err
		}
		s.i++
	}
	return nil, s.errf("unterminated string")
}

// skipStr moves past a string without decoding it.
func (s *jscan) skipStr() error {
	if err := s.expect('"'); err != nil {
		return err
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return nil
		}
		s.i++
	}
	return s.errf("unterminated string")
}

// skip moves past one value and returns its bytes.
func (s *jscan) skip() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil, s.errf("unexpected end")
	}
	switch s.b[s.i] {
	case '"':
		if err := s.skipStr(); err != nil {
			return nil, err
		}
	case '{', '[':
		depth := 0
		for {
			if s.i >= len(s.b) {
				return nil, s.errf("unterminated object or array")
			}
			switch s.b[s.i] {
			case '"':
				if err := s.skipStr(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\r\n", rune(s.b[s.i])) {
			s.i++
		}
		if s.i == start {
			return nil, s.errf("expected a value")
		}
	}
	return s.b[start:s.i], nil
}

// objectFieldsFn reads the object at s; fn, when set, may consume the value
// of a key itself (returning true) instead of it being skipped and kept.
func objectFieldsFn(s *jscan, whole bool, fn func(key string, s *jscan) (bool, error)) (map[string]json.RawMessage, error) {
	if err := s.expect('{'); err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	if s.peek() == '}' {
		s.i++
		return out, nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return nil, err
		}
		if err := s.expect(':'); err != nil {
			return nil, err
		}
		handled := false
		if fn != nil {
			if handled, err = fn(k, s); err != nil {
				return nil, err
			}
		}
		if !handled {
			v, err := s.skip()
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			if whole && s.peek() != 0 {
				return nil, s.errf("data after the end of the object")
			}
			return out, nil
		default:
			return nil, s.errf("expected ',' or '}'")
		}
	}
}
