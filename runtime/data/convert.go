package data

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ConvertOptions configures Convert.
type ConvertOptions struct {
	Format     Format      // the output format the prompts ask for
	Source     ScoreSource // which scores make the ground truth (JSON -> parquet)
	DataSource string      // data_source of the rows; default DataSourceFor(in)
	// SkipMisfits writes the items that fit and lists the others in the
	// report; without it any misfit fails the conversion and nothing is written.
	SkipMisfits  bool
	RowGroupRows int
}

// Misfit is an item that does not fit the judge template, by position.
type Misfit struct {
	Index  int    `json:"index"`         // position in the input (0-based)
	Idx    int64  `json:"idx,omitempty"` // the item's own idx where it has one
	Reason string `json:"reason"`
}

// ConvertReport says what a conversion did.
type ConvertReport struct {
	In      string   `json:"in"`
	Out     string   `json:"out"`
	Format  string   `json:"format"`
	Items   int      `json:"items"`
	Written int      `json:"written"`
	Misfits []Misfit `json:"misfits"`
}

// MisfitError is returned when items do not fit and SkipMisfits is off.
type MisfitError struct {
	In      string
	Misfits []Misfit
}

func (e *MisfitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d item(s) do not fit the Prometheus judge template, nothing written (pass --skip-misfits to write the others):", e.In, len(e.Misfits))
	for i, m := range e.Misfits {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Misfits)-10)
			break
		}
		fmt.Fprintf(&b, "\n  item %d: %s", m.Index, m.Reason)
	}
	return b.String()
}

// Convert converts between a judge JSON file and a verl parquet file, the
// direction given by IN's extension (.json -> parquet, .parquet -> JSON). The
// output is written to a temporary file and renamed on success.
func Convert(in, out string, opts ConvertOptions) (ConvertReport, error) {
	switch strings.ToLower(filepath.Ext(in)) {
	case ".json", ".jsonl":
		return ConvertJSONToParquet(in, out, opts)
	case ".parquet":
		return ConvertParquetToJSON(in, out, opts)
	}
	return ConvertReport{}, fmt.Errorf("%s: cannot tell the direction: want a .json or .jsonl (Prometheus judge) or .parquet (verl) input", in)
}

// JudgeRows turns judge items into verl rows the way REAL's
// eval_json_to_parquet.py does (data_source, ability = category or criteria,
// float ground truth, extra_info with split/index/original_idx/...), with the
// prompt rendered in format f. Items that do not split are returned as
// misfits and left out of rows.
func JudgeRows(items []JudgeItem, dataSource string, f Format, src ScoreSource) ([]Row, []Misfit) {
	var rows []Row
	var mis []Misfit
	for _, it := range items {
		idx := it.Idx
		if idx < 0 {
			idx = 0
		}
		prompt, err := Reformat(it.Instruction, f)
		if err != nil {
			mis = append(mis, Misfit{it.Pos, idx, "instruction: " + err.Error()})
			continue
		}
		gt, err := it.GroundTruth(src)
		if err != nil {
			mis = append(mis, Misfit{it.Pos, idx, err.Error()})
			continue
		}
		scores := it.GPT4Scores
		if src == HumanScores {
			scores = it.HumanScores
		}
		ability := it.Category
		if it.Criteria != "" && ability == "" {
			ability = it.Criteria
		}
		if ability == "" {
			ability = "general_evaluation"
		}
		ex := Extra{
			"split":           "test",
			"index":           int64(it.Pos),
			"reward_design":   true,
			"response_source": it.ResponseSource,
			"original_scores": scores,
			"category":        it.Category,
		}
		if it.Idx >= 0 {
			ex["original_idx"] = it.Idx
		}
		if len(it.Feedback) > 0 {
			ex["gpt4_feedback"] = it.Feedback[0]
		}
		if it.Criteria != "" {
			ex["criteria"] = it.Criteria
		}
		if it.HumanScores != nil {
			ex["human_score"] = it.HumanScores
		}
		rows = append(rows, Row{
			DataSource:  dataSource,
			Prompt:      []Message{{Role: "user", Content: prompt}},
			Ability:     ability,
			Style:       "rule",
			GroundTruth: FloatGT(gt),
			Extra:       ex,
		})
	}
	return rows, mis
}

