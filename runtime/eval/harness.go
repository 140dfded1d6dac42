package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/realc-project/realc/runtime/data"
)

// Benchmark is a list of judge prompts with their gold scores.
type Benchmark struct {
	Name    string // data_source, or the file's base name
	File    string
	Prompts []string
	Gold    []float64
	// First is the index of Prompts[0] in the whole set when the benchmark
	// is a share of one (a rank's, in a distributed trainer): item results
	// and errors name the items by their index in the set.
	First int
}

// LoadOptions configures LoadBenchmark.
type LoadOptions struct {
	Format data.Format      // the format a judge JSON's prompts are rendered in (parquet prompts are used as they are)
	Source data.ScoreSource // ground truth of judge JSON items
	Limit  int              // use only the first Limit items (0: all)
	// ByContent tells parquet from judge JSON by the file's first bytes
	// (data.SniffParquet) instead of its extension.
	ByContent bool
}

// LoadBenchmark reads a Prometheus judge JSON or a verl parquet file.
// Items that do not fit (a prompt that does not split, a ground truth that is
// not a score) are errors naming the file and item.
func LoadBenchmark(path string, opts LoadOptions) (Benchmark, error) {
	b := Benchmark{File: path}
	var parquet bool
	if opts.ByContent {
		var err error
		if parquet, err = data.SniffParquet(path); err != nil {
			return b, err
		}
	} else {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".json", ".jsonl":
		case ".parquet":
			parquet = true
		default:
			return b, fmt.Errorf("%s: want a .json or .jsonl (Prometheus judge) or .parquet (verl) benchmark", path)
		}
	}
	rows, name, err := data.ReadJudgeRows(path, parquet, opts.Format, opts.Source)
	if err != nil {
		return b, err
	}
	b.Name = name
	for i, r := range rows {
		// Rows from a judge JSON are valid by construction (JudgeRows).
		if parquet {
			if ps := data.ValidateJudgeRow(i, r); len(ps) > 0 {
				return b, fmt.Errorf("%s: %v", path, ps[0])
			}
		}
		u, _ := r.UserPrompt()
		b.Prompts = append(b.Prompts, u)
		b.Gold = append(b.Gold, r.GroundTruth.Value)
	}
	if opts.Limit > 0 && opts.Limit < len(b.Prompts) {
		b.Prompts, b.Gold = b.Prompts[:opts.Limit], b.Gold[:opts.Limit]
	}
	return b, nil
}

// Mode says how an output becomes a prediction.
type Mode int

const (
	// ModeRAIL predicts the expected score sum_k k*p_k at the score slot (REAL, TRACT "raft").
	ModeRAIL Mode = iota
	// ModeDecode predicts the parsed score (TRACT "decode"; REAL's "sampled" metric under PolicyBlind).
	ModeDecode
)

func (m Mode) String() string { return [...]string{"rail", "decode"}[m] }

// ParseMode reads "rail" or "decode".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "rail", "":
		return ModeRAIL, nil
	case "decode":
		return ModeDecode, nil
	}
	return 0, fmt.Errorf("score mode %q: want rail (expected score) or decode (parsed score)", s)
}

// Config configures Run.
type Config struct {
	NCoT     int // outputs sampled per item (default 1); predictions are their nanmean
	Sampling Sampling
	Policy   Policy
	Mode     Mode
	Renorm   bool      // renormalize the score-token probabilities (off: full-vocabulary, as REAL)
	Values   []float64 // score token values (default 1..5)
	Batch    int       // prompts per GenerateBatch call when the judge is a BatchJudge (default 1: one at a time)
	Progress io.Writer // progress bar or lines (nil: none)
}

// OutputResult is one scored output.
type OutputResult struct {
	Score    float64 // parsed score, NaN when none
	FormatOK bool
	Reason   string  // parse failure or broken format
	Slot     int     // token index of the score slot, -1 unknown
	Pred     float64 // the output's prediction, NaN when it has none
}

