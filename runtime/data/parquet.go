package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// The top-level columns of verl's schema, in the order REAL's scripts write them.
var verlColumns = []string{"data_source", "prompt", "ability", "reward_model", "extra_info"}

// ReadOptions configures Open.
type ReadOptions struct {
	// Require lists the top-level columns that must be present; nil means
	// prompt and reward_model (what RL and eval need). SFT files need only
	// extra_info: pass []string{"extra_info"}.
	Require []string
	// BatchRows bounds the rows decoded at once (default 4096); a row group
	// larger than this is streamed in several batches.
	BatchRows int
	// Mem is the allocator for Arrow buffers (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Reader streams the rows of a verl parquet file, one row group at a time.
type Reader struct {
	path   string
	f      *os.File
	pf     *file.Reader
	fr     *pqarrow.FileReader
	mem    memory.Allocator
	cols   []string // all top-level columns of the file
	types  map[string]arrow.DataType
	leaves []int // leaf column indices of the verl columns present

	rg   int                  // next row group
	rr   pqarrow.RecordReader // reader over the current row group, nil between groups
	next int                  // index of the next row in the file

	problems []Problem
}

// Open opens a verl parquet file and checks its schema: the required
// columns exist and every verl column present has the type verl writes
// (extra columns, extra struct keys and __index_level_0__ are ignored).
func Open(path string, opts ReadOptions) (*Reader, error) {
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = 4096
	}
	if opts.Require == nil {
		opts.Require = []string{"prompt", "reward_model"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	pf, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(opts.Mem)))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a readable parquet file: %v", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(opts.BatchRows)}, opts.Mem)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	r := &Reader{path: path, f: f, pf: pf, fr: fr, mem: opts.Mem, types: map[string]arrow.DataType{}}
	for _, sf := range fr.Manifest.Fields {
		name := sf.Field.Name
		r.cols = append(r.cols, name)
		r.types[name] = sf.Field.Type
		if !isVerlColumn(name) {
			continue
		}
		if err := checkColumnType(name, sf.Field.Type); err != nil {
			r.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		r.leaves = appendLeaves(r.leaves, sf)
	}
	for _, c := range opts.Require {
		if _, ok := r.types[c]; !ok {
			r.Close()
			return nil, fmt.Errorf("%s: missing column %q (the file has %s); verl files need %s", path, c, strings.Join(r.cols, ", "), strings.Join(opts.Require, ", "))
		}
	}
	if len(r.leaves) == 0 {
		r.Close()
		return nil, fmt.Errorf("%s: none of the verl columns (%s) is present (the file has %s)", path, strings.Join(verlColumns, ", "), strings.Join(r.cols, ", "))
	}
	return r, nil
}

func isVerlColumn(name string) bool {
	for _, c := range verlColumns {
		if c == name {
			return true
		}
	}
	return false
}

// appendLeaves collects the leaf column indices under sf. The manifest's
// group nodes carry ColIndex 0, not -1, so a leaf is a node without children.
func appendLeaves(dst []int, sf pqarrow.SchemaField) []int {
	if len(sf.Children) == 0 {
		return append(dst, sf.ColIndex)
	}
	for _, c := range sf.Children {
		dst = appendLeaves(dst, c)
	}
	return dst
}

func isStringType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return true
	}
	return false
}

func isNumberType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.FLOAT64, arrow.FLOAT32, arrow.INT64, arrow.INT32, arrow.INT16, arrow.INT8,
		arrow.UINT64, arrow.UINT32, arrow.UINT16, arrow.UINT8:
		return true
	}
	return false
}

func listElem(t arrow.DataType) (arrow.DataType, bool) {
	switch lt := t.(type) {
	case *arrow.ListType:
		return lt.Elem(), true
	case *arrow.LargeListType:
		return lt.Elem(), true
	}
	return nil, false
}