// ConvertJSONToParquet converts a Prometheus judge JSON file to verl parquet.
func ConvertJSONToParquet(in, out string, opts ConvertOptions) (ConvertReport, error) {
	rep := ConvertReport{In: in, Out: out, Format: opts.Format.String(), Misfits: []Misfit{}}
	items, err := ReadJudgeJSON(in)
	if err != nil {
		return rep, err
	}
	rep.Items = len(items)
	ds := opts.DataSource
	if ds == "" {
		ds = DataSourceFor(in)
	}
	rows, mis := JudgeRows(items, ds, opts.Format, opts.Source)
	if mis != nil {
		rep.Misfits = mis
		if !opts.SkipMisfits {
			return rep, &MisfitError{in, mis}
		}
	}
	if err := WriteFile(out, rows, WriteOptions{GroundTruthFloat: true, RowGroupRows: opts.RowGroupRows}); err != nil {
		return rep, err
	}
	rep.Written = len(rows)
	return rep, nil
}

// jsonItem is the JSON shape ConvertParquetToJSON writes: the Prometheus
// judge file's own keys, so the result reads back with ReadJudgeJSON.
type jsonItem struct {
	Idx            int64     `json:"idx"`
	Instruction    string    `json:"instruction"`
	GPT4Score      any       `json:"gpt4_score"`
	HumanScore     []float64 `json:"human_score,omitempty"`
	GPT4Feedback   string    `json:"gpt4_feedback,omitempty"`
	Category       string    `json:"category,omitempty"`
	Criteria       string    `json:"criteria,omitempty"`
	ResponseSource string    `json:"response_source,omitempty"`
	DataSource     string    `json:"data_source,omitempty"`
}

// ConvertParquetToJSON writes a verl parquet file of judge prompts back as
// Prometheus judge JSON, the prompts rendered in opts.Format (for inspection
// and for tools that read the Prometheus format). gpt4_score is
// extra_info.original_scores where the file has it, else the ground truth.
func ConvertParquetToJSON(in, out string, opts ConvertOptions) (ConvertReport, error) {
	rep := ConvertReport{In: in, Out: out, Format: opts.Format.String(), Misfits: []Misfit{}}
	rows, probs, err := ReadFile(in, ReadOptions{})
	if err != nil {
		return rep, err
	}
	rep.Items = len(rows)
	bad := map[int]string{}
	for _, p := range probs {
		if _, dup := bad[p.Row]; !dup {
			bad[p.Row] = p.Field + ": " + p.Msg
		}
	}
	var items []jsonItem
	for i, r := range rows {
		idx, ok := r.Extra.Int("original_idx")
		if !ok {
			idx, _ = r.Extra.Int("index")
		}
		if why, ok := bad[i]; ok {
			rep.Misfits = append(rep.Misfits, Misfit{i, idx, why})
			continue
		}
		if ps := ValidateJudgeRow(i, r); len(ps) > 0 {
			rep.Misfits = append(rep.Misfits, Misfit{i, idx, ps[0].Field + ": " + ps[0].Msg})
			continue
		}
		u, _ := r.UserPrompt()
		prompt, err := Reformat(u, opts.Format)
		if err != nil {
			rep.Misfits = append(rep.Misfits, Misfit{i, idx, "prompt: " + err.Error()})
			continue
		}
		it := jsonItem{Idx: idx, Instruction: prompt, GPT4Score: r.GroundTruth.Value, DataSource: r.DataSource}
		if xs, ok := r.Extra.Floats("original_scores"); ok && len(xs) > 0 {
			it.GPT4Score = intsIfWhole(xs)
		}
		it.HumanScore, _ = r.Extra.Floats("human_score")
		it.GPT4Feedback, _ = r.Extra.String("gpt4_feedback")
		it.Category, _ = r.Extra.String("category")
		it.Criteria, _ = r.Extra.String("criteria")
		it.ResponseSource, _ = r.Extra.String("response_source")
		items = append(items, it)
	}
	if len(rep.Misfits) > 0 && !opts.SkipMisfits {
		return rep, &MisfitError{in, rep.Misfits}
	}
	err = AtomicWrite(out, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if items == nil {
			items = []jsonItem{}
		}
		return enc.Encode(items)
	})
	if err != nil {
		return rep, err
	}
	rep.Written = len(items)
	return rep, nil
}

