package eval

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
)

// Score markers: REAL/TRACT end with "So the overall score is N", Prometheus
// with "[RESULT] N".
const (
	MarkerREAL       = "So the overall score is "
	MarkerPrometheus = "[RESULT] "
)

// Parsed is what ParseScore found in a judge's output.
type Parsed struct {
	Score    float64 // the score 1..5, NaN when none was found
	Marker   string  // the marker the score followed ("" when none)
	Offset   int     // byte offset of the score digit in the text, -1 when none
	FormatOK bool    // the output ends with marker + digit (trailing spaces allowed), nothing after
	Reason   string  // why the score was not found or the format did not hold ("" when FormatOK)
}

// ParseScore finds the score after the last "So the overall score is " or
// "[RESULT] " in text (whichever comes later): a single digit 1..5 that is not
// followed by another digit or a decimal part. The format holds when nothing
// but white space follows the digit; a score followed by more text is still
// returned, with FormatOK false and the reason.
func ParseScore(text string) Parsed {
	p := Parsed{Score: math.NaN(), Offset: -1}
	at, marker := -1, ""
	for _, m := range []string{MarkerREAL, MarkerPrometheus} {
		if i := strings.LastIndex(text, m); i > at {
			at, marker = i, m
		}
	}
	if at < 0 {
		// Models often drop the marker's trailing space ("[RESULT]4").
		for _, m := range []string{MarkerREAL, MarkerPrometheus} {
			if i := strings.LastIndex(text, strings.TrimSuffix(m, " ")); i > at {
				at, marker = i, strings.TrimSuffix(m, " ")
			}
		}
		if at < 0 {
			p.Reason = "no \"So the overall score is\" or \"[RESULT]\" marker"
			return p
		}
	}
	p.Marker = marker
	pos := at + len(marker)
	rest := text[pos:]
	if marker != MarkerREAL && marker != MarkerPrometheus {
		// marker without its space: allow spaces before the digit
		trimmed := strings.TrimLeft(rest, " ")
		pos += len(rest) - len(trimmed)
		rest = trimmed
	}
	if rest == "" || rest[0] < '1' || rest[0] > '5' {
		shown := rest
		if len(shown) > 12 {
			shown = shown[:12] + "..."
		}
		p.Reason = fmt.Sprintf("%q is not followed by a score 1..5 (found %q)", strings.TrimSpace(marker), shown)
		return p
	}
	if len(rest) > 1 && (rest[1] >= '0' && rest[1] <= '9' || rest[1] == '.' && len(rest) > 2 && rest[2] >= '0' && rest[2] <= '9') {
		p.Reason = fmt.Sprintf("the score after %q is not a single digit 1..5", strings.TrimSpace(marker))
		return p
	}
	p.Score, p.Offset = float64(rest[0]-'0'), pos
	tail := rest[1:]
	switch {
	case marker != MarkerREAL && marker != MarkerPrometheus:
		p.Reason = fmt.Sprintf("marker %q without its space", marker)
	case strings.TrimRightFunc(tail, unicode.IsSpace) != "":
		shown := strings.TrimSpace(tail)
		if len(shown) > 20 {
			shown = shown[:20] + "..."
		}
		p.Reason = fmt.Sprintf("text after the score: %q", shown)
	default:
		p.FormatOK = true
	}
	return p
}

// TokenAt returns the index of the token holding byte offset off, given the
// byte offset where each token starts (ascending, starts[0] = 0 for the first
// generated token); -1 when off is negative or before the first token.
func TokenAt(starts []int, off int) int {
	if off < 0 || len(starts) == 0 || off < starts[0] {
		return -1
	}
	// the last token starting at or before off
	return sort.SearchInts(starts, off+1) - 1
}

// Policy says what to do with an output whose score cannot be parsed.
type Policy int

const (
	// PolicyCount (the default) reads the score slot where the score was
	// found; an output without one is counted as a parse failure, reported by
	// item, and left out of the item's mean (items with no parsed output are
	// left out of the metrics, and the table says how many).
	PolicyCount Policy = iota
	// PolicyBlind is REAL's: the score slot is always the last generated token
	// (the token before EOS), whatever the text says; failures are still
	// counted but every item enters the metrics.
	PolicyBlind
	// PolicyDrop is TRACT's: an unparsable output is NaN and dropped, items
	// with no parsed output are dropped, and nothing is listed by item.
	PolicyDrop
)

func (p Policy) String() string {
	return [...]string{"count", "blind", "drop"}[p]
}

// ParsePolicy reads "count", "blind" (REAL) or "drop" (TRACT).
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "count", "":
		return PolicyCount, nil
	case "blind", "real":
		return PolicyBlind, nil
	case "drop", "tract":
		return PolicyDrop, nil
	}
	return 0, fmt.Errorf("failure policy %q: want count (default), blind (REAL: token before EOS) or drop (TRACT)", s)
}
