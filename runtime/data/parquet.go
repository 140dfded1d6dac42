package data

import (
	"fmt"
	"io"
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
	// Mem is the allocator for the parquet reader's page buffers (default
	// memory.DefaultAllocator).
	Mem memory.Allocator
}

// Reader streams the rows of a verl parquet file, one row group at a time.
//
// It decodes every column on the caller's goroutine (see pqread.go): a
// damaged or hostile file gives an error naming the file, the row group and
// the column, never a panic.
type Reader struct {
	path  string
	pf    *file.Reader
	cols  []string // all top-level columns of the file
	types map[string]arrow.DataType
	batch int
	mem   memory.Allocator

	plan   readPlan
	leaves []*leafCol // the leaf columns the plan reads, each once

	rg      int   // current row group
	inGroup bool  // the leaves read row group rg
	rgRows  int64 // rows in row group rg
	rgDone  int64 // rows of row group rg returned
	next    int   // index of the next row in the file
	cur     *leafCol
	err     error // sticky: a damaged file stays failed

	problems []Problem
}

// Open opens a verl parquet file and checks its schema: the required
// columns exist and every verl column present has the type verl writes
// (extra columns, extra struct keys and __index_level_0__ are ignored).
// It also checks the footer's layout (row counts, column chunks within the
// file) before any page is decoded.
func Open(path string, opts ReadOptions) (r *Reader, err error) {
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
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var pf *file.Reader
	// The footer's thrift is decoded here; a damaged footer can make it
	// panic.
	defer func() {
		if p := recover(); p != nil {
			if pf != nil {
				pf.Close()
			} else {
				f.Close()
			}
			r, err = nil, fmt.Errorf("%s: not a readable parquet file: damaged footer (%v)", path, p)
		}
	}()
	pf, err = file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(opts.Mem)))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a readable parquet file: %v", path, err)
	}
	if err := checkLayout(pf, st.Size()); err != nil {
		pf.Close()
		return nil, fmt.Errorf("%s: not a readable parquet file: %v", path, err)
	}
	// The Arrow types come from the parquet schema alone. The Arrow schema a
	// writer may store in the footer (ARROW:schema, a flatbuffer) only
	// refines types these rows do not distinguish (large_utf8 for utf8, a
	// dictionary for its values), and arrow decodes it without bounds: a
	// damaged one sizes a slice by a garbage count (a fatal out of memory,
	// which no recover sees).
	man, err := pqarrow.NewSchemaManifest(pf.MetaData().Schema, nil, &pqarrow.ArrowReadProperties{})
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	r = &Reader{path: path, pf: pf, types: map[string]arrow.DataType{}, batch: opts.BatchRows, mem: opts.Mem}
	for _, sf := range man.Fields {
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
		if err := r.plan.add(pf.MetaData().Schema, sf); err != nil {
			r.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
	}
	for _, c := range opts.Require {
		if _, ok := r.types[c]; !ok {
			r.Close()
			return nil, fmt.Errorf("%s: missing column %q (the file has %s); verl files need %s", path, c, strings.Join(r.cols, ", "), strings.Join(opts.Require, ", "))
		}
	}
	r.leaves = r.plan.leaves()
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
// spanning two row groups), or io.EOF after the last. A damaged file gives
// an error naming the file, the row group and the column; every later call
// returns the same error.
func (r *Reader) Next() (rows []Row, err error) {
	if r.err != nil {
		return nil, r.err
	}
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, r.wrap(fmt.Errorf("damaged data (%v)", p))
		}
		if err != nil && err != io.EOF {
			r.err = err
		}
	}()
	for {
		if !r.inGroup {
			if r.rg >= r.pf.NumRowGroups() {
				return nil, io.EOF
			}
			if err := r.startGroup(); err != nil {
				return nil, r.wrap(err)
			}
		}
		k := min(int64(r.batch), r.rgRows-r.rgDone)
		if k == 0 {
			if err := r.endGroup(); err != nil {
				return nil, r.wrap(err)
			}
			continue
		}
		for _, c := range r.leaves {
			r.cur = c
			if err := c.fill(int(k)); err != nil {
				return nil, r.wrap(err)
			}
			if c.recs < int(k) {
				return nil, r.wrap(fmt.Errorf("the column ends after %d of the row group's %d rows", r.rgDone+int64(c.recs), r.rgRows))
			}
		}
		r.cur = nil
		rows, err := r.assemble(int(k))
		if err != nil {
			return nil, r.wrap(err)
		}
		r.rgDone += k
		r.next += int(k)
		return rows, nil
	}
}

