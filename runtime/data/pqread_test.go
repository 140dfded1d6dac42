package data

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/google/go-cmp/cmp"
)

// nullsEverywhereFile writes five rows with a null or an empty value at every
// level of every verl column (lists, list elements, struct fields, extra_info
// keys of every shape), in row groups of groupRows.
func nullsEverywhereFile(t *testing.T, groupRows int64) string {
	t.Helper()
	str := arrow.BinaryTypes.String
	msg := arrow.StructOf(arrow.Field{Name: "role", Type: str, Nullable: true}, arrow.Field{Name: "content", Type: str, Nullable: true})
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "data_source", Type: str, Nullable: true},
		{Name: "prompt", Type: arrow.ListOf(msg), Nullable: true},
		{Name: "ability", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "reward_model", Type: arrow.StructOf(
			arrow.Field{Name: "style", Type: str, Nullable: true},
			arrow.Field{Name: "ground_truth", Type: arrow.PrimitiveTypes.Float64, Nullable: true}), Nullable: true},
		{Name: "extra_info", Type: arrow.StructOf(
			arrow.Field{Name: "s", Type: str, Nullable: true},
			arrow.Field{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
			arrow.Field{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
			arrow.Field{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
			arrow.Field{Name: "ls", Type: arrow.ListOf(str), Nullable: true},
			arrow.Field{Name: "nested", Type: arrow.StructOf(arrow.Field{Name: "a", Type: str, Nullable: true}), Nullable: true},
		), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	ds := b.Field(0).(*array.StringBuilder)
	pl := b.Field(1).(*array.ListBuilder)
	ps := pl.ValueBuilder().(*array.StructBuilder)
	ab := b.Field(2).(*array.LargeStringBuilder)
	rm := b.Field(3).(*array.StructBuilder)
	ex := b.Field(4).(*array.StructBuilder)
	message := func(role, content *string) {
		if role == nil && content == nil {
			ps.AppendNull()
			return
		}
		ps.Append(true)
		for k, v := range []*string{role, content} {
			if v == nil {
				ps.FieldBuilder(k).AppendNull()
			} else {
				ps.FieldBuilder(k).(*array.StringBuilder).Append(*v)
			}
		}
	}
	s := func(v string) *string { return &v }
	extra := func(null bool, l []*int64, lNull bool) {
		if null {
			ex.AppendNull()
			return
		}
		ex.Append(true)
		if l == nil && !lNull { // all keys null
			for k := 0; k < ex.NumField(); k++ {
				ex.FieldBuilder(k).AppendNull()
			}
			return
		}
		ex.FieldBuilder(0).(*array.StringBuilder).Append("x")
		ex.FieldBuilder(1).(*array.Int32Builder).Append(-5)
		ex.FieldBuilder(2).(*array.Uint32Builder).Append(4000000000)
		ex.FieldBuilder(3).(*array.Float32Builder).Append(0.5)
		ex.FieldBuilder(4).(*array.BooleanBuilder).Append(true)
		lb := ex.FieldBuilder(5).(*array.ListBuilder)
		if lNull {
			lb.AppendNull()
		} else {
			lb.Append(true)
			for _, x := range l {
				if x == nil {
					lb.ValueBuilder().AppendNull()
				} else {
					lb.ValueBuilder().(*array.Int64Builder).Append(*x)
				}
			}
		}
		lsb := ex.FieldBuilder(6).(*array.ListBuilder)
		lsb.Append(true)
		lsb.ValueBuilder().(*array.StringBuilder).Append("a")
		nb := ex.FieldBuilder(7).(*array.StructBuilder)
		nb.Append(true)
		nb.FieldBuilder(0).(*array.StringBuilder).Append("z")
	}
	i := func(v int64) *int64 { return &v }

	// row 0: everything there
	ds.Append("a")
	pl.Append(true)
	message(s("user"), s("hi"))
	message(s("assistant"), s("yo"))
	ab.Append("j")
	rm.Append(true)
	rm.FieldBuilder(0).(*array.StringBuilder).Append("rule")
	rm.FieldBuilder(1).(*array.Float64Builder).Append(3.5)
	extra(false, []*int64{i(1), i(2)}, false)
	// row 1: null prompt, data source, reward model and extra_info
	ds.AppendNull()
	pl.AppendNull()
	ab.AppendNull()
	rm.AppendNull()
	extra(true, nil, false)
	// row 2: empty prompt, null style and ground truth, every extra key null
	ds.Append("")
	pl.Append(true)
	ab.Append("")
	rm.Append(true)
	rm.FieldBuilder(0).AppendNull()
	rm.FieldBuilder(1).AppendNull()
	extra(false, nil, false)
	// row 3: a null message, a null role, a null content; an empty list
	ds.Append("d")
	pl.Append(true)
	message(nil, nil)
	message(nil, s("c"))
	message(s("user"), nil)
	ab.Append("k")
	rm.Append(true)
	rm.FieldBuilder(0).(*array.StringBuilder).Append("r")
	rm.FieldBuilder(1).(*array.Float64Builder).Append(-1)
	extra(false, []*int64{}, false)
	// row 4: a list with a null element; a null list
	ds.Append("e")
	pl.Append(true)
	message(s("user"), s("last"))
	ab.Append("l")
	rm.Append(true)
	rm.FieldBuilder(0).(*array.StringBuilder).Append("r")
	rm.FieldBuilder(1).(*array.Float64Builder).Append(5)
	extra(false, []*int64{nil, i(3)}, false)

	rec := b.NewRecord()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("nulls%d.parquet", groupRows))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(groupRows)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Nulls and empty values at every level read as they always have (the
// values below are those of the pqarrow record reader this reader
// replaced), whatever the row groups and batches.
func TestReadNullsEverywhere(t *testing.T) {
	full := Extra{"s": "x", "i32": int64(-5), "u32": int64(4000000000), "f32": 0.5, "b": true}
	with := func(l any) Extra {
		e := Extra{}
		for k, v := range full {
			e[k] = v
		}
		e["l"] = l
		return e
	}
	nan := math.NaN()
	want := []Row{
		{DataSource: "a", Prompt: []Message{{"user", "hi"}, {"assistant", "yo"}}, Ability: "j", Style: "rule", GroundTruth: FloatGT(3.5), Extra: with([]float64{1, 2})},
		{GroundTruth: GroundTruth{Value: nan, Float: true}},
		{Prompt: []Message{}, GroundTruth: GroundTruth{Value: nan, Float: true},
			Extra: Extra{"s": nil, "i32": nil, "u32": nil, "f32": nil, "b": nil, "l": nil, "ls": nil, "nested": nil}},
		{DataSource: "d", Prompt: []Message{{"", ""}, {"", "c"}, {"user", ""}}, Ability: "k", Style: "r", GroundTruth: FloatGT(-1), Extra: with([]float64{})},
		{DataSource: "e", Prompt: []Message{{"user", "last"}}, Ability: "l", Style: "r", GroundTruth: FloatGT(5), Extra: with([]float64{nan, 3})},
	}
	wantProbs := []Problem{{1, "prompt", "null"}, {1, "reward_model.ground_truth", "null"}, {2, "reward_model.ground_truth", "null"},
		{3, "prompt[0].content", "null"}, {3, "prompt[2].content", "null"}}
	for _, groupRows := range []int64{5, 2} {
		path := nullsEverywhereFile(t, groupRows)
		for _, batch := range []int{1, 2, 3, 4096} {
			r, err := Open(path, ReadOptions{BatchRows: batch})
			if err != nil {
				t.Fatal(err)
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
			r.Close()
			if d := cmp.Diff(want, rows, cmpRows); d != "" {
				t.Errorf("groups of %d, batches of %d: rows (-want +got):\n%s", groupRows, batch, d)
			}
			if d := cmp.Diff(wantProbs, r.Problems()); d != "" {
				t.Errorf("groups of %d, batches of %d: problems (-want +got):\n%s", groupRows, batch, d)
			}
		}
	}
}

// Files in the other encodings and page versions parquet writers use (the
// delta encodings, data page v2, many small pages, no dictionary) read back
// as written: the page checks must not refuse a sound file.
func TestReadEncodings(t *testing.T) {
	rows := judgeLikeRows(300)
	// Nulls: levels without values, in the delta-encoded columns too.
	rows[5].Extra["split"], rows[9].Extra["original_scores"], rows[11].Extra["index"] = nil, nil, nil
	rows[7].Prompt = []Message{}
	opts := WriteOptions{GroundTruthFloat: true, Extra: []ExtraField{{"index", ExtraInt}, {"original_scores", ExtraFloatList}, {"split", ExtraString}}}
	for _, v2 := range []bool{false, true} {
		for _, dict := range []bool{false, true} {
			props := []parquet.WriterProperty{parquet.WithDictionaryDefault(dict), parquet.WithDataPageSize(1 << 10), parquet.WithMaxRowGroupLength(200)}
			if v2 {
				props = append(props, parquet.WithDataPageVersion(parquet.DataPageV2))
			}
			if !dict {
				for path, enc := range map[string]parquet.Encoding{
					"data_source": parquet.Encodings.DeltaByteArray, "prompt.list.element.content": parquet.Encodings.DeltaByteArray,
					"prompt.list.element.role": parquet.Encodings.DeltaLengthByteArray, "ability": parquet.Encodings.DeltaLengthByteArray,
					"extra_info.index": parquet.Encodings.DeltaBinaryPacked, "extra_info.split": parquet.Encodings.DeltaByteArray,
				} {
					props = append(props, parquet.WithEncodingFor(path, enc))
				}
			}
			mem := memory.NewGoAllocator()
			w := &Writer{opts: opts, b: array.NewRecordBuilder(mem, opts.Schema())}
			for i := range rows {
				if err := w.append(&rows[i]); err != nil {
					t.Fatal(err)
				}
			}
			rec := w.b.NewRecord()
			w.b.Release()
			path := filepath.Join(t.TempDir(), fmt.Sprintf("v2%v_dict%v.parquet", v2, dict))
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			fw, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(props...), pqarrow.DefaultWriterProps())
			if err != nil {
				t.Fatal(err)
			}
			if err := fw.Write(rec); err != nil {
				t.Fatal(err)
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			for _, batch := range []int{7, 4096} {
				got, probs, err := ReadFile(path, ReadOptions{BatchRows: batch})
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(path), err)
				}
				if d := cmp.Diff(rows, got, cmpRows); d != "" {
					t.Errorf("%s, batches of %d: (-want +got):\n%s", filepath.Base(path), batch, d)
				}
				if len(probs) != 0 {
					t.Errorf("%s: problems %v", filepath.Base(path), probs)
				}
			}
		}
	}
}

// Required columns (no definition levels: the column reader's progress is
// the values it decodes) read back in every encoding the checks look at.
func TestReadRequiredColumns(t *testing.T) {
	str := arrow.BinaryTypes.String
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "data_source", Type: str},
		{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "role", Type: str}, arrow.Field{Name: "content", Type: str}))},
		{Name: "ability", Type: str},
		{Name: "reward_model", Type: arrow.StructOf(arrow.Field{Name: "style", Type: str}, arrow.Field{Name: "ground_truth", Type: arrow.PrimitiveTypes.Int64})},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	var want []Row
	for i := range 300 {
		ds := fmt.Sprintf("set%d", i%3)
		b.Field(0).(*array.StringBuilder).Append(ds)
		pl := b.Field(1).(*array.ListBuilder)
		pl.Append(true)
		ps := pl.ValueBuilder().(*array.StructBuilder)
		ps.Append(true)
		ps.FieldBuilder(0).(*array.StringBuilder).Append("user")
		ps.FieldBuilder(1).(*array.StringBuilder).Append(fmt.Sprintf("prompt %d", i))
		b.Field(2).(*array.StringBuilder).Append("judge")
		rm := b.Field(3).(*array.StructBuilder)
		rm.Append(true)
		rm.FieldBuilder(0).(*array.StringBuilder).Append("rule")
		rm.FieldBuilder(1).(*array.Int64Builder).Append(int64(i % 5))
		want = append(want, Row{DataSource: ds, Prompt: []Message{{"user", fmt.Sprintf("prompt %d", i)}}, Ability: "judge", Style: "rule", GroundTruth: FloatGT(float64(i % 5))})
	}
	rec := b.NewRecord()
	defer rec.Release()
	for name, props := range map[string][]parquet.WriterProperty{
		"dict":  {parquet.WithDataPageSize(256)},
		"delta": {parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithEncodingFor("data_source", parquet.Encodings.DeltaByteArray), parquet.WithEncodingFor("ability", parquet.Encodings.DeltaLengthByteArray), parquet.WithEncodingFor("reward_model.ground_truth", parquet.Encodings.DeltaBinaryPacked)},
	} {
		path := filepath.Join(t.TempDir(), name+".parquet")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		fw, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(append(props, parquet.WithMaxRowGroupLength(200))...), pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		got, _, err := ReadFile(path, ReadOptions{BatchRows: 64})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got, cmpRows); d != "" {
			t.Errorf("%s: (-want +got):\n%s", name, d)
		}
	}
}
