//go:build !cuda

package train

import "fmt"

// newGPUEngine: this binary has no GPU support.
func newGPUEngine(t *Trainer, _ int) (engine, error) {
	return nil, fmt.Errorf("--device %s: this trainer was built without the cuda tag: rebuild it with `realc build --tags cuda %s` (on a machine with the CUDA headers), or train with --device cpu", t.cfg.Device, t.meta.File)
}
