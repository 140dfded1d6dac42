package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func f32bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// The byte vectors below are the Rust library's own serialization tests
// (safetensors/src/tensor.rs: test_serialization, test_empty,
// test_serialization_forced_alignement): our writer must produce them exactly.
func TestEncodeMatchesRustVectors(t *testing.T) {
	data := f32bytes(0, 1, 2, 3, 4, 5)
	cases := []struct {
		name    string
		tensors []Tensor
		meta    []KV
		want    []byte
	}{
		{"attn.0", []Tensor{{Name: "attn.0", DType: F32, Shape: []int{1, 2, 3}, Data: data}}, nil, []byte{
			64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
			116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
			58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
			101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
			0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64}},
		{"empty", nil, nil, []byte{8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}},
		{"empty+framework", nil, []KV{{"framework", "pt"}}, []byte{
			40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
			95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
			116, 34, 125, 125, 32, 32, 32, 32, 32}},
		{"forced alignment", []Tensor{{Name: "attn0", DType: F32, Shape: []int{1, 1, 2, 3}, Data: data}}, nil, []byte{
			72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
			121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
			91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
			115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
			32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
			160, 64}},
	}
	for _, c := range cases {
		got, err := Encode(c.tensors, Options{Metadata: c.meta})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		f, err := Parse(c.name, got)
		if err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		if len(c.tensors) == 1 {
			v, err := f.Float32(c.tensors[0].Name)
			if err != nil || len(v) != 6 || v[5] != 5 || v[1] != 1 {
				t.Errorf("%s: read back %v, %v", c.name, v, err)
			}
		}
	}
}

// mixed builds tensors of several dtypes with distinct contents.
func mixed(t *testing.T) []Tensor {
	t.Helper()
	mk := func(name string, dt DType, shape ...int) Tensor {
		n := numElements(shape)
		b := make([]byte, n*dt.Size())
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		return Tensor{Name: name, DType: dt, Shape: shape, Data: b}
	}
	return []Tensor{
		mk("model.layers.0.mlp.up_proj.weight", BF16, 4, 6),
		mk("model.embed_tokens.weight", BF16, 10, 4),
		mk("lm_head.weight", F32, 10, 4),
		mk("pos", I64, 3),
		mk("model.norm.weight", F16, 4),
		mk("mask", U8, 5),
		mk("flag", BOOL, 3),
		mk("scalar", F32),
		mk("empty", F32, 0, 3),
		mk("ids", I32, 2, 2),
		mk("q\"uote\n\x01é", F64, 2),
	}
}

