package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/realc-project/realc/runtime/chat"
	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/judgetask"
	"github.com/realc-project/realc/runtime/tokenizer"
)

func init() {
	register("demo-task", "write the demo's judge task (train/val/test verl parquet) and a BPE tokenizer trained on it", runDemoTask)
	register("demo-report", "one table (Pearson, Spearman, Kendall x100, RMSE, parse failures) from several `realc eval` reports", runDemoReport)
}

func runDemoTask(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-task", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "folder for train.parquet, val.parquet, test.parquet and tokenizer/tokenizer.json")
	seed := fs.Uint64("seed", 1, "task seed (the same seed always writes the same files)")
	nTrain := fs.Int("train", 4000, "training items")
	nVal := fs.Int("val", 100, "validation items")
	nTest := fs.Int("test", 200, "test items")
	vocab := fs.Int("vocab", 512, "tokenizer vocabulary size, bytes and special tokens included")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *out == "" || fs.NArg() != 0 {
		return usagef("demo-task needs --out DIR and no arguments")
	}
	paths, err := judgetask.WriteSplits(*out, *seed, *nTrain, *nVal, *nTest)
	if err != nil {
		return err
	}
	train, _, _, err := judgetask.SplitItems(*seed, *nTrain, *nVal, *nTest)
	if err != nil {
		return err
	}
	// What the Qwen3 chat template adds around a prompt (with and without
	// thinking), so that the tokenizer learns it too.
	texts := judgetask.Texts(train)
	for _, noThink := range []bool{false, true} {
		wrap, err := chat.Qwen3([]chat.Message{{Role: "user", Content: ""}}, chat.QwenOptions{AddGenerationPrompt: true, DisableThinking: noThink})
		if err != nil {
			return err
		}
		texts = append(texts, wrap)
	}
	js, err := tokenizer.TrainBPE(texts, tokenizer.BPETrainOptions{VocabSize: *vocab, Specials: []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}})
	if err != nil {
		return err
	}
	tokDir := filepath.Join(*out, "tokenizer")
	if err := os.MkdirAll(tokDir, 0o755); err != nil {
		return err
	}
	tokPath := filepath.Join(tokDir, "tokenizer.json")
	if err := data.AtomicWrite(tokPath, func(w io.Writer) error { _, err := w.Write(js); return err }); err != nil {
		return err
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return err
	}
	if _, err := tok.ScoreTokenIDs([]string{"1", "2", "3", "4", "5"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (%d tokens)\n", strings.Join(paths, ", "), tokPath, tok.VocabSize())
	return nil
}

// runDemoReport reads NAME=DIR[,DIR...] arguments, each DIR holding a
// `realc eval` report.json, and writes one Markdown table of their
// benchmarks; with several DIRs (seeds) a cell is the mean ± the population
// standard deviation over them.
func runDemoReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the Markdown file to write (the table is also printed)")
	title := fs.String("title", "Judge correlation on the test set", "the table's heading")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() == 0 {
		return usagef("demo-report needs NAME=EVAL_DIR[,EVAL_DIR...] arguments (folders written by realc eval --out)")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n| model | benchmark | Pearson | Spearman | Kendall | RMSE | parse failures | items | runs |\n|---|---|---|---|---|---|---|---|---|\n", *title)
	for _, a := range fs.Args() {
		name, dirs, ok := strings.Cut(a, "=")
		if !ok {
			return usagef("%q: want NAME=EVAL_DIR[,EVAL_DIR...]", a)
		}
		type acc struct {
			p, s, k, r         []float64
			fails, outs, items int
		}
		var order []string
		byBench := map[string]*acc{}
		for _, dir := range strings.Split(dirs, ",") {
			rep, err := readEvalReport(dir)
			if err != nil {
				return err
			}
			for _, bm := range rep.Benchmarks {
				a := byBench[bm.Name]
				if a == nil {
					a = &acc{}
					byBench[bm.Name] = a
					order = append(order, bm.Name)
				}
				m := bm.Metrics
				a.p, a.s, a.k, a.r = append(a.p, num(m.Pearson)), append(a.s, num(m.Spearman)), append(a.k, num(m.Kendall)), append(a.r, num(m.RMSE))
				a.fails, a.outs, a.items = a.fails+bm.ParseFailures, a.outs+bm.Outputs, bm.Items
			}
		}
		for _, bench := range order {
			a := byBench[bench]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d/%d | %d | %d |\n", name, bench,
				cell(a.p, 100, "%.1f"), cell(a.s, 100, "%.1f"), cell(a.k, 100, "%.1f"), cell(a.r, 1, "%.3f"), a.fails, a.outs, a.items, len(a.p))
		}
	}
	fmt.Fprint(stdout, b.String())
	if *out != "" {
		return data.AtomicWrite(*out, func(w io.Writer) error { _, err := io.WriteString(w, b.String()); return err })
	}
	return nil
}

// evalReport is what demo-report reads of a `realc eval` report.json.
type evalReport struct {
	Benchmarks []struct {
		Name          string `json:"name"`
		Items         int    `json:"items"`
		Outputs       int    `json:"outputs"`
		ParseFailures int    `json:"parse_failures"`
		Metrics       struct {
			Pearson, Spearman, Kendall, RMSE *float64
		} `json:"metrics"`
	} `json:"benchmarks"`
}

func readEvalReport(dir string) (*evalReport, error) {
	path := filepath.Join(dir, "report.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep evalReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &rep, nil
}

// num reads a JSON number that may be null (undefined) as NaN.
func num(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// cell is the value of one run, or mean ± population std over several;
// n/a when a run's value is undefined.
func cell(xs []float64, scale float64, format string) string {
	var sum float64
	for _, x := range xs {
		if math.IsNaN(x) {
			return "n/a"
		}
		sum += x * scale
	}
	mean := sum / float64(len(xs))
	if len(xs) == 1 {
		return fmt.Sprintf(format, mean)
	}
	var v float64
	for _, x := range xs {
		v += (x*scale - mean) * (x*scale - mean)
	}
	return fmt.Sprintf(format+" ± "+format, mean, math.Sqrt(v/float64(len(xs))))
}
