package safetensors

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Tensor is a named tensor to write: raw little-endian row-major Data of
// NumElements(Shape) x DType bytes, or float32 values F32 to be stored as
// DType (F32, BF16 or F16), converted while writing a chunk at a time, so
// that saving a model needs no second copy of its weights.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
	F32   []float32 // used when Data is nil
}

// FromFloat32 makes a tensor stored as dtype as (F32, or BF16 / F16 rounded to
// nearest even), converting data into a new byte slice. To write a model
// without that copy, give Tensor{Name, DType, Shape, F32: data} instead.
func FromFloat32(name string, shape []int, data []float32, as DType) (Tensor, error) {
	if as != F32 && as != BF16 && as != F16 {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: cannot store float32 data as %s (use F32, BF16 or F16)", name, as)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return Tensor{}, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", name, shape)
		}
		n *= d
	}
	if n != len(data) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: shape %v has %d elements, data has %d", name, shape, n, len(data))
	}
	buf := make([]byte, n*as.Size())
	encode(buf, data, as)
	return Tensor{Name: name, DType: as, Shape: append([]int{}, shape...), Data: buf}, nil
}

// Options controls how tensors are written.
type Options struct {
	// Metadata is written as __metadata__ in this order; nil writes no
	// __metadata__ key (as Python's metadata=None). transformers writes
	// [{"format", "pt"}].
	Metadata []KV
	// StoreFloatAs, when BF16 or F16, converts F32 tensors to it while writing
	// (round to nearest even); other dtypes are written as they are.
	StoreFloatAs DType
}

// stored is the dtype and size a tensor is written with.
func (o Options) stored(t Tensor) (DType, int64) {
	dt := t.DType
	if dt == F32 && (o.StoreFloatAs == BF16 || o.StoreFloatAs == F16) {
		dt = o.StoreFloatAs
	}
	if t.F32 == nil && dt == t.DType {
		return dt, int64(len(t.Data)) // also right for sub-byte dtypes
	}
	return dt, int64(numElements(t.Shape)) * int64(dt.Size())
}

func (o Options) check() error {
	switch o.StoreFloatAs {
	case "", F32, BF16, F16:
		return nil
	}
	return fmt.Errorf("safetensors: Options.StoreFloatAs must be BF16, F16, F32 or empty, not %q", o.StoreFloatAs)
}

func checkTensors(ts []Tensor) error {
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		if t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: a tensor cannot be named __metadata__")
		}
		if seen[t.Name] {
			return fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if !t.DType.Valid() {
			return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		n := uint64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= uint64(d)
		}
		if t.F32 != nil {
			switch {
			case t.Data != nil:
				return fmt.Errorf("safetensors: tensor %q has both Data and F32: set one", t.Name)
			case t.DType != F32 && t.DType != BF16 && t.DType != F16:
				return fmt.Errorf("safetensors: tensor %q: float32 values cannot be stored as %s (use F32, BF16 or F16)", t.Name, t.DType)
			case uint64(len(t.F32)) != n:
				return fmt.Errorf("safetensors: tensor %q: shape %v has %d elements, F32 has %d", t.Name, t.Shape, n, len(t.F32))
			}
			continue
		}
		size, err := byteSize(t.DType, n)
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %v", t.Name, err)
		}
		if size != uint64(len(t.Data)) {
			return fmt.Errorf("safetensors: tensor %q: shape %v x %s needs %d bytes, data has %d", t.Name, t.Shape, t.DType, size, len(t.Data))
		}
	}
	return nil
}

// order sorts tensors as the Rust library's prepare does: by dtype rank
// descending (largest alignment first, so every tensor stays aligned), then by
// name (byte order).
func order(ts []Tensor, o Options) []Tensor {
	out := append([]Tensor(nil), ts...)
	sort.SliceStable(out, func(i, j int) bool {
		di, _ := o.stored(out[i])
		dj, _ := o.stored(out[j])
		if ri, rj := dtypes[di].rank, dtypes[dj].rank; ri != rj {
			return ri > rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// header builds the JSON header, padded with spaces to a multiple of 8, as
// serde_json writes it: compact, __metadata__ first, then the tensors in
// offset order, each {"dtype","shape","data_offsets"}.
func header(sorted []Tensor, o Options) []byte {
	b := []byte{'{'}
	if o.Metadata != nil {
		b = append(b, `"__metadata__":{`...)
		for i, kv := range o.Metadata {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSerdeString(b, kv.Key)
			b = append(b, ':')
			b = appendSerdeString(b, kv.Value)
		}
		b = append(b, '}')
	}
	var off int64
	for i, t := range sorted {
		if i > 0 || o.Metadata != nil {
			b = append(b, ',')
		}
		dt, size := o.stored(t)
		b = appendSerdeString(b, t.Name)
		b = append(b, `:{"dtype":"`...)
		b = append(b, dt...)
		b = append(b, `","shape":[`...)
		for k, d := range t.Shape {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		b = append(b, ',')
		off += size
		b = strconv.AppendInt(b, off, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}

// appendSerdeString quotes s as serde_json does: only '"', '\\' and control
// characters are escaped (short forms \b \t \n \f \r, else \u00xx, lower-case hex);
// non-ASCII is written as UTF-8.
func appendSerdeString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Write writes tensors as one safetensors file to w and returns the byte count.
func Write(w io.Writer, tensors []Tensor, o Options) (int64, error) {
	if err := o.check(); err != nil {
		return 0, err
	}
	if err := checkTensors(tensors); err != nil {
		return 0, err
	}
	sorted := order(tensors, o)
	h := header(sorted, o)
	if len(h) > MaxHeaderSize {
		return 0, fmt.Errorf("safetensors: header of %d bytes is over the %d limit readers accept", len(h), MaxHeaderSize)
	}
	var n8 [8]byte
	binary.LittleEndian.PutUint64(n8[:], uint64(len(h)))
	total := int64(0)
	put := func(p []byte) error {
		k, err := w.Write(p)
		total += int64(k)
		return err
	}
	if err := put(n8[:]); err != nil {
		return total, err
	}
	if err := put(h); err != nil {
		return total, err
	}
	const chunk = 1 << 16 // elements converted at a time
	var conv []byte
	var f32 []float32
	for _, t := range sorted {
		dt, _ := o.stored(t)
		if t.F32 == nil && dt == t.DType {
			if err := put(t.Data); err != nil {
				return total, err
			}
			continue
		}
		// Float values to encode: t.F32, or F32 bytes stored narrower.
		n := numElements(t.Shape)
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			vals := t.F32
			if vals == nil {
				if f32 == nil {
					f32 = make([]float32, chunk)
				}
				vals = f32[:hi-lo]
				decode(vals, t.Data[4*lo:4*hi], F32)
			} else {
				vals = vals[lo:hi]
			}
			if conv == nil {
				conv = make([]byte, 4*chunk)
			}
			out := conv[:(hi-lo)*dt.Size()]
			encode(out, vals, dt)
			if err := put(out); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// Encode returns the whole file as bytes.
func Encode(tensors []Tensor, o Options) ([]byte, error) {
	var b writerBuf
	_, err := Write(&b, tensors, o)
	return b, err
}

type writerBuf []byte

func (w *writerBuf) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// WriteFile writes tensors as one safetensors file at path. It writes a
// temporary file beside it and renames it, so that path is never half-written
// and a file being read (mapped) from path stays intact.
func WriteFile(path string, tensors []Tensor, o Options) error {
	return atomicWrite(path, func(w io.Writer) error {
		_, err := Write(w, tensors, o)
		return err
	})
}

func atomicWrite(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	return nil
}
