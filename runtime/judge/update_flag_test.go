package judge

import "flag"

var _ = flag.Bool("update", false, "no golden files in this package; accepted so that go test ./... -update runs")