// wrap names the file, the row group and the column being read in err.
func (r *Reader) wrap(err error) error {
	if r.cur != nil {
		return fmt.Errorf("%s: row group %d, column %s: %w", r.path, r.rg, r.cur.path, err)
	}
	return fmt.Errorf("%s: row group %d: %w", r.path, r.rg, err)
}

// startGroup opens row group r.rg's chunk of every leaf the plan reads.
func (r *Reader) startGroup() error {
	rgr := r.pf.RowGroup(r.rg)
	r.rgRows, r.rgDone = rgr.NumRows(), 0
	sc := r.pf.MetaData().Schema
	for _, c := range r.leaves {
		r.cur = c
		cc, err := rgr.MetaData().ColumnChunk(c.idx)
		if err != nil {
			return err
		}
		pr, err := rgr.GetColumnPageReader(c.idx)
		if err != nil {
			return err
		}
		descr := sc.Column(c.idx)
		c.reset(file.NewColumnReader(descr, newCheckedPages(pr, descr, cc.NumValues()), r.mem, r.pf.BufferPool()))
	}
	r.cur = nil
	r.inGroup = true
	return nil
}

// endGroup checks that no leaf holds values past the row group's rows.
func (r *Reader) endGroup() error {
	for _, c := range r.leaves {
		r.cur = c
		if len(c.defs) > 0 || (!c.eof && c.cr.HasNext()) {
			return fmt.Errorf("the column holds more values than the row group's %d rows", r.rgRows)
		}
		if err := c.cr.Err(); err != nil {
			return err
		}
		c.cr = nil
	}
	r.cur = nil
	r.inGroup = false
	r.rg++
	return nil
}

// Close releases the reader's buffers and closes the file.
func (r *Reader) Close() error {
	for _, c := range r.leaves {
		c.release()
	}
	return r.pf.Close()
}

// ReadFile reads every row of a verl parquet file. Decoding problems (nulls)
// are returned beside the rows, not as an error.
func ReadFile(path string, opts ReadOptions) ([]Row, []Problem, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	// The footer's row count is checked against the row groups, not against
	// the data: it only sizes the first allocation.
	rows := make([]Row, 0, min(r.NumRows(), 1<<16))
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

// check returns the error append would meet, before anything is appended:
// a row that fails halfway would leave the builders' columns of unequal
// lengths for the next flush.
func (w *Writer) check(r *Row) error {
	if w.opts.GroundTruthFloat && !r.GroundTruth.Float && r.GroundTruth.Text != "" {
		if _, err := strconv.ParseFloat(strings.TrimSpace(r.GroundTruth.Text), 64); err != nil {
			return fmt.Errorf("reward_model.ground_truth %q is not a number and the file's column is double", r.GroundTruth.Text)
		}
	}
	if w.opts.Extra == nil {
		if len(r.Extra) > 0 {
			return fmt.Errorf("extra_info has keys but the writer has no extra_info schema; set WriteOptions.Extra (InferExtra)")
		}
		return nil
	}
	for _, x := range w.opts.Extra {
		v, ok := r.Extra[x.Name]
		if !ok || v == nil {
			continue
		}
		switch x.Type {
		case ExtraString:
			_, ok = v.(string)
		case ExtraInt:
			_, ok = v.(int64)
		case ExtraFloat:
			switch v.(type) {
			case float64, int64:
			default:
				ok = false
			}
		case ExtraBool:
			_, ok = v.(bool)
		case ExtraFloatList:
			_, ok = v.([]float64)
		}
		if !ok {
			return fmt.Errorf("extra_info.%s is %T but the schema says %s", x.Name, v, x.Type)
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

func (w *Writer) append(r *Row) error {
	if err := w.check(r); err != nil {
		return err
	}
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
			v, _ = strconv.ParseFloat(strings.TrimSpace(r.GroundTruth.Text), 64) // checked
		}
		rb.FieldBuilder(1).(*array.Float64Builder).Append(v)
	} else {
		rb.FieldBuilder(1).(*array.StringBuilder).Append(r.GroundTruth.Text)
	}
	if w.opts.Extra == nil {
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
		switch x.Type { // the types are checked
		case ExtraString:
			fb.(*array.StringBuilder).Append(v.(string))
		case ExtraInt:
			fb.(*array.Int64Builder).Append(v.(int64))
		case ExtraFloat:
			switch f := v.(type) {
			case float64:
				fb.(*array.Float64Builder).Append(f)
			case int64:
				fb.(*array.Float64Builder).Append(float64(f))
			}
		case ExtraBool:
			fb.(*array.BooleanBuilder).Append(v.(bool))
		case ExtraFloatList:
			l := fb.(*array.ListBuilder)
			l.Append(true)
			l.ValueBuilder().(*array.Float64Builder).AppendValues(v.([]float64), nil)
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