// ItemResult is one benchmark item.
type ItemResult struct {
	Index   int
	Gold    float64
	Pred    float64 // nanmean of the outputs' predictions
	Outputs []OutputResult
}

// BenchResult is one benchmark's evaluation.
type BenchResult struct {
	Name          string
	File          string
	Items         int // items in the benchmark
	Used          int // items with a prediction, entering the metrics
	Outputs       int
	ParseFailures int // outputs with no parsable score
	FormatBroken  int // outputs with a score but extra text after it, or a malformed marker
	Metrics       Metrics
	Results       []ItemResult
}

// Report is an evaluation over several benchmarks.
type Report struct {
	Config     Config
	Benchmarks []BenchResult
}

// Run evaluates judge on each benchmark. In ModeRAIL judge must be a
// ProbJudge.
func Run(ctx context.Context, judge Judge, benches []Benchmark, cfg Config) (*Report, error) {
	results, err := Items(ctx, judge, benches, cfg)
	if err != nil {
		return nil, err
	}
	return NewReport(cfg, benches, results)
}

func (cfg Config) withDefaults() Config {
	if cfg.NCoT <= 0 {
		cfg.NCoT = 1
	}
	if cfg.Values == nil {
		cfg.Values = DefaultScoreValues
	}
	return cfg
}

// Items samples and scores every item of each benchmark: results[b][i] is
// benchmark b's item i (Index i). Items of one benchmark are independent of
// each other (each prompt samples from its own seed), so a distributed
// trainer scores a share of the items on each rank and NewReport takes the
// results put back in order.
func Items(ctx context.Context, judge Judge, benches []Benchmark, cfg Config) ([][]ItemResult, error) {
	cfg = cfg.withDefaults()
	pj, _ := judge.(ProbJudge)
	if cfg.Mode == ModeRAIL && pj == nil {
		return nil, fmt.Errorf("the rail score mode needs a judge that gives score-token probabilities; use the decode mode")
	}
	total := 0
	for _, b := range benches {
		total += len(b.Prompts)
	}
	prog := NewProgress(cfg.Progress, total, "eval")
	results := make([][]ItemResult, len(benches))
	for bi, b := range benches {
		prog.SetLabel(b.Name)
		bj, _ := judge.(BatchJudge)
		for start := 0; start < len(b.Prompts); {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			end := start + 1
			var batch [][]Generation
			if bj != nil && cfg.Batch > 1 {
				end = min(start+cfg.Batch, len(b.Prompts))
				gs, err := bj.GenerateBatch(ctx, b.Prompts[start:end], cfg.NCoT, cfg.Sampling)
				if err != nil {
					return nil, fmt.Errorf("%s items %d..%d: %v", b.Name, b.First+start, b.First+end-1, err)
				}
				if len(gs) != end-start {
					return nil, fmt.Errorf("%s items %d..%d: judge returned %d results for %d prompts", b.Name, b.First+start, b.First+end-1, len(gs), end-start)
				}
				batch = gs
			} else {
				if s, ok := judge.(ItemSetter); ok {
					s.SetItem(b.Name, b.First+start)
				}
				gs, err := judge.Generate(ctx, b.Prompts[start], cfg.NCoT, cfg.Sampling)
				if err != nil {
					return nil, fmt.Errorf("%s item %d: %v", b.Name, b.First+start, err)
				}
				batch = [][]Generation{gs}
			}
			for k, gens := range batch {
				i := start + k
				if len(gens) != cfg.NCoT {
					return nil, fmt.Errorf("%s item %d: judge returned %d outputs, %d asked", b.Name, b.First+i, len(gens), cfg.NCoT)
				}
				it := ItemResult{Index: b.First + i, Gold: b.Gold[i]}
				var ps []float64
				for _, g := range gens {
					o, err := scoreOutput(ctx, pj, b.Prompts[i], g, cfg)
					if err != nil {
						return nil, fmt.Errorf("%s item %d: %v", b.Name, b.First+i, err)
					}
					ps = append(ps, o.Pred)
					it.Outputs = append(it.Outputs, o)
				}
				it.Pred = NanMean(ps)
				results[bi] = append(results[bi], it)
				prog.Add(1)
			}
			start = end
		}
	}
	prog.Done()
	return results, nil
}

