package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func f32tensor(t *testing.T, name string, n int, base float32) Tensor {
	t.Helper()
	v := make([]float32, n)
	for i := range v {
		v[i] = base + float32(i)
	}
	x, err := FromFloat32(name, []int{n}, v, F32)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestWriteDirSharded(t *testing.T) {
	// Sizes 40, 40, 16, 80, 8, 8 bytes with a 64-byte limit, in the given order
	// as huggingface_hub's split does: w.b [40] closes when w.a comes; big (80,
	// over the limit) is emitted at once as its own shard while [w.a z] is still
	// open; that shard takes é"x up to exactly 64 and closes when a comes.
	ts := []Tensor{
		f32tensor(t, "w.b", 10, 0),
		f32tensor(t, "w.a", 10, 100),
		f32tensor(t, "z", 4, 200),
		f32tensor(t, "big", 20, 300),
		f32tensor(t, "é\"x", 2, 400),
		f32tensor(t, "a", 2, 500),
	}
	dir := t.TempDir()
	// A stale single file from an earlier save must go.
	os.WriteFile(filepath.Join(dir, SingleName), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644)
	files, err := WriteDir(dir, ts, DirOptions{MaxShardSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
		"model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", IndexName}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", files, want)
	}
	if exists(filepath.Join(dir, SingleName)) || !exists(filepath.Join(dir, "config.json")) {
		t.Errorf("stale model.safetensors kept or config.json removed")
	}
	idx, _ := os.ReadFile(filepath.Join(dir, IndexName))
	wantIdx := `{
  "metadata": {
    "total_parameters": 48,
    "total_size": 192
  },
  "weight_map": {
    "a": "model-00004-of-00004.safetensors",
    "big": "model-00002-of-00004.safetensors",
    "w.a": "model-00003-of-00004.safetensors",
    "w.b": "model-00001-of-00004.safetensors",
    "z": "model-00003-of-00004.safetensors",
    "\u00e9\"x": "model-00003-of-00004.safetensors"
  }
}
`
	if string(idx) != wantIdx {
		t.Errorf("index:\n%s\nwant:\n%s", idx, wantIdx)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Tensors()) != 6 || len(s.Files) != 4 || s.IndexPath == "" {
		t.Fatalf("set: %d tensors, %d files", len(s.Tensors()), len(s.Files))
	}
	for _, x := range ts {
		raw, err := s.Raw(x.Name)
		if err != nil || !bytes.Equal(raw, x.Data) {
			t.Errorf("%s: %v", x.Name, err)
		}
	}
	v, _ := s.Float32("big")
	if v[19] != 319 {
		t.Errorf("big[19] = %v", v[19])
	}
	if sh, _ := s.FileOf("z"); filepath.Base(sh.Path) != "model-00003-of-00004.safetensors" {
		t.Errorf("z in %s", sh.Path)
	}
	if m, _ := s.Files[0].MetadataValue("format"); m != "pt" {
		t.Errorf("shard metadata format=%q, want pt", m)
	}
	// Round trip of the folder: same bytes in every file.
	dir2 := t.TempDir()
	if _, err := WriteDir(dir2, ts, DirOptions{MaxShardSize: 64}); err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, _ := os.ReadFile(filepath.Join(dir2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two saves", f)
		}
	}
	// Saving again into one shard replaces the shards and the index.
	files, err = WriteDir(dir, ts, DirOptions{})
	if err != nil || len(files) != 1 || files[0] != SingleName {
		t.Fatalf("single: %v %v", files, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "model*"))
	if len(left) != 1 {
		t.Errorf("left over: %v", left)
	}
	s2, err := Load(dir)
	if err != nil || s2.IndexPath != "" || len(s2.Tensors()) != 6 {
		t.Fatalf("single load: %v", err)
	}
	s2.Close()
}

func TestWriteDirLegacyIndexAndBF16(t *testing.T) {
	ts := []Tensor{f32tensor(t, "a", 4, 1), f32tensor(t, "b", 4, 2)}
	dir := t.TempDir()
	if _, err := WriteDir(dir, ts, DirOptions{MaxShardSize: 8, NoTotalParameters: true, Options: Options{StoreFloatAs: BF16}}); err != nil {
		t.Fatal(err)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, IndexName))
	if !strings.Contains(string(idx), "{\n    \"total_size\": 16\n  }") || strings.Contains(string(idx), "total_parameters") {
		t.Errorf("index: %s", idx)
	}
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, _ := s.Info("b")
	v, _ := s.Float32("b")
	if info.DType != BF16 || v[3] != 5 {
		t.Errorf("b: %+v %v", info, v)
	}
}

func TestOpenDirErrors(t *testing.T) {
	ts := []Tensor{f32tensor(t, "a", 4, 1), f32tensor(t, "b", 4, 2), f32tensor(t, "c", 4, 3)}
	write := func(t *testing.T) string {
		dir := t.TempDir()
		if _, err := WriteDir(dir, ts, DirOptions{MaxShardSize: 16}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}

	dir := write(t)
	os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors"))
	_, err := OpenDir(dir)
	check("missing shard", err, IndexName, `weight_map["b"]`, `"model-00002-of-00003.safetensors"`, "not in")

	dir = write(t)
	idx := filepath.Join(dir, IndexName)
	b, _ := os.ReadFile(idx)
	os.WriteFile(idx, bytes.Replace(b, []byte(`"c": "model-00003`), []byte(`"c": "model-00001`), 1), 0o644)
	_, err = OpenDir(dir)
	check("wrong shard", err, `weight_map["c"]`, `"model-00001-of-00003.safetensors"`, "no such tensor")

	os.WriteFile(idx, []byte(`{"metadata": {}}`), 0o644)
	_, err = OpenDir(dir)
	check("no weight_map", err, IndexName, "field weight_map is missing")

	os.WriteFile(idx, []byte(`{"weight_map": {"a": 3}}`), 0o644)
	_, err = OpenDir(dir)
	check("bad value", err, `weight_map["a"]`)

	os.WriteFile(idx, []byte(`{"weight_map": {"a": "../x.safetensors"}}`), 0o644)
	_, err = OpenDir(dir)
	check("escape", err, `weight_map["a"]`, "inside the folder")

	os.WriteFile(idx, []byte(`{"weight_map": `), 0o644)
	_, err = OpenDir(dir)
	check("bad json", err, IndexName, "JSON")

	os.Remove(idx)
	_, err = OpenDir(dir)
	check("no index", err, "3 *.safetensors files", IndexName)

	// A corrupt shard is reported with its own path.
	dir = write(t)
	shard := filepath.Join(dir, "model-00003-of-00003.safetensors")
	b, _ = os.ReadFile(shard)
	os.WriteFile(shard, b[:len(b)-2], 0o644)
	_, err = OpenDir(dir)
	check("truncated shard", err, shard, "beyond the data section")

	// The same tensor in two shards.
	dir = write(t)
	WriteFile(filepath.Join(dir, "model-00003-of-00003.safetensors"), []Tensor{ts[2], ts[0]}, Options{})
	_, err = OpenDir(dir)
	check("duplicate", err, `tensor "a" is in both`)

	_, err = OpenDir(t.TempDir())
	check("empty dir", err, "no "+IndexName)

	// Like from_pretrained, model.safetensors wins over an index beside it.
	dir = write(t)
	WriteFile(filepath.Join(dir, SingleName), ts[:1], Options{})
	s, err := OpenDir(dir)
	if err != nil || s.IndexPath != "" || len(s.Tensors()) != 1 {
		t.Errorf("model.safetensors beside an index: %v", err)
	}
}
