package train

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/judge"
)

// evalCommand is `BIN eval`: the judge in a model folder (a Hugging Face
// folder, a run's step-N checkpoint, or a run's --out folder: its newest
// complete checkpoint) on benchmark files, on the CPU or a GPU, scored with
// the recipe's score strings and values. It is `realc eval --model` with
// --device: the same harness (runtime/eval's Run), the same table and the
// same report files.
func evalCommand(p recipe.Program, args []string, stdout, stderr io.Writer) error {
	m := p.Meta()
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: %s eval --model DIR [flags] BENCHMARK...

Evaluates the judge in DIR (a Hugging Face folder, a checkpoint OUT/step-N, or a
run's OUT folder: its newest complete checkpoint) on benchmark files (Prometheus
judge .json or verl .parquet) as 'realc eval --model' does, with the recipe's
score strings %v: samples --n outputs per item, predicts E[score] (--mode rail)
or the parsed score (decode), and prints Pearson, Spearman, Kendall (x100), RMSE,
parse failures and items per benchmark; with --out it writes report.json,
report.md and scatter_<benchmark>.png there. --device cuda decodes on a GPU.

Flags:
`, m.Name, m.ScoreStrings)
		fs.PrintDefaults()
	}
	var benchFiles listFlag
	modelDir := fs.String("model", "", "the judge: a Hugging Face folder, a checkpoint OUT/step-N, or a run's OUT folder (its newest complete checkpoint)")
	tokPath := fs.String("tokenizer", "", "tokenizer.json, tokenizer.model or a folder holding one (default: the model's folder)")
	chatFmt := fs.String("chat", "", "prompt format: "+strings.Join(judge.Chats, ", ")+" (default: from the model's architecture)")
	noThink := fs.Bool("no-think", false, "Qwen3's enable_thinking=false")
	device := fs.String("device", "cpu", "where the model runs: cpu, or cuda (GPU 0; cuda:N for GPU N) in a trainer built with `realc build --tags cuda`")
	fs.Var(&benchFiles, "val", "a benchmark file, as BIN train's --val (repeatable; files may also follow the flags)")
	var ef eval.Flags
	ef.Register(fs, "blind", "parse failures: blind (REAL: the token before EOS; BIN train's --eval-policy default), count or drop (TRACT)")
	quiet := fs.Bool("quiet", false, "no progress display")
	// BIN train's names of the same settings.
	fs.StringVar(&ef.Policy, "eval-policy", "blind", "the same as --policy")
	fs.IntVar(&ef.MaxTokens, "eval-max-tokens", eval.DefaultSampling.MaxTokens, "the same as --max-tokens")
	fs.IntVar(&ef.Limit, "eval-limit", 0, "the same as --limit")

	args = splitArgs(args, map[string]bool{"val": true})
	// Benchmark files may come before, between or after the flags.
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		benchFiles = append(benchFiles, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case *modelDir == "":
		return usageError{fmt.Errorf("eval needs --model DIR (a Hugging Face folder, OUT/step-N or a run's OUT)")}
	case len(benchFiles) == 0:
		return usageError{fmt.Errorf("eval wants at least one benchmark file")}
	}
	onGPU, ordinal, err := parseDevice(*device)
	if err != nil {
		return usageError{err}
	}
	cfg, opts, err := ef.Resolve()
	if err != nil {
		return usageError{err}
	}
	if len(m.ScoreStrings) != len(m.ScoreValues) || len(m.ScoreStrings) == 0 {
		return fmt.Errorf("recipe %s: this binary carries no score strings (rebuild it with this realc)", m.Name)
	}
	dir, err := evalModelDir(*modelDir)
	if err != nil {
		return err
	}
	benches, err := eval.LoadBenchmarks(benchFiles, opts)
	if err != nil {
		return err
	}
	j, err := judge.Open(judge.Options{Model: dir, Tokenizer: *tokPath, Chat: *chatFmt, NoThink: *noThink, Scores: m.ScoreStrings})
	if err != nil {
		return err
	}
	if onGPU {
		lm, name, release, err := evalOnGPU(*device, ordinal, j.M, m)
		if err != nil {
			return err
		}
		defer release()
		// The same judge (prompts, score ids, EOS), decoding on the GPU.
		if j, err = judge.New(j.M, j.Tok, judge.Config{Chat: j.Chat(), NoThink: *noThink, ScoreIDs: j.ScoreIDs(), EOS: j.EOS(), LM: lm}); err != nil {
			return err
		}
		defer j.Close()
		if !*quiet {
			fmt.Fprintf(stderr, "%s eval: %s on %s\n", m.Name, dir, name)
		}
	}
	cfg.Values = m.ScoreValues
	if !*quiet {
		cfg.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := eval.Run(ctx, j, benches, cfg)
	if err != nil {
		return err
	}
	return rep.Print(stdout, ef.Out)
}

// evalModelDir resolves --model: a model folder (a checkpoint's step-N
// must be complete), a llama2.c .bin, or a run's OUT folder, whose newest
// complete checkpoint it returns.
func evalModelDir(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("--model: %v", err)
	}
	if !st.IsDir() {
		return dir, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, completeName)); err == nil {
			// A checkpoint: its files must be there with their sizes.
			mk, err := readMarker(dir)
			if err != nil {
				return "", fmt.Errorf("--model: checkpoint %s: %v%s", dir, err, previousHint(dir))
			}
			for _, f := range mk.Files {
				if err := checkFile(dir, f, false); err != nil {
					return "", fmt.Errorf("--model: checkpoint %s: %v%s", dir, err, previousHint(dir))
				}
			}
		}
		return dir, nil
	}
	ck, _, err := LatestCheckpoint(dir)
	if err != nil {
		return "", fmt.Errorf("--model: %v", err)
	}
	if ck == "" {
		return "", fmt.Errorf("--model %s: neither a model folder (no config.json) nor a run's folder with a complete step-N checkpoint", dir)
	}
	return ck, nil
}
