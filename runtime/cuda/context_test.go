package cuda

import (
	"slices"
	"testing"

	"github.com/realc-project/realc/compiler"
)

// TestContextParams: the runtime passes the loss kernels' context in the
// order the compiler generates them to take it.
func TestContextParams(t *testing.T) {
	var want []string
	for _, p := range compiler.KernelParams {
		want = append(want, p.Name)
	}
	if !slices.Equal(ContextParams, want) {
		t.Errorf("ContextParams %v, compiler.KernelParams %v", ContextParams, want)
	}
	if CheckContext(len(want)) != nil || CheckContext(len(want)-1) == nil {
		t.Error("CheckContext")
	}
}
