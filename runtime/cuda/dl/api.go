package dl

import (
	"fmt"
	"strings"
)

// DeviceInfo describes one GPU as the driver reports it.
type DeviceInfo struct {
	Ordinal int
	Name    string
	CC      [2]int // compute capability
	Memory  int64  // bytes
	SMs     int
}

// DriverInfo is what the CUDA driver reports. Version is the CUDA version
// the driver supports, as 1000*major + 10*minor (13000 for CUDA 13.0).
type DriverInfo struct {
	Path    string
	Version int
	Devices []DeviceInfo
}

// VersionString formats a driver version (12080 -> "12.8").
func VersionString(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// DriverError is a failed driver call.
type DriverError struct {
	Call string
	Code int
	Msg  string
}

func (e *DriverError) Error() string {
	return fmt.Sprintf("%s: CUDA error %d (%s)", e.Call, e.Code, e.Msg)
}

// Driver loads libcuda with dlopen and asks it for its version and devices.
// It does not create a context. On a machine without a driver it returns a
// *NotFoundError; with a driver but no usable GPU, the version and a
// *DriverError from cuInit (e.g. 100: no CUDA-capable device is detected).
func (f Finder) Driver() (*DriverInfo, error) {
	if !cgoEnabled {
		return nil, fmt.Errorf("%s: %w", DriverLib.Name, ErrNoCgo)
	}
	return f.driverInfo()
}

// DType is a cudaDataType_t.
type DType int

// The element types realc passes to cuBLAS (library_types.h).
const (
	F32  DType = 0  // CUDA_R_32F
	F16  DType = 2  // CUDA_R_16F
	BF16 DType = 14 // CUDA_R_16BF
)

func (t DType) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("cudaDataType(%d)", int(t))
}

// Size is the element size in bytes.
func (t DType) Size() int {
	if t == F32 {
		return 4
	}
	return 2
}

const (
	computeF32  = 68 // CUBLAS_COMPUTE_32F
	gemmDefault = -1 // CUBLAS_GEMM_DEFAULT
)

// Math modes for SetMathMode (cublasMath_t).
const (
	MathDefault  = 0 // CUBLAS_DEFAULT_MATH: tensor cores for bf16/f16 inputs
	MathPedantic = 2 // CUBLAS_PEDANTIC_MATH
	MathTF32     = 3 // CUBLAS_TF32_TENSOR_OP_MATH
)

// BLASError is a failed cuBLAS or cuBLASLt call.
type BLASError struct {
	Lib, Call string
	Code      int
	Msg       string
}

func (e *BLASError) Error() string {
	return fmt.Sprintf("%s: %s: status %d (%s)", e.Lib, e.Call, e.Code, e.Msg)
}

var blasStatus = map[int]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
	8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func blasStatusName(code int) string {
	if s, ok := blasStatus[code]; ok {
		return s
	}
	return "unknown status"
}

// BLAS is a cuBLAS handle (created on the current context's device).
type BLAS struct {
	Path    string
	Version [3]int // major, minor, patch
	fn      *blasFns
}

// NewBLAS loads cuBLAS and creates a handle; the CUDA context must be
// current on the calling thread.
func (f Finder) NewBLAS() (*BLAS, error) {
	if !cgoEnabled {
		return nil, fmt.Errorf("%s: %w", CUBLASLib.Name, ErrNoCgo)
	}
	return f.newBLAS()
}

func (b *BLAS) err(call string, code int) error {
	return &BLASError{Lib: "cuBLAS (" + b.Path + ")", Call: call, Code: code, Msg: b.statusString(code)}
}

// Close destroys the handle.
func (b *BLAS) Close() error { return b.close() }

// SetStream makes later calls run on stream (0: the default stream).
func (b *BLAS) SetStream(stream uintptr) error {
	if r := b.setStream(stream); r != 0 {
		return b.err("cublasSetStream_v2", r)
	}
	return nil
}

// SetMathMode sets cublasMath_t (MathDefault, MathPedantic, MathTF32).
func (b *BLAS) SetMathMode(mode int) error {
	if r := b.setMathMode(mode); r != 0 {
		return b.err("cublasSetMathMode", r)
	}
	return nil
}

