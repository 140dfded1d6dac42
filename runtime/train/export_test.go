package train

import "github.com/realc-project/realc/runtime/sample"

// samplerEngine is the host engine seen as another device's: the trainer
// takes the path it takes for a GPU engine (the evaluation decoding and
// scoring through the engine's sampler), on the host's arithmetic.
type samplerEngine struct {
	cpuEngine
	calls *[][2]int // each sampler call's caches and maxLen
	live  *int      // samplers not yet released
}

func (e samplerEngine) sampler(caches, maxLen int) (sample.LM, func(), error) {
	*e.calls = append(*e.calls, [2]int{caches, maxLen})
	*e.live++
	lm, _, err := e.cpuEngine.sampler(caches, maxLen)
	return lm, func() { *e.live-- }, err
}

// UseSamplerEngine makes t's engine a samplerEngine and returns its
// sampler calls and the count of those not released.
func UseSamplerEngine(t *Trainer) (calls *[][2]int, live *int) {
	calls, live = new([][2]int), new(int)
	t.eng = samplerEngine{cpuEngine: cpuEngine{t}, calls: calls, live: live}
	return calls, live
}

// SetWriteFault makes every line written to a run's JSON Lines files
// (metrics.jsonl, --trace) fail with fault(path) where it returns an error,
// until the returned restore is called. Set it before the ranks start.
func SetWriteFault(fault func(path string) error) (restore func()) {
	writeFault = fault
	return func() { writeFault = nil }
}
