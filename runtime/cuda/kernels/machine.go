package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Gemm is one matrix product C = Alpha op(A) op(B) + Beta C in row-major
// storage (as runtime/blas.Sgemm): op(A) is M x K, op(B) K x N, C M x N;
// leading dimensions are row strides in elements. A and B have type AB (F32
// or BF16), C has type CT (F32, or BF16 when AB is BF16); accumulation is
// fp32. On a GPU it is one cuBLAS call.
type Gemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A              uintptr
	LDA            int
	B              uintptr
	LDB            int
	C              uintptr
	LDC            int
	AB, CT         DType
}

func (g Gemm) String() string {
	ta, tb := "N", "N"
	if g.TransA {
		ta = "T"
	}
	if g.TransB {
		tb = "T"
	}
	return fmt.Sprintf("gemm %s%s %dx%dx%d %v->%v", ta, tb, g.M, g.N, g.K, g.AB, g.CT)
}

// Machine runs kernels and GEMMs on memory it owns. Addresses are opaque
// uintptrs (device pointers on a GPU). Operations run in order; Read waits
// for the ones before it.
type Machine interface {
	Alloc(bytes int64) (uintptr, error)
	Free(p uintptr) error
	Write(dst uintptr, src []byte) error
	Read(dst []byte, src uintptr) error
	Zero(p uintptr, bytes int64) error
	// Copy copies bytes between two places of the machine's memory.
	Copy(dst, src uintptr, bytes int64) error
	Launch(l Launch) error
	Gemm(g Gemm) error
	// Name says what it is, for messages ("cpu twin", "NVIDIA H100 ...").
	Name() string
}

// BiasCorrections returns 1 - beta1^step and 1 - beta2^step, computed as
// runtime/train's AdamW.Update does.
func BiasCorrections(a AdamWArgs) (bc1, bc2 float64) {
	return 1 - math.Pow(a.Beta1, float64(a.Step)), 1 - math.Pow(a.Beta2, float64(a.Step))
}

// Bytes helpers: little-endian encodings of typed slices, for Write/Read.

// F32Bytes encodes xs.
func F32Bytes(xs []float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// BytesF32 decodes b.
func BytesF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// U16Bytes encodes bf16 bits.
func U16Bytes(xs []uint16) []byte {
	b := make([]byte, 2*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

// BytesU16 decodes bf16 bits.
func BytesU16(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

// I32Bytes encodes int32s.
func I32Bytes(xs []int32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

// F64Bytes encodes float64s.
func F64Bytes(xs []float64) []byte {
	b := make([]byte, 8*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

// BytesF64 decodes float64s.
func BytesF64(b []byte) []float64 {
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// Signature is one kernel's parameter list as the source declares it.
type Signature struct {
	Name   string
	Params []string // C declarations, e.g. "const bf16* __restrict__ x"
}

// Sizes returns the byte size of each parameter in its 8-byte slot
// (pointers, long long and double: 8; int and float: 4).
func (s Signature) Sizes() []int {
	out := make([]int, len(s.Params))
	for i, p := range s.Params {
		switch {
		case strings.Contains(p, "*"), strings.Contains(p, "long long"), strings.HasPrefix(strings.TrimSpace(p), "double"):
			out[i] = 8
		default:
			out[i] = 4
		}
	}
	return out
}

// Signatures parses every extern "C" __global__ entry point of the sources.
func Signatures() map[string]Signature {
	out := map[string]Signature{}
	for _, f := range Files() {
		src := Source(f)
		for {
			i := strings.Index(src, `extern "C" __global__ void`)
			if i < 0 {
				break
			}
			src = src[i+len(`extern "C" __global__ void`):]
			open := strings.Index(src, "(")
			head := src[:open]
			if j := strings.Index(head, "__launch_bounds__"); j >= 0 {
				// __launch_bounds__(N) name(
				k := strings.Index(src, ")")
				src = src[k+1:]
				open = strings.Index(src, "(")
				head = src[:open]
			}
			name := strings.TrimSpace(head)
			rest := src[open+1:]
			close := strings.Index(rest, ")")
			var params []string
			for _, p := range strings.Split(rest[:close], ",") {
				params = append(params, strings.Join(strings.Fields(p), " "))
			}
			out[name] = Signature{Name: name, Params: params}
			src = rest[close:]
		}
	}
	return out
}