// intsIfWhole writes [3, 2, 3] rather than [3.0, 2.0, 3.0] when it can, as
// the Prometheus files do.
func intsIfWhole(xs []float64) any {
	ns := make([]int64, len(xs))
	for i, x := range xs {
		if x != math.Trunc(x) {
			return xs
		}
		ns[i] = int64(x)
	}
	return ns
}

// Inspection summarizes a data file for `realc data inspect`.
type Inspection struct {
	File          string         `json:"file"`
	Kind          string         `json:"kind"` // "parquet" or "prometheus-json"
	Rows          int            `json:"rows"`
	RowGroups     int            `json:"row_groups,omitempty"`
	Columns       []Column       `json:"columns"`
	DataSources   map[string]int `json:"data_sources"`
	PromptFormats map[string]int `json:"prompt_formats"` // real, prometheus, unknown (splits, other format line), not_judge, unparsed (bad JSON item)
	GroundTruth   GTStats        `json:"ground_truth"`
	Problems      []Problem      `json:"problems"`
	ProblemCount  int            `json:"problem_count"` // Problems is capped at MaxProblems
}

// MaxProblems caps the problems an Inspection lists (all are counted).
const MaxProblems = 200

// MarshalJSON writes a problem as {"row", "field", "msg"}.
func (p Problem) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Row   int    `json:"row"`
		Field string `json:"field"`
		Msg   string `json:"msg"`
	}{p.Row, p.Field, p.Msg})
}