// NewReport computes each benchmark's counts and metrics from its items'
// results (results[b] in item order, as Items gives them, or the ranks'
// shares of them concatenated back in order).
func NewReport(cfg Config, benches []Benchmark, results [][]ItemResult) (*Report, error) {
	cfg = cfg.withDefaults()
	if len(results) != len(benches) {
		return nil, fmt.Errorf("eval: results of %d benchmarks for %d benchmarks", len(results), len(benches))
	}
	rep := &Report{Config: cfg}
	for bi, b := range benches {
		br := BenchResult{Name: b.Name, File: b.File, Items: len(b.Prompts), Results: results[bi]}
		if len(br.Results) != br.Items {
			return nil, fmt.Errorf("%s: results of %d items for %d items", b.Name, len(br.Results), br.Items)
		}
		var preds, golds []float64
		for i, it := range br.Results {
			if it.Index != i {
				return nil, fmt.Errorf("%s: result %d is of item %d: the results are out of order", b.Name, i, it.Index)
			}
			for _, o := range it.Outputs {
				if math.IsNaN(o.Score) {
					br.ParseFailures++
				} else if !o.FormatOK {
					br.FormatBroken++
				}
				br.Outputs++
			}
			if !math.IsNaN(it.Pred) {
				preds, golds = append(preds, it.Pred), append(golds, it.Gold)
			}
		}
		br.Used = len(preds)
		m, err := Compute(preds, golds)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", b.Name, err)
		}
		if cfg.Policy == PolicyCount && br.ParseFailures > 0 {
			var failed []string
			for _, it := range br.Results {
				for _, o := range it.Outputs {
					if math.IsNaN(o.Score) {
						failed = append(failed, fmt.Sprint(it.Index))
						break
					}
				}
			}
			if len(failed) > 12 {
				failed = append(failed[:12], "...")
			}
			m.Warnings = append(m.Warnings, fmt.Sprintf("%d of %d outputs have no parsable score (items %s)", br.ParseFailures, br.Outputs, strings.Join(failed, ", ")))
		}
		if br.Used < br.Items {
			m.Warnings = append(m.Warnings, fmt.Sprintf("%d of %d items have no parsed output and are left out (policy %s)", br.Items-br.Used, br.Items, cfg.Policy))
		}
		br.Metrics = m
		rep.Benchmarks = append(rep.Benchmarks, br)
	}
	return rep, nil
}

// scoreOutput parses one output and computes its prediction under the
// policy and mode.
func scoreOutput(ctx context.Context, pj ProbJudge, prompt string, g Generation, cfg Config) (OutputResult, error) {
	p := ParseScore(g.Text)
	o := OutputResult{Score: p.Score, FormatOK: p.FormatOK, Reason: p.Reason, Slot: -1, Pred: math.NaN()}
	var slot Slot
	switch {
	case cfg.Policy == PolicyBlind:
		slot = Slot{Token: len(g.TokenStarts) - 1, Offset: -1, Last: true}
	case math.IsNaN(p.Score):
		return o, nil // counted (or dropped) as a failure
	default:
		slot = Slot{Token: TokenAt(g.TokenStarts, p.Offset), Offset: p.Offset}
	}
	o.Slot = slot.Token
	switch cfg.Mode {
	case ModeDecode:
		if slot.Last {
			o.Pred = lastDigit(g.Text)
		} else {
			o.Pred = p.Score
		}
	case ModeRAIL:
		probs, err := pj.ScoreProbs(ctx, prompt, g, slot)
		if err != nil {
			return o, err
		}
		if len(probs) != len(cfg.Values) {
			return o, fmt.Errorf("judge gave %d score probabilities, want %d", len(probs), len(cfg.Values))
		}
		o.Pred = ExpectedScore(probs, cfg.Values, cfg.Renorm)
	}
	return o, nil
}