// checkColumnType checks one verl column's type, naming what it wants.
func checkColumnType(name string, t arrow.DataType) error {
	bad := func(want string) error {
		return fmt.Errorf("column %q has type %s; verl writes %s", name, t, want)
	}
	switch name {
	case "data_source", "ability":
		if !isStringType(t) {
			return bad("string")
		}
	case "prompt":
		const want = "list<struct<role: string, content: string>>"
		elem, ok := listElem(t)
		if !ok {
			return bad(want)
		}
		st, ok := elem.(*arrow.StructType)
		if !ok {
			return bad(want)
		}
		for _, k := range []string{"role", "content"} {
			f, ok := st.FieldByName(k)
			if !ok || !isStringType(f.Type) {
				return fmt.Errorf("column \"prompt\" element %s lacks a string field %q; verl writes %s", elem, k, want)
			}
		}
	case "reward_model":
		st, ok := t.(*arrow.StructType)
		if !ok {
			return bad("struct<style: string, ground_truth: string or double>")
		}
		gt, ok := st.FieldByName("ground_truth")
		if !ok {
			return fmt.Errorf("column \"reward_model\" (%s) has no field \"ground_truth\"", t)
		}
		if !isStringType(gt.Type) && !isNumberType(gt.Type) {
			return fmt.Errorf("reward_model.ground_truth has type %s; want a string or a number", gt.Type)
		}
		if s, ok := st.FieldByName("style"); ok && !isStringType(s.Type) {
			return fmt.Errorf("reward_model.style has type %s; want a string", s.Type)
		}
	case "extra_info":
		if _, ok := t.(*arrow.StructType); !ok {
			return bad("a struct")
		}
	}
	return nil
}

// Path returns the file's path.
func (r *Reader) Path() string { return r.path }

// NumRows returns the number of rows in the file.
func (r *Reader) NumRows() int64 { return r.pf.NumRows() }

// NumRowGroups returns the number of row groups in the file.
func (r *Reader) NumRowGroups() int { return r.pf.NumRowGroups() }

// Columns returns every top-level column of the file with its Arrow type.
func (r *Reader) Columns() []Column {
	out := make([]Column, len(r.cols))
	for i, c := range r.cols {
		out[i] = Column{Name: c, Type: r.types[c].String()}
	}
	return out
}

// Column names one top-level column and its Arrow type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Problems returns the row problems met so far while decoding (nulls where a
// value is needed). Judge-level checks are ValidateJudgeRow's.
func (r *Reader) Problems() []Problem { return r.problems }

// Next returns the next batch of rows (at most ReadOptions.BatchRows, never
// spanning two row groups), or io.EOF after the last.
func (r *Reader) Next() ([]Row, error) {
	for {
		if r.rr == nil {
			if r.rg >= r.pf.NumRowGroups() {
				return nil, io.EOF
			}
			rr, err := r.fr.GetRecordReader(context.Background(), r.leaves, []int{r.rg})
			if err != nil {
				return nil, fmt.Errorf("%s: row group %d: %v", r.path, r.rg, err)
			}
			r.rr = rr
			r.rg++
		}
		if r.rr.Next() {
			rec := r.rr.Record()
			rows := r.decode(rec)
			r.next += int(rec.NumRows())
			return rows, nil
		}
		err := r.rr.Err()
		r.rr.Release()
		r.rr = nil
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: row group %d: %v", r.path, r.rg-1, err)
		}
	}
}

// Close releases the reader's buffers and closes the file.
func (r *Reader) Close() error {
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	return r.pf.Close()
}

func strVal(a arrow.Array, i int) (string, bool) {
	if a == nil || a.IsNull(i) {
		return "", false
	}
	switch v := a.(type) {
	case *array.String:
		return v.Value(i), true
	case *array.LargeString:
		return v.Value(i), true
	case *array.Binary:
		return string(v.Value(i)), true
	case *array.LargeBinary:
		return string(v.Value(i)), true
	}
	return "", false
}

func numVal(a arrow.Array, i int) (float64, bool) {
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	switch v := a.(type) {
	case *array.Float64:
		return v.Value(i), true
	case *array.Float32:
		return float64(v.Value(i)), true
	case *array.Int64:
		return float64(v.Value(i)), true
	case *array.Int32:
		return float64(v.Value(i)), true
	case *array.Int16:
		return float64(v.Value(i)), true
	case *array.Int8:
		return float64(v.Value(i)), true
	case *array.Uint64:
		return float64(v.Value(i)), true
	case *array.Uint32:
		return float64(v.Value(i)), true
	case *array.Uint16:
		return float64(v.Value(i)), true
	case *array.Uint8:
		return float64(v.Value(i)), true
	}
	return 0, false
}

func listRange(a arrow.Array, i int) (arrow.Array, int, int, bool) {
	if a.IsNull(i) {
		return nil, 0, 0, false
	}
	switch v := a.(type) {
	case *array.List:
		s, e := v.ValueOffsets(i)
		return v.ListValues(), int(s), int(e), true
	case *array.LargeList:
		s, e := v.ValueOffsets(i)
		return v.ListValues(), int(s), int(e), true
	}
	return nil, 0, 0, false
}

