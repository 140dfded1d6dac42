package fused

import "flag"

// The project's golden target runs `go test ./... -update`; this package has
// no golden files, but its test binary must accept the flag.
var _ = flag.Bool("update", false, "no golden files in this package")
