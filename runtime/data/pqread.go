package data

// Reading verl rows from parquet without pqarrow's record reader.
//
// pqarrow loads the children of every struct column (prompt's messages,
// reward_model, extra_info) on goroutines it starts itself, with
// ArrowReadProperties.Parallel false too (an errgroup limited to one
// goroutine is still another goroutine). A damaged page makes arrow's
// decoders panic ("snappy: corrupt input", a bad RLE run, an index out of
// range), and a panic on a goroutine we do not own kills the process past
// any recover. So the Reader decodes each leaf column with the file
// package's typed column readers on the caller's goroutine, where Next
// recovers, and assembles the rows from the leaves' definition and
// repetition levels, with the level layout pqarrow's schema manifest gives.
// Reading only the leaves a row needs also skips columns the rows never use.
// checkLayout checks the footer before any page is read, and pqcheck.go's
// checkedPages each page before arrow decodes it.

import (
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/apache/arrow/go/v17/parquet/schema"
)

// checkLayout checks the footer against the file before any page is read:
// row counts, the schema's column count in every row group, and every column
// chunk (offsets and sizes within the file's data, a known codec, no chunk in
// another file, at least one level per row).
func checkLayout(pf *file.Reader, size int64) error {
	md := pf.MetaData()
	// Data pages lie between the leading magic and the footer (its length and
	// the trailing magic are the last 8 bytes).
	dataStart, dataEnd := int64(4), size-8-int64(md.Size())
	if dataEnd < dataStart {
		return fmt.Errorf("the footer (%d bytes) does not fit in the file (%d bytes)", md.Size(), size)
	}
	if md.NumRows < 0 {
		return fmt.Errorf("the footer says %d rows", md.NumRows)
	}
	ncols := md.Schema.NumColumns()
	var rows int64
	for g := range len(md.RowGroups) {
		rg := md.RowGroup(g)
		n := rg.NumRows()
		if n < 0 || n > md.NumRows-rows {
			return fmt.Errorf("row group %d says %d rows, more than the footer's %d rows leave", g, n, md.NumRows)
		}
		rows += n
		if rg.NumColumns() != ncols {
			return fmt.Errorf("row group %d has %d column chunks; the schema has %d columns", g, rg.NumColumns(), ncols)
		}
		for i := 0; i < ncols; i++ {
			name := md.Schema.Column(i).Path()
			cc, err := rg.ColumnChunk(i)
			if err != nil {
				return fmt.Errorf("row group %d, column %s: %v", g, name, err)
			}
			if p := cc.FilePath(); p != "" {
				return fmt.Errorf("row group %d, column %s: the chunk is in another file (%q)", g, name, p)
			}
			if _, err := compress.GetCodec(cc.Compression()); err != nil {
				return fmt.Errorf("row group %d, column %s: %v", g, name, err)
			}
			start := cc.DataPageOffset()
			if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
				start = cc.DictionaryPageOffset()
			}
			length := cc.TotalCompressedSize()
			if n > 0 && (start < dataStart || length <= 0 || start > dataEnd || length > dataEnd-start) {
				return fmt.Errorf("row group %d, column %s: the chunk's bytes [%d, %d+%d) lie outside the file's data [%d, %d)", g, name, start, start, length, dataStart, dataEnd)
			}
			if nv := cc.NumValues(); nv < n {
				return fmt.Errorf("row group %d, column %s: the chunk holds %d values for %d rows", g, name, nv, n)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("the row groups hold %d rows; the footer says %d", rows, md.NumRows)
	}
	return nil
}

// valueKind is how a leaf's values are kept.
type valueKind uint8

const (
	levelsOnly   valueKind = iota // only the levels are used (nullness)
	stringValues                  // BYTE_ARRAY as strings
	floatValues                   // FLOAT or DOUBLE as float64
	intValues                     // INT32 or INT64 as int64 (see unsigned)
	boolValues
)

// leafCol reads one leaf column of the current row group and buffers its
// levels and values until whole records (rows) are there to assemble.
type leafCol struct {
	idx            int    // leaf index in the file's schema
	path           string // dotted parquet path, for errors
	maxDef, maxRep int16
	kind           valueKind
	unsigned       bool // intValues of an unsigned Arrow type

	cr      file.ColumnChunkReader
	eof     bool // cr has no more levels in this row group
	started bool // a level of this row group was read

	// Buffered levels (reps only when maxRep > 0) and the values of the
	// levels at maxDef, in order; recs counts the record starts (rep 0).
	defs, reps []int16
	strs       []string
	f64s       []float64
	i64s       []int64
	bools      []bool
	recs       int
	pos, vpos  int // assembly cursor: next level and next value

	// ReadBatch scratch for the physical types not read in place.
	sba   []parquet.ByteArray
	si32  []int32
	sf32  []float32
	si96  []parquet.Int96
	sflba []parquet.FixedLenByteArray
}

func newLeaf(sc *schema.Schema, idx int, t arrow.DataType, values bool) (*leafCol, error) {
	if idx < 0 || idx >= sc.NumColumns() {
		return nil, fmt.Errorf("leaf column %d is not in the schema's %d columns", idx, sc.NumColumns())
	}
	d := sc.Column(idx)
	c := &leafCol{idx: idx, path: d.Path(), maxDef: d.MaxDefinitionLevel(), maxRep: d.MaxRepetitionLevel()}
	if !values {
		return c, nil
	}
	phys := d.PhysicalType()
	bad := func() (*leafCol, error) {
		return nil, fmt.Errorf("column %s: Arrow type %s stored as parquet %s is not supported", c.path, t, phys)
	}
	switch {
	case isStringType(t):
		if phys != parquet.Types.ByteArray {
			return bad()
		}
		c.kind = stringValues
	case t.ID() == arrow.FLOAT64 || t.ID() == arrow.FLOAT32:
		if phys != parquet.Types.Double && phys != parquet.Types.Float {
			return bad()
		}
		c.kind = floatValues
	case isNumberType(t):
		if phys != parquet.Types.Int32 && phys != parquet.Types.Int64 {
			return bad()
		}
		c.kind = intValues
		switch t.ID() {
		case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
			c.unsigned = true
		}
	case t.ID() == arrow.BOOL:
		if phys != parquet.Types.Boolean {
			return bad()
		}
		c.kind = boolValues
	default:
		return bad()
	}
	return c, nil
}

// reset starts the leaf on a new row group's column chunk.
func (c *leafCol) reset(cr file.ColumnChunkReader) {
	c.release()
	c.cr, c.eof, c.started = cr, false, false
}

// release drops the buffered levels and values.
func (c *leafCol) release() {
	c.defs, c.reps = c.defs[:0], c.reps[:0]
	clear(c.strs)
	c.strs, c.f64s, c.i64s, c.bools = c.strs[:0], c.f64s[:0], c.i64s[:0], c.bools[:0]
	c.recs, c.pos, c.vpos = 0, 0, 0
	c.cr = nil
}

// maxBufferedLevels bounds the levels a leaf buffers for one batch: k rows
// of a damaged file can claim billions of list entries (one run of
// repetition levels says so in a few bytes); verl rows have a few.
const maxBufferedLevels = 1 << 24

// fill reads until k whole records are buffered or the chunk ends; the
// caller checks recs.
func (c *leafCol) fill(k int) error {
	for !c.eof {
		if len(c.defs) > maxBufferedLevels {
			return fmt.Errorf("%d rows hold more than %d values", k, maxBufferedLevels)
		}
		need := k - c.recs
		if c.maxRep > 0 {
			// A record is whole once the next one has started.
			if c.recs > k {
				return nil
			}
			need = max(2*(k+1-c.recs), 256)
		} else if need <= 0 {
			return nil
		}
		if err := c.readMore(need); err != nil {
			return err
		}
	}
	return nil
}

func extend[T any](s []T, n int) []T {
	return append(s, make([]T, n)...)
}

func scratch[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// readMore reads up to need levels (and their values), checking that the
// levels are in range and that the page held a value for each level at
// maxDef.
func (c *leafCol) readMore(need int) error {
	n0 := len(c.defs)
	c.defs = extend(c.defs, need)
	defs := c.defs[n0:]
	var reps []int16
	if c.maxRep > 0 {
		c.reps = extend(c.reps, need)
		reps = c.reps[n0:]
	}
	var (
		total int64
		nv    int
		err   error
	)
	batch := int64(need)
	switch cr := c.cr.(type) {
	case *file.ByteArrayColumnChunkReader:
		c.sba = scratch(c.sba, need)
		total, nv, err = cr.ReadBatch(batch, c.sba, defs, reps)
		if c.kind == stringValues {
			for _, b := range c.sba[:nv] {
				c.strs = append(c.strs, string(b))
			}
		}
		clear(c.sba[:nv])
	case *file.Float64ColumnChunkReader:
		v0 := len(c.f64s)
		c.f64s = extend(c.f64s, need)
		total, nv, err = cr.ReadBatch(batch, c.f64s[v0:], defs, reps)
		c.f64s = c.f64s[:v0+nv]
	case *file.Float32ColumnChunkReader:
		c.sf32 = scratch(c.sf32, need)
		total, nv, err = cr.ReadBatch(batch, c.sf32, defs, reps)
		for _, v := range c.sf32[:nv] {
			c.f64s = append(c.f64s, float64(v))
		}
	case *file.Int64ColumnChunkReader:
		v0 := len(c.i64s)
		c.i64s = extend(c.i64s, need)
		total, nv, err = cr.ReadBatch(batch, c.i64s[v0:], defs, reps)
		c.i64s = c.i64s[:v0+nv]
	case *file.Int32ColumnChunkReader:
		c.si32 = scratch(c.si32, need)
		total, nv, err = cr.ReadBatch(batch, c.si32, defs, reps)
		for _, v := range c.si32[:nv] {
			if c.unsigned {
				c.i64s = append(c.i64s, int64(uint32(v)))
			} else {
				c.i64s = append(c.i64s, int64(v))
			}
		}
	case *file.BooleanColumnChunkReader:
		v0 := len(c.bools)
		c.bools = extend(c.bools, need)
		total, nv, err = cr.ReadBatch(batch, c.bools[v0:], defs, reps)
		c.bools = c.bools[:v0+nv]
	case *file.Int96ColumnChunkReader:
		c.si96 = scratch(c.si96, need)
		total, nv, err = cr.ReadBatch(batch, c.si96, defs, reps)
	case *file.FixedLenByteArrayColumnChunkReader:
		c.sflba = scratch(c.sflba, need)
		total, nv, err = cr.ReadBatch(batch, c.sflba, defs, reps)
		clear(c.sflba[:nv])
	default:
		return fmt.Errorf("no reader for parquet type %s", c.cr.Type())
	}
	if err != nil {
		return err
	}
	if total < 0 || total > batch || nv < 0 || int64(nv) > total {
		return fmt.Errorf("the reader returned %d levels and %d values for a batch of %d", total, nv, batch)
	}
	if total < batch {
		// readBatch stops at the chunk's end, or at a page it could not read.
		if err := c.cr.Err(); err != nil {
			return err
		}
		c.eof = true
	}
	n := int(total)
	c.defs = c.defs[:n0+n]
	defs = defs[:n]
	want := 0
	if c.maxDef == 0 {
		clear(defs) // required: no levels stored, every level holds a value
		want = n
	} else {
		for _, d := range defs {
			if d < 0 || d > c.maxDef {
				return fmt.Errorf("definition level %d outside 0..%d", d, c.maxDef)
			}
			if d == c.maxDef {
				want++
			}
		}
	}
	if want != nv {
		return fmt.Errorf("the levels call for %d values but the page held %d", want, nv)
	}
	if c.maxRep > 0 {
		c.reps = c.reps[:n0+n]
		reps = reps[:n]
		for i, r := range reps {
			if r < 0 || r > c.maxRep {
				return fmt.Errorf("repetition level %d outside 0..%d", r, c.maxRep)
			}
			if r == 0 {
				c.recs++
			} else if i == 0 && !c.started {
				return errors.New("the chunk's first level continues a row (repetition level not 0)")
			}
		}
	} else {
		c.recs += n
	}
	if n > 0 {
		c.started = true
	}
	return nil
}

// record consumes the next record: its levels [s, e) and the index v of
// its first value (the levels at maxDef take values v, v+1, ... in order).
func (c *leafCol) record() (s, e, v int) {
	s, v = c.pos, c.vpos
	e = s + 1
	if c.maxRep > 0 {
		for e < len(c.defs) && c.reps[e] != 0 {
			e++
		}
	}
	for _, d := range c.defs[s:e] {
		if d == c.maxDef {
			c.vpos++
		}
	}
	c.pos = e
	return s, e, v
}

// flat consumes the next record of a leaf without repetition and returns
// its value's index, or -1 when it is null.
func (c *leafCol) flat() int {
	d := c.defs[c.pos]
	c.pos++
	if d != c.maxDef {
		return -1
	}
	c.vpos++
	return c.vpos - 1
}

func (c *leafCol) float(v int) float64 {
	if c.kind == floatValues {
		return c.f64s[v]
	}
	if c.unsigned {
		return float64(uint64(c.i64s[v]))
	}
	return float64(c.i64s[v])
}

// compact drops the k records assembled, keeping what was read past them.
func (c *leafCol) compact(k int) {
	n := copy(c.defs, c.defs[c.pos:])
	c.defs = c.defs[:n]
	if c.maxRep > 0 {
		c.reps = c.reps[:copy(c.reps, c.reps[c.pos:])]
	}
	switch c.kind {
	case stringValues:
		m := copy(c.strs, c.strs[c.vpos:])
		clear(c.strs[m:])
		c.strs = c.strs[:m]
	case floatValues:
		c.f64s = c.f64s[:copy(c.f64s, c.f64s[c.vpos:])]
	case intValues:
		c.i64s = c.i64s[:copy(c.i64s, c.i64s[c.vpos:])]
	case boolValues:
		c.bools = c.bools[:copy(c.bools, c.bools[c.vpos:])]
	}
	c.recs -= k
	c.pos, c.vpos = 0, 0
}

// readPlan says which leaves make a row and how their levels nest, from
// pqarrow's schema manifest (which knows the list encodings of parquet
// writers: a list node's DefLevel is the level at which it has an element,
// one less means an empty list, less again a null one).
type readPlan struct {
	dataSource, ability *leafCol

	hasPrompt    bool
	prompt, role *leafCol // the messages' content and role
	promptElem   int16    // def level from which a prompt entry is a message
	hasRewards   bool
	style, gt    *leafCol
	gtFloat      bool
	extra        bool
	extraDef     int16 // def level from which extra_info is not null
	extraKeys    []extraKey
	extraSpans   [][3]int // per key: the record being assembled
}

type extraShape uint8

const (
	extraScalar extraShape = iota
	extraList              // a list of numbers: []float64, null elements NaN
	extraSkip              // other shapes: only a null shows (as nil)
)

type extraKey struct {
	name    string
	shape   extraShape
	leaf    *leafCol
	present int16 // def level from which the key is not null
	elem    int16 // extraList: def level from which an entry is an element
}

func childNamed(sf pqarrow.SchemaField, name string) (pqarrow.SchemaField, bool) {
	for _, c := range sf.Children {
		if c.Field.Name == name {
			return c, true
		}
	}
	return pqarrow.SchemaField{}, false
}

// firstLeaf returns sf itself when it is a leaf, else its first leaf.
func firstLeaf(sf pqarrow.SchemaField) pqarrow.SchemaField {
	for len(sf.Children) > 0 {
		sf = sf.Children[0]
	}
	return sf
}

// presentDef is the def level from which sf is not null.
func presentDef(sf pqarrow.SchemaField) int16 {
	switch sf.Field.Type.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.MAP:
		return sf.LevelInfo.DefLevel - 1
	}
	return sf.LevelInfo.DefLevel
}

// add plans one verl column whose type checkColumnType accepted.
func (p *readPlan) add(sc *schema.Schema, sf pqarrow.SchemaField) error {
	leaf := func(f pqarrow.SchemaField, values bool, maxRep int16) (*leafCol, error) {
		if len(f.Children) > 0 {
			return nil, fmt.Errorf("column %q: %s is not a leaf", sf.Field.Name, f.Field.Name)
		}
		c, err := newLeaf(sc, f.ColIndex, f.Field.Type, values)
		if err != nil {
			return nil, err
		}
		if values && c.maxRep != maxRep {
			return nil, fmt.Errorf("column %s: %d levels of repetition; verl's layout has %d", c.path, c.maxRep, maxRep)
		}
		return c, nil
	}
	var err error
	switch sf.Field.Name {
	case "data_source":
		p.dataSource, err = leaf(sf, true, 0)
	case "ability":
		p.ability, err = leaf(sf, true, 0)
	case "prompt":
		if len(sf.Children) != 1 {
			return fmt.Errorf("column \"prompt\": a list with %d children", len(sf.Children))
		}
		elem := sf.Children[0]
		role, ok1 := childNamed(elem, "role")
		content, ok2 := childNamed(elem, "content")
		if !ok1 || !ok2 {
			return errors.New(`column "prompt": the messages lack role or content`)
		}
		if p.role, err = leaf(role, true, 1); err != nil {
			return err
		}
		if p.prompt, err = leaf(content, true, 1); err != nil {
			return err
		}
		p.promptElem, p.hasPrompt = sf.LevelInfo.DefLevel, true
	case "reward_model":
		gt, ok := childNamed(sf, "ground_truth")
		if !ok {
			return errors.New(`column "reward_model" has no field "ground_truth"`)
		}
		if p.gt, err = leaf(gt, true, 0); err != nil {
			return err
		}
		p.gtFloat = isNumberType(gt.Field.Type)
		if st, ok := childNamed(sf, "style"); ok {
			if p.style, err = leaf(st, true, 0); err != nil {
				return err
			}
		}
		p.hasRewards = true
	case "extra_info":
		p.extra, p.extraDef = true, sf.LevelInfo.DefLevel
		for _, ch := range sf.Children {
			k := extraKey{name: ch.Field.Name, present: presentDef(ch)}
			t := ch.Field.Type
			switch {
			case isStringType(t) || t.ID() == arrow.BOOL || isNumberType(t):
				k.shape = extraScalar
				k.leaf, err = leaf(ch, true, 0)
			default:
				if el, ok := listElem(t); ok && isNumberType(el) && len(ch.Children) == 1 {
					k.shape, k.elem = extraList, ch.LevelInfo.DefLevel
					k.leaf, err = leaf(ch.Children[0], true, 1)
				} else {
					k.shape = extraSkip
					k.leaf, err = leaf(firstLeaf(ch), false, 0)
				}
			}
			if err != nil {
				return err
			}
			p.extraKeys = append(p.extraKeys, k)
		}
		if len(p.extraKeys) == 0 {
			p.extra = false
		}
		p.extraSpans = make([][3]int, len(p.extraKeys))
	}
	return err
}

// leaves lists every leaf the plan reads.
func (p *readPlan) leaves() []*leafCol {
	var out []*leafCol
	for _, c := range []*leafCol{p.dataSource, p.role, p.prompt, p.ability, p.style, p.gt} {
		if c != nil {
			out = append(out, c)
		}
	}
	for _, k := range p.extraKeys {
		out = append(out, k.leaf)
	}
	return out
}

// assemble builds k rows from the buffered records of every leaf, noting
// nulls as problems.
func (r *Reader) assemble(k int) ([]Row, error) {
	p := &r.plan
	rows := make([]Row, k)
	for i := range rows {
		row := &rows[i]
		at := r.next + i
		if c := p.dataSource; c != nil {
			if v := c.flat(); v >= 0 {
				row.DataSource = c.strs[v]
			}
		}
		if c := p.ability; c != nil {
			if v := c.flat(); v >= 0 {
				row.Ability = c.strs[v]
			}
		}
		if p.hasPrompt {
			if err := r.assemblePrompt(row, at); err != nil {
				return nil, err
			}
		}
		if p.hasRewards {
			if c := p.style; c != nil {
				if v := c.flat(); v >= 0 {
					row.Style = c.strs[v]
				}
			}
			gt := p.gt
			switch v := gt.flat(); {
			case v < 0:
				row.GroundTruth = GroundTruth{Value: math.NaN(), Float: p.gtFloat}
				r.problems = append(r.problems, Problem{at, "reward_model.ground_truth", "null"})
			case p.gtFloat:
				row.GroundTruth = FloatGT(gt.float(v))
			default:
				row.GroundTruth = StringGT(gt.strs[v])
			}
		}
		if p.extra {
			if err := r.assembleExtra(row, at); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range r.leaves {
		c.compact(k)
	}
	return rows, nil
}

func (r *Reader) assemblePrompt(row *Row, at int) error {
	p := &r.plan
	co, ro := p.prompt, p.role
	cs, ce, cv := co.record()
	rs, re, rv := ro.record()
	if ce-cs != re-rs {
		return fmt.Errorf("row %d: columns %s and %s disagree on the number of messages (%d and %d)", at, co.path, ro.path, ce-cs, re-rs)
	}
	if d := co.defs[cs]; d < p.promptElem {
		if ce-cs != 1 {
			return fmt.Errorf("row %d: column %s: a null or empty list with %d entries", at, co.path, ce-cs)
		}
		if d < p.promptElem-1 {
			r.problems = append(r.problems, Problem{at, "prompt", "null"})
		} else {
			row.Prompt = []Message{}
		}
		return nil
	}
	row.Prompt = make([]Message, 0, ce-cs)
	for j := 0; j < ce-cs; j++ {
		dc, dr := co.defs[cs+j], ro.defs[rs+j]
		if dc < p.promptElem || dr < p.promptElem {
			return fmt.Errorf("row %d: prompt message %d is an empty or null list", at, j)
		}
		var m Message
		if dr == ro.maxDef {
			m.Role = ro.strs[rv]
			rv++
		}
		if dc == co.maxDef {
			m.Content = co.strs[cv]
			cv++
		} else {
			r.problems = append(r.problems, Problem{at, fmt.Sprintf("prompt[%d].content", j), "null"})
		}
		row.Prompt = append(row.Prompt, m)
	}
	return nil
}

func (r *Reader) assembleExtra(row *Row, at int) error {
	p := &r.plan
	for i, k := range p.extraKeys {
		s, e, v := k.leaf.record()
		p.extraSpans[i] = [3]int{s, e, v}
	}
	// Every leaf under extra_info says whether it is null; the first does.
	if k0 := p.extraKeys[0]; k0.leaf.defs[p.extraSpans[0][0]] < p.extraDef {
		return nil
	}
	ex := Extra{}
	for i, k := range p.extraKeys {
		c, span := k.leaf, p.extraSpans[i]
		s, e, v := span[0], span[1], span[2]
		d := c.defs[s]
		if d < k.present {
			ex[k.name] = nil
			continue
		}
		switch k.shape {
		case extraScalar:
			if d != c.maxDef || e-s != 1 {
				return fmt.Errorf("row %d: column %s: level %d for a value that is not null", at, c.path, d)
			}
			switch c.kind {
			case stringValues:
				ex[k.name] = c.strs[v]
			case boolValues:
				ex[k.name] = c.bools[v]
			case floatValues:
				ex[k.name] = c.f64s[v]
			case intValues:
				ex[k.name] = c.i64s[v]
			}
		case extraList:
			if d < k.elem {
				if e-s != 1 {
					return fmt.Errorf("row %d: column %s: an empty list with %d entries", at, c.path, e-s)
				}
				ex[k.name] = []float64{}
				continue
			}
			xs := make([]float64, 0, e-s)
			for j := s; j < e; j++ {
				switch dj := c.defs[j]; {
				case dj == c.maxDef:
					xs = append(xs, c.float(v))
					v++
				case dj >= k.elem:
					xs = append(xs, math.NaN())
				default:
					return fmt.Errorf("row %d: column %s: element %d is an empty or null list", at, c.path, j-s)
				}
			}
			ex[k.name] = xs
		}
	}
	row.Extra = ex
	return nil
}
