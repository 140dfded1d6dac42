package data

import (
	"fmt"
	"strings"
)

// Format is the output format a judge prompt asks for.
type Format int

const (
	// FormatREAL asks for "Feedback: ... So the overall score is N" (REAL, TRACT).
	FormatREAL Format = iota
	// FormatPrometheus asks for "Feedback: ... [RESULT] N" (Prometheus' native format).
	FormatPrometheus
)

func (f Format) String() string {
	if f == FormatPrometheus {
		return "prometheus"
	}
	return "real"
}

// ParseFormat reads "real" or "prometheus".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "real":
		return FormatREAL, nil
	case "prometheus":
		return FormatPrometheus, nil
	}
	return 0, fmt.Errorf("format %q: want real or prometheus", s)
}

// The format lines (item 3 of the task description). The REAL line is copied
// byte for byte from REAL's feedback_collection_sft.py, stray quote included,
// so that prompts match the ones its checkpoints were trained on.
const (
	PrometheusFormatLine = `3. The output format should look as follows: "Feedback: (write a feedback for criteria) [RESULT] (an integer number between 1 and 5)"`
	REALFormatLine       = `3. The output format should look as follows: "Feedback: (write a feedback for criteria). So the overall score is (score)"'. Please end with the final score only without a period.`
)

// FormatLine returns the format line that f puts in the task description.
func (f Format) FormatLine() string {
	if f == FormatPrometheus {
		return PrometheusFormatLine
	}
	return REALFormatLine
}

// The section markers of the Prometheus absolute-grading template.
const (
	mInstruction = "\n\n###The instruction to evaluate:\n"
	mResponse    = "\n\n###Response to evaluate:\n"
	mReference   = "\n\n###Reference Answer (Score 5):\n"
	mRubric      = "\n\n###Score Rubrics:\n"
	mFeedback    = "\n\n###Feedback:"
)

// PromptParts is a Prometheus judge prompt split into the nine parts of the
// template in objectives.md section 4 (orig_instruction, orig_response,
// orig_reference_answer, orig_criteria, orig_score1..5_description), plus the
// fixed text around them.
type PromptParts struct {
	Header          string // "###Task Description:\n..." up to the format rules' end
	Instruction     string
	Response        string
	ReferenceAnswer string
	Criteria        string    // without the surrounding brackets
	ScoreDesc       [5]string // the rubric's "Score k: ..." texts
	Suffix          string    // what follows "###Feedback:" (usually one space)
}

// Format reports which format the header's line 3 asks for, and false when
// it asks for neither.
func (p PromptParts) Format() (Format, bool) {
	switch {
	case strings.Contains(p.Header, PrometheusFormatLine):
		return FormatPrometheus, true
	case strings.Contains(p.Header, REALFormatLine):
		return FormatREAL, true
	}
	return 0, false
}

// SplitPrompt splits a Prometheus judge prompt into its parts. The error says
// which marker is missing or out of place. Markers are searched so that text
// inside the instruction or response that looks like a later marker does not
// cut it short: the instruction ends at the first response marker, the
// rubric starts at the last rubric marker.
func SplitPrompt(s string) (PromptParts, error) {
	var p PromptParts
	if !strings.HasPrefix(s, "###Task Description:") {
		return p, fmt.Errorf("does not start with \"###Task Description:\"")
	}
	i := strings.Index(s, mInstruction)
	if i < 0 {
		return p, fmt.Errorf("no %q section", strings.TrimSpace(mInstruction))
	}
	p.Header = s[:i]
	rest := s[i+len(mInstruction):]
	f := strings.LastIndex(rest, mFeedback)
	if f < 0 {
		return p, fmt.Errorf("no %q at the end", strings.TrimSpace(mFeedback))
	}
	p.Suffix = rest[f+len(mFeedback):]
	rest = rest[:f]
	r := strings.LastIndex(rest, mRubric)
	if r < 0 {
		return p, fmt.Errorf("no %q section", strings.TrimSpace(mRubric))
	}
	rubric := rest[r+len(mRubric):]
	rest = rest[:r]
	j := strings.Index(rest, mResponse)
	if j < 0 {
		return p, fmt.Errorf("no %q section", strings.TrimSpace(mResponse))
	}
	p.Instruction = rest[:j]
	rest = rest[j+len(mResponse):]
	k := strings.LastIndex(rest, mReference)
	if k < 0 {
		return p, fmt.Errorf("no %q section", strings.TrimSpace(mReference))
	}
	p.Response, p.ReferenceAnswer = rest[:k], rest[k+len(mReference):]
	if !strings.HasPrefix(rubric, "[") {
		return p, fmt.Errorf("the score rubric does not start with \"[criteria]\"")
	}
	c := strings.LastIndex(rubric, "]\nScore 1: ")
	if c < 0 {
		return p, fmt.Errorf("the score rubric has no \"]\\nScore 1: \" after the criteria")
	}
	p.Criteria = rubric[1:c]
	rubric = rubric[c+len("]\nScore 1: "):]
	for k := 2; k <= 5; k++ {
		m := fmt.Sprintf("\nScore %d: ", k)
		e := strings.Index(rubric, m)
		if e < 0 {
			return p, fmt.Errorf("the score rubric has no %q", strings.TrimPrefix(m, "\n"))
		}
		p.ScoreDesc[k-2] = rubric[:e]
		rubric = rubric[e+len(m):]
	}
	p.ScoreDesc[4] = rubric
	return p, nil
}

// Render writes the prompt back; SplitPrompt(s) then Render gives s again.
func (p PromptParts) Render() string {
	var b strings.Builder
	b.Grow(len(p.Header) + len(p.Instruction) + len(p.Response) + len(p.ReferenceAnswer) + 1024)
	b.WriteString(p.Header)
	b.WriteString(mInstruction)
	b.WriteString(p.Instruction)
	b.WriteString(mResponse)
	b.WriteString(p.Response)
	b.WriteString(mReference)
	b.WriteString(p.ReferenceAnswer)
	b.WriteString(mRubric)
	b.WriteString("[" + p.Criteria + "]")
	for k, d := range p.ScoreDesc {
		fmt.Fprintf(&b, "\nScore %d: %s", k+1, d)
	}
	b.WriteString(mFeedback)
	b.WriteString(p.Suffix)
	return b.String()
}

// WithFormat returns the parts with the header's format line replaced by f's.
// The header must hold one of the two known format lines.
func (p PromptParts) WithFormat(f Format) (PromptParts, error) {
	cur, ok := p.Format()
	if !ok {
		return p, fmt.Errorf("the task description has neither the Prometheus nor the REAL format line (item 3)")
	}
	p.Header = strings.Replace(p.Header, cur.FormatLine(), f.FormatLine(), 1)
	return p, nil
}

// Reformat splits a judge prompt and renders it in format f.
func Reformat(s string, f Format) (string, error) {
	p, err := SplitPrompt(s)
	if err != nil {
		return "", err
	}
	if p, err = p.WithFormat(f); err != nil {
		return "", err
	}
	return p.Render(), nil
}
