package train

import (
	"runtime"
	"testing"
)

// The peak covers memory just touched: after writing a 64 MiB slice it is at
// least 64 MiB, and far below 64 GiB (a unit slip of 1024 either way fails).
func TestPeakRSSMiB(t *testing.T) {
	before, ok := peakRSSMiB()
	if !ok {
		t.Skip("getrusage gives no peak RSS here")
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = byte(i)
	}
	after, _ := peakRSSMiB()
	if after < before || after < 64 || after > 64*1024 {
		t.Fatalf("peak RSS %.1f MiB -> %.1f MiB after touching 64 MiB", before, after)
	}
	runtime.KeepAlive(b)
}