func TestHeaderOrderAndEscaping(t *testing.T) {
	b, err := Encode(mixed(t), Options{Metadata: []KV{{"format", "pt"}, {"b\tkey", "ü"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 {
		t.Fatalf("header length %d not a multiple of 8", n)
	}
	h := strings.TrimRight(string(b[8:8+n]), " ")
	// Descending dtype rank (I64 > F64 > F32 > I32 > BF16 > F16 > U8 > BOOL), then name.
	want := `{"__metadata__":{"format":"pt","b\tkey":"ü"},` +
		`"pos":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},` +
		`"q\"uote\n\u0001é":{"dtype":"F64","shape":[2],"data_offsets":[24,40]},` +
		`"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[40,40]},` +
		`"lm_head.weight":{"dtype":"F32","shape":[10,4],"data_offsets":[40,200]},` +
		`"scalar":{"dtype":"F32","shape":[],"data_offsets":[200,204]},` +
		`"ids":{"dtype":"I32","shape":[2,2],"data_offsets":[204,220]},` +
		`"model.embed_tokens.weight":{"dtype":"BF16","shape":[10,4],"data_offsets":[220,300]},` +
		`"model.layers.0.mlp.up_proj.weight":{"dtype":"BF16","shape":[4,6],"data_offsets":[300,348]},` +
		`"model.norm.weight":{"dtype":"F16","shape":[4],"data_offsets":[348,356]},` +
		`"mask":{"dtype":"U8","shape":[5],"data_offsets":[356,361]},` +
		`"flag":{"dtype":"BOOL","shape":[3],"data_offsets":[361,364]}}`
	if h != want {
		t.Errorf("header\n got %s\nwant %s", h, want)
	}
	if len(b) != 8+int(n)+364 {
		t.Errorf("file size %d, want %d", len(b), 8+int(n)+364)
	}
}

// Reading a file and writing it back gives the same bytes, through memory and
// through the file system (mapped).
func TestRoundTripByteStable(t *testing.T) {
	for _, meta := range [][]KV{nil, {}, DefaultMetadata, {{"z", "1"}, {"a", "2"}, {"m", "\u2028"}}} {
		orig, err := Encode(mixed(t), Options{Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse("mem", orig)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Encode(f.All(), Options{Metadata: f.Metadata()})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(orig, again) {
			t.Errorf("metadata %v: round trip changed the bytes", meta)
		}
	}
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	if err := WriteFile(p1, mixed(t), Options{Metadata: DefaultMetadata}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p1)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p2, f.All(), Options{Metadata: f.Metadata()}); err != nil {
		t.Fatal(err)
	}
	// Overwriting the mapped source in place must not disturb the mapping.
	if err := WriteFile(p1, f.All(), Options{Metadata: f.Metadata()}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	want, _ := Encode(mixed(t), Options{Metadata: DefaultMetadata})
	if !bytes.Equal(b1, want) || !bytes.Equal(b2, want) {
		t.Errorf("file round trip changed the bytes")
	}
}

func TestReadValues(t *testing.T) {
	i64 := make([]byte, 16)
	minus5 := int64(-5)
	binary.LittleEndian.PutUint64(i64, uint64(minus5))
	binary.LittleEndian.PutUint64(i64[8:], uint64(int64(1)<<40+256)) // exact in float32
	f64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(f64, math.Float64bits(-0.25))
	binary.LittleEndian.PutUint64(f64[8:], math.Float64bits(1e300)) // overflows to +Inf
	i32 := make([]byte, 8)
	binary.LittleEndian.PutUint32(i32, uint32(0xFFFFFFFF)) // -1
	binary.LittleEndian.PutUint32(i32[4:], 7)
	bf := []byte{0x80, 0x3F, 0x40, 0xC0} // 1, -3
	h := []byte{0x00, 0x3C, 0x01, 0x00}  // 1, 2^-24
	i8 := []byte{0xFE, 0x05}             // -2, 5
	ts := []Tensor{
		{Name: "i64", DType: I64, Shape: []int{2}, Data: i64},
		{Name: "f64", DType: F64, Shape: []int{2}, Data: f64},
		{Name: "i32", DType: I32, Shape: []int{2}, Data: i32},
		{Name: "bf16", DType: BF16, Shape: []int{2}, Data: bf},
		{Name: "f16", DType: F16, Shape: []int{2}, Data: h},
		{Name: "i8", DType: I8, Shape: []int{2}, Data: i8},
		{Name: "u8", DType: U8, Shape: []int{2}, Data: i8},
		{Name: "f8", DType: F8_E4M3, Shape: []int{2}, Data: i8},
		{Name: "f8z", DType: F8_E4M3FNUZ, Shape: []int{2}, Data: i8},
	}
	b, err := Encode(ts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("vals", b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"i64": {-5, 1<<40 + 256}, "f64": {-0.25, float32(math.Inf(1))}, "i32": {-1, 7},
		"bf16": {1, -3}, "f16": {1, 1.0 / (1 << 24)}, "i8": {-2, 5}, "u8": {254, 5},
	}
	for name, w := range want {
		got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != w[0] || got[1] != w[1] {
			t.Errorf("%s: got %v, want %v", name, got, w)
		}
	}
	if _, err := f.Float32("f8z"); err == nil || !strings.Contains(err.Error(), "F8_E4M3FNUZ") {
		t.Errorf("F8_E4M3FNUZ as float32: want an error naming the dtype, got %v", err)
	}
	if v, err := f.Float32("f8"); err != nil || v[1] != 0x1.4p-7 { // 0x05: 5/8 * 2^-6
		t.Errorf("F8_E4M3 as float32: %v, %v", v, err)
	}
	if raw, _ := f.Raw("i8"); !bytes.Equal(raw, i8) {
		t.Errorf("Raw: %v", raw)
	}
	if _, err := f.Float32("bf61"); err == nil || !strings.Contains(err.Error(), `did you mean "bf16"`) {
		t.Errorf("missing tensor: %v", err)
	}
	names := []string{}
	for _, ti := range f.Tensors() {
		names = append(names, ti.Name)
	}
	if strings.Join(names, ",") != "bf16,f16,f64,f8,f8z,i32,i64,i8,u8" {
		t.Errorf("Tensors not sorted by name: %v", names)
	}
	dst := make([]float32, 3)
	if err := f.Float32Into("i8", dst); err == nil {
		t.Errorf("Float32Into with a wrong length should fail")
	}
}

func TestRawIsAView(t *testing.T) {
	b, _ := Encode([]Tensor{{Name: "x", DType: U8, Shape: []int{3}, Data: []byte{1, 2, 3}}}, Options{})
	f, _ := Parse("v", b)
	raw, _ := f.Raw("x")
	b[len(b)-1] = 9 // the view sees the buffer: no copy was made
	if raw[2] != 9 || cap(raw) != 3 {
		t.Errorf("Raw copied the data or exposes the buffer past the tensor: %v cap %d", raw, cap(raw))
	}
}

// withHeader builds a file from a literal header and data length.
func withHeader(h string, data int) []byte {
	b := make([]byte, 8, 8+len(h)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(h)))
	b = append(b, h...)
	return append(b, make([]byte, data)...)
}

func TestValidationErrors(t *testing.T) {
	good := withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8)
	cases := []struct {
		name string
		buf  []byte
		want []string
	}{
		{"short", []byte{1, 2, 3}, []string{"truncated", "8-byte"}},
		{"header beyond file", good[:20], []string{"header length 54", "beyond the end", "truncated"}},
		{"data truncated", good[:len(good)-1], []string{`tensor "a"`, "data_offsets [0, 8]", "beyond the data section (7 bytes)"}},
		{"trailing", append(append([]byte{}, good...), 0), []string{"trailing"}},
		{"huge header", []byte{0, 0, 0, 0, 0, 1, 0, 0, '{'}, []string{"over the"}},
		{"not json", withHeader(`{"a":`, 0), []string{"header", "not JSON"}},
		{"not object", withHeader(`[1]`, 0), []string{"JSON object"}},
		{"unknown dtype", withHeader(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, 8), []string{`tensor "a"`, "field dtype", `"F33"`}},
		{"missing dtype", withHeader(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8), []string{`tensor "a"`, "field dtype is missing"}},
		{"missing offsets", withHeader(`{"a":{"dtype":"F32","shape":[2]}}`, 8), []string{"field data_offsets is missing"}},
		{"size mismatch", withHeader(`{"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}}`, 8), []string{`tensor "a"`, "shape [2 3] x dtype BF16 need 12 bytes", "span 8"}},
		{"negative dim", withHeader(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), []string{"field shape[0]"}},
		{"offsets reversed", withHeader(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), []string{"end 0 is before begin 8"}},
		{"overlap", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), []string{`tensor "b"`, "overlap", `"a"`}},
		{"gap", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), []string{`tensor "b"`, "gap of 4"}},
		{"duplicate", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), []string{`"a" appears twice`}},
		{"metadata not strings", withHeader(`{"__metadata__":{"n":1}}`, 0), []string{"__metadata__", `"n"`, "must be a string"}},
		{"bad utf8", withHeader("{\"\xff\":1}", 0), []string{"UTF-8"}},
		{"junk after", withHeader(`{} x`, 0), []string{"after the JSON object"}},
		{"odd F4", withHeader(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, 2), []string{"do not fill whole bytes"}},
	}
	for _, c := range cases {
		_, err := Parse("w.safetensors", c.buf)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "w.safetensors") {
			t.Errorf("%s: error does not name the file: %s", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", c.name, msg, w)
			}
		}
	}
	if _, err := Parse("ok", good); err != nil {
		t.Errorf("valid file rejected: %v", err)
	}
	// Accepted like the Rust reader: other whitespace padding, and any tensor order.
	if _, err := Parse("ok", withHeader(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`+"\n\t ", 2)); err != nil {
		t.Errorf("valid file rejected: %v", err)
	}
	// Open names the path, and a directory is refused with a hint.
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "OpenDir") {
		t.Errorf("Open(dir): %v", err)
	}
	p := filepath.Join(t.TempDir(), "t.safetensors")
	os.WriteFile(p, good[:30], 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Open(truncated): %v", err)
	}
	os.WriteFile(p, nil, 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Open(empty): %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		ts   []Tensor
		o    Options
		want string
	}{
		{[]Tensor{{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, Options{}, "needs 8 bytes, data has 4"},
		{[]Tensor{{Name: "a", DType: "F12", Shape: []int{1}}}, Options{}, `unknown dtype "F12"`},
		{[]Tensor{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}}, {Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}}}, Options{}, `"a" given twice`},
		{nil, Options{StoreFloatAs: I8}, "StoreFloatAs"},
	}
	for _, c := range cases {
		if _, err := Encode(c.ts, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error with %q, got %v", c.want, err)
		}
	}
	if _, err := FromFloat32("w", []int{2, 2}, []float32{1, 2, 3}, BF16); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("FromFloat32 size mismatch: %v", err)
	}
}

// StoreFloatAs converts F32 tensors (and reorders them by their stored dtype).
func TestStoreFloatAs(t *testing.T) {
	vals := []float32{1, 1.00390625, -2.5, 65504}
	ts := []Tensor{
		{Name: "a", DType: F32, Shape: []int{4}, Data: f32bytes(vals...)},
		{Name: "b", DType: I32, Shape: []int{1}, Data: []byte{1, 0, 0, 0}},
	}
	for _, dt := range []DType{BF16, F16} {
		b, err := Encode(ts, Options{StoreFloatAs: dt})
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse("s", b)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Info("a")
		if info.DType != dt || info.Begin != 4 { // I32 now sorts before the 2-byte dtype
			t.Errorf("%s: info %+v", dt, info)
		}
		got, _ := f.Float32("a")
		for i, v := range vals {
			var w float32
			if dt == BF16 {
				w = BF16ToFloat32(Float32ToBF16(v))
			} else {
				w = F16ToFloat32(Float32ToF16(v))
			}
			if got[i] != w {
				t.Errorf("%s: [%d] = %v, want %v", dt, i, got[i], w)
			}
		}
		// 1.00390625 = 1 + 2^-8 is the tie between bf16 1 and 1.0078125: even wins.
		if dt == BF16 && (got[1] != 1 || got[3] != 65536) {
			t.Errorf("bf16 rounding: %v", got)
		}
		if dt == F16 && (got[1] != 1.00390625 || got[3] != 65504) {
			t.Errorf("f16 values: %v", got)
		}
		again, _ := FromFloat32("a", []int{4}, vals, dt)
		raw, _ := f.Raw("a")
		if !bytes.Equal(again.Data, raw) {
			t.Errorf("%s: FromFloat32 and StoreFloatAs disagree", dt)
		}
	}
}

// Large tensors are decoded on several goroutines: same values as one.
func TestParallelDecode(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	n := 3<<18 + 5 // three workers, uneven split
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%1000)/7 - 50
	}
	for _, dt := range []DType{F32, BF16, F16} {
		x, _ := FromFloat32("x", []int{n}, v, dt)
		f, err := Parse("big", mustEncode(t, []Tensor{x}))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.Float32("x")
		want := make([]float32, n)
		decode(want, x.Data, dt)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: [%d] = %v, want %v", dt, i, got[i], want[i])
			}
		}
	}
}

// Tensors given as float32 values are converted while writing, chunk by
// chunk, to the same bytes FromFloat32 makes.
func TestFloat32Source(t *testing.T) {
	n := 3<<16 + 7 // several conversion chunks
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%977)/13 - 31
	}
	small := []float32{1.5, -2.25, 3}
	for _, dt := range []DType{F32, BF16, F16} {
		for _, store := range []DType{"", BF16} {
			viaBytes := []Tensor{}
			viaF32 := []Tensor{}
			for _, x := range []struct {
				name string
				vals []float32
			}{{"big", v}, {"small", small}} {
				b, err := FromFloat32(x.name, []int{len(x.vals)}, x.vals, dt)
				if err != nil {
					t.Fatal(err)
				}
				viaBytes = append(viaBytes, b)
				viaF32 = append(viaF32, Tensor{Name: x.name, DType: dt, Shape: []int{len(x.vals)}, F32: x.vals})
			}
			o := Options{StoreFloatAs: store, Metadata: DefaultMetadata}
			want, err := Encode(viaBytes, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Encode(viaF32, o)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("dtype %s store %q: float32 source writes different bytes", dt, store)
			}
		}
	}
	dir := t.TempDir()
	files, err := WriteDir(dir, []Tensor{{Name: "a", DType: BF16, Shape: []int{4}, F32: small[:1:1]}}, DirOptions{})
	if err == nil {
		t.Errorf("wrong F32 length accepted: %v", files)
	}
	for _, bad := range []Tensor{
		{Name: "a", DType: BF16, Shape: []int{3}, F32: small, Data: []byte{1}},
		{Name: "a", DType: I32, Shape: []int{3}, F32: small},
		{Name: "a", DType: F16, Shape: []int{2}, F32: small},
	} {
		if _, err := Encode([]Tensor{bad}, Options{}); err == nil || !strings.Contains(err.Error(), `"a"`) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// Shard sizes count the stored bytes.
	ts := []Tensor{{Name: "x", DType: BF16, Shape: []int{3}, F32: small}, {Name: "y", DType: F32, Shape: []int{3}, F32: small}}
	files, err = WriteDir(dir, ts, DirOptions{MaxShardSize: 8})
	if err != nil || len(files) != 3 {
		t.Fatalf("files %v, %v", files, err)
	}
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, _ := s.Float32("x")
	y, _ := s.Float32("y")
	if x[1] != -2.25 || y[2] != 3 {
		t.Errorf("read back %v %v", x, y)
	}
}
