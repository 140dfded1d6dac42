//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
)

// Enabled reports whether this binary was built with the cuda tag.
const Enabled = true

// Device is one GPU with its primary context current on the calling OS
// thread (libraries such as cuBLAS and NCCL share the primary context). Use
// a Device from the goroutine that opened it.
type Device struct {
	dev cu.Device
	ctx cu.CUContext
}

// Open retains the primary context of GPU ordinal and makes it current; the
// goroutine stays locked to its OS thread until Close.
func Open(ordinal int) (*Device, error) {
	runtime.LockOSThread()
	n, err := cu.NumDevices()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: counting devices: %v", err)
	}
	if ordinal < 0 || ordinal >= n {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: no device %d (the driver reports %d)", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: device %d: %v", ordinal, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: primary context of device %d: %v", ordinal, err)
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		dev.ReleasePrimaryCtx()
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("cuda: making the context current: %v", err)
	}
	return &Device{dev: dev, ctx: ctx}, nil
}

// Close releases the primary context and unlocks the OS thread.
func (d *Device) Close() error {
	err := d.dev.ReleasePrimaryCtx()
	runtime.UnlockOSThread()
	return err
}

// Buffer is device memory.
type Buffer struct {
	Ptr   uintptr
	Bytes int64
}

// Alloc allocates bytes of device memory (at least 1).
func (d *Device) Alloc(bytes int64) (Buffer, error) {
	p, err := cu.MemAlloc(max(bytes, 1))
	if err != nil {
		return Buffer{}, fmt.Errorf("cuda: allocating %d bytes: %v", bytes, err)
	}
	return Buffer{Ptr: uintptr(p), Bytes: max(bytes, 1)}, nil
}

// Free releases a buffer.
func (d *Device) Free(b Buffer) error { return cu.MemFree(cu.DevicePtr(b.Ptr)) }

// Upload copies xs into a new buffer.
func Upload[T ~float32 | ~float64 | ~int32 | ~uint16 | ~uint32](d *Device, xs []T) (Buffer, error) {
	var zero T
	n := int64(len(xs)) * int64(unsafe.Sizeof(zero))
	b, err := d.Alloc(n)
	if err != nil || n == 0 {
		return b, err
	}
	if err := cu.MemcpyHtoD(cu.DevicePtr(b.Ptr), unsafe.Pointer(&xs[0]), n); err != nil {
		d.Free(b)
		return Buffer{}, fmt.Errorf("cuda: copying %d bytes to the device: %v", n, err)
	}
	return b, nil
}

// Download copies the start of b into dst.
func Download[T ~float32 | ~float64 | ~int32 | ~uint16 | ~uint32](d *Device, b Buffer, dst []T) error {
	var zero T
	n := int64(len(dst)) * int64(unsafe.Sizeof(zero))
	if n > b.Bytes {
		return fmt.Errorf("cuda: downloading %d bytes from a buffer of %d", n, b.Bytes)
	}
	if n == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(b.Ptr), n); err != nil {
		return fmt.Errorf("cuda: copying %d bytes from the device: %v", n, err)
	}
	return nil
}

// Module is a loaded PTX module.
type Module struct{ mod cu.Module }

// LoadPTX loads a PTX module (JIT-compiled by the driver).
func (d *Device) LoadPTX(ptx string) (*Module, error) {
	m, err := cu.LoadData(ptx)
	if err != nil {
		return nil, fmt.Errorf("cuda: loading PTX: %v", err)
	}
	return &Module{mod: m}, nil
}

// Kernel is one entry point of a module.
type Kernel struct {
	Name string
	fn   cu.Function
}

// Kernel looks up an entry point (extern "C" name).
func (m *Module) Kernel(name string) (*Kernel, error) {
	fn, err := m.mod.Function(name)
	if err != nil {
		return nil, fmt.Errorf("cuda: kernel %s: %v", name, err)
	}
	return &Kernel{Name: name, fn: fn}, nil
}

// Launch runs the kernel on a 1-D grid; each argument goes in its own 8-byte
// slot (see Arg).
func (k *Kernel) Launch(grid, block, sharedBytes int, args ...Arg) error {
	if grid <= 0 {
		return nil
	}
	words := Pack(args)
	params := make([]unsafe.Pointer, len(words))
	for i := range words {
		params[i] = unsafe.Pointer(&words[i])
	}
	if err := k.fn.Launch(grid, 1, 1, block, 1, 1, sharedBytes, cu.NoStream, params); err != nil {
		return fmt.Errorf("cuda: launching %s<<<%d, %d>>>: %v", k.Name, grid, block, err)
	}
	return nil
}

// Synchronize waits for the device.
func (d *Device) Synchronize() error { return cu.Synchronize() }

// Name is the device's name as the driver reports it.
func (d *Device) Name() string {
	n, err := d.dev.Name()
	if err != nil {
		return fmt.Sprintf("GPU %d", int(d.dev))
	}
	return n
}

// ComputeCapability returns the device's major and minor compute capability.
func (d *Device) ComputeCapability() (major, minor int, err error) {
	if major, err = d.dev.Attribute(cu.ComputeCapabilityMajor); err != nil {
		return 0, 0, fmt.Errorf("cuda: compute capability: %v", err)
	}
	if minor, err = d.dev.Attribute(cu.ComputeCapabilityMinor); err != nil {
		return 0, 0, fmt.Errorf("cuda: compute capability: %v", err)
	}
	return major, minor, nil
}

// MemInfo returns the free and total device memory in bytes.
func (d *Device) MemInfo() (free, total int64, err error) { return cu.MemInfo() }

// WriteBytes copies src to device address dst (synchronous).
func (d *Device) WriteBytes(dst uintptr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src))); err != nil {
		return fmt.Errorf("cuda: copying %d bytes to the device at %#x: %v", len(src), dst, err)
	}
	return nil
}

// ReadBytes copies len(dst) bytes from device address src; it waits for the
// work queued before it on the default stream.
func (d *Device) ReadBytes(dst []byte, src uintptr) error {
	if len(dst) == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst))); err != nil {
		return fmt.Errorf("cuda: copying %d bytes from the device at %#x: %v", len(dst), src, err)
	}
	return nil
}

// Zero sets bytes at device address p to zero.
func (d *Device) Zero(p uintptr, bytes int64) error {
	if bytes <= 0 {
		return nil
	}
	if err := cu.MemsetD8(cu.DevicePtr(p), 0, bytes); err != nil {
		return fmt.Errorf("cuda: clearing %d bytes at %#x: %v", bytes, p, err)
	}
	return nil
}

// CopyBytes copies bytes between device addresses.
func (d *Device) CopyBytes(dst, src uintptr, bytes int64) error {
	if bytes <= 0 {
		return nil
	}
	if err := cu.MemcpyDtoD(cu.DevicePtr(dst), cu.DevicePtr(src), bytes); err != nil {
		return fmt.Errorf("cuda: copying %d bytes on the device: %v", bytes, err)
	}
	return nil
}
