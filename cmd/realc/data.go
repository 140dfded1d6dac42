package main

// Subcommands of the data and evaluation area: `realc data convert|inspect`,
// `realc metrics` and `realc eval`. The logic lives in runtime/data and
// runtime/eval; this file parses flags and prints.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/eval"
	rjudge "github.com/realc-project/realc/runtime/judge"
)

// metricsStdin is where `realc metrics` reads; tests replace it.
var metricsStdin io.Reader = os.Stdin

func init() {
	register("data", "convert and inspect judge data: realc data convert IN OUT [--format real|prometheus] | inspect FILE", runData)
	register("metrics", `correlations of {"pred": [...], "gold": [...]} on stdin: n, pearson, spearman, kendall, rmse, mae`, runMetrics)
	register("eval", "evaluate a judge on benchmark files (table, JSON, Markdown, scatter PNGs)", runEval)
}

// dataFlags makes a flag set whose usage message starts with usage.
func dataFlags(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// dataParse parses flags that may come before, between or after the
// positional arguments, and returns the positionals.
func dataParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// dataHelp turns -h into a clean exit.
func dataHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runData(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: realc data convert IN OUT [--format real|prometheus] [--source gpt4|human] [--skip-misfits]\n" +
		"       realc data inspect FILE"
	if len(args) == 0 {
		return usagef("%s", usage)
	}
	switch args[0] {
	case "convert":
		return dataHelp(runDataConvert(args[1:], stdout, stderr))
	case "inspect":
		return dataHelp(runDataInspect(args[1:], stdout, stderr))
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usagef("unknown data subcommand %q\n%s", args[0], usage)
}

func runDataConvert(args []string, stdout, stderr io.Writer) error {
	fs := dataFlags("data convert", stderr, "usage: realc data convert IN OUT [flags]\n\n"+
		"Converts a Prometheus judge JSON file (.json, .jsonl) to a verl parquet file\n"+
		"(OUT.parquet), or a verl parquet file (.parquet) back to Prometheus judge JSON\n"+
		"(OUT.json); the direction follows IN's extension and OUT's must match it. Each\n"+
		"prompt is split into the nine parts of the judge template and rendered in\n"+
		"--format. Items that do not fit are listed by index; without\n"+
		"--skip-misfits they fail the conversion. OUT is written only on success.\n\nFlags:")
	format := fs.String("format", "real", `output format of the prompts: real ("So the overall score is N") or prometheus ("[RESULT] N")`)
	source := fs.String("source", "gpt4", "ground truth of JSON items: gpt4 (mean of gpt4_score) or human (mean of human_score)")
	skip := fs.Bool("skip-misfits", false, "write the items that fit and list the others, instead of failing")
	ds := fs.String("data-source", "", "data_source of the rows (default from the file name, as REAL's script: mt_bench_evaluation, ...)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := dataParse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("data convert wants IN and OUT, got %d argument(s)", len(pos))
	}
	if err := convertExtensions(pos[0], pos[1]); err != nil {
		return err
	}
	f, err := data.ParseFormat(*format)
	if err != nil {
		return usagef("--format: %v", err)
	}
	src, err := data.ParseScoreSource(*source)
	if err != nil {
		return usagef("--source: %v", err)
	}
	rep, err := data.Convert(pos[0], pos[1], data.ConvertOptions{Format: f, Source: src, DataSource: *ds, SkipMisfits: *skip})
	if err != nil {
		return err
	}
	if *asJSON {
		return dataPrintJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "%s -> %s: %d of %d items written (format %s)\n", rep.In, rep.Out, rep.Written, rep.Items, rep.Format)
	for _, m := range rep.Misfits {
		fmt.Fprintf(stdout, "skipped item %d: %s\n", m.Index, m.Reason)
	}
	return nil
}

// convertExtensions refuses an OUT whose extension does not name the format
// data convert writes for IN: verl parquet (.parquet) from Prometheus judge
// JSON (.json, .jsonl), a Prometheus judge JSON array (.json) from parquet.
// (The converter picks the direction from IN; without this, OUT.json or
// OUT.csv would silently hold parquet.)
func convertExtensions(in, out string) error {
	inExt, outExt := strings.ToLower(filepath.Ext(in)), strings.ToLower(filepath.Ext(out))
	var want, what string
	switch inExt {
	case ".json", ".jsonl":
		want, what = ".parquet", "verl parquet"
	case ".parquet":
		want, what = ".json", "Prometheus judge JSON (an array)"
	default:
		return usagef("%s: cannot tell the direction from the extension %q: want a .json or .jsonl (Prometheus judge) or .parquet (verl) input", in, inExt)
	}
	if outExt == want {
		return nil
	}
	shown := "is " + outExt
	if outExt == "" {
		shown = "is missing"
	}
	return usagef("%s: data convert writes %s from a %s input, but OUT's extension %s; name it %s",
		out, what, inExt, shown, strings.TrimSuffix(out, filepath.Ext(out))+want)
}

func runDataInspect(args []string, stdout, stderr io.Writer) error {
	fs := dataFlags("data inspect", stderr, "usage: realc data inspect FILE\n\n"+
		"Prints JSON about a verl parquet or Prometheus judge JSON file: rows, columns,\n"+
		"data sources, prompt formats, ground truth (n, mean, population std, min, max,\n"+
		"histogram of 0.5-wide bins over 1..5) and the problems found, by row.")
	pos, err := dataParse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("data inspect wants one FILE, got %d argument(s)", len(pos))
	}
	ins, err := data.Inspect(pos[0])
	if err != nil {
		return err
	}
	return dataPrintJSON(stdout, ins)
}

// dataPrintJSON prints v indented, without escaping <, > and & (types such
// as list<struct<...>> stay readable).
func dataPrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runMetrics(args []string, stdout, stderr io.Writer) error {
	fs := dataFlags("metrics", stderr, "usage: realc metrics < {\"pred\": [...], \"gold\": [...]}\n\n"+
		"Prints {\"n\", \"pearson\", \"spearman\", \"kendall\", \"rmse\", \"mae\"} as plain values\n"+
		"(not x100; Kendall is tau-b, Spearman uses average ranks for ties). An undefined\n"+
		"value (a constant vector, fewer than 2 items) is printed as null, with a warning\n"+
		"on stderr.")
	pos, err := dataParse(fs, args)
	if err != nil {
		return dataHelp(err)
	}
	if len(pos) != 0 {
		return usagef("metrics reads its input on stdin; unexpected argument %q", pos[0])
	}
	var in struct {
		Pred []*float64 `json:"pred"`
		Gold []*float64 `json:"gold"`
	}
	dec := json.NewDecoder(metricsStdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("stdin: %v (want {\"pred\": [numbers], \"gold\": [numbers]})", err)
	}
	if in.Pred == nil || in.Gold == nil {
		return fmt.Errorf("stdin: want both \"pred\" and \"gold\" lists")
	}
	vals := func(name string, xs []*float64) ([]float64, error) {
		out := make([]float64, len(xs))
		for i, x := range xs {
			if x == nil {
				return nil, fmt.Errorf("stdin: %s[%d] is null; drop unparsed items before computing metrics", name, i)
			}
			out[i] = *x
		}
		return out, nil
	}
	pred, err := vals("pred", in.Pred)
	if err != nil {
		return err
	}
	gold, err := vals("gold", in.Gold)
	if err != nil {
		return err
	}
	m, err := eval.Compute(pred, gold)
	if err != nil {
		return fmt.Errorf("stdin: %v", err)
	}
	for _, w := range m.Warnings {
		fmt.Fprintln(stderr, "realc metrics: warning:", w)
	}
	j := m.JSON()
	j.Warnings = nil
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(b))
	return nil
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := dataFlags("eval", stderr, "usage: realc eval (--model DIR | --responses FILE.jsonl) [flags] BENCHMARK...\n\n"+
		"Evaluates a judge on benchmark files (Prometheus judge .json or verl .parquet):\n"+
		"samples --n outputs per item, reads the score (policy count: failures counted\n"+
		"and listed; blind: REAL's token before EOS; drop: TRACT's), predicts E[score]\n"+
		"(--mode rail) or the parsed score (decode), and prints Pearson, Spearman,\n"+
		"Kendall (x100), RMSE, parse failures and items per benchmark. With --out it\n"+
		"writes report.json, report.md and scatter_<benchmark>.png there.\n\n"+
		"The judge: --responses plays back recorded outputs (JSON Lines, one item per\n"+
		"line: {\"benchmark\", \"index\", \"outputs\": [{\"text\", \"probs\", \"probs_last\",\n"+
		"\"token_starts\"}]}); --model samples from a model on the CPU (Qwen3 with its\n"+
		"ChatML template, Llama/Mistral with the [INST] format).\n\nFlags:")
	responses := fs.String("responses", "", "recorded judge outputs to play back (JSON Lines)")
	modelDir := fs.String("model", "", "the judge model: a Hugging Face folder (config.json + safetensors) or a llama2.c .bin")
	tokPath := fs.String("tokenizer", "", "tokenizer.json, tokenizer.model or a folder holding one (default: the --model folder)")
	chatFmt := fs.String("chat", "", "prompt format: "+strings.Join(rjudge.Chats, ", ")+" (default: from the model's architecture)")
	scores := fs.String("scores", "", "comma-separated score strings (default 1,2,3,4,5)")
	noThink := fs.Bool("no-think", false, "Qwen3: enable_thinking=false (an empty <think></think> in the generation prompt)")
	var ef eval.Flags
	ef.Register(fs, "count", "parse failures: count (default), blind (REAL) or drop (TRACT)")
	pos, err := dataParse(fs, args)
	if err != nil {
		return dataHelp(err)
	}
	if len(pos) == 0 {
		return usagef("eval wants at least one benchmark file")
	}
	cfg, opts, err := ef.Resolve()
	if err != nil {
		return usagef("%v", err)
	}
	var judge eval.Judge
	switch {
	case (*responses == "") == (*modelDir == ""):
		return usagef("eval needs one judge: --model DIR or --responses FILE.jsonl (recorded outputs)")
	case *responses != "":
		if judge, err = eval.LoadReplay(*responses); err != nil {
			return err
		}
	default:
		var scoreList []string
		if *scores != "" {
			scoreList = strings.Split(*scores, ",")
		}
		if judge, err = rjudge.Open(rjudge.Options{Model: *modelDir, Tokenizer: *tokPath, Chat: *chatFmt, NoThink: *noThink, Scores: scoreList}); err != nil {
			return err
		}
	}
	benches, err := eval.LoadBenchmarks(pos, opts)
	if err != nil {
		return err
	}
	cfg.Progress = stderr
	rep, err := eval.Run(context.Background(), judge, benches, cfg)
	if err != nil {
		return err
	}
	return rep.Print(stdout, ef.Out)
}