// lastDigit is REAL's "sampled" prediction: the last character of the output
// if it is a digit, else 0.
func lastDigit(s string) float64 {
	s = strings.TrimRight(s, " \n\t")
	if s != "" && s[len(s)-1] >= '0' && s[len(s)-1] <= '9' {
		return float64(s[len(s)-1] - '0')
	}
	return 0
}

// jf is a float64 written as null in JSON when it is NaN or infinite.
type jf float64

func (f jf) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// MetricsJSON is the JSON form of Metrics (`realc metrics` prints it): NaN
// (an undefined correlation) is written as null.
type MetricsJSON struct {
	N        int      `json:"n"`
	Pearson  jf       `json:"pearson"`
	Spearman jf       `json:"spearman"`
	Kendall  jf       `json:"kendall"`
	RMSE     jf       `json:"rmse"`
	MAE      jf       `json:"mae"`
	Warnings []string `json:"warnings,omitempty"`
}

// JSON returns the metrics in their JSON form.
func (m Metrics) JSON() MetricsJSON {
	return MetricsJSON{m.N, jf(m.Pearson), jf(m.Spearman), jf(m.Kendall), jf(m.RMSE), jf(m.MAE), m.Warnings}
}

// Average returns the mean of each correlation over the benchmarks, as REAL's
// "Avg" column (NaN if any benchmark's is NaN).
func (r *Report) Average() (pearson, spearman, kendall float64) {
	if len(r.Benchmarks) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	for _, b := range r.Benchmarks {
		pearson += b.Metrics.Pearson
		spearman += b.Metrics.Spearman
		kendall += b.Metrics.Kendall
	}
	n := float64(len(r.Benchmarks))
	return pearson / n, spearman / n, kendall / n
}

// x100 formats a correlation as REAL does (x100, one decimal); "n/a" for NaN.
func x100(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", 100*v)
}

