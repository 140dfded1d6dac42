package eval

import (
	"math"
	"strings"
	"testing"
)

// ParseScore never panics; a score it returns is the digit at its offset,
// right after a marker.
func FuzzParseScore(f *testing.F) {
	for _, s := range []string{"So the overall score is 4", "[RESULT] 5", "[RESULT]3 ", "So the overall score is 4.5", "", "So the overall score is "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := ParseScore(s)
		if math.IsNaN(p.Score) {
			if p.Offset != -1 || p.FormatOK || p.Reason == "" {
				t.Fatalf("no score but %+v", p)
			}
			return
		}
		if p.Offset < 0 || p.Offset >= len(s) || float64(s[p.Offset]-'0') != p.Score || p.Score < 1 || p.Score > 5 {
			t.Fatalf("%q: %+v", s, p)
		}
		if !strings.Contains(s[:p.Offset], strings.TrimSpace(p.Marker)) {
			t.Fatalf("%q: no marker before the score: %+v", s, p)
		}
		if p.FormatOK != (strings.TrimSpace(s[p.Offset+1:]) == "" && (p.Marker == MarkerREAL || p.Marker == MarkerPrometheus)) {
			t.Fatalf("%q: format flag %+v", s, p)
		}
	})
}
