package train

// SetWriteFault makes every line written to a run's JSON Lines files
// (metrics.jsonl, --trace) fail with fault(path) where it returns an error,
// until the returned restore is called. Set it before the ranks start.
func SetWriteFault(fault func(path string) error) (restore func()) {
	writeFault = fault
	return func() { writeFault = nil }
}
