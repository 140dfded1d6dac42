// Package data reads and writes the data sets LLM-judge recipes train and
// evaluate on: verl's parquet schema (through Apache Arrow's pqarrow) and the
// Prometheus judge JSON files (MT-Bench, Vicuna, FLASK, Feedback-Bench), and
// converts between the two. See ../shared/spec/objectives.md section 4.
package data

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Message is one chat turn of a verl prompt.
type Message struct {
	Role    string
	Content string
}

// GroundTruth is reward_model.ground_truth. verl training files store it as a
// string ("4"), REAL's eval files as a float (the mean of three GPT-4 scores);
// both are kept so a file written back keeps its column type.
type GroundTruth struct {
	Text  string  // the value as text; for a float column, the shortest form that round-trips
	Value float64 // the numeric value; NaN when Text is not a number
	Float bool    // true when the column is floating point (or integer)
}

// StringGT makes a string ground truth ("4").
func StringGT(s string) GroundTruth {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		v = math.NaN()
	}
	return GroundTruth{Text: s, Value: v}
}

// FloatGT makes a floating-point ground truth.
func FloatGT(v float64) GroundTruth {
	return GroundTruth{Text: strconv.FormatFloat(v, 'g', -1, 64), Value: v, Float: true}
}

// Row is one row of a verl parquet file. Columns and keys that are not named
// here are tolerated on read; scalar keys of extra_info are kept in Extra.
type Row struct {
	DataSource  string
	Prompt      []Message
	Ability     string
	Style       string // reward_model.style, "rule" in REAL's files
	GroundTruth GroundTruth
	Extra       Extra // extra_info
}

// UserPrompt returns the content of the last user turn (REAL's prompts are a
// single user turn), and false when there is none.
func (r Row) UserPrompt() (string, bool) {
	for i := len(r.Prompt) - 1; i >= 0; i-- {
		if r.Prompt[i].Role == "user" {
			return r.Prompt[i].Content, true
		}
	}
	return "", false
}

// Extra holds extra_info. Values are string, int64, float64, bool, []float64
// or nil (a null in the file).
type Extra map[string]any

// String returns key's value as a string: strings as they are, numbers and
// booleans formatted; false when the key is absent or null.
func (e Extra) String(key string) (string, bool) {
	switch v := e[key].(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// Int returns key's value as an integer when it is one (int64, or a float64
// or string holding an integer).
func (e Extra) Int(key string) (int64, bool) {
	switch v := e[key].(type) {
	case int64:
		return v, true
	case float64:
		if v == math.Trunc(v) && !math.IsInf(v, 0) {
			return int64(v), true
		}
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Floats returns key's value as a list of numbers (a list, or one number).
func (e Extra) Floats(key string) ([]float64, bool) {
	switch v := e[key].(type) {
	case []float64:
		return v, true
	case float64:
		return []float64{v}, true
	case int64:
		return []float64{float64(v)}, true
	}
	return nil, false
}

// ExtraType is the parquet type of one extra_info key when writing.
type ExtraType int

const (
	ExtraString ExtraType = iota
	ExtraInt
	ExtraFloat
	ExtraBool
	ExtraFloatList
)

func (t ExtraType) String() string {
	return [...]string{"string", "int64", "double", "bool", "list<double>"}[t]
}

// ExtraField names one key of extra_info and its type.
type ExtraField struct {
	Name string
	Type ExtraType
}

// InferExtra returns the extra_info keys used by rows, sorted by name, with
// their types. A key whose values have different types in different rows is
// an error naming both rows; integers and floats mix as floats.
func InferExtra(rows []Row) ([]ExtraField, error) {
	type seen struct {
		t   ExtraType
		row int
	}
	types := map[string]seen{}
	for i, r := range rows {
		for k, v := range r.Extra {
			var t ExtraType
			switch v.(type) {
			case nil:
				continue
			case string:
				t = ExtraString
			case int64:
				t = ExtraInt
			case float64:
				t = ExtraFloat
			case bool:
				t = ExtraBool
			case []float64:
				t = ExtraFloatList
			default:
				return nil, fmt.Errorf("row %d: extra_info.%s has Go type %T; use string, int64, float64, bool or []float64", i, k, v)
			}
			old, ok := types[k]
			switch {
			case !ok:
				types[k] = seen{t, i}
			case old.t == t:
			case (old.t == ExtraInt && t == ExtraFloat) || (old.t == ExtraFloat && t == ExtraInt):
				types[k] = seen{ExtraFloat, old.row}
			default:
				return nil, fmt.Errorf("extra_info.%s is %s in row %d but %s in row %d; make the types agree", k, old.t, old.row, t, i)
			}
		}
	}
	out := make([]ExtraField, 0, len(types))
	for k, s := range types {
		out = append(out, ExtraField{k, s.t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Problem is something wrong with one row: a null where a value is needed, a
// ground truth that is not a number or is outside the score range.
type Problem struct {
	Row   int    // 0-based row in the file
	Field string // e.g. "reward_model.ground_truth"
	Msg   string
}

func (p Problem) Error() string { return fmt.Sprintf("row %d, %s: %s", p.Row, p.Field, p.Msg) }

// ScoreMin and ScoreMax bound the judge scores of the Prometheus rubric.
const (
	ScoreMin = 1
	ScoreMax = 5
)

// ValidateJudgeRow returns the problems that make row unusable as a judge
// training or evaluation item: no user turn, or a ground truth that is not a
// number in [ScoreMin, ScoreMax].
func ValidateJudgeRow(i int, r Row) []Problem {
	var ps []Problem
	if _, ok := r.UserPrompt(); !ok {
		ps = append(ps, Problem{i, "prompt", "no turn with role \"user\""})
	}
	gt := r.GroundTruth
	switch {
	case math.IsNaN(gt.Value):
		ps = append(ps, Problem{i, "reward_model.ground_truth", fmt.Sprintf("%q is not a number", gt.Text)})
	case gt.Value < ScoreMin || gt.Value > ScoreMax:
		ps = append(ps, Problem{i, "reward_model.ground_truth", fmt.Sprintf("score %s is outside %d..%d", gt.Text, ScoreMin, ScoreMax)})
	}
	return ps
}