// Gemm is one matrix product C = alpha op(A) op(B) + beta C in ROW-MAJOR
// storage (as runtime/blas.Sgemm): op(A) is M x K, op(B) is K x N, C is
// M x N, leading dimensions are row strides in elements. A and B have type
// AB (F32 or BF16), C has type CT (F32, or BF16 with AB = BF16);
// accumulation is in fp32.
type Gemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A              uintptr
	LDA            int
	B              uintptr
	LDB            int
	C              uintptr
	LDC            int
	AB, CT         DType
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Check validates shapes and leading dimensions.
func (g *Gemm) Check() error {
	var bad []string
	if g.M < 0 || g.N < 0 || g.K < 0 {
		bad = append(bad, fmt.Sprintf("negative size %dx%dx%d", g.M, g.N, g.K))
	}
	cols := func(trans bool, rows, cols int) int {
		if trans {
			return rows
		}
		return cols
	}
	if g.LDA < max(1, cols(g.TransA, g.M, g.K)) {
		bad = append(bad, fmt.Sprintf("lda %d < %d", g.LDA, cols(g.TransA, g.M, g.K)))
	}
	if g.LDB < max(1, cols(g.TransB, g.K, g.N)) {
		bad = append(bad, fmt.Sprintf("ldb %d < %d", g.LDB, cols(g.TransB, g.K, g.N)))
	}
	if g.LDC < max(1, g.N) {
		bad = append(bad, fmt.Sprintf("ldc %d < %d", g.LDC, g.N))
	}
	if !(g.AB == F32 && g.CT == F32) && !(g.AB == BF16 && (g.CT == BF16 || g.CT == F32)) {
		bad = append(bad, fmt.Sprintf("types %v x %v -> %v not supported (f32->f32, bf16->bf16, bf16->f32)", g.AB, g.AB, g.CT))
	}
	if len(bad) > 0 {
		return fmt.Errorf("gemm %dx%dx%d: %s", g.M, g.N, g.K, strings.Join(bad, ", "))
	}
	return nil
}

// colMajor maps the row-major product onto cuBLAS's column-major one:
// C^T = op(B)^T op(A)^T, so the call is (opB, opA, N, M, K, B, A).
func (g *Gemm) colMajor() (ta, tb, m, n, k int, A uintptr, lda int, B uintptr, ldb int) {
	return b2i(g.TransB), b2i(g.TransA), g.N, g.M, g.K, g.B, g.LDB, g.A, g.LDA
}

// Run runs g with cublasGemmEx (cublasSgemm_v2 for f32 -> f32).
func (b *BLAS) Run(g Gemm) error {
	if err := g.Check(); err != nil {
		return err
	}
	if g.M == 0 || g.N == 0 {
		return nil
	}
	ta, tb, m, n, k, A, lda, B, ldb := g.colMajor()
	if g.AB == F32 && g.CT == F32 {
		if r := b.sgemm(ta, tb, m, n, k, g.Alpha, A, lda, B, ldb, g.Beta, g.C, g.LDC); r != 0 {
			return b.err(fmt.Sprintf("cublasSgemm_v2(%dx%dx%d)", g.M, g.N, g.K), r)
		}
		return nil
	}
	if r := b.gemmEx(ta, tb, m, n, k, g.Alpha, A, g.AB, lda, B, g.AB, ldb, g.Beta, g.C, g.CT, g.LDC); r != 0 {
		return b.err(fmt.Sprintf("cublasGemmEx(%dx%dx%d, %v->%v)", g.M, g.N, g.K, g.AB, g.CT), r)
	}
	return nil
}

// Lt is a cuBLASLt handle.
type Lt struct {
	Path    string
	Version int // cublasLtGetVersion: 10000*major + 100*minor + patch
	fn      *ltFns
}

// NewLt loads cuBLASLt and creates a handle.
func (f Finder) NewLt() (*Lt, error) {
	if !cgoEnabled {
		return nil, fmt.Errorf("%s: %w", CUBLASLtLib.Name, ErrNoCgo)
	}
	return f.newLt()
}