func structField(a arrow.Array, name string) arrow.Array {
	st, ok := a.(*array.Struct)
	if !ok {
		return nil
	}
	idx, ok := st.DataType().(*arrow.StructType).FieldIdx(name)
	if !ok {
		return nil
	}
	return st.Field(idx)
}

func column(rec arrow.Record, name string) arrow.Array {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	return rec.Column(idx[0])
}

// decode turns one record batch into rows, noting nulls as problems.
func (r *Reader) decode(rec arrow.Record) []Row {
	n := int(rec.NumRows())
	rows := make([]Row, n)
	ds, prompt, ability := column(rec, "data_source"), column(rec, "prompt"), column(rec, "ability")
	rm, extra := column(rec, "reward_model"), column(rec, "extra_info")
	var style, gt arrow.Array
	gtFloat := false
	if rm != nil {
		style, gt = structField(rm, "style"), structField(rm, "ground_truth")
		gtFloat = gt != nil && isNumberType(gt.DataType())
	}
	var role, content arrow.Array
	var msgs arrow.Array
	if prompt != nil {
		switch p := prompt.(type) {
		case *array.List:
			msgs = p.ListValues()
		case *array.LargeList:
			msgs = p.ListValues()
		}
		role, content = structField(msgs, "role"), structField(msgs, "content")
	}
	for i := range n {
		row := &rows[i]
		at := r.next + i
		row.DataSource, _ = strVal(ds, i)
		row.Ability, _ = strVal(ability, i)
		if prompt != nil {
			if _, s, e, ok := listRange(prompt, i); ok {
				row.Prompt = make([]Message, 0, e-s)
				for j := s; j < e; j++ {
					ro, _ := strVal(role, j)
					co, ok := strVal(content, j)
					if !ok {
						r.problems = append(r.problems, Problem{at, fmt.Sprintf("prompt[%d].content", j-s), "null"})
					}
					row.Prompt = append(row.Prompt, Message{Role: ro, Content: co})
				}
			} else {
				r.problems = append(r.problems, Problem{at, "prompt", "null"})
			}
		}
		if rm != nil {
			row.Style, _ = strVal(style, i)
			switch {
			case rm.IsNull(i) || gt == nil || gt.IsNull(i):
				row.GroundTruth = GroundTruth{Value: math.NaN(), Float: gtFloat}
				r.problems = append(r.problems, Problem{at, "reward_model.ground_truth", "null"})
			case gtFloat:
				v, _ := numVal(gt, i)
				row.GroundTruth = FloatGT(v)
			default:
				s, _ := strVal(gt, i)
				row.GroundTruth = StringGT(s)
			}
		}
		if extra != nil && !extra.IsNull(i) {
			row.Extra = decodeExtra(extra.(*array.Struct), i)
		}
	}
	return rows
}

// decodeExtra keeps extra_info's scalar keys and lists of numbers; other
// shapes (nested structs, lists of strings) are skipped.
func decodeExtra(st *array.Struct, i int) Extra {
	e := Extra{}
	typ := st.DataType().(*arrow.StructType)
	for k, f := range typ.Fields() {
		a := st.Field(k)
		if a.IsNull(i) {
			e[f.Name] = nil
			continue
		}
		switch {
		case isStringType(f.Type):
			e[f.Name], _ = strVal(a, i)
		case f.Type.ID() == arrow.BOOL:
			e[f.Name] = a.(*array.Boolean).Value(i)
		case f.Type.ID() == arrow.FLOAT64 || f.Type.ID() == arrow.FLOAT32:
			e[f.Name], _ = numVal(a, i)
		case isNumberType(f.Type):
			v, _ := numVal(a, i)
			e[f.Name] = int64(v)
		default:
			elem, ok := listElem(f.Type)
			if !ok || !isNumberType(elem) {
				continue
			}
			vals, s, end, _ := listRange(a, i)
			xs := make([]float64, 0, end-s)
			for j := s; j < end; j++ {
				v, ok := numVal(vals, j)
				if !ok {
					v = math.NaN()
				}
				xs = append(xs, v)
			}
			e[f.Name] = xs
		}
	}
	return e
}

// ReadFile reads every row of a verl parquet file. Decoding problems (nulls)
// are returned beside the rows, not as an error.
func ReadFile(path string, opts ReadOptions) ([]Row, []Problem, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	rows := make([]Row, 0, r.NumRows())
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, b...)
	}
	return rows, r.Problems(), nil
}

// SFTExample is one supervised pair from an SFT file's extra_info.
type SFTExample struct {
	Question, Answer string
}

