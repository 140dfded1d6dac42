// Package suggest finds the known name closest to a mistyped one, for the
// "did you mean" hints of realc's diagnostics: recipe names and settings,
// subcommands, tensor names.
package suggest

import (
	"fmt"
	"strings"
)

// Closest returns the candidate nearest to name within maxDist edits, or ""
// when none is that close. Ties go to the alphabetically first candidate, so
// hints do not depend on the candidates' order; name itself is never suggested.
func Closest(name string, candidates []string, maxDist int) string {
	best, bestD := "", maxDist+1
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := Distance(name, c); d < bestD || (d == bestD && best != "" && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// Hint is Closest formatted for the end of an error message:
// ` (did you mean "x"?)`, or "" when nothing is close.
func Hint(name string, candidates []string, maxDist int) string {
	if best := Closest(name, candidates, maxDist); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Distance is the case-insensitive optimal-string-alignment distance:
// insertions, deletions, substitutions and transpositions of neighbours
// ("lamdba" is one edit from "lambda").
func Distance(a, b string) int {
	ra, rb := []rune(strings.ToLower(a)), []rune(strings.ToLower(b))
	pp := make([]int, len(rb)+1) // row i-2
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(rb)]
}
