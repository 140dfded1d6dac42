package eval

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/realc-project/realc/runtime/data"
)

// Flags are the command-line settings that `realc eval` and a trainer's
// `BIN eval` share: how each item is sampled and scored, which items of the
// benchmark files, and where the report goes. One definition, so that the
// two commands cannot drift apart.
type Flags struct {
	Batch, N, MaxTokens, Limit        int
	Temperature, TopP                 float64
	Seed                              uint64
	Policy, Mode, Format, Source, Out string
	Renorm                            bool
}

// Register defines the flags on fs; policy is the default parse-failure
// policy and policyHelp its help text.
func (f *Flags) Register(fs *flag.FlagSet, policy, policyHelp string) {
	fs.IntVar(&f.Batch, "batch", 8, "prompts sampled together")
	fs.IntVar(&f.N, "n", 1, "outputs (CoTs) per item; the prediction is their nanmean")
	fs.Float64Var(&f.Temperature, "temperature", DefaultSampling.Temperature, "sampling temperature")
	fs.Float64Var(&f.TopP, "top-p", DefaultSampling.TopP, "nucleus sampling top-p")
	fs.IntVar(&f.MaxTokens, "max-tokens", DefaultSampling.MaxTokens, "most tokens per output")
	fs.Uint64Var(&f.Seed, "seed", DefaultSampling.Seed, "sampling seed")
	fs.StringVar(&f.Policy, "policy", policy, policyHelp)
	fs.StringVar(&f.Mode, "mode", "rail", "prediction: rail (E[score] from the score-slot probabilities) or decode (the parsed score)")
	fs.BoolVar(&f.Renorm, "renorm", false, "renormalize the score-token probabilities (default: full-vocabulary softmax, as REAL)")
	fs.StringVar(&f.Format, "format", "real", "format the prompts of .json benchmarks ask for: real or prometheus")
	fs.StringVar(&f.Source, "source", "gpt4", "ground truth of .json benchmarks: gpt4 or human")
	fs.IntVar(&f.Limit, "limit", 0, "use only the first N items of each benchmark (0: all)")
	fs.StringVar(&f.Out, "out", "", "directory for report.json, report.md and the scatter PNGs")
}

// Resolve checks the values and returns the harness's configuration (the
// caller adds Values and Progress) and the benchmarks' load options. Its
// errors name the flag.
func (f *Flags) Resolve() (Config, LoadOptions, error) {
	switch {
	case f.N < 1 || f.Batch < 1:
		return Config{}, LoadOptions{}, fmt.Errorf("--n and --batch must be at least 1, got %d and %d", f.N, f.Batch)
	case f.Temperature < 0 || f.TopP <= 0 || f.TopP > 1 || f.MaxTokens < 1:
		return Config{}, LoadOptions{}, fmt.Errorf("sampling: want --temperature >= 0, 0 < --top-p <= 1, --max-tokens >= 1")
	case f.Limit < 0:
		return Config{}, LoadOptions{}, fmt.Errorf("--limit %d: want 0 (all) or more", f.Limit)
	}
	pol, err := ParsePolicy(f.Policy)
	if err != nil {
		return Config{}, LoadOptions{}, fmt.Errorf("--policy: %v", err)
	}
	md, err := ParseMode(f.Mode)
	if err != nil {
		return Config{}, LoadOptions{}, fmt.Errorf("--mode: %v", err)
	}
	format, err := data.ParseFormat(f.Format)
	if err != nil {
		return Config{}, LoadOptions{}, fmt.Errorf("--format: %v", err)
	}
	src, err := data.ParseScoreSource(f.Source)
	if err != nil {
		return Config{}, LoadOptions{}, fmt.Errorf("--source: %v", err)
	}
	cfg := Config{NCoT: f.N, Sampling: Sampling{Temperature: f.Temperature, TopP: f.TopP, MaxTokens: f.MaxTokens, Seed: f.Seed},
		Policy: pol, Mode: md, Renorm: f.Renorm, Batch: f.Batch}
	return cfg, LoadOptions{Format: format, Source: src, Limit: f.Limit}, nil
}

// LoadBenchmarks reads every file of paths with opts.
func LoadBenchmarks(paths []string, opts LoadOptions) ([]Benchmark, error) {
	var out []Benchmark
	for _, p := range paths {
		b, err := LoadBenchmark(p, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Print writes the report's table to w and, where dir is not empty, its
// files there (report.json, report.md, the scatter PNGs), naming them on w.
func (r *Report) Print(w io.Writer, dir string) error {
	fmt.Fprint(w, r.Table())
	if dir == "" {
		return nil
	}
	paths, err := r.WriteFiles(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", strings.Join(paths, ", "))
	return nil
}
