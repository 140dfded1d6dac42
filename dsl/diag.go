package dsl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/realc-project/realc/internal/suggest"
)

// Pos is a position in a recipe: file, byte offset, line and column (both
// 1-based; columns count runes).
type Pos struct {
	File   string
	Offset int
	Line   int
	Col    int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Severity says whether a diagnostic fails the recipe.
type Severity int

const (
	// Error: the recipe is refused.
	Error Severity = iota
	// Warning: the recipe compiles, but probably not as meant.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one error (or warning) at a position, printed as
//
//	file:line:col: message
//	    the source line
//	         ^
//
// a warning's message starting with "warning: ".
type Diagnostic struct {
	Pos      Pos
	Msg      string
	Line     string // the source line, without its newline; empty if unknown
	Severity Severity
}

func (d *Diagnostic) String() string {
	var b strings.Builder
	if d.Severity == Warning {
		fmt.Fprintf(&b, "%s: warning: %s", d.Pos, d.Msg)
	} else {
		fmt.Fprintf(&b, "%s: %s", d.Pos, d.Msg)
	}
	if d.Line != "" && d.Pos.Col > 0 {
		b.WriteString("\n\t")
		b.WriteString(d.Line)
		b.WriteString("\n\t")
		// Keep the line's tabs so the caret lines up.
		col := 1
		for _, r := range d.Line {
			if col >= d.Pos.Col {
				break
			}
			if r == '\t' {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
			col++
		}
		b.WriteByte('^')
	}
	return b.String()
}

// ErrorList is a list of diagnostics; as an error it prints them all, one
// after another, in source order.
type ErrorList []*Diagnostic

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, d := range l {
		parts[i] = d.String()
	}
	return strings.Join(parts, "\n")
}

// Err returns l as an error, sorted and deduplicated, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	// The same message twice on one line (a name used twice before its
	// definition) says nothing new: keep the first.
	type lineMsg struct {
		line int
		msg  string
	}
	seen := map[lineMsg]bool{}
	out := l[:0]
	for _, d := range l {
		k := lineMsg{d.Pos.Line, d.Msg}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// Source holds a recipe's text, to quote lines in diagnostics.
type Source struct {
	File string
	Text []byte
}

// LineAt returns line n (1-based) of the source, without its newline.
func (s *Source) LineAt(n int) string {
	if s == nil || n < 1 {
		return ""
	}
	text := string(s.Text)
	for i := 1; i < n; i++ {
		k := strings.IndexByte(text, '\n')
		if k < 0 {
			return ""
		}
		text = text[k+1:]
	}
	if k := strings.IndexByte(text, '\n'); k >= 0 {
		text = text[:k]
	}
	return strings.TrimRight(text, "\r")
}

// Errorf makes a diagnostic at pos, quoting the source line.
func (s *Source) Errorf(pos Pos, format string, args ...any) *Diagnostic {
	return &Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...), Line: s.LineAt(pos.Line)}
}

// Warnf makes a warning at pos, quoting the source line.
func (s *Source) Warnf(pos Pos, format string, args ...any) *Diagnostic {
	d := s.Errorf(pos, format, args...)
	d.Severity = Warning
	return d
}

// Suggest returns ` (did you mean "x"?)` for the candidate closest to name, or
// "" when none is close enough (a third of a short name, at most 3 edits).
func Suggest(name string, candidates []string) string {
	if len(name) > 64 {
		return ""
	}
	return suggest.Hint(name, candidates, min(len(name)/2+1, 3))
}

// SuggestFit is Suggest for a name whose use tells what it must be (a
// function of two arguments, a value, ...): of the candidates closest to
// name (within Suggest's distance, and at most half the shorter of the two
// words), those for which fits reports true are
// preferred, and all of them are named when several are as close:
// ` (did you mean "log" or "loo"?)`. A nil fits accepts every candidate.
func SuggestFit(name string, candidates []string, fits func(string) bool) string {
	if len(name) > 64 {
		return ""
	}
	maxDist := min(len(name)/2+1, 3)
	best := maxDist + 1
	var closest []string
	seen := map[string]bool{}
	for _, c := range candidates {
		if c == name || seen[c] {
			continue
		}
		seen[c] = true
		d := suggest.Distance(name, c)
		if d > (min(len(name), len(c))+1)/2 {
			continue // more than half of the shorter word: not a typo of it ("gamma" is not "acc")
		}
		switch {
		case d < best:
			best, closest = d, []string{c}
		case d == best:
			closest = append(closest, c)
		}
	}
	if fits != nil {
		var fit []string
		for _, c := range closest {
			if fits(c) {
				fit = append(fit, c)
			}
		}
		if len(fit) > 0 {
			closest = fit
		}
	}
	sort.Strings(closest)
	if len(closest) > 3 {
		closest = closest[:3]
	}
	quoted := make([]string, len(closest))
	for i, c := range closest {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	switch len(quoted) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf(" (did you mean %s?)", quoted[0])
	}
	return fmt.Sprintf(" (did you mean %s or %s?)", strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1])
}
