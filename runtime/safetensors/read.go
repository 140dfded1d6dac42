package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/realc-project/realc/internal/suggest"
)

// MaxHeaderSize is the largest JSON header accepted, as in the Rust library (100 MB).
const MaxHeaderSize = 100_000_000

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the data_offsets: byte offsets in the data section
	// (which starts right after the header).
	Begin, End int64
}

// NumElements is the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// KV is one __metadata__ entry.
type KV struct{ Key, Value string }

// File is one opened .safetensors file. Its bytes are read once (mapped or read
// whole); Raw returns views into them, valid until Close.
type File struct {
	Path     string
	meta     []KV // nil: no __metadata__ key; in file order
	tensors  []TensorInfo
	byName   map[string]int
	buf      []byte // the whole file
	dataOff  int    // start of the data section in buf
	unmapper func() error
}

// Open reads a .safetensors file, memory-mapping it where the platform allows
// (the data is then paged in on first use, never copied), and validates its
// header. Close releases the mapping. While it is open, the file must not be
// truncated or rewritten in place (replacing it by rename, as WriteFile does,
// is safe): as with any mapping, reading a page cut off raises SIGBUS. A File
// is safe for concurrent readers.
func Open(path string) (*File, error) {
	buf, unmap, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, buf)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		return nil, err
	}
	f.unmapper = unmap
	return f, nil
}

// ReadFile is Open without memory mapping: the file is read whole into memory
// with one os.ReadFile.
func ReadFile(path string) (*File, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, buf)
}

// Close releases the file's memory mapping, if any. Slices from Raw must not be
// used afterwards.
func (f *File) Close() error {
	if f.unmapper == nil {
		return nil
	}
	u := f.unmapper
	f.unmapper, f.buf = nil, nil
	return u()
}

// Parse validates and indexes the safetensors bytes buf (the whole file); name is
// used in error messages. buf is kept, not copied.
func Parse(name string, buf []byte) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors %s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(buf) < 8 {
		return nil, fail("truncated: %d bytes, shorter than the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > MaxHeaderSize {
		return nil, fail("header length %d is over the %d limit (not a safetensors file, or corrupt)", n, MaxHeaderSize)
	}
	if n+8 > uint64(len(buf)) {
		return nil, fail("header length %d goes beyond the end of the file (%d bytes): the file is truncated", n, len(buf))
	}
	header := buf[8 : 8+n]
	if !utf8.Valid(header) {
		return nil, fail("header is not valid UTF-8")
	}
	f := &File{Path: name, buf: buf, dataOff: int(8 + n), byName: map[string]int{}}
	if err := f.parseHeader(header); err != nil {
		return nil, fail("header: %v", err)
	}
	dataLen := uint64(len(buf)) - 8 - n
	if err := f.checkOffsets(dataLen); err != nil {
		return nil, fail("%v", err)
	}
	sort.Slice(f.tensors, func(i, j int) bool { return f.tensors[i].Name < f.tensors[j].Name })
	for i, t := range f.tensors {
		f.byName[t.Name] = i
	}
	return f, nil
}

func (f *File) parseHeader(header []byte) error {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("must be a JSON object, starts with %v", tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not JSON: %v", err)
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			if f.meta, err = parseMetadata(dec); err != nil {
				return fmt.Errorf("__metadata__: %v", err)
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("tensor %q: not JSON: %v", key, err)
		}
		t, err := parseTensor(key, raw)
		if err != nil {
			return fmt.Errorf("tensor %q: %v", key, err)
		}
		f.tensors = append(f.tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	// Only JSON whitespace may follow the object (the writer pads with spaces).
	if rest := bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n"); len(rest) != 0 {
		return fmt.Errorf("unexpected bytes after the JSON object: %.20q", rest)
	}
	if f.meta == nil && seen["__metadata__"] {
		f.meta = []KV{}
	}
	return nil
}

func parseMetadata(dec *json.Decoder) ([]KV, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if tok == nil {
			return nil, nil // "__metadata__": null is read by serde as absent
		}
		return nil, fmt.Errorf("must be an object of strings, found %v", tok)
	}
	meta := []KV{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := dec.Token()
		if err != nil {
			return nil, err
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q must be a string (safetensors metadata is string to string), found %v", k, v)
		}
		meta = append(meta, KV{k.(string), s})
	}
	_, err = dec.Token() // '}'
	return meta, err
}

