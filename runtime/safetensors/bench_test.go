package safetensors

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchFile writes a ~100 MB file of 25 tensors of dtype dt and returns its path.
func benchFile(b *testing.B, dt DType) (string, int64) {
	b.Helper()
	const total = 100 << 20
	n := total / dt.Size() / 25
	r := rand.New(rand.NewPCG(1, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	var ts []Tensor
	for i := 0; i < 25; i++ {
		x, err := FromFloat32(string(rune('a'+i))+".weight", []int{n / 1024, 1024}, v[:n/1024*1024], dt)
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, x)
	}
	p := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := WriteFile(p, ts, Options{Metadata: DefaultMetadata}); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(p)
	return p, st.Size()
}

// BenchmarkRead measures opening a ~100 MB file and decoding every tensor to
// float32 (SetBytes: file bytes, so MB/s is read throughput).
func BenchmarkRead(b *testing.B) {
	for _, dt := range []DType{F32, BF16, F16} {
		for _, how := range []string{"mmap", "readfile"} {
			b.Run(string(dt)+"/"+how, func(b *testing.B) {
				p, size := benchFile(b, dt)
				b.SetBytes(size)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var f *File
					var err error
					if how == "mmap" {
						f, err = Open(p)
					} else {
						f, err = ReadFile(p)
					}
					if err != nil {
						b.Fatal(err)
					}
					for _, t := range f.Tensors() {
						if _, err := f.Float32(t.Name); err != nil {
							b.Fatal(err)
						}
					}
					f.Close()
				}
			})
		}
	}
}

// BenchmarkWrite measures writing ~100 MB of F32 tensors (as F32 and as BF16).
func BenchmarkWrite(b *testing.B) {
	p, size := benchFile(b, F32)
	f, err := Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, as := range []DType{F32, BF16} {
		b.Run("as"+string(as), func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out.safetensors")
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				if err := WriteFile(out, f.All(), Options{StoreFloatAs: as}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// From []float32 values (a model's weights), converted while writing.
	var ts []Tensor
	for _, t := range f.Tensors() {
		v, _ := f.Float32(t.Name)
		ts = append(ts, Tensor{Name: t.Name, DType: BF16, Shape: t.Shape, F32: v})
	}
	b.Run("float32-to-BF16", func(b *testing.B) {
		out := filepath.Join(b.TempDir(), "out.safetensors")
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			if err := WriteFile(out, ts, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