// GTStats describes the ground truths of a file. Std is the population
// standard deviation (numpy's default, which REAL's scripts print).
type GTStats struct {
	N         int     `json:"n"` // numeric ground truths counted
	Mean      float64 `json:"mean"`
	Std       float64 `json:"std"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Histogram []Bin   `json:"histogram"`
}

// MarshalJSON writes the statistics with null for undefined values (no
// numeric ground truth: mean, std, min and max are NaN).
func (s GTStats) MarshalJSON() ([]byte, error) {
	nf := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		N         int      `json:"n"`
		Mean      *float64 `json:"mean"`
		Std       *float64 `json:"std"`
		Min       *float64 `json:"min"`
		Max       *float64 `json:"max"`
		Histogram []Bin    `json:"histogram"`
	}{s.N, nf(s.Mean), nf(s.Std), nf(s.Min), nf(s.Max), s.Histogram})
}

// Bin is one histogram bin [Lo, Hi); the last bin includes Hi.
type Bin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int     `json:"count"`
}

// ComputeGTStats computes the statistics of xs with a histogram of 8 bins of
// width 0.5 over the score range [1, 5]; values outside it are not binned.
func ComputeGTStats(xs []float64) GTStats {
	st := GTStats{N: len(xs), Min: math.NaN(), Max: math.NaN(), Mean: math.NaN(), Std: math.NaN()}
	for k := 0; k < 8; k++ {
		lo := ScoreMin + 0.5*float64(k)
		st.Histogram = append(st.Histogram, Bin{Lo: lo, Hi: lo + 0.5})
	}
	if len(xs) == 0 {
		return st
	}
	s := 0.0
	st.Min, st.Max = xs[0], xs[0]
	for _, x := range xs {
		s += x
		st.Min, st.Max = math.Min(st.Min, x), math.Max(st.Max, x)
		if x >= ScoreMin && x <= ScoreMax {
			k := min(int((x-ScoreMin)/0.5), 7)
			st.Histogram[k].Count++
		}
	}
	st.Mean = s / float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - st.Mean) * (x - st.Mean)
	}
	st.Std = math.Sqrt(v / float64(len(xs)))
	return st
}

// Inspect reads a verl parquet or judge JSON file and summarizes it. Files
// whose prompts are judge prompts (at least one splits) are also checked row
// by row as judge data (user turn, template, ground truth in 1..5). Parquet
// files are streamed batch by batch: only a few bytes per row are kept.
func Inspect(path string) (*Inspection, error) {
	s := &inspector{ins: &Inspection{File: path, DataSources: map[string]int{}, PromptFormats: map[string]int{}, Problems: []Problem{}}}
	ins := s.ins
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", ".jsonl":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		items, probs, total, err := ParseJudgeJSONLenient(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		ins.Kind = "prometheus-json"
		ins.Columns = judgeJSONColumns(items)
		ds := DataSourceFor(path)
		good := make(map[int]JudgeItem, len(items))
		for _, it := range items {
			good[it.Pos] = it
		}
		for i := 0; i < total; i++ {
			it, ok := good[i]
			if !ok {
				s.unparsed(ds)
				continue
			}
			gt, err := it.GroundTruth(GPT4Scores)
			if err != nil {
				gt = math.NaN()
			}
			s.row(i, Row{DataSource: ds, Prompt: []Message{{"user", it.Instruction}}, GroundTruth: FloatGT(gt)})
		}
		for _, p := range probs {
			addCapped(&s.decode, &s.nDecode, p)
		}
	default:
		r, err := Open(path, ReadOptions{Require: []string{}})
		if err != nil {
			return nil, err
		}
		defer r.Close()
		ins.Kind, ins.RowGroups, ins.Columns = "parquet", r.NumRowGroups(), r.Columns()
		for i := 0; ; {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			for _, row := range b {
				s.row(i, row)
				i++
			}
		}
		for _, p := range r.Problems() {
			addCapped(&s.decode, &s.nDecode, p)
		}
	}
	s.finish()
	return ins, nil
}

// inspector accumulates an Inspection row by row.
type inspector struct {
	ins   *Inspection
	gts   []float64
	judge bool // some prompt split as a judge prompt
	// decode problems (nulls, bad JSON items) and judge-data problems (kept
	// until the end, when it is known whether the file is judge data), each
	// in row order and capped at MaxProblems, with their full counts
	decode, judgeProbs []Problem
	nDecode, nJudge    int
}

func addCapped(list *[]Problem, n *int, p Problem) {
	*n++
	if len(*list) < MaxProblems {
		*list = append(*list, p)
	}
}

func (s *inspector) unparsed(ds string) {
	s.ins.Rows++
	s.ins.DataSources[ds]++
	s.ins.PromptFormats["unparsed"]++
}

func (s *inspector) row(i int, r Row) {
	ins := s.ins
	ins.Rows++
	ins.DataSources[r.DataSource]++
	if !math.IsNaN(r.GroundTruth.Value) {
		s.gts = append(s.gts, r.GroundTruth.Value)
	}
	for _, p := range ValidateJudgeRow(i, r) {
		addCapped(&s.judgeProbs, &s.nJudge, p)
	}
	u, _ := r.UserPrompt()
	p, err := SplitPrompt(u)
	if err != nil {
		ins.PromptFormats["not_judge"]++
		addCapped(&s.judgeProbs, &s.nJudge, Problem{i, "prompt", "not a Prometheus judge prompt: " + err.Error()})
		return
	}
	s.judge = true
	f, ok := p.Format()
	if ok {
		ins.PromptFormats[f.String()]++
	} else {
		ins.PromptFormats["unknown"]++
	}
}

// finish merges the problems by row and computes the statistics.
func (s *inspector) finish() {
	ins := s.ins
	all := s.decode
	ins.ProblemCount = s.nDecode
	if s.judge {
		all = append(all, s.judgeProbs...)
		ins.ProblemCount += s.nJudge
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].Row < all[b].Row })
	if len(all) > MaxProblems {
		all = all[:MaxProblems]
	}
	ins.Problems = append(ins.Problems, all...)
	ins.GroundTruth = ComputeGTStats(s.gts)
}

// judgeJSONColumns lists the keys the judge items use.
func judgeJSONColumns(items []JudgeItem) []Column {
	cols := []Column{{"idx", "int"}, {"instruction", "string"}, {"gpt4_score", "list<number>"}}
	has := func(f func(JudgeItem) bool) bool {
		for _, it := range items {
			if f(it) {
				return true
			}
		}
		return false
	}
	if has(func(it JudgeItem) bool { return it.HumanScores != nil }) {
		cols = append(cols, Column{"human_score", "list<number>"})
	}
	if has(func(it JudgeItem) bool { return it.Feedback != nil }) {
		cols = append(cols, Column{"gpt4_feedback", "list<string>"})
	}
	for _, c := range []struct {
		name string
		f    func(JudgeItem) bool
	}{
		{"category", func(it JudgeItem) bool { return it.Category != "" }},
		{"criteria", func(it JudgeItem) bool { return it.Criteria != "" }},
		{"response_source", func(it JudgeItem) bool { return it.ResponseSource != "" }},
	} {
		if has(c.f) {
			cols = append(cols, Column{c.name, "string"})
		}
	}
	return cols
}
