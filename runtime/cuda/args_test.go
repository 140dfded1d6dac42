package cuda

import (
	"math"
	"testing"
)

func TestPackLowBytes(t *testing.T) {
	words := Pack([]Arg{Ptr(0xdeadbeef00), I32(-2), I64(-3), F32(1.5), F64(-0.25)})
	want := []uint64{0xdeadbeef00, 0xfffffffe, 0xfffffffffffffffd, uint64(math.Float32bits(1.5)), math.Float64bits(-0.25)}
	for i := range want {
		if words[i] != want[i] {
			t.Errorf("slot %d = %#x, want %#x", i, words[i], want[i])
		}
	}
	// A kernel reading a 4-byte int from slot 1 sees int32(-2).
	if int32(uint32(words[1])) != -2 {
		t.Fatal("int32 round trip through the low bytes failed")
	}
}

func TestI32Overflow(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("I32(1<<40) did not panic")
		}
	}()
	I32(1 << 40)
}
