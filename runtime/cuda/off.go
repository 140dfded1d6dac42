//go:build !cuda

package cuda

import "errors"

// Enabled reports whether this binary was built with the cuda tag.
const Enabled = false

// ErrNoCUDA is returned by Open in binaries built without the cuda tag.
var ErrNoCUDA = errors.New("cuda: this binary was built without CUDA support (rebuild with -tags cuda on a machine with the CUDA headers)")
