package train

import (
	"errors"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// --device: cpu is the host engine; a bad value, and cuda at a world size
// above 1, are usage errors that say what to do; in a binary built without
// the cuda tag, cuda names the rebuild command.
func TestDevice(t *testing.T) {
	meta := &recipe.Meta{Name: "real", File: "recipes/real.rl"}
	newT := func(device string, comm dist.Comm) *Trainer {
		return &Trainer{cfg: Config{Device: device}, meta: meta, comm: comm}
	}
	for _, d := range []string{"", "cpu"} {
		e, err := newEngine(newT(d, dist.Single()))
		if _, ok := e.(cpuEngine); !ok || err != nil {
			t.Errorf("--device %q: %T, %v", d, e, err)
		}
	}
	for _, c := range []struct{ device, want string }{{"gpu", "want cpu, cuda or cuda:N"}, {"cuda:x", "want cpu, cuda or cuda:N"}, {"cuda:-1", "want cpu, cuda or cuda:N"}} {
		_, err := newEngine(newT(c.device, dist.Single()))
		var ue usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--device %s: %v", c.device, err)
		}
	}
	comms := dist.NewLocal(2)
	_, err := newEngine(newT("cuda", comms[0]))
	var ue usageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "with 2 ranks") {
		t.Errorf("--device cuda at world size 2: %v", err)
	}
	if on, n, err := parseDevice("cuda:3"); !on || n != 3 || err != nil {
		t.Errorf("cuda:3: %v %d %v", on, n, err)
	}
	if !cuda.Enabled {
		_, err := newEngine(newT("cuda", dist.Single()))
		if err == nil || !strings.Contains(err.Error(), "built without the cuda tag: rebuild it with `realc build --tags cuda recipes/real.rl`") {
			t.Errorf("--device cuda without the cuda tag: %v", err)
		}
	}
}
