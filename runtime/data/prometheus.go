package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// JudgeItem is one item of a Prometheus absolute-grading JSON file
// (mt_bench_eval.json, vicuna_eval.json, FLASK, Feedback-Bench).
type JudgeItem struct {
	Pos            int       // position in the file's array
	Idx            int64     // the item's "idx" (the question id), -1 when absent
	Instruction    string    // the full judge prompt
	GPT4Scores     []float64 // "gpt4_score": a list, or one number
	HumanScores    []float64 // "human_score" where present (FLASK)
	Feedback       []string  // "gpt4_feedback": a list, or one string
	Category       string
	Criteria       string
	ResponseSource string
}

// ScoreSource picks the ground truth of a judge item.
type ScoreSource int

const (
	GPT4Scores  ScoreSource = iota // mean of the GPT-4 scores (REAL's and TRACT's default)
	HumanScores                    // mean of the human scores (FLASK's human_score)
)

// ParseScoreSource reads "gpt4" or "human".
func ParseScoreSource(s string) (ScoreSource, error) {
	switch s {
	case "gpt4", "":
		return GPT4Scores, nil
	case "human":
		return HumanScores, nil
	}
	return 0, fmt.Errorf("score source %q: want gpt4 or human", s)
}

// GroundTruth returns the mean of the chosen scores.
func (it JudgeItem) GroundTruth(src ScoreSource) (float64, error) {
	xs, name := it.GPT4Scores, "gpt4_score"
	if src == HumanScores {
		xs, name = it.HumanScores, "human_score"
	}
	if len(xs) == 0 {
		return 0, fmt.Errorf("[%d].%s: absent or empty", it.Pos, name)
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs)), nil
}

// ReadJudgeJSON reads a Prometheus judge file (a JSON array of items, or JSON Lines).
func ReadJudgeJSON(path string) ([]JudgeItem, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	items, err := ParseJudgeJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return items, nil
}

// ParseJudgeJSON parses the items of a judge file: a JSON array of objects,
// or JSON Lines (one object per line). Errors name the item ("[12].gpt4_score[1]",
// with the line for JSON Lines). Scores must lie in ScoreMin..ScoreMax.
func ParseJudgeJSON(b []byte) ([]JudgeItem, error) {
	raw, lines, err := splitJudgeJSON(b)
	if err != nil {
		return nil, err
	}
	items := make([]JudgeItem, len(raw))
	for i, m := range raw {
		if items[i], err = parseJudgeItem(i, m); err != nil {
			if lines != nil {
				return nil, fmt.Errorf("line %d: %v", lines[i], err)
			}
			return nil, err
		}
	}
	return items, nil
}

// ParseJudgeJSONLenient parses like ParseJudgeJSON but turns each bad item
// into a problem (Row = the item's position, Field = its JSON path) and goes
// on; it returns the good items and the number of items in all. Only a file
// that is not JSON at all is an error.
func ParseJudgeJSONLenient(b []byte) (items []JudgeItem, problems []Problem, total int, err error) {
	raw, lines, err := splitJudgeJSON(b)
	if err != nil {
		return nil, nil, 0, err
	}
	for i, m := range raw {
		it, err := parseJudgeItem(i, m)
		if err != nil {
			ie := err.(*itemError)
			msg := ie.msg
			if lines != nil {
				msg += fmt.Sprintf(" (line %d)", lines[i])
			}
			problems = append(problems, Problem{Row: i, Field: ie.field, Msg: msg})
			continue
		}
		items = append(items, it)
	}
	return items, problems, len(raw), nil
}

// splitJudgeJSON returns the objects of a JSON array or of JSON Lines (then
// with the line of each).
func splitJudgeJSON(b []byte) ([]map[string]json.RawMessage, []int, error) {
	var raw []map[string]json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, nil, fmt.Errorf("not a JSON array of objects: %v", err)
		}
		return raw, nil, nil
	}
	var lines []int
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, nil, fmt.Errorf("line %d: not a JSON object: %v (a judge file is a JSON array or JSON Lines)", n+1, err)
		}
		raw = append(raw, m)
		lines = append(lines, n+1)
	}
	return raw, lines, nil
}

// itemError is an error in field of item pos.
type itemError struct {
	pos   int
	field string // JSON path inside the item ("gpt4_score[2]"), "" for the item
	msg   string
}

