//go:build linux

package train

import "syscall"

// peakRSSMiB is the process's peak resident memory so far (getrusage's
// ru_maxrss, KiB on Linux), the figure a user compares with the machine.
func peakRSSMiB() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil || ru.Maxrss <= 0 {
		return 0, false
	}
	return float64(ru.Maxrss) / 1024, true
}
