package data

import (
	"strings"
	"testing"
)

// Whenever a prompt splits, rendering the parts gives it back byte for byte,
// and re-rendering in the other format and back is the identity.
func FuzzSplitPrompt(f *testing.F) {
	good := "###Task Description:\nx\n" + PrometheusFormatLine + mInstruction + "I" + mResponse + "R" + mReference + "A" + mRubric +
		"[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e" + mFeedback + " "
	f.Add(good)
	f.Add(strings.Replace(good, "R", "R"+mResponse+"R2"+mReference+"X", 1))
	f.Add(strings.Replace(good, "[C]", "[C]]\nScore 1: [", 1))
	f.Add("###Task Description:" + mInstruction + mResponse + mReference + mRubric + "[]\nScore 1: \nScore 2: \nScore 3: \nScore 4: \nScore 5: " + mFeedback)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := SplitPrompt(s)
		if err != nil {
			return
		}
		if got := p.Render(); got != s {
			t.Fatalf("render differs:\n%q\n%q", got, s)
		}
		if fm, ok := p.Format(); ok {
			other := FormatREAL
			if fm == FormatREAL {
				other = FormatPrometheus
			}
			o, err := Reformat(s, other)
			if err != nil {
				// the other format's line may now be present too; only a
				// failure to split the re-rendered prompt is a bug
				return
			}
			if back, err := Reformat(o, fm); err == nil && strings.Count(s, PrometheusFormatLine)+strings.Count(s, REALFormatLine) == 1 && back != s {
				t.Fatalf("format round trip differs:\n%q\n%q", back, s)
			}
		}
	})
}
