//go:build !cuda

package train

import (
	"fmt"

	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/judge"
	"github.com/realc-project/realc/runtime/model"
)

// newGPUEngine: this binary has no GPU support.
func newGPUEngine(t *Trainer, _ int) (engine, error) {
	return nil, fmt.Errorf("--device %s: this trainer was built without the cuda tag: rebuild it with `realc build --tags cuda %s` (on a machine with the CUDA headers), or train with --device cpu", t.cfg.Device, t.meta.File)
}

// evalOnGPU: this binary has no GPU support.
func evalOnGPU(device string, _ int, _ *model.Model, m *recipe.Meta) (judge.LMSource, string, func(), error) {
	return nil, "", nil, fmt.Errorf("--device %s: this trainer was built without the cuda tag: rebuild it with `realc build --tags cuda %s` (on a machine with the CUDA headers), or evaluate with --device cpu", device, m.File)
}
