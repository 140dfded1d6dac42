//go:build !cuda

package dist

// NCCLEnabled reports whether this binary was built with -tags cuda.
const NCCLEnabled = false

// NCCLInfo says which libraries the NCCL backend loaded; this binary has no
// NCCL backend (build with -tags cuda).
func NCCLInfo(c Comm) (libs string, version int, ok bool) { return "", 0, false }
