// Package realc carries the source a generated trainer builds against, so
// that a realc binary with no checkout around it (copied to another machine,
// or installed with `go install .../cmd/realc@version`) can still build a
// recipe: realc writes these files to a cache folder keyed by their hash and
// builds the generated code against that folder (cmd/realc, selfsrc.go).
//
// It lives at the module root because go:embed reaches only below the
// embedding file. Tests and testdata ride along (a few MB): excluding them
// would need a file list kept in step with the tree by hand.
package realc

import "embed"

// Source is the module's go.mod, go.sum and every package a generated
// trainer imports, directly or not.
//
//go:embed go.mod go.sum runtime internal
var Source embed.FS
