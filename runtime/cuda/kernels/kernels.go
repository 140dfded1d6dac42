// Package kernels holds realc's transformer kernels as CUDA C++ source
// (embedding, RMSNorm and its backward, RoPE, SwiGLU, residual adds and
// conversions, AdamW, the global gradient norm, flash-style attention with
// its backward, and decoding attention over a KV cache), the launch
// builders that marshal their arguments (Launch: pointers and scalars only,
// one 8-byte slot each), and the Machine interface that runs them: a GPU
// (runtime/cuda/gpu, behind the cuda tag) or the CPU twins
// (runtime/cuda/twin), which are the reference every kernel is tested
// against.
//
// The .cu files are header-free (prelude.cuh is their only include) so that
// NVRTC 11.8 to 13 compiles them; Program joins them into one translation
// unit. The package needs no cgo and no CUDA.
package kernels

import (
	"embed"
	"sort"
	"strings"
)

//go:embed *.cu prelude.cuh
var files embed.FS

// Files lists the kernel sources (.cu) by name.
func Files() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".cu") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Source returns one embedded file (a .cu or prelude.cuh).
func Source(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("kernels: no embedded file " + name)
	}
	return string(b)
}

const includeLine = `#include "prelude.cuh"`

// Program is every kernel in one translation unit for NVRTC: the prelude,
// then each .cu without its include line.
func Program() string {
	var b strings.Builder
	b.WriteString(Source("prelude.cuh"))
	for _, f := range Files() {
		b.WriteString("\n// ---- " + f + " ----\n")
		b.WriteString(strings.Replace(Source(f), includeLine, "", 1))
	}
	return b.String()
}
