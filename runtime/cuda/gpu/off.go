//go:build !cuda

package gpu

import (
	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/kernels"
)

// Enabled reports whether this binary was built with the cuda tag.
const Enabled = false

// Machine is the GPU machine; this binary has none (build with -tags cuda).
type Machine struct{}

// Open reports that the binary was built without CUDA.
func Open(ordinal int, o Options) (*Machine, error) { return nil, cuda.ErrNoCUDA }

func (m *Machine) Name() string                       { return "no GPU (built without the cuda tag)" }
func (m *Machine) Close() error                       { return cuda.ErrNoCUDA }
func (m *Machine) Alloc(int64) (uintptr, error)       { return 0, cuda.ErrNoCUDA }
func (m *Machine) Free(uintptr) error                 { return cuda.ErrNoCUDA }
func (m *Machine) Write(uintptr, []byte) error        { return cuda.ErrNoCUDA }
func (m *Machine) Read([]byte, uintptr) error         { return cuda.ErrNoCUDA }
func (m *Machine) Zero(uintptr, int64) error          { return cuda.ErrNoCUDA }
func (m *Machine) Copy(uintptr, uintptr, int64) error { return cuda.ErrNoCUDA }
func (m *Machine) Launch(kernels.Launch) error        { return cuda.ErrNoCUDA }
func (m *Machine) Gemm(kernels.Gemm) error            { return cuda.ErrNoCUDA }
func (m *Machine) Sync() error                        { return cuda.ErrNoCUDA }

var _ kernels.Machine = (*Machine)(nil)
