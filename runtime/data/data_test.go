package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/testenv"
)

// sharedData is ../shared/data; the test skips unless it holds the Prometheus
// evaluation files these tests read.
func sharedData(t testing.TB) string {
	t.Helper()
	testenv.SharedData(t, "prometheus", "mt_bench_eval.json")
	return testenv.SharedData(t)
}

func sampleRows() []Row {
	return []Row{
		{DataSource: "feedback", Prompt: []Message{{"system", "be fair"}, {"user", "judge this"}}, Ability: "judge", Style: "rule",
			GroundTruth: StringGT("4"), Extra: Extra{"split": "train", "index": int64(0), "w": 0.5, "ok": true, "scores": []float64{4, 5, 3}}},
		{DataSource: "feedback", Prompt: []Message{{"user", "ünïcode ✓ and \"quotes\"\n"}}, Ability: "judge", Style: "rule",
			GroundTruth: StringGT("1"), Extra: Extra{"split": "train", "index": int64(1), "w": -2.25, "ok": false, "scores": []float64{}}},
		{DataSource: "", Prompt: []Message{}, Ability: "", Style: "",
			GroundTruth: StringGT("n/a"), Extra: Extra{"split": "train", "index": int64(2), "w": nil, "ok": nil, "scores": nil}},
	}
}

var cmpRows = cmp.Options{cmpopts.EquateNaNs(), cmpopts.EquateEmpty()}

func TestParquetRoundTrip(t *testing.T) {
	for _, float := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		path := filepath.Join(t.TempDir(), "rt.parquet")
		var rows []Row
		for k := 0; k < 4; k++ { // 12 rows over row groups of 5: 3 groups
			rows = append(rows, sampleRows()...)
		}
		if float {
			for i := range rows {
				rows[i].GroundTruth = FloatGT(float64(i%5) + 1.0/3)
			}
		}
		if err := WriteFile(path, rows, WriteOptions{GroundTruthFloat: float, RowGroupRows: 5, Mem: mem}); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, ReadOptions{Mem: mem, BatchRows: 4})
		if err != nil {
			t.Fatal(err)
		}
		if r.NumRows() != 12 || r.NumRowGroups() != 3 {
			t.Errorf("rows %d groups %d, want 12 and 3", r.NumRows(), r.NumRowGroups())
		}
		var got []Row
		batches := 0
		for {
			b, err := r.Next()
			if err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
			batches++
			if len(b) > 4 {
				t.Errorf("batch of %d rows, want at most 4", len(b))
			}
			got = append(got, b...)
		}
		if batches != 5 { // groups of 5, 5, 2 rows in batches of at most 4: 4+1, 4+1, 2
			t.Errorf("%d batches, want 5", batches)
		}
		if len(r.Problems()) != 0 {
			t.Errorf("problems: %v", r.Problems())
		}
		r.Close()
		if d := cmp.Diff(rows, got, cmpRows); d != "" {
			t.Errorf("float=%v: round trip differs (-want +got):\n%s", float, d)
		}
		mem.AssertSize(t, 0)
	}
}