func parseTensor(name string, raw json.RawMessage) (TensorInfo, error) {
	var j struct {
		DType       *string        `json:"dtype"`
		Shape       *[]json.Number `json:"shape"`
		DataOffsets *[]json.Number `json:"data_offsets"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return TensorInfo{}, fmt.Errorf("must be an object {\"dtype\", \"shape\", \"data_offsets\"}: %v", err)
	}
	switch {
	case j.DType == nil:
		return TensorInfo{}, errors.New("field dtype is missing")
	case j.Shape == nil:
		return TensorInfo{}, errors.New("field shape is missing")
	case j.DataOffsets == nil:
		return TensorInfo{}, errors.New("field data_offsets is missing")
	}
	t := TensorInfo{Name: name, DType: DType(*j.DType)}
	if !t.DType.Valid() {
		return t, fmt.Errorf("field dtype: unknown dtype %q (known: BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64, F8_*, F6_*, F4)", *j.DType)
	}
	elems := uint64(1)
	for i, d := range *j.Shape {
		v, err := parseUint(d)
		if err != nil || v > math.MaxInt64 {
			return t, fmt.Errorf("field shape[%d]: %q is not a valid dimension", i, d)
		}
		if v != 0 && elems > math.MaxUint64/v {
			return t, fmt.Errorf("field shape: element count overflows")
		}
		elems *= v
		t.Shape = append(t.Shape, int(v))
	}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	if len(*j.DataOffsets) != 2 {
		return t, fmt.Errorf("field data_offsets must have 2 entries [begin, end], has %d", len(*j.DataOffsets))
	}
	b, err1 := parseUint((*j.DataOffsets)[0])
	e, err2 := parseUint((*j.DataOffsets)[1])
	if err1 != nil || err2 != nil || b > math.MaxInt64 || e > math.MaxInt64 {
		return t, fmt.Errorf("field data_offsets: %v is not a pair of byte offsets", *j.DataOffsets)
	}
	if e < b {
		return t, fmt.Errorf("field data_offsets: end %d is before begin %d", e, b)
	}
	size, err := byteSize(t.DType, elems)
	if err != nil {
		return t, fmt.Errorf("fields shape and dtype: %v", err)
	}
	if e-b != size {
		return t, fmt.Errorf("fields shape %v x dtype %s need %d bytes but data_offsets [%d, %d] span %d", t.Shape, t.DType, size, b, e, e-b)
	}
	t.Begin, t.End = int64(b), int64(e)
	return t, nil
}

func parseUint(n json.Number) (uint64, error) { return strconv.ParseUint(string(n), 10, 64) }

// checkOffsets requires the tensors, in offset order, to tile [0, dataLen)
// exactly, as the Rust reader does: no gap, no overlap, nothing out of range.
func (f *File) checkOffsets(dataLen uint64) error {
	order := make([]int, len(f.tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ta, tb := f.tensors[order[a]], f.tensors[order[b]]
		if ta.Begin != tb.Begin {
			return ta.Begin < tb.Begin
		}
		return ta.End < tb.End
	})
	var pos int64
	prev := ""
	for _, i := range order {
		t := f.tensors[i]
		if uint64(t.End) > dataLen {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] go beyond the data section (%d bytes): the file is truncated or the offsets are wrong", t.Name, t.Begin, t.End, dataLen)
		}
		switch {
		case t.Begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", t.Name, t.Begin, t.End, prev, pos)
		case t.Begin > pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap of %d unused bytes after offset %d", t.Name, t.Begin, t.End, t.Begin-pos, pos)
		}
		pos, prev = t.End, t.Name
	}
	if uint64(pos) != dataLen {
		return fmt.Errorf("data section has %d bytes but the tensors' data_offsets cover only %d: %d trailing bytes", dataLen, pos, dataLen-uint64(pos))
	}
	return nil
}

// Tensors lists the tensors, sorted by name. The slice is shared: do not modify it.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// Metadata returns the __metadata__ entries in file order; nil when the header
// has no __metadata__ key (an empty non-nil slice when it is {}).
func (f *File) Metadata() []KV { return f.meta }

// MetadataValue returns one __metadata__ value.
func (f *File) MetadataValue(key string) (string, bool) {
	for _, kv := range f.meta {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// HeaderSize is the length of the JSON header (padding included), in bytes.
func (f *File) HeaderSize() int { return f.dataOff - 8 }

func (f *File) lookup(name string) (TensorInfo, error) {
	if f.buf == nil {
		return TensorInfo{}, fmt.Errorf("safetensors %s: file is closed", f.Path)
	}
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("safetensors %s: no tensor named %q%s", f.Path, name, nearest(name, f.tensors))
	}
	return f.tensors[i], nil
}

// Raw returns the tensor's bytes (little-endian, row-major) as a view into the
// file, without copying; valid until Close, and must not be modified.
func (f *File) Raw(name string) ([]byte, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	b := int64(f.dataOff)
	return f.buf[b+t.Begin : b+t.End : b+t.End], nil
}

// Float32 decodes the tensor into a new []float32 (from F32, BF16, F16, F64, the
// integer dtypes, BOOL, and F8_E4M3 / F8_E5M2 without any block scale).
func (f *File) Float32(name string) ([]float32, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, t.NumElements())
	return dst, f.Float32Into(name, dst)
}

// Float32Into decodes the tensor into dst, which must have NumElements entries.
func (f *File) Float32Into(name string, dst []float32) error {
	t, err := f.lookup(name)
	if err != nil {
		return err
	}
	if !t.DType.ConvertsToFloat32() {
		return fmt.Errorf("safetensors %s: tensor %q has dtype %s, which cannot be read as float32", f.Path, name, t.DType)
	}
	if len(dst) != t.NumElements() {
		return fmt.Errorf("safetensors %s: tensor %q has %d elements (shape %v), destination has %d", f.Path, name, t.NumElements(), t.Shape, len(dst))
	}
	raw, _ := f.Raw(name)
	decodeParallel(dst, raw, t.DType)
	return nil
}

// decodeParallel splits large tensors over GOMAXPROCS goroutines: decoding is
// the bulk of loading a checkpoint.
func decodeParallel(dst []float32, raw []byte, d DType) {
	const grain = 1 << 18 // elements per goroutine at least
	w := min(runtime.GOMAXPROCS(0), len(dst)/grain)
	if w < 2 {
		decode(dst, raw, d)
		return
	}
	size := d.Size()
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		lo, hi := len(dst)*g/w, len(dst)*(g+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			decode(dst[lo:hi], raw[lo*size:hi*size], d)
		}()
	}
	wg.Wait()
}

// Tensor returns the tensor as a Tensor whose Data is a view into the file
// (valid until Close): what Write needs to write it back unchanged.
func (f *File) Tensor(name string) (Tensor, error) {
	t, err := f.lookup(name)
	if err != nil {
		return Tensor{}, err
	}
	raw, _ := f.Raw(name)
	return Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: raw}, nil
}

// All returns every tensor as views into the file, sorted by name.
func (f *File) All() []Tensor {
	out := make([]Tensor, 0, len(f.tensors))
	for _, t := range f.tensors {
		x, _ := f.Tensor(t.Name)
		out = append(out, x)
	}
	return out
}

// nearest suggests a tensor name close to a missing one.
func nearest(name string, ts []TensorInfo) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	if hint := suggest.Hint(name, names, len(name)/2); hint != "" {
		return hint
	}
	return fmt.Sprintf(" (the file has %d tensors)", len(ts))
}