// Close destroys the handle.
func (l *Lt) Close() error { return l.close() }

// Run runs g with cublasLtMatmul (the heuristic's first algorithm) on
// stream, with a workspace of wsBytes at ws (0, 0: none).
func (l *Lt) Run(g Gemm, ws uintptr, wsBytes int64, stream uintptr) error {
	if err := g.Check(); err != nil {
		return err
	}
	if g.M == 0 || g.N == 0 {
		return nil
	}
	ta, tb, m, n, k, A, lda, B, ldb := g.colMajor()
	if r, stage := l.matmul(ta, tb, m, n, k, g.Alpha, A, g.AB, lda, B, g.AB, ldb, g.Beta, g.C, g.CT, g.LDC, ws, wsBytes, stream); r != 0 {
		return &BLASError{Lib: "cuBLASLt (" + l.Path + ")", Call: fmt.Sprintf("%s for %dx%dx%d %v->%v", stage, g.M, g.N, g.K, g.AB, g.CT), Code: r, Msg: blasStatusName(r)}
	}
	return nil
}

// NVRTC is the runtime compiler.
type NVRTC struct {
	Path    string
	Version [2]int
	fn      *nvrtcFns
}

// NewNVRTC loads NVRTC. It needs no GPU.
func (f Finder) NewNVRTC() (*NVRTC, error) {
	if !cgoEnabled {
		return nil, fmt.Errorf("%s: %w", NVRTCLib.Name, ErrNoCgo)
	}
	return f.newNVRTC()
}

// CompileError is a failed compilation, with NVRTC's log.
type CompileError struct {
	Name, Stage, Msg, Log string
}

func (e *CompileError) Error() string {
	s := fmt.Sprintf("NVRTC: %s of %s: %s", e.Stage, e.Name, e.Msg)
	if e.Log != "" {
		s += "\n" + strings.TrimRight(e.Log, "\n\x00")
	}
	return s
}

// Compile compiles CUDA C++ source to PTX with options such as
// "--gpu-architecture=compute_90"; name appears in messages. The log holds
// warnings on success.
func (r *NVRTC) Compile(src, name string, opts ...string) (ptx, log string, err error) {
	ptx, log, code, stage := r.compile(src, name, opts)
	if code != 0 {
		return "", log, &CompileError{Name: name, Stage: stage, Msg: r.errString(code), Log: log}
	}
	return ptx, log, nil
}

// Close releases the bindings (NVRTC itself stays loaded).
func (r *NVRTC) Close() { r.close() }

// Found is one library's search result, for `realc doctor`.
type Found struct {
	Kind    Kind
	Path    string // where it loaded; "" when not found
	File    string // the file behind Path (see Lib.File)
	Version string // as the library reports it, where it can without a GPU
	Err     error
}

// Probe loads every library of Kinds (without creating handles, so no GPU
// is needed) and reports where each was found and its version.
func (f Finder) Probe() []Found {
	var out []Found
	for _, k := range Kinds {
		fd := Found{Kind: k}
		l, err := f.Open(k)
		if err != nil {
			fd.Err = err
			out = append(out, fd)
			continue
		}
		fd.Path, fd.File = l.Path, l.File
		fd.Version, fd.Err = libVersion(f, l)
		out = append(out, fd)
	}
	return out
}

func libVersion(f Finder, l *Lib) (string, error) {
	switch l.Kind.Name {
	case CUBLASLib.Name:
		return blasVersion(l)
	case CUBLASLtLib.Name:
		return ltVersion(l)
	case NVRTCLib.Name:
		r, err := f.NewNVRTC()
		if err != nil {
			return "", err
		}
		defer r.Close()
		return fmt.Sprintf("%d.%d", r.Version[0], r.Version[1]), nil
	case NCCLLib.Name:
		v, err := ncclVersion(l)
		if err != nil {
			return "", err
		}
		// NCCL_VERSION_CODE: 10000*major + 100*minor + patch since 2.9.
		return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100), nil
	}
	return "", nil
}

// NewNVRTCDefault loads NVRTC with the default Finder.
func NewNVRTCDefault() (*NVRTC, error) { return Finder{}.NewNVRTC() }