// ReadSFT reads the (question, answer) pairs that verl's SFT trainer takes
// from extra_info (keys qKey and aKey, "question" and "answer" by default).
// A row without either key is an error naming the row.
func ReadSFT(path, qKey, aKey string) ([]SFTExample, error) {
	if qKey == "" {
		qKey = "question"
	}
	if aKey == "" {
		aKey = "answer"
	}
	rows, _, err := ReadFile(path, ReadOptions{Require: []string{"extra_info"}})
	if err != nil {
		return nil, err
	}
	out := make([]SFTExample, len(rows))
	for i, r := range rows {
		q, ok1 := r.Extra.String(qKey)
		a, ok2 := r.Extra.String(aKey)
		if !ok1 || !ok2 {
			missing := qKey
			if ok1 {
				missing = aKey
			}
			return nil, fmt.Errorf("%s: row %d: extra_info has no %q (keys: %s); pass the SFT keys this file uses", path, i, missing, strings.Join(extraKeys(r.Extra), ", "))
		}
		out[i] = SFTExample{q, a}
	}
	return out, nil
}

func extraKeys(e Extra) []string {
	ks := make([]string, 0, len(e))
	for k := range e {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// WriteOptions configures a Writer.
type WriteOptions struct {
	// GroundTruthFloat writes reward_model.ground_truth as double (REAL's eval
	// files) instead of string (its training files).
	GroundTruthFloat bool
	// Extra lists extra_info's keys; nil writes no extra_info column.
	Extra []ExtraField
	// RowGroupRows is the rows per row group (default 1024).
	RowGroupRows int
	// Mem is the allocator for Arrow buffers (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Schema returns the Arrow schema that a Writer with these options writes.
func (o WriteOptions) Schema() *arrow.Schema {
	str := arrow.BinaryTypes.String
	gt := arrow.DataType(str)
	if o.GroundTruthFloat {
		gt = arrow.PrimitiveTypes.Float64
	}
	fields := []arrow.Field{
		{Name: "data_source", Type: str, Nullable: true},
		{Name: "prompt", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "role", Type: str, Nullable: true},
			arrow.Field{Name: "content", Type: str, Nullable: true})), Nullable: true},
		{Name: "ability", Type: str, Nullable: true},
		{Name: "reward_model", Type: arrow.StructOf(
			arrow.Field{Name: "style", Type: str, Nullable: true},
			arrow.Field{Name: "ground_truth", Type: gt, Nullable: true}), Nullable: true},
	}
	if o.Extra != nil {
		var ef []arrow.Field
		for _, x := range o.Extra {
			var t arrow.DataType
			switch x.Type {
			case ExtraString:
				t = str
			case ExtraInt:
				t = arrow.PrimitiveTypes.Int64
			case ExtraFloat:
				t = arrow.PrimitiveTypes.Float64
			case ExtraBool:
				t = arrow.FixedWidthTypes.Boolean
			case ExtraFloatList:
				t = arrow.ListOf(arrow.PrimitiveTypes.Float64)
			}
			ef = append(ef, arrow.Field{Name: x.Name, Type: t, Nullable: true})
		}
		fields = append(fields, arrow.Field{Name: "extra_info", Type: arrow.StructOf(ef...), Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// Writer writes verl rows to parquet, one row group per RowGroupRows rows,
// so that a large file is never held whole in Arrow form.
type Writer struct {
	opts WriteOptions
	fw   *pqarrow.FileWriter
	b    *array.RecordBuilder
	n    int // rows in the builder
	rows int // rows written in all
}

// NewWriter starts a parquet file on w (snappy-compressed, with the Arrow
// schema stored so that readers get the same types back).
func NewWriter(w io.Writer, opts WriteOptions) (*Writer, error) {
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 1024
	}
	sc := opts.Schema()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithAllocator(opts.Mem))
	fw, err := pqarrow.NewFileWriter(sc, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(opts.Mem)))
	if err != nil {
		return nil, err
	}
	return &Writer{opts: opts, fw: fw, b: array.NewRecordBuilder(opts.Mem, sc)}, nil
}

// Write appends rows, flushing a row group each RowGroupRows rows.
func (w *Writer) Write(rows ...Row) error {
	for i := range rows {
		if err := w.append(&rows[i]); err != nil {
			return fmt.Errorf("row %d: %v", w.rows+w.n, err)
		}
		w.n++
		if w.n >= w.opts.RowGroupRows {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) append(r *Row) error {
	b := w.b
	b.Field(0).(*array.StringBuilder).Append(r.DataSource)
	lb := b.Field(1).(*array.ListBuilder)
	lb.Append(true)
	sb := lb.ValueBuilder().(*array.StructBuilder)
	for _, m := range r.Prompt {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append(m.Role)
		sb.FieldBuilder(1).(*array.StringBuilder).Append(m.Content)
	}
	b.Field(2).(*array.StringBuilder).Append(r.Ability)
	rb := b.Field(3).(*array.StructBuilder)
	rb.Append(true)
	rb.FieldBuilder(0).(*array.StringBuilder).Append(r.Style)
	if w.opts.GroundTruthFloat {
		v := r.GroundTruth.Value
		if !r.GroundTruth.Float && r.GroundTruth.Text != "" {
			var err error
			if v, err = strconv.ParseFloat(strings.TrimSpace(r.GroundTruth.Text), 64); err != nil {
				return fmt.Errorf("reward_model.ground_truth %q is not a number and the file's column is double", r.GroundTruth.Text)
			}
		}
		rb.FieldBuilder(1).(*array.Float64Builder).Append(v)
	} else {
		rb.FieldBuilder(1).(*array.StringBuilder).Append(r.GroundTruth.Text)
	}
	if w.opts.Extra == nil {
		if len(r.Extra) > 0 {
			return fmt.Errorf("extra_info has keys but the writer has no extra_info schema; set WriteOptions.Extra (InferExtra)")
		}
		return nil
	}
	eb := b.Field(4).(*array.StructBuilder)
	eb.Append(true)
	for k, x := range w.opts.Extra {
		fb := eb.FieldBuilder(k)
		v, ok := r.Extra[x.Name]
		if !ok || v == nil {
			fb.AppendNull()
			continue
		}
		bad := func() error {
			return fmt.Errorf("extra_info.%s is %T but the schema says %s", x.Name, v, x.Type)
		}
		switch x.Type {
		case ExtraString:
			s, ok := v.(string)
			if !ok {
				return bad()
			}
			fb.(*array.StringBuilder).Append(s)
		case ExtraInt:
			n, ok := v.(int64)
			if !ok {
				return bad()
			}
			fb.(*array.Int64Builder).Append(n)
		case ExtraFloat:
			switch f := v.(type) {
			case float64:
				fb.(*array.Float64Builder).Append(f)
			case int64:
				fb.(*array.Float64Builder).Append(float64(f))
			default:
				return bad()
			}
		case ExtraBool:
			t, ok := v.(bool)
			if !ok {
				return bad()
			}
			fb.(*array.BooleanBuilder).Append(t)
		case ExtraFloatList:
			xs, ok := v.([]float64)
			if !ok {
				return bad()
			}
			l := fb.(*array.ListBuilder)
			l.Append(true)
			l.ValueBuilder().(*array.Float64Builder).AppendValues(xs, nil)
		}
	}
	// Keys the schema does not name would be lost without a word.
	for k := range r.Extra {
		found := false
		for _, x := range w.opts.Extra {
			found = found || x.Name == k
		}
		if !found {
			return fmt.Errorf("extra_info.%s is not in the writer's extra_info schema", k)
		}
	}
	return nil
}

func (w *Writer) flush() error {
	if w.n == 0 {
		return nil
	}
	rec := w.b.NewRecord()
	defer rec.Release()
	if err := w.fw.Write(rec); err != nil {
		return err
	}
	w.rows += w.n
	w.n = 0
	return nil
}

// Close flushes the last row group and writes the file footer.
func (w *Writer) Close() error {
	err := w.flush()
	w.b.Release()
	if cerr := w.fw.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteFile writes rows to path atomically (a temporary file in the same
// directory, renamed on success). A nil opts.Extra is inferred from the rows.
func WriteFile(path string, rows []Row, opts WriteOptions) error {
	if opts.Extra == nil {
		ex, err := InferExtra(rows)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if len(ex) > 0 {
			opts.Extra = ex
		}
	}
	return AtomicWrite(path, func(f io.Writer) error {
		// pqarrow closes a writer that is an io.Closer; AtomicWrite must
		// sync and close the file itself.
		w, err := NewWriter(struct{ io.Writer }{f}, opts)
		if err != nil {
			return err
		}
		if err := w.Write(rows...); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
}

// AtomicWrite calls write on a temporary file beside path and renames it to
// path when write and the close succeed; otherwise the temporary file is
// removed and path is left as it was.
func AtomicWrite(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("%s: %v (nothing written)", path, err)
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; a data file is for everyone to read.
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
