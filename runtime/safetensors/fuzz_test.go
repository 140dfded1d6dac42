package safetensors

import (
	"bytes"
	"testing"
)

// FuzzParse: no input panics Parse, and whatever it accepts reads back and
// re-encodes to a file it accepts again with the same tensors.
// Run longer with: go test ./runtime/safetensors -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	good, _ := Encode([]Tensor{
		{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 8)},
		{Name: "b", DType: BF16, Shape: []int{1, 3}, Data: []byte{1, 2, 3, 4, 5, 6}},
	}, Options{Metadata: DefaultMetadata})
	f.Add(good)
	f.Add(withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(withHeader(`{"__metadata__":{"k":"v"},"x":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, 1))
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("fuzz", b)
		if err != nil {
			return
		}
		for _, ti := range file.Tensors() {
			raw, err := file.Raw(ti.Name)
			if err != nil || int64(len(raw)) != ti.End-ti.Begin {
				t.Fatalf("%s: raw %d bytes, %v", ti.Name, len(raw), err)
			}
			if ti.DType.ConvertsToFloat32() {
				if _, err := file.Float32(ti.Name); err != nil {
					t.Fatal(err)
				}
			}
		}
		out, err := Encode(file.All(), Options{Metadata: file.Metadata()})
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Parse("again", out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(again.Tensors()) != len(file.Tensors()) {
			t.Fatalf("%d tensors, then %d", len(file.Tensors()), len(again.Tensors()))
		}
		for _, ti := range file.Tensors() {
			r1, _ := file.Raw(ti.Name)
			r2, err := again.Raw(ti.Name)
			if err != nil || !bytes.Equal(r1, r2) {
				t.Fatalf("%s changed in the round trip", ti.Name)
			}
		}
		// A canonical file is a fixed point.
		out2, _ := Encode(again.All(), Options{Metadata: again.Metadata()})
		if !bytes.Equal(out, out2) {
			t.Fatal("second round trip changed the bytes")
		}
	})
}
