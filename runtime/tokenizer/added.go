package tokenizer

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// addedMatcher finds added tokens in raw text, leftmost-longest first, as HF's
// AddedVocabulary does (its Aho-Corasick automaton uses MatchKind::LeftmostLongest).
type addedMatcher struct {
	byFirst [256][]addedTok // candidates by first byte, longest first
	ids     map[int32]bool
}

type addedTok struct {
	content string
	id      int32
}

func newAddedMatcher(toks []addedTok) *addedMatcher {
	m := &addedMatcher{ids: map[int32]bool{}}
	for _, t := range toks {
		if t.content == "" {
			continue
		}
		m.byFirst[t.content[0]] = append(m.byFirst[t.content[0]], t)
		m.ids[t.id] = true
	}
	for i := range m.byFirst {
		c := m.byFirst[i]
		sort.SliceStable(c, func(a, b int) bool { return len(c[a].content) > len(c[b].content) })
	}
	return m
}

// split calls fn for each stretch of plain text (id -1) and each added token
// (its id), in order. Empty text stretches are skipped.
func (m *addedMatcher) split(text string, fn func(seg string, id int32)) {
	if m == nil || len(m.ids) == 0 {
		fn(text, -1)
		return
	}
	last := 0
	for i := 0; i < len(text); i++ {
		cands := m.byFirst[text[i]]
		if len(cands) == 0 {
			continue
		}
		for _, c := range cands {
			if strings.HasPrefix(text[i:], c.content) {
				// An added token never starts inside a UTF-8 sequence.
				if i > last {
					fn(text[last:i], -1)
				}
				fn(c.content, c.id)
				last = i + len(c.content)
				i = last - 1
				break
			}
		}
	}
	if last < len(text) {
		fn(text[last:], -1)
	}
}

// validUTF8 replaces invalid bytes so that the pipeline sees what a Rust
// String would hold.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
