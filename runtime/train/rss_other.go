//go:build !linux

package train

// peakRSSMiB: only Linux reports ru_maxrss in KiB; elsewhere no figure.
func peakRSSMiB() (float64, bool) { return 0, false }
