package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Names Hugging Face uses in a model folder.
const (
	SingleName = "model.safetensors"
	IndexName  = "model.safetensors.index.json"
)

// Reader is what a single File and a sharded Set both offer.
type Reader interface {
	Tensors() []TensorInfo
	Info(name string) (TensorInfo, bool)
	Raw(name string) ([]byte, error)
	Float32(name string) ([]float32, error)
	Float32Into(name string, dst []float32) error
	Tensor(name string) (Tensor, error)
	Close() error
}

var (
	_ Reader = (*File)(nil)
	_ Reader = (*Set)(nil)
)

// Set is a checkpoint folder (one file, or shards listed by an index) read as
// if it were one file.
type Set struct {
	Dir       string
	IndexPath string  // "" when the folder holds a single file
	Files     []*File // the shards, in the order of their names
	tensors   []TensorInfo
	where     map[string]*File
}

// Load opens a .safetensors file or a checkpoint folder (see OpenDir).
func Load(path string) (*Set, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return OpenDir(path)
	}
	if strings.HasSuffix(path, ".index.json") {
		return openIndex(filepath.Dir(path), path)
	}
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	return newSet(filepath.Dir(path), "", []*File{f})
}

// OpenDir opens a Hugging Face checkpoint folder as transformers'
// from_pretrained picks the weights: model.safetensors when it is there, else
// model.safetensors.index.json and its shards, else the folder's only
// *.safetensors.index.json or only *.safetensors file.
func OpenDir(dir string) (*Set, error) {
	if p := filepath.Join(dir, SingleName); exists(p) {
		return Load(p)
	}
	if p := filepath.Join(dir, IndexName); exists(p) {
		return openIndex(dir, p)
	}
	idx, _ := filepath.Glob(filepath.Join(dir, "*.safetensors.index.json"))
	if len(idx) == 1 {
		return openIndex(dir, idx[0])
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	switch {
	case len(idx) > 1:
		return nil, fmt.Errorf("safetensors %s: several index files (%s) and no %s: open one with Load", dir, strings.Join(baseNames(idx), ", "), IndexName)
	case len(files) == 1:
		return Load(files[0])
	case len(files) == 0:
		return nil, fmt.Errorf("safetensors %s: no %s, %s or other *.safetensors file in the folder", dir, IndexName, SingleName)
	}
	return nil, fmt.Errorf("safetensors %s: %d *.safetensors files (%s) but no %s saying which to read", dir, len(files), strings.Join(baseNames(files), ", "), IndexName)
}

func baseNames(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = filepath.Base(p)
	}
	return out
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func openIndex(dir, indexPath string) (*Set, error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]json.RawMessage `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors index %s: not a JSON object: %v", indexPath, err)
	}
	if idx.WeightMap == nil {
		return nil, fmt.Errorf("safetensors index %s: field weight_map is missing (it maps each tensor name to its shard file)", indexPath)
	}
	shardOf := make(map[string]string, len(idx.WeightMap))
	seen := map[string]bool{}
	var shards []string
	for name, v := range idx.WeightMap {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("safetensors index %s: weight_map[%q] must be a shard file name, found %s", indexPath, name, v)
		}
		if s == "" || filepath.IsAbs(s) || strings.Contains(filepath.ToSlash(s), "..") {
			return nil, fmt.Errorf("safetensors index %s: weight_map[%q] = %q is not a file name inside the folder", indexPath, name, s)
		}
		if !seen[s] {
			seen[s] = true
			shards = append(shards, s)
		}
		shardOf[name] = s
	}
	sort.Strings(shards)
	// Check every shard exists before mapping any.
	for _, s := range shards {
		if !exists(filepath.Join(dir, s)) {
			var first string
			for name, sh := range shardOf {
				if sh == s && (first == "" || name < first) {
					first = name
				}
			}
			return nil, fmt.Errorf("safetensors index %s: weight_map[%q] names shard %q, which is not in %s", indexPath, first, s, dir)
		}
	}
	var files []*File
	byShard := map[string]*File{}
	for _, s := range shards {
		f, err := Open(filepath.Join(dir, s))
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files = append(files, f)
		byShard[s] = f
	}
	names := make([]string, 0, len(idx.WeightMap))
	for name := range idx.WeightMap {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := shardOf[name]
		if _, ok := byShard[s].Info(name); !ok {
			closeAll(files)
			return nil, fmt.Errorf("safetensors index %s: weight_map[%q] says shard %q, which has no such tensor", indexPath, name, s)
		}
	}
	set, err := newSet(dir, indexPath, files)
	if err != nil {
		closeAll(files)
	}
	return set, err
}

func closeAll(fs []*File) {
	for _, f := range fs {
		f.Close()
	}
}

// newSet merges the files' tensors; a name in two files is an error. Like
// transformers, every tensor of every listed shard is loaded.
func newSet(dir, indexPath string, files []*File) (*Set, error) {
	s := &Set{Dir: dir, IndexPath: indexPath, Files: files, where: map[string]*File{}}
	for _, f := range files {
		for _, t := range f.Tensors() {
			if g, dup := s.where[t.Name]; dup {
				return nil, fmt.Errorf("safetensors %s: tensor %q is in both %s and %s", dir, t.Name, filepath.Base(g.Path), filepath.Base(f.Path))
			}
			s.where[t.Name] = f
			s.tensors = append(s.tensors, t)
		}
	}
	sort.Slice(s.tensors, func(i, j int) bool { return s.tensors[i].Name < s.tensors[j].Name })
	return s, nil
}

// Tensors lists every tensor of every shard, sorted by name (offsets are
// relative to each tensor's own shard).
func (s *Set) Tensors() []TensorInfo { return s.tensors }

// Info describes the named tensor.
func (s *Set) Info(name string) (TensorInfo, bool) {
	f, ok := s.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// FileOf returns the shard holding the named tensor.
func (s *Set) FileOf(name string) (*File, bool) { f, ok := s.where[name]; return f, ok }

func (s *Set) file(name string) (*File, error) {
	f, ok := s.where[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: no tensor named %q%s", s.Dir, name, nearest(name, s.tensors))
	}
	return f, nil
}

// Raw returns the tensor's bytes as a view into its shard (valid until Close).
func (s *Set) Raw(name string) ([]byte, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, err
	}
	return f.Raw(name)
}

// Float32 decodes the tensor into a new []float32.
func (s *Set) Float32(name string) ([]float32, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, err
	}
	return f.Float32(name)
}

// Float32Into decodes the tensor into dst.
func (s *Set) Float32Into(name string, dst []float32) error {
	f, err := s.file(name)
	if err != nil {
		return err
	}
	return f.Float32Into(name, dst)
}

// Tensor returns the tensor as a view into its shard.
func (s *Set) Tensor(name string) (Tensor, error) {
	f, err := s.file(name)
	if err != nil {
		return Tensor{}, err
	}
	return f.Tensor(name)
}

// All returns every tensor as views, sorted by name.
func (s *Set) All() []Tensor {
	out := make([]Tensor, 0, len(s.tensors))
	for _, t := range s.tensors {
		x, _ := s.Tensor(t.Name)
		out = append(out, x)
	}
	return out
}

// Close releases every shard.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.Files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// DefaultMaxShardSize is huggingface_hub's MAX_SHARD_SIZE ("5GB", decimal).
const DefaultMaxShardSize = 5_000_000_000

// DirOptions controls WriteDir.
type DirOptions struct {
	Options
	// MaxShardSize is the most tensor bytes per shard (0: DefaultMaxShardSize).
	// As in huggingface_hub, shards are filled in the order the tensors are
	// given (a state_dict's order), and a tensor larger than the limit gets a
	// shard of its own.
	MaxShardSize int64
	// NoTotalParameters leaves "total_parameters" out of the index metadata, as
	// transformers before 4.52 wrote it (only "total_size").
	NoTotalParameters bool
}

// DefaultMetadata is what transformers' save_pretrained writes in every file.
var DefaultMetadata = []KV{{"format", "pt"}}

var shardName = regexp.MustCompile(`^model(-\d{5}-of-\d{5})?\.safetensors$`)

// WriteDir writes tensors into folder dir as save_pretrained does: one
// model.safetensors when they fit in one shard, else
// model-0000i-of-0000n.safetensors files and model.safetensors.index.json
// (json.dumps(indent=2, sort_keys=True) + "\n"). Metadata defaults to
// DefaultMetadata. Earlier model*.safetensors files and the index that this
// save does not rewrite are removed, so that the folder cannot mix two saves.
func WriteDir(dir string, tensors []Tensor, o DirOptions) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if err := checkTensors(tensors); err != nil {
		return nil, err
	}
	if o.Metadata == nil {
		o.Metadata = DefaultMetadata
	}
	max := o.MaxShardSize
	if max <= 0 {
		max = DefaultMaxShardSize
	}
	// huggingface_hub's split_state_dict_into_shards_factory.
	var shards [][]Tensor
	var cur []Tensor
	var curSize, totalSize, totalParams int64
	for _, t := range tensors {
		_, size := o.stored(t)
		totalParams += int64(numElements(t.Shape))
		totalSize += size
		if size > max {
			shards = append(shards, []Tensor{t})
			continue
		}
		if curSize+size > max {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, t)
		curSize += size
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	if len(shards) == 1 {
		written = []string{SingleName}
	} else {
		for i := range shards {
			written = append(written, fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards)))
		}
	}
	for i, sh := range shards {
		if err := WriteFile(filepath.Join(dir, written[i]), sh, o.Options); err != nil {
			return nil, err
		}
	}
	if len(shards) > 1 {
		weightMap := map[string]string{}
		for i, sh := range shards {
			for _, t := range sh {
				weightMap[t.Name] = written[i]
			}
		}
		meta := [][2]string{}
		if !o.NoTotalParameters {
			meta = append(meta, [2]string{"total_parameters", strconv.FormatInt(totalParams, 10)})
		}
		meta = append(meta, [2]string{"total_size", strconv.FormatInt(totalSize, 10)})
		idx := indexJSON(meta, weightMap)
		if err := atomicWrite(filepath.Join(dir, IndexName), func(w io.Writer) error { _, err := w.Write(idx); return err }); err != nil {
			return nil, err
		}
		written = append(written, IndexName)
	}
	// Remove what an earlier save left that this one did not rewrite.
	keep := map[string]bool{}
	for _, w := range written {
		keep[w] = true
	}
	old, _ := os.ReadDir(dir)
	for _, e := range old {
		n := e.Name()
		if !keep[n] && !e.IsDir() && (shardName.MatchString(n) || n == IndexName) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return nil, err
			}
		}
	}
	return written, nil
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// indexJSON renders {"metadata": {...ints}, "weight_map": {...}} exactly as
// Python's json.dumps(index, indent=2, sort_keys=True) + "\n" does (meta is
// already in key order; its values are integers).
func indexJSON(meta [][2]string, weightMap map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("{\n  \"metadata\": {")
	for i, kv := range meta {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(appendPyString(nil, kv[0]))
		b.WriteString(": ")
		b.WriteString(kv[1])
	}
	if len(meta) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("},\n  \"weight_map\": {")
	names := make([]string, 0, len(weightMap))
	for n := range weightMap {
		names = append(names, n)
	}
	sort.Strings(names) // byte order of UTF-8 = Python's code point order
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(appendPyString(nil, n))
		b.WriteString(": ")
		b.Write(appendPyString(nil, weightMap[n]))
	}
	if len(names) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("}\n}\n")
	return b.Bytes()
}

// appendPyString quotes s as Python's json with ensure_ascii=True: '"' '\\'
// \b \f \n \r \t short forms, every other character outside ' '..'~' as \uxxxx
// (lower-case hex, surrogate pairs above U+FFFF).
func appendPyString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(r rune) {
		b = append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		default:
			u(r)
		}
	}
	return append(b, '"')
}