// writeRecord writes one hand-built record, as pandas or HF datasets would
// lay it out, with pqarrow.
func writeRecord(t *testing.T, path string, rec arrow.Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A file with extra columns, reordered struct fields, extra struct keys, an
// integer ground truth and __index_level_0__ reads by name.
func TestReadTolerant(t *testing.T) {
	str := arrow.BinaryTypes.String
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "__index_level_0__", Type: arrow.PrimitiveTypes.Int64},
		{Name: "reward_model", Type: arrow.StructOf(
			arrow.Field{Name: "ground_truth", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "extra_key", Type: str, Nullable: true},
			arrow.Field{Name: "style", Type: str, Nullable: true}), Nullable: true},
		{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "content", Type: str},
			arrow.Field{Name: "name", Type: str},
			arrow.Field{Name: "role", Type: str})), Nullable: true},
		{Name: "unrelated", Type: arrow.PrimitiveTypes.Float32},
		{Name: "extra_info", Type: arrow.StructOf(
			arrow.Field{Name: "nested", Type: arrow.StructOf(arrow.Field{Name: "a", Type: str})},
			arrow.Field{Name: "index", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "question", Type: str}), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := 0; i < 2; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(100 + i))
		rm := b.Field(1).(*array.StructBuilder)
		rm.Append(true)
		rm.FieldBuilder(0).(*array.Int64Builder).Append(int64(3 + i))
		rm.FieldBuilder(1).(*array.StringBuilder).Append("x")
		rm.FieldBuilder(2).(*array.StringBuilder).Append("rule")
		pl := b.Field(2).(*array.ListBuilder)
		pl.Append(true)
		ps := pl.ValueBuilder().(*array.StructBuilder)
		ps.Append(true)
		ps.FieldBuilder(0).(*array.StringBuilder).Append("hello " + string(rune('a'+i)))
		ps.FieldBuilder(1).(*array.StringBuilder).Append("n")
		ps.FieldBuilder(2).(*array.StringBuilder).Append("user")
		b.Field(3).(*array.Float32Builder).Append(1.5)
		ex := b.Field(4).(*array.StructBuilder)
		ex.Append(true)
		nb := ex.FieldBuilder(0).(*array.StructBuilder)
		nb.Append(true)
		nb.FieldBuilder(0).(*array.StringBuilder).Append("z")
		ex.FieldBuilder(1).(*array.Int32Builder).Append(int32(i))
		ex.FieldBuilder(2).(*array.StringBuilder).Append("q")
	}
	rec := b.NewRecord()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "pandas.parquet")
	writeRecord(t, path, rec)
	rows, probs, err := ReadFile(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 0 {
		t.Errorf("problems: %v", probs)
	}
	want := []Row{
		{Prompt: []Message{{"user", "hello a"}}, Style: "rule", GroundTruth: FloatGT(3), Extra: Extra{"index": int64(0), "question": "q"}},
		{Prompt: []Message{{"user", "hello b"}}, Style: "rule", GroundTruth: FloatGT(4), Extra: Extra{"index": int64(1), "question": "q"}},
	}
	if d := cmp.Diff(want, rows, cmpRows); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	sft, err := ReadSFT(path, "question", "index")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]SFTExample{{"q", "0"}, {"q", "1"}}, sft); d != "" {
		t.Errorf("SFT (-want +got):\n%s", d)
	}
	if _, err := ReadSFT(path, "", ""); err == nil || !strings.Contains(err.Error(), `row 0: extra_info has no "answer" (keys: index, question)`) {
		t.Errorf("ReadSFT without answer: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	str := arrow.BinaryTypes.String
	mk := func(name string, fields ...arrow.Field) string {
		sc := arrow.NewSchema(fields, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		rec := b.NewRecord() // zero rows: only the schema matters
		defer rec.Release()
		p := filepath.Join(dir, name)
		writeRecord(t, p, rec)
		return p
	}
	gtStruct := arrow.StructOf(arrow.Field{Name: "ground_truth", Type: str, Nullable: true})
	notParquet := filepath.Join(dir, "text.parquet")
	os.WriteFile(notParquet, []byte("hello, not parquet"), 0o644)
	cases := []struct {
		path string
		want string
	}{
		{mk("noprompt.parquet", arrow.Field{Name: "reward_model", Type: gtStruct}),
			`noprompt.parquet: missing column "prompt" (the file has reward_model)`},
		{mk("strprompt.parquet", arrow.Field{Name: "prompt", Type: str}, arrow.Field{Name: "reward_model", Type: gtStruct}),
			`strprompt.parquet: column "prompt" has type utf8; verl writes list<struct<role: string, content: string>>`},
		{mk("boolgt.parquet", arrow.Field{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "role", Type: str}, arrow.Field{Name: "content", Type: str}))},
			arrow.Field{Name: "reward_model", Type: arrow.StructOf(arrow.Field{Name: "ground_truth", Type: arrow.FixedWidthTypes.Boolean})}),
			`boolgt.parquet: reward_model.ground_truth has type bool; want a string or a number`},
		{mk("norole.parquet", arrow.Field{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "content", Type: str}))},
			arrow.Field{Name: "reward_model", Type: gtStruct}),
			`lacks a string field "role"`},
		{notParquet, `text.parquet: not a readable parquet file`},
		{filepath.Join(dir, "absent.parquet"), `absent.parquet: no such file`},
	}
	for _, c := range cases {
		_, err := Open(c.path, ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s): got %v, want an error containing %q", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestNullsAreProblems(t *testing.T) {
	str := arrow.BinaryTypes.String
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "role", Type: str, Nullable: true}, arrow.Field{Name: "content", Type: str, Nullable: true})), Nullable: true},
		{Name: "reward_model", Type: arrow.StructOf(arrow.Field{Name: "ground_truth", Type: str, Nullable: true}), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	pl, rm := b.Field(0).(*array.ListBuilder), b.Field(1).(*array.StructBuilder)
	// row 0 fine, row 1 null prompt, row 2 null ground truth
	for i := 0; i < 3; i++ {
		if i == 1 {
			pl.AppendNull()
		} else {
			pl.Append(true)
			s := pl.ValueBuilder().(*array.StructBuilder)
			s.Append(true)
			s.FieldBuilder(0).(*array.StringBuilder).Append("user")
			s.FieldBuilder(1).(*array.StringBuilder).Append("p")
		}
		rm.Append(true)
		if i == 2 {
			rm.FieldBuilder(0).(*array.StringBuilder).AppendNull()
		} else {
			rm.FieldBuilder(0).(*array.StringBuilder).Append("9")
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "nulls.parquet")
	writeRecord(t, path, rec)
	_, probs, err := ReadFile(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{{1, "prompt", "null"}, {2, "reward_model.ground_truth", "null"}}
	if d := cmp.Diff(want, probs); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	ins, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	// Not judge prompts ("p" does not split), so only the decode problems.
	if ins.ProblemCount != 2 || ins.Rows != 3 || ins.GroundTruth.N != 2 || ins.PromptFormats["not_judge"] != 3 {
		t.Errorf("inspect: %+v", ins)
	}
}

func TestAtomicWriteLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.parquet")
	os.WriteFile(path, []byte("old"), 0o644)
	err := AtomicWrite(path, func(w io.Writer) error {
		w.Write([]byte("half"))
		return errors.New("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom (nothing written)") {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(path)
	ents, _ := os.ReadDir(dir)
	if string(b) != "old" || len(ents) != 1 {
		t.Errorf("file %q, dir has %d entries; want the old file alone", b, len(ents))
	}
	// A row the schema cannot hold fails WriteFile the same way.
	bad := []Row{{GroundTruth: StringGT("abc")}}
	err = WriteFile(path, bad, WriteOptions{GroundTruthFloat: true})
	if err == nil || !strings.Contains(err.Error(), `row 0: reward_model.ground_truth "abc" is not a number`) {
		t.Errorf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("file overwritten: %q", b)
	}
	// So does one after good rows, whose half-appended values once left the
	// columns of unequal lengths: a panic in the flush.
	for _, b := range []Row{{GroundTruth: StringGT("abc")}, {GroundTruth: StringGT("1"), Extra: Extra{"w": "heavy"}}} {
		rows := append(sampleRows()[:2], b)
		err = WriteFile(path, rows, WriteOptions{GroundTruthFloat: true, Extra: []ExtraField{{"w", ExtraFloat}, {"index", ExtraInt}, {"split", ExtraString}, {"ok", ExtraBool}, {"scores", ExtraFloatList}}})
		if err == nil || !strings.Contains(err.Error(), "row 2: ") {
			t.Errorf("err = %v", err)
		}
	}
}

func TestInferExtraConflicts(t *testing.T) {
	_, err := InferExtra([]Row{{Extra: Extra{"a": "x"}}, {Extra: Extra{"a": true}}})
	if err == nil || err.Error() != "extra_info.a is string in row 0 but bool in row 1; make the types agree" {
		t.Errorf("err = %v", err)
	}
	got, err := InferExtra([]Row{{Extra: Extra{"n": int64(1), "s": nil}}, {Extra: Extra{"n": 2.5}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]ExtraField{{"n", ExtraFloat}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestParseJudgeJSONErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{`[{"instruction":"a","gpt4_score":[1,2,7]}]`, "[0].gpt4_score[2]: score 7 is outside 1..5"},
		{`[{"instruction":"a","gpt4_score":4},{"instruction":"b","gpt4_score":"x"}]`, `[1].gpt4_score: want a number, found "x"`},
		{`[{"gpt4_score":4}]`, "[0].instruction: missing"},
		{`[{"instruction":"a"}]`, "[0]: no gpt4_score, orig_score or human_score"},
		{`[{"instruction":"a","gpt4_score":[]}]`, "[0].gpt4_score: empty list"},
		{`[{"instruction":"a","gpt4_score":3,"idx":1.5}]`, "[0].idx: want an integer, found 1.5"},
		{`{"instruction":"a","gpt4_score":3}` + "\n\n" + `{"instruction":"b","gpt4_score":9}`, "line 3: [1].gpt4_score: score 9 is outside 1..5"},
		{`{"instruction":"a","gpt4_score":3}` + "\n" + `{"instruction":`, "line 2: not a JSON object"},
		{`[{"instruction":"a","gpt4_score":3,"gpt4_feedback":5}]`, "[0].gpt4_feedback: want a string or a list of strings"},
	}
	for _, c := range cases {
		_, err := ParseJudgeJSON([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.in, err, c.want)
		}
	}
	items, err := ParseJudgeJSON([]byte(`[{"instruction":"a","gpt4_score":4,"human_score":[2,3],"gpt4_feedback":"f","idx":7},{"instruction":"b","orig_score":"5"}]`))
	jl, jerr := ParseJudgeJSON([]byte(`{"instruction":"a","gpt4_score":4,"human_score":[2,3],"gpt4_feedback":"f","idx":7}` + "\n" + `{"instruction":"b","orig_score":"5"}` + "\n"))
	if jerr != nil || !cmp.Equal(items, jl) {
		t.Errorf("JSON Lines differ from the array: %v\n%+v\n%+v", jerr, items, jl)
	}
	if err != nil {
		t.Fatal(err)
	}
	g0, _ := items[0].GroundTruth(GPT4Scores)
	h0, _ := items[0].GroundTruth(HumanScores)
	g1, _ := items[1].GroundTruth(GPT4Scores)
	_, herr := items[1].GroundTruth(HumanScores)
	if g0 != 4 || h0 != 2.5 || g1 != 5 || herr == nil || items[0].Idx != 7 || items[1].Idx != -1 || items[0].Feedback[0] != "f" {
		t.Errorf("items %+v: gt %v %v %v %v", items, g0, h0, g1, herr)
	}
}

// The facts of ../shared/data/README.md, and statistics computed once with a
// short Python script over the same files (pinned here).
func TestRealJudgeSets(t *testing.T) {
	dir := filepath.Join(sharedData(t), "prometheus")
	cases := []struct {
		file           string
		idxLo, idxHi   int64
		hist           map[float64]int // all 960 GPT-4 scores
		gtMean, gtStd  float64
		firstGT        [3]float64
		sources        []string
		firstIdx       int64
		nCategoriesMin int
	}{
		{"mt_bench_eval.json", 81, 160, map[float64]int{1: 106, 2: 147, 3: 122, 4: 342, 5: 243}, 3.488541666666667, 1.2463309868648234,
			[3]float64{3, 2, 3}, []string{"llama2_chat_13b", "chatgpt", "vicuna_13b", "wizardlm_13b"}, 83, 8},
		{"vicuna_eval.json", 1, 80, map[float64]int{1: 12, 2: 41, 3: 80, 4: 489, 5: 338}, 4.145833333333333, 0.7796789759609756,
			[3]float64{5, 5, 5}, []string{"vicuna", "chat_gpt", "wizard", "llama-2-chat"}, 1, 8},
	}
	for _, c := range cases {
		items, err := ReadJudgeJSON(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 320 {
			t.Fatalf("%s: %d items, want 320", c.file, len(items))
		}
		perIdx := map[int64]int{}
		hist := map[float64]int{}
		sources := map[string]int{}
		var gts []float64
		for _, it := range items {
			perIdx[it.Idx]++
			if it.Idx < c.idxLo || it.Idx > c.idxHi {
				t.Errorf("%s [%d]: idx %d outside %d..%d", c.file, it.Pos, it.Idx, c.idxLo, c.idxHi)
			}
			if len(it.GPT4Scores) != 3 || len(it.Feedback) != 3 || it.HumanScores != nil {
				t.Errorf("%s [%d]: %d scores, %d feedbacks, human %v", c.file, it.Pos, len(it.GPT4Scores), len(it.Feedback), it.HumanScores)
			}
			for _, s := range it.GPT4Scores {
				hist[s]++
			}
			sources[it.ResponseSource]++
			gt, _ := it.GroundTruth(GPT4Scores)
			gts = append(gts, gt)
			// Every prompt splits into the nine parts and renders back byte for byte.
			p, err := SplitPrompt(it.Instruction)
			if err != nil {
				t.Errorf("%s [%d]: %v", c.file, it.Pos, err)
				continue
			}
			if p.Render() != it.Instruction {
				t.Errorf("%s [%d]: render differs from the instruction", c.file, it.Pos)
			}
			if f, ok := p.Format(); !ok || f != FormatPrometheus || p.Suffix != " " || p.Instruction == "" || p.Criteria == "" || p.ScoreDesc[4] == "" {
				t.Errorf("%s [%d]: format %v %v, suffix %q", c.file, it.Pos, f, ok, p.Suffix)
			}
		}
		if len(perIdx) != 80 {
			t.Errorf("%s: %d distinct idx, want 80", c.file, len(perIdx))
		}
		for idx, n := range perIdx {
			if n != 4 {
				t.Errorf("%s: idx %d has %d items, want 4 (one per response source)", c.file, idx, n)
			}
		}
		if d := cmp.Diff(c.hist, hist); d != "" {
			t.Errorf("%s score histogram (-want +got):\n%s", c.file, d)
		}
		for _, s := range c.sources {
			if sources[s] != 80 {
				t.Errorf("%s: source %s has %d items, want 80", c.file, s, sources[s])
			}
		}
		st := ComputeGTStats(gts)
		if !numtest.Within(st.Mean, c.gtMean, 1e-12, 0) || !numtest.Within(st.Std, c.gtStd, 1e-12, 0) || st.Min != 1 || st.Max != 5 {
			t.Errorf("%s: gt mean %v std %v min %v max %v", c.file, st.Mean, st.Std, st.Min, st.Max)
		}
		if items[0].Idx != c.firstIdx || !cmp.Equal(items[0].GPT4Scores, c.firstGT[:]) {
			t.Errorf("%s: first item idx %d scores %v", c.file, items[0].Idx, items[0].GPT4Scores)
		}
	}
}

func TestSplitPromptErrors(t *testing.T) {
	good := "###Task Description:\nx\n" + PrometheusFormatLine + mInstruction + "I" + mResponse + "R" + mReference + "A" + mRubric +
		"[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e" + mFeedback + " "
	p, err := SplitPrompt(good)
	if err != nil {
		t.Fatal(err)
	}
	want := PromptParts{Header: "###Task Description:\nx\n" + PrometheusFormatLine, Instruction: "I", Response: "R", ReferenceAnswer: "A",
		Criteria: "C", ScoreDesc: [5]string{"a", "b", "c", "d", "e"}, Suffix: " "}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	real, err := Reformat(good, FormatREAL)
	if err != nil {
		t.Fatal(err)
	}
	if real != strings.Replace(good, PrometheusFormatLine, REALFormatLine, 1) {
		t.Errorf("REAL render: %q", real)
	}
	back, _ := Reformat(real, FormatPrometheus)
	if back != good {
		t.Errorf("back to Prometheus: %q", back)
	}
	cases := []struct{ in, want string }{
		{"hello", `does not start with "###Task Description:"`},
		{strings.Replace(good, mResponse, "\n\n###Answer:\n", 1), `no "###Response to evaluate:" section`},
		{strings.Replace(good, mReference, "\n", 1), `no "###Reference Answer (Score 5):" section`},
		{strings.Replace(good, "\nScore 4: ", "\nScore four: ", 1), `no "Score 4: "`},
		{strings.Replace(good, "[C]", "C", 1), `does not start with "[criteria]"`},
		{strings.TrimSuffix(good, mFeedback+" "), `no "###Feedback:" at the end`},
		{strings.Replace(good, mRubric, "\n\n###Rubric:\n", 1), `no "###Score Rubrics:" section`},
	}
	for _, c := range cases {
		if _, err := SplitPrompt(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	if _, err := Reformat(strings.Replace(good, PrometheusFormatLine, "3. Say a number.", 1), FormatREAL); err == nil ||
		!strings.Contains(err.Error(), "neither the Prometheus nor the REAL format line") {
		t.Errorf("unknown format line: %v", err)
	}
}

// JSON -> parquet (REAL format) -> inspect -> JSON (Prometheus format) gives
// the original items back.
func TestConvertRoundTripRealFiles(t *testing.T) {
	dir := filepath.Join(sharedData(t), "prometheus")
	tmp := t.TempDir()
	for _, name := range []string{"mt_bench_eval", "vicuna_eval"} {
		in := filepath.Join(dir, name+".json")
		pq := filepath.Join(tmp, name+".parquet")
		rep, err := Convert(in, pq, ConvertOptions{Format: FormatREAL, RowGroupRows: 100})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Items != 320 || rep.Written != 320 || len(rep.Misfits) != 0 {
			t.Errorf("%s: report %+v", name, rep)
		}
		ins, err := Inspect(pq)
		if err != nil {
			t.Fatal(err)
		}
		if ins.Rows != 320 || ins.RowGroups != 4 || ins.PromptFormats["real"] != 320 || ins.ProblemCount != 0 || ins.GroundTruth.N != 320 ||
			ins.DataSources[DataSourceFor(in)] != 320 {
			t.Errorf("%s: inspect %+v", name, ins)
		}
		h := 0
		for _, b := range ins.GroundTruth.Histogram {
			h += b.Count
		}
		if h != 320 {
			t.Errorf("%s: histogram holds %d items", name, h)
		}
		rows, _, err := ReadFile(pq, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rows[0].Style != "rule" || !rows[0].GroundTruth.Float || rows[0].Extra["split"] != "test" {
			t.Errorf("%s: row 0 %+v", name, rows[0])
		}
		js := filepath.Join(tmp, name+".back.json")
		if _, err := Convert(pq, js, ConvertOptions{Format: FormatPrometheus}); err != nil {
			t.Fatal(err)
		}
		orig, _ := ReadJudgeJSON(in)
		back, err := ReadJudgeJSON(js)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(orig) {
			t.Fatalf("%s: %d items back, want %d", name, len(back), len(orig))
		}
		for i := range orig {
			o, b := orig[i], back[i]
			if o.Instruction != b.Instruction || !cmp.Equal(o.GPT4Scores, b.GPT4Scores) || o.Idx != b.Idx ||
				o.Category != b.Category || o.ResponseSource != b.ResponseSource || o.Feedback[0] != b.Feedback[0] {
				t.Errorf("%s [%d]: round trip differs", name, i)
				break
			}
		}
	}
}

func TestConvertMisfits(t *testing.T) {
	dir := sharedData(t)
	items, _ := ReadJudgeJSON(filepath.Join(dir, "prometheus", "vicuna_eval.json"))
	var raw []map[string]any
	for i, it := range items[:3] {
		in := it.Instruction
		if i == 1 {
			in = strings.Replace(in, mRubric, "\n\n###Rubric:\n", 1)
		}
		raw = append(raw, map[string]any{"instruction": in, "gpt4_score": it.GPT4Scores, "idx": it.Idx})
	}
	b, _ := json.Marshal(raw)
	tmp := t.TempDir()
	in, out := filepath.Join(tmp, "three.json"), filepath.Join(tmp, "three.parquet")
	os.WriteFile(in, b, 0o644)
	_, err := Convert(in, out, ConvertOptions{})
	var me *MisfitError
	if !errors.As(err, &me) || len(me.Misfits) != 1 || me.Misfits[0].Index != 1 ||
		!strings.Contains(err.Error(), `item 1: instruction: no "###Score Rubrics:" section`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists after a failed conversion: %v", err)
	}
	rep, err := Convert(in, out, ConvertOptions{SkipMisfits: true})
	if err != nil || rep.Written != 2 || len(rep.Misfits) != 1 || rep.Misfits[0].Index != 1 || rep.Misfits[0].Idx != 1 {
		t.Fatalf("skip: %+v %v", rep, err)
	}
	rows, _, _ := ReadFile(out, ReadOptions{})
	if i0, _ := rows[0].Extra.Int("index"); i0 != 0 {
		t.Errorf("row 0 index %d", i0)
	}
	if i1, _ := rows[1].Extra.Int("index"); i1 != 2 {
		t.Errorf("row 1 index %d, want 2 (the item's position)", i1)
	}
	if _, err := Convert(filepath.Join(tmp, "x.csv"), out, ConvertOptions{}); err == nil || !strings.Contains(err.Error(), "cannot tell the direction") {
		t.Errorf("csv: %v", err)
	}
}

func TestComputeGTStats(t *testing.T) {
	st := ComputeGTStats([]float64{1, 2, 3, 5, 4.9, 0.5})
	// mean = 16.4/6; population variance by hand
	mean := 16.4 / 6
	v := 0.0
	for _, x := range []float64{1, 2, 3, 5, 4.9, 0.5} {
		v += (x - mean) * (x - mean)
	}
	if !numtest.Within(st.Mean, mean, 1e-12, 0) || !numtest.Within(st.Std, math.Sqrt(v/6), 1e-12, 0) || st.Min != 0.5 || st.Max != 5 {
		t.Errorf("%+v", st)
	}
	counts := []int{}
	for _, b := range st.Histogram {
		counts = append(counts, b.Count)
	}
	// 1 -> [1,1.5); 2 -> [2,2.5); 3 -> [3,3.5); 4.9 and 5 -> [4.5,5]; 0.5 unbinned
	if d := cmp.Diff([]int{1, 0, 1, 0, 1, 0, 0, 2}, counts); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// A file written by another Parquet implementation (arrow-rs; see
// testdata/README.md) reads by name, nulls and all.
func TestReadArrowRSFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	path := filepath.Join("testdata", "arrowrs_verl.parquet")
	r, err := Open(path, ReadOptions{Mem: mem, BatchRows: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.NumRows() != 50 || r.NumRowGroups() != 3 {
		t.Errorf("rows %d groups %d, want 50 and 3", r.NumRows(), r.NumRowGroups())
	}
	var rows []Row
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b...)
	}
	probs := r.Problems()
	r.Close()
	mem.AssertSize(t, 0)
	if len(rows) != 50 {
		t.Fatalf("%d rows", len(rows))
	}
	if d := cmp.Diff([]Problem{{7, "prompt", "null"}, {9, "reward_model.ground_truth", "null"}}, probs); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	for i, row := range rows {
		want := Row{
			DataSource: "prometheus-eval/Feedback-Collection", Ability: "math", Style: "rule",
			Prompt:      []Message{{"user", fmt.Sprintf("###Task Description:\nitem %d ✓", i)}},
			GroundTruth: StringGT(fmt.Sprint(1 + i%5)),
			Extra:       Extra{"index": int64(i), "split": "train", "reward_design": false, "question": fmt.Sprint("q", i), "answer": fmt.Sprint("a", i)},
		}
		switch i {
		case 7:
			want.Prompt = nil
		case 9:
			want.GroundTruth = GroundTruth{Value: math.NaN()}
		}
		if d := cmp.Diff(want, row, cmpRows); d != "" {
			t.Errorf("row %d (-want +got):\n%s", i, d)
		}
	}
	sft, err := ReadSFT(path, "", "")
	if err != nil || len(sft) != 50 || sft[49] != (SFTExample{"q49", "a49"}) {
		t.Errorf("SFT: %d examples, %v", len(sft), err)
	}
}

func TestInspectJudgeJSONProblems(t *testing.T) {
	good := "###Task Description:\nx\n" + REALFormatLine + mInstruction + "I" + mResponse + "R" + mReference + "A" + mRubric +
		"[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e" + mFeedback + " "
	body := `[{"instruction": ` + strconvQuote(good) + `, "gpt4_score": [4, 5]},
	{"instruction": "x", "gpt4_score": [1, 7]},
	{"gpt4_score": 3},
	{"instruction": "not a judge prompt", "gpt4_score": 2}]`
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(body), 0o644)
	ins, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{1, "gpt4_score[1]", "score 7 is outside 1..5"},
		{2, "instruction", "missing"},
		{3, "prompt", `not a Prometheus judge prompt: does not start with "###Task Description:"`},
	}
	if d := cmp.Diff(want, ins.Problems); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if ins.Rows != 4 || ins.ProblemCount != 3 || ins.GroundTruth.N != 2 || ins.GroundTruth.Mean != 3.25 ||
		!cmp.Equal(ins.PromptFormats, map[string]int{"real": 1, "unparsed": 2, "not_judge": 1}) {
		t.Errorf("%+v", ins)
	}
	if _, err := ReadJudgeJSON(path); err == nil || err.Error() != path+": [1].gpt4_score[1]: score 7 is outside 1..5" {
		t.Errorf("strict read: %v", err)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Problems are listed by row up to MaxProblems and all counted.
func TestInspectCapsProblems(t *testing.T) {
	good := "###Task Description:\nx\n" + REALFormatLine + mInstruction + "I" + mResponse + "R" + mReference + "A" + mRubric +
		"[C]\nScore 1: a\nScore 2: b\nScore 3: c\nScore 4: d\nScore 5: e" + mFeedback + " "
	var rows []Row
	for i := 0; i < 250; i++ {
		gt := "x" // not a number: one problem per row
		if i%50 == 0 {
			gt = "3"
		}
		rows = append(rows, Row{Prompt: []Message{{"user", good}}, GroundTruth: StringGT(gt)})
	}
	path := filepath.Join(t.TempDir(), "many.parquet")
	if err := WriteFile(path, rows, WriteOptions{RowGroupRows: 64}); err != nil {
		t.Fatal(err)
	}
	ins, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	// rows 0, 50, ..., 200 are fine: the 200 listed are rows 1..49, 51..99, 101..149, 151..199, 201..204
	if ins.ProblemCount != 245 || len(ins.Problems) != MaxProblems || ins.Problems[0].Row != 1 || ins.Problems[MaxProblems-1].Row != 204 ||
		ins.Problems[0].Msg != `"x" is not a number` || ins.GroundTruth.N != 5 || ins.RowGroups != 4 {
		t.Errorf("count %d, listed %d, first %+v, last %+v, gt n %d", ins.ProblemCount, len(ins.Problems), ins.Problems[0], ins.Problems[len(ins.Problems)-1], ins.GroundTruth.N)
	}
}
