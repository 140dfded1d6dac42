//go:build cuda

package gpu

import (
	"fmt"

	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/dl"
	"github.com/realc-project/realc/runtime/cuda/kernels"
)

// Enabled reports whether this binary was built with the cuda tag.
const Enabled = true

// Machine is one GPU running realc's kernels.
type Machine struct {
	Dev     *cuda.Device
	BLAS    *dl.BLAS
	Arch    string // compute_XY the kernels were compiled for
	Log     string // NVRTC's messages (warnings)
	mod     *cuda.Module
	kernels map[string]*cuda.Kernel
	allocs  map[uintptr]cuda.Buffer
	name    string
	inUse   int64 // bytes allocated through Alloc and not freed
	peak    int64 // the most inUse has been since ResetPeak
}

// InUse is the device memory allocated through this machine, in bytes
// (cuBLAS's own workspace not included).
func (m *Machine) InUse() int64 { return m.inUse }

// Peak is the most InUse has been since the last ResetPeak.
func (m *Machine) Peak() int64 { return m.peak }

// ResetPeak starts a new peak measurement from the current use.
func (m *Machine) ResetPeak() { m.peak = m.inUse }

// Open opens GPU ordinal (primary context, current on the calling OS thread
// until Close), compiles or loads the kernels and creates a cuBLAS handle.
func Open(ordinal int, o Options) (*Machine, error) {
	d, err := cuda.Open(ordinal)
	if err != nil {
		return nil, err
	}
	m := &Machine{Dev: d, kernels: map[string]*cuda.Kernel{}, allocs: map[uintptr]cuda.Buffer{}}
	fail := func(err error) (*Machine, error) {
		m.Close()
		return nil, err
	}
	major, minor, err := d.ComputeCapability()
	if err != nil {
		return fail(err)
	}
	m.name = fmt.Sprintf("%s (GPU %d, compute capability %d.%d)", d.Name(), ordinal, major, minor)
	if major < 8 {
		return fail(fmt.Errorf("gpu: %s: realc's kernels need compute capability 8.0 or newer (bf16)", m.name))
	}
	ptx := o.PTX
	m.Arch = fmt.Sprintf("compute_%d%d", major, minor)
	if ptx == "" {
		r, err := dl.NewNVRTCDefault()
		if err != nil {
			return fail(fmt.Errorf("gpu: compiling the kernels: %w", err))
		}
		defer r.Close()
		opts := append([]string{"--gpu-architecture=" + m.Arch, "--std=c++17"}, o.NVRTCOptions...)
		ptx, m.Log, err = r.Compile(kernels.Program(), "realc_kernels.cu", opts...)
		if err != nil {
			return fail(fmt.Errorf("gpu: %w", err))
		}
	}
	if m.mod, err = d.LoadPTX(ptx); err != nil {
		return fail(err)
	}
	for name := range kernels.Signatures() {
		k, err := m.mod.Kernel(name)
		if err != nil {
			return fail(err)
		}
		m.kernels[name] = k
	}
	if m.BLAS, err = (dl.Finder{}).NewBLAS(); err != nil {
		return fail(fmt.Errorf("gpu: %w", err))
	}
	return m, nil
}

// Name says which GPU this is.
func (m *Machine) Name() string { return m.name }

// Close frees what is still allocated and releases the device.
func (m *Machine) Close() error {
	for _, b := range m.allocs {
		m.Dev.Free(b)
	}
	m.allocs = nil
	if m.BLAS != nil {
		m.BLAS.Close()
	}
	return m.Dev.Close()
}

// Alloc reserves device memory (not cleared).
func (m *Machine) Alloc(bytes int64) (uintptr, error) {
	b, err := m.Dev.Alloc(bytes)
	if err != nil {
		return 0, err
	}
	m.allocs[b.Ptr] = b
	m.inUse += b.Bytes
	m.peak = max(m.peak, m.inUse)
	return b.Ptr, nil
}

// Free releases an allocation.
func (m *Machine) Free(p uintptr) error {
	b, ok := m.allocs[p]
	if !ok {
		return fmt.Errorf("gpu: freeing %#x, which this machine did not allocate", p)
	}
	delete(m.allocs, p)
	m.inUse -= b.Bytes
	return m.Dev.Free(b)
}

// Write copies host bytes to the device.
func (m *Machine) Write(dst uintptr, src []byte) error { return m.Dev.WriteBytes(dst, src) }

// Read copies device bytes to the host after the queued work.
func (m *Machine) Read(dst []byte, src uintptr) error { return m.Dev.ReadBytes(dst, src) }

// Zero clears device memory.
func (m *Machine) Zero(p uintptr, bytes int64) error { return m.Dev.Zero(p, bytes) }

// Copy copies device memory.
func (m *Machine) Copy(dst, src uintptr, bytes int64) error { return m.Dev.CopyBytes(dst, src, bytes) }

// Launch queues one kernel.
func (m *Machine) Launch(l kernels.Launch) error {
	if l.Err != nil {
		return l.Err
	}
	k, ok := m.kernels[l.Kernel]
	if !ok {
		return fmt.Errorf("gpu: no kernel %s", l.Kernel)
	}
	return k.Launch(l.Grid, l.Block, 0, l.Args...)
}

// Gemm queues one cuBLAS product.
func (m *Machine) Gemm(g kernels.Gemm) error {
	return m.BLAS.Run(dl.Gemm{TransA: g.TransA, TransB: g.TransB, M: g.M, N: g.N, K: g.K, Alpha: g.Alpha, Beta: g.Beta,
		A: g.A, LDA: g.LDA, B: g.B, LDB: g.LDB, C: g.C, LDC: g.LDC, AB: dl.DType(g.AB), CT: dl.DType(g.CT)})
}

// Sync waits for the queued work.
func (m *Machine) Sync() error { return m.Dev.Synchronize() }

var _ kernels.Machine = (*Machine)(nil)
