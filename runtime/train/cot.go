package train

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/judge"
)

// generateCoTCommand is TRACT's stage 2 data step: a stage-1 checkpoint
// writes one CoT per training prompt (cut at the score marker, then the
// ground truth's score appended) into a new parquet file whose
// extra_info.answer is that text; `BIN train` from the seed model on it
// is the second stage.
func generateCoTCommand(p recipe.Program, _ recipe.Hypers, args []string, stdout, stderr io.Writer) error {
	m := p.Meta()
	fs := flag.NewFlagSet("generate-cot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var train listFlag
	modelDir := fs.String("model", "", "the stage-1 checkpoint (a Hugging Face folder)")
	fs.Var(&train, "train", "training data: verl parquet or Prometheus JSON/JSONL")
	out := fs.String("out", "", "the parquet file to write")
	chat := fs.String("chat", "", "prompt format: qwen3, mistral-v1 or none (default: from the model)")
	seed := fs.Uint64("seed", 1, "sampling seed")
	maxTok := fs.Int("max-tokens", 1024, "most tokens per CoT")
	temp := fs.Float64("temperature", 1.0, "sampling temperature (TRACT: 1.0)")
	topP := fs.Float64("top_p", 0.9, "nucleus cut (TRACT: 0.9)")
	batch := fs.Int("batch", 8, "prompts sampled together")
	if err := fs.Parse(splitArgs(args, map[string]bool{"train": true})); err != nil {
		return usageError{err}
	}
	if *modelDir == "" || len(train) == 0 || *out == "" || fs.NArg() > 0 {
		return usageError{fmt.Errorf("generate-cot needs --model DIR, --train FILE... and --out FILE.parquet")}
	}
	if !strings.HasSuffix(*out, ".parquet") {
		return usageError{fmt.Errorf("--out %s: the output is verl parquet; name it .parquet", *out)}
	}
	j, err := judge.Open(judge.Options{Model: *modelDir, Chat: *chat, Scores: m.ScoreStrings})
	if err != nil {
		return err
	}
	var rows []data.Row
	for _, path := range train {
		rs, err := readRows(path)
		if err != nil {
			return err
		}
		rows = append(rows, rs...)
	}
	s := eval.Sampling{Temperature: *temp, TopP: *topP, MaxTokens: *maxTok, Seed: *seed}
	prog := eval.NewProgress(stderr, len(rows), "generate-cot")
	for lo := 0; lo < len(rows); lo += max(1, *batch) {
		hi := min(lo+max(1, *batch), len(rows))
		prompts := make([]string, hi-lo)
		for i := range prompts {
			prompts[i], _ = rows[lo+i].UserPrompt()
		}
		gens, err := j.GenerateBatch(context.Background(), prompts, 1, s)
		if err != nil {
			return err
		}
		for i, g := range gens {
			r := &rows[lo+i]
			ex := Example{Prompt: prompts[i], Y: r.GroundTruth.Value, Target: g[0].Text, Where: fmt.Sprintf("row %d", lo+i)}
			text, err := goldOutput(ex, m.ScoreMarker, m.ScoreStrings, m.ScoreValues)
			if err != nil {
				return err
			}
			if r.Extra == nil {
				r.Extra = data.Extra{}
			}
			r.Extra["question"], r.Extra["answer"] = prompts[i], text
		}
		prog.Add(hi - lo)
	}
	prog.Done()
	if err := data.WriteFile(*out, rows, data.WriteOptions{}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: wrote %d CoTs to %s\n", m.Name, len(rows), *out)
	return nil
}