func (e *itemError) Error() string {
	if e.field == "" {
		return fmt.Sprintf("[%d]: %s", e.pos, e.msg)
	}
	return fmt.Sprintf("[%d].%s: %s", e.pos, e.field, e.msg)
}

// fieldErr turns a "field: message" error into an itemError.
func fieldErr(pos int, err error) *itemError {
	f, m, ok := strings.Cut(err.Error(), ": ")
	if !ok {
		return &itemError{pos, "", err.Error()}
	}
	return &itemError{pos, f, m}
}

func parseJudgeItem(i int, m map[string]json.RawMessage) (JudgeItem, error) {
	it := JudgeItem{Pos: i, Idx: -1}
	var err error
	if it.Instruction, err = jsonString(m, "instruction", true); err != nil {
		return it, fieldErr(i, err)
	}
	if v, ok := m["idx"]; ok {
		var f float64
		if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) {
			return it, &itemError{i, "idx", "want an integer, found " + abbrev(v)}
		}
		it.Idx = int64(f)
	}
	if it.GPT4Scores, err = jsonScores(m, "gpt4_score"); err != nil {
		return it, fieldErr(i, err)
	}
	if it.GPT4Scores == nil {
		// Feedback-Collection rows carry the score as orig_score ("4").
		if it.GPT4Scores, err = jsonScores(m, "orig_score"); err != nil {
			return it, fieldErr(i, err)
		}
	}
	if it.HumanScores, err = jsonScores(m, "human_score"); err != nil {
		return it, fieldErr(i, err)
	}
	if it.GPT4Scores == nil && it.HumanScores == nil {
		return it, &itemError{i, "", "no gpt4_score, orig_score or human_score"}
	}
	if v, ok := m["gpt4_feedback"]; ok {
		var one string
		if json.Unmarshal(v, &one) == nil {
			it.Feedback = []string{one}
		} else if err := json.Unmarshal(v, &it.Feedback); err != nil {
			return it, &itemError{i, "gpt4_feedback", "want a string or a list of strings, found " + abbrev(v)}
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"category", &it.Category}, {"criteria", &it.Criteria}, {"response_source", &it.ResponseSource}} {
		if *f.dst, err = jsonString(m, f.key, false); err != nil {
			return it, fieldErr(i, err)
		}
	}
	return it, nil
}

func abbrev(v json.RawMessage) string {
	s := string(v)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

func jsonString(m map[string]json.RawMessage, key string, required bool) (string, error) {
	v, ok := m[key]
	if !ok || string(v) == "null" {
		if required {
			return "", fmt.Errorf("%s: missing", key)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s: want a string, found %s", key, abbrev(v))
	}
	return s, nil
}

// jsonScores reads a score field that is a number, a numeric string, or a
// list of those; nil when the key is absent or null.
func jsonScores(m map[string]json.RawMessage, key string) ([]float64, error) {
	v, ok := m[key]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil {
		list = []json.RawMessage{v}
	} else if len(list) == 0 {
		return nil, fmt.Errorf("%s: empty list", key)
	}
	out := make([]float64, len(list))
	for j, e := range list {
		path := key
		if len(list) > 1 || v[0] == '[' {
			path = fmt.Sprintf("%s[%d]", key, j)
		}
		var f float64
		if err := json.Unmarshal(e, &f); err != nil {
			var s string
			if json.Unmarshal(e, &s) != nil {
				return nil, fmt.Errorf("%s: want a number, found %s", path, abbrev(e))
			}
			if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				return nil, fmt.Errorf("%s: want a number, found %s", path, abbrev(e))
			}
		}
		if f < ScoreMin || f > ScoreMax || math.IsNaN(f) {
			return nil, fmt.Errorf("%s: score %v is outside %d..%d", path, f, ScoreMin, ScoreMax)
		}
		out[j] = f
	}
	return out, nil
}

// DataSourceFor names a judge file the way REAL's eval_json_to_parquet.py
// does: mt_bench_evaluation, vicuna_evaluation, flask_evaluation, else the
// file's base name.
func DataSourceFor(path string) string {
	base := strings.ToLower(filepath.Base(path))
	switch {
	case strings.Contains(base, "flask"):
		return "flask_evaluation"
	case strings.Contains(base, "mt_bench"):
		return "mt_bench_evaluation"
	case strings.Contains(base, "vicuna"):
		return "vicuna_evaluation"
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}
