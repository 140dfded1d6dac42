// Package cuda is realc's CUDA backend host glue over gorgonia.org/cu: device
// and primary context, device buffers, PTX modules, and kernel launches with
// every argument marshalled into its own 8-byte slot (gorgonia's Launch copies
// 8 bytes per argument, so only pointers and scalars are passed).
//
// Everything that imports gorgonia.org/cu is behind the `cuda` build tag:
// its package init calls cuInit and exits when no driver answers. Without
// the tag, Open reports that the binary was built without CUDA.
package cuda

import (
	"fmt"
	"math"
)

// Arg is one kernel argument, already in the bit pattern the kernel reads
// from the low bytes of an 8-byte slot.
type Arg struct {
	bits uint64
	kind string // for messages: ptr, i32, i64, f32, f64
}

// Ptr passes a device pointer.
func Ptr(p uintptr) Arg { return Arg{uint64(p), "ptr"} }

// I32 passes an int parameter; it must fit in 32 bits.
func I32(x int) Arg {
	if x < math.MinInt32 || x > math.MaxInt32 {
		panic(fmt.Sprintf("cuda: int argument %d does not fit in 32 bits", x))
	}
	return Arg{uint64(uint32(int32(x))), "i32"}
}

// I64 passes a long long parameter.
func I64(x int64) Arg { return Arg{uint64(x), "i64"} }

// F32 passes a float parameter.
func F32(x float32) Arg { return Arg{uint64(math.Float32bits(x)), "f32"} }

// F64 passes a double parameter.
func F64(x float64) Arg { return Arg{math.Float64bits(x), "f64"} }

// Bits returns the 8-byte slot of the argument.
func (a Arg) Bits() uint64 { return a.bits }

// Kind names the argument's C type: ptr, i32, i64, f32 or f64.
func (a Arg) Kind() string { return a.kind }

// Size is the number of bytes the kernel reads from the slot: 4 for i32 and
// f32, else 8.
func (a Arg) Size() int {
	if a.kind == "i32" || a.kind == "f32" {
		return 4
	}
	return 8
}

func (a Arg) String() string { return fmt.Sprintf("%s:%#x", a.kind, a.bits) }

// Pack lays the arguments out one 8-byte slot each, in order.
func Pack(args []Arg) []uint64 {
	out := make([]uint64, len(args))
	for i, a := range args {
		out[i] = a.bits
	}
	return out
}