func f3(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

func (r *Report) tableRows() [][]string {
	rows := [][]string{{"Benchmark", "Pearson", "Spearman", "Kendall", "RMSE", "Parse failures", "Items"}}
	for _, b := range r.Benchmarks {
		items := fmt.Sprint(b.Items)
		if b.Used != b.Items {
			items = fmt.Sprintf("%d/%d", b.Used, b.Items)
		}
		rows = append(rows, []string{b.Name, x100(b.Metrics.Pearson), x100(b.Metrics.Spearman), x100(b.Metrics.Kendall),
			f3(b.Metrics.RMSE), fmt.Sprintf("%d/%d", b.ParseFailures, b.Outputs), items})
	}
	if len(r.Benchmarks) > 1 {
		p, s, k := r.Average()
		rows = append(rows, []string{"Avg", x100(p), x100(s), x100(k), "", "", ""})
	}
	return rows
}

// Table renders the report as an aligned text table: correlations x100 as in
// REAL's README, parse failures as failed/outputs, items as used/total when
// some were left out.
func (r *Report) Table() string {
	rows := r.tableRows()
	w := make([]int, len(rows[0]))
	for _, row := range rows {
		for j, c := range row {
			w[j] = max(w[j], len(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for j, c := range row {
			if j == 0 {
				fmt.Fprintf(&b, "%-*s", w[j], c)
			} else {
				fmt.Fprintf(&b, "  %*s", w[j], c)
			}
		}
		b.WriteString("\n")
	}
	r.writeWarnings(&b)
	return b.String()
}

// Markdown renders the report as a Markdown table (like REAL's README).
func (r *Report) Markdown() string {
	rows := r.tableRows()
	var b strings.Builder
	for i, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		if i == 0 {
			b.WriteString("|---" + strings.Repeat("|---:", len(row)-1) + "|\n")
		}
	}
	fmt.Fprintf(&b, "\nCorrelations x100. Mode %s, policy %s, %d output(s) per item, renorm %v.\n", r.Config.Mode, r.Config.Policy, max(r.Config.NCoT, 1), r.Config.Renorm)
	if ws := r.warnings(); len(ws) > 0 {
		b.WriteString("\n")
		for _, w := range ws {
			b.WriteString("- " + w + "\n")
		}
	}
	return b.String()
}

func (r *Report) warnings() []string {
	var ws []string
	for _, b := range r.Benchmarks {
		for _, w := range b.Metrics.Warnings {
			ws = append(ws, b.Name+": "+w)
		}
	}
	return ws
}

func (r *Report) writeWarnings(b *strings.Builder) {
	for _, w := range r.warnings() {
		b.WriteString("warning: " + w + "\n")
	}
}

// JSON returns the report with per-item results (NaN written as null).
// Under PolicyDrop the per-item failure reasons are left out, as TRACT does.
func (r *Report) JSON() ([]byte, error) {
	type out struct {
		Score    jf     `json:"score"`
		FormatOK bool   `json:"format_ok"`
		Reason   string `json:"reason,omitempty"`
		Slot     int    `json:"slot"`
		Pred     jf     `json:"pred"`
	}
	type item struct {
		Index   int   `json:"index"`
		Gold    jf    `json:"gold"`
		Pred    jf    `json:"pred"`
		Outputs []out `json:"outputs"`
	}
	type bench struct {
		Name          string      `json:"name"`
		File          string      `json:"file"`
		Items         int         `json:"items"`
		Used          int         `json:"used"`
		Outputs       int         `json:"outputs"`
		ParseFailures int         `json:"parse_failures"`
		FormatBroken  int         `json:"format_broken"`
		Metrics       MetricsJSON `json:"metrics"`
		Results       []item      `json:"results"`
	}
	p, s, k := r.Average()
	doc := struct {
		Mode     string            `json:"mode"`
		Policy   string            `json:"policy"`
		NCoT     int               `json:"n_cot"`
		Renorm   bool              `json:"renorm"`
		Sampling Sampling          `json:"sampling"`
		Average  map[string]jf     `json:"average"`
		Benches  []bench           `json:"benchmarks"`
		Extra    map[string]string `json:"notes"`
	}{
		Mode: r.Config.Mode.String(), Policy: r.Config.Policy.String(), NCoT: max(r.Config.NCoT, 1), Renorm: r.Config.Renorm,
		Sampling: r.Config.Sampling,
		Average:  map[string]jf{"pearson": jf(p), "spearman": jf(s), "kendall": jf(k)},
		Extra:    map[string]string{"correlations": "plain values in [-1, 1] (the tables print x100); null = undefined (NaN)"},
	}
	for _, b := range r.Benchmarks {
		bb := bench{b.Name, b.File, b.Items, b.Used, b.Outputs, b.ParseFailures, b.FormatBroken, b.Metrics.JSON(), []item{}}
		for _, it := range b.Results {
			ii := item{Index: it.Index, Gold: jf(it.Gold), Pred: jf(it.Pred), Outputs: []out{}}
			for _, o := range it.Outputs {
				reason := o.Reason
				if r.Config.Policy == PolicyDrop {
					reason = ""
				}
				ii.Outputs = append(ii.Outputs, out{jf(o.Score), o.FormatOK, reason, o.Slot, jf(o.Pred)})
			}
			bb.Results = append(bb.Results, ii)
		}
		doc.Benches = append(doc.Benches, bb)
	}
	return json.MarshalIndent(doc, "", "  ")
}

// WriteFiles writes report.json, report.md and one scatter PNG per benchmark
// into dir (created if needed) and returns the paths written.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	js, err := r.JSON()
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name string
		body []byte
	}{{"report.json", append(js, '\n')}, {"report.md", []byte(r.Markdown())}} {
		p := filepath.Join(dir, f.name)
		if err := data.AtomicWrite(p, func(w io.Writer) error { _, err := w.Write(f.body); return err }); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	for _, b := range r.Benchmarks {
		p := PlotFile(dir, b.Name)
		if err := PlotScatter(b, p); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
