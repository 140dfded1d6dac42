package cuda

import (
	"os"
	"path/filepath"
	"testing"
)

// TestParseSpec reads every generated recipe's Spec literal.
func TestParseSpec(t *testing.T) {
	paths, _ := filepath.Glob("../../generated/*/launch_cuda.go")
	if len(paths) == 0 {
		t.Skip("no generated recipes")
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseSpec(src)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if s.Prefix != filepath.Base(filepath.Dir(p)) || s.Block <= 0 || s.Counts == [4]int{} {
			t.Errorf("%s: %+v", p, s)
		}
	}
	s, err := ParseSpec([]byte("package x\nvar cudaSpec = &cuda.Spec{Block: 256, Counts: [4]int{25, 24, 34, 9}, FilterOff: [4]int{3, 6, 6, 0}, HasFilter: true, LossOff: [4]int{20, 24, 32, 6}, Prefix: \"real\"}\n"))
	if err != nil || *s != (Spec{Prefix: "real", Counts: [4]int{25, 24, 34, 9}, LossOff: [4]int{20, 24, 32, 6}, FilterOff: [4]int{3, 6, 6, 0}, HasFilter: true, Block: 256}) {
		t.Errorf("%+v %v", s, err)
	}
	if _, err := ParseSpec([]byte("package x\nvar cudaSpec = &cuda.Spec{Block: 256, Extra: 1}\n")); err == nil {
		t.Error("an unknown field must be refused")
	}
}
