package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/eval"
)

// Example is one training or validation item: a judge prompt (the user
// turn), its ground-truth score and, for supervised recipes, the gold output.
type Example struct {
	Prompt string
	Y      float64
	Target string // gold "Feedback: ... <marker><score>" ("" when the file has none)
	Where  string // file and row, for messages
}

// loadExamples reads verl parquet files and Prometheus judge JSON/JSONL
// files, told apart by their content (parquet starts with PAR1).
func loadExamples(paths []string) ([]Example, error) {
	var out []Example
	for _, p := range paths {
		rows, err := readRows(p)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			u, ok := r.UserPrompt()
			if !ok {
				return nil, fmt.Errorf("%s: row %d: the prompt has no user turn", p, i)
			}
			ex := Example{Prompt: u, Y: r.GroundTruth.Value, Where: fmt.Sprintf("%s: row %d", p, i)}
			if r.GroundTruth.Text == "" && !r.GroundTruth.Float {
				return nil, fmt.Errorf("%s: row %d: no ground truth (reward_model.ground_truth); every training row needs a score", p, i)
			}
			if math.IsNaN(ex.Y) {
				return nil, fmt.Errorf("%s: row %d: ground truth %q is not a number", p, i, r.GroundTruth.Text)
			}
			for _, k := range []string{"answer", "output", "gpt4_feedback"} {
				if s, ok := r.Extra.String(k); ok && s != "" {
					ex.Target = s
					break
				}
			}
			out = append(out, ex)
		}
	}
	return out, nil
}

// readRows reads one data file as verl rows, parquet or judge JSON told
// apart by content.
func readRows(path string) ([]data.Row, error) {
	parquet, err := data.SniffParquet(path)
	if err != nil {
		return nil, err
	}
	rows, _, err := data.ReadJudgeRows(path, parquet, data.FormatREAL, data.GPT4Scores)
	return rows, err
}

// checkScores refuses training rows whose ground truth is not one of the
// recipe's score values (the score slot is teacher-forced with its token);
// with round, it first moves each to the nearest score value.
func checkScores(ex []Example, values []float64, round bool) error {
	for i := range ex {
		e := &ex[i]
		if round && len(values) > 0 {
			best := values[0]
			for _, v := range values {
				if math.Abs(v-e.Y) < math.Abs(best-e.Y) {
					best = v
				}
			}
			e.Y = best
		}
		if scoreIndex(values, e.Y) < 0 {
			return fmt.Errorf("%s: ground truth %v is not one of the recipe's score values %v (drop the row, or pass --round-gt to train on the nearest)", e.Where, e.Y, values)
		}
	}
	return nil
}

func scoreIndex(values []float64, y float64) int {
	for i, v := range values {
		if v == y {
			return i
		}
	}
	return -1
}

// goldOutput is the supervised target of an example: the gold feedback cut
// before its own score ("So the overall ..." or "[RESULT]") and followed by
// marker + the ground truth's score string (TRACT's stage-1 target).
func goldOutput(e Example, marker string, scoreStrings []string, values []float64) (string, error) {
	if e.Target == "" {
		return "", fmt.Errorf("%s: no gold output (extra_info.answer, output or gpt4_feedback) for supervised training", e.Where)
	}
	k := scoreIndex(values, e.Y)
	if k < 0 {
		return "", fmt.Errorf("%s: ground truth %v is not a score value %v", e.Where, e.Y, values)
	}
	t := e.Target
	for _, cut := range []string{strings.TrimSpace(marker), "So the overall", "[RESULT]"} {
		if cut == "" {
			continue
		}
		if i := strings.LastIndex(t, cut); i >= 0 {
			t = t[:i]
			break
		}
	}
	t = strings.TrimRight(t, " \n")
	if t != "" {
		t += " "
	}
	return t + marker + scoreStrings[k], nil
}

// benchmarks loads the validation files for the eval harness, each cut to
// its first limit items (0: all).
func benchmarks(paths []string, limit int) ([]eval.Benchmark, error) {
	var out []eval.Benchmark
	for _, p := range paths {
		b, err := eval.LoadBenchmark(p, eval.LoadOptions{Format: data.FormatREAL, Source: data.GPT4Scores, Limit: limit, ByContent: true})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
