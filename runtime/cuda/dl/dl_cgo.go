//go:build cgo

package dl

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "dl.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

const cgoEnabled = true

type handle unsafe.Pointer

func open(path string) (handle, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	buf := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(buf))
	h := C.rdl_open(cp, buf, 512)
	if h == nil {
		return nil, errors.New(C.GoString(buf))
	}
	return handle(h), nil
}

func file(h handle) string {
	if p := C.rdl_file(unsafe.Pointer(h)); p != nil {
		return C.GoString(p)
	}
	return ""
}

func sym(h handle, name string) uintptr {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return uintptr(C.rdl_sym(unsafe.Pointer(h), cn))
}

// syms looks up every name, failing on the first missing one; optional
// names (prefixed "?") may be absent (0).
func (l *Lib) syms(names ...string) ([]uintptr, error) {
	out := make([]uintptr, len(names))
	for i, n := range names {
		opt := len(n) > 0 && n[0] == '?'
		if opt {
			out[i] = sym(l.h, n[1:])
			continue
		}
		p, err := l.Sym(n)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func cu(p uintptr) C.uintptr_t { return C.uintptr_t(p) }

// ---- CUDA driver ----

// Driver attribute numbers (cuda.h CUdevice_attribute).
const (
	attrSMCount = 16
	attrCCMajor = 75
	attrCCMinor = 76
)

func (f Finder) driverInfo() (*DriverInfo, error) {
	l, err := f.Open(DriverLib)
	if err != nil {
		return nil, err
	}
	s, err := l.syms("cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
		"cuDeviceTotalMem_v2", "cuDeviceGetAttribute", "?cuGetErrorString")
	if err != nil {
		return nil, err
	}
	info := &DriverInfo{Path: l.Path}
	cuErr := func(what string, r C.int) error {
		msg := "?"
		if p := C.rdl_cuGetErrorString(cu(s[7]), r); p != nil {
			msg = C.GoString(p)
		}
		return &DriverError{Call: what, Code: int(r), Msg: msg}
	}
	var v C.int
	if r := C.rdl_int1(cu(s[1]), &v); r != 0 {
		return info, cuErr("cuDriverGetVersion", r)
	}
	info.Version = int(v)
	if r := C.rdl_cuInit(cu(s[0]), 0); r != 0 {
		return info, cuErr("cuInit", r)
	}
	var n C.int
	if r := C.rdl_int1(cu(s[2]), &n); r != 0 {
		return info, cuErr("cuDeviceGetCount", r)
	}
	name := (*C.char)(C.calloc(256, 1))
	defer C.free(unsafe.Pointer(name))
	for i := 0; i < int(n); i++ {
		var dev C.int
		if r := C.rdl_cuDeviceGet(cu(s[3]), &dev, C.int(i)); r != 0 {
			return info, cuErr(fmt.Sprintf("cuDeviceGet(%d)", i), r)
		}
		d := DeviceInfo{Ordinal: i}
		if r := C.rdl_cuDeviceGetName(cu(s[4]), name, 255, dev); r != 0 {
			return info, cuErr("cuDeviceGetName", r)
		}
		d.Name = C.GoString(name)
		var mem C.size_t
		if r := C.rdl_cuDeviceTotalMem(cu(s[5]), &mem, dev); r != 0 {
			return info, cuErr("cuDeviceTotalMem", r)
		}
		d.Memory = int64(mem)
		for _, a := range []struct {
			attr int
			dst  *int
		}{{attrCCMajor, &d.CC[0]}, {attrCCMinor, &d.CC[1]}, {attrSMCount, &d.SMs}} {
			var x C.int
			if r := C.rdl_cuDeviceGetAttribute(cu(s[6]), &x, C.int(a.attr), dev); r != 0 {
				return info, cuErr("cuDeviceGetAttribute", r)
			}
			*a.dst = int(x)
		}
		info.Devices = append(info.Devices, d)
	}
	return info, nil
}

// ---- cuBLAS ----

type blasFns struct {
	create, destroy, setStream, setMath, gemmEx, sgemm, prop, status uintptr
	h                                                                unsafe.Pointer
}

func (f Finder) newBLAS() (*BLAS, error) {
	l, err := f.Open(CUBLASLib)
	if err != nil {
		return nil, err
	}
	s, err := l.syms("cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode", "cublasGemmEx",
		"cublasSgemm_v2", "cublasGetProperty", "?cublasGetStatusString")
	if err != nil {
		return nil, err
	}
	b := &BLAS{Path: l.Path, fn: &blasFns{create: s[0], destroy: s[1], setStream: s[2], setMath: s[3], gemmEx: s[4], sgemm: s[5], prop: s[6], status: s[7]}}
	var v [3]C.int
	for i := range v {
		if r := C.rdl_cublasGetProperty(cu(b.fn.prop), C.int(i), &v[i]); r != 0 {
			return nil, b.err("cublasGetProperty", int(r))
		}
	}
	b.Version = [3]int{int(v[0]), int(v[1]), int(v[2])}
	var h unsafe.Pointer
	if r := C.rdl_cublasCreate(cu(b.fn.create), &h); r != 0 {
		return nil, b.err("cublasCreate_v2", int(r))
	}
	b.fn.h = h
	return b, nil
}

func (b *BLAS) statusString(code int) string {
	if p := C.rdl_cublasGetStatusString(cu(b.fn.status), C.int(code)); p != nil {
		return C.GoString(p)
	}
	return blasStatusName(code)
}

func (b *BLAS) close() error {
	if b.fn.h == nil {
		return nil
	}
	r := C.rdl_cublasCall1(cu(b.fn.destroy), b.fn.h)
	b.fn.h = nil
	if r != 0 {
		return b.err("cublasDestroy_v2", int(r))
	}
	return nil
}

func (b *BLAS) setStream(stream uintptr) int {
	return int(C.rdl_cublasSetStream(cu(b.fn.setStream), b.fn.h, C.uintptr_t(stream)))
}

func (b *BLAS) setMathMode(mode int) int {
	return int(C.rdl_cublasSetMathMode(cu(b.fn.setMath), b.fn.h, C.int(mode)))
}

func (b *BLAS) gemmEx(ta, tb, m, n, k int, alpha float32, A uintptr, at DType, lda int, B uintptr, bt DType, ldb int, beta float32, Cp uintptr, ct DType, ldc int) int {
	return int(C.rdl_cublasGemmEx(cu(b.fn.gemmEx), b.fn.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.uintptr_t(A), C.int(at), C.int(lda), C.uintptr_t(B), C.int(bt), C.int(ldb), C.float(beta), C.uintptr_t(Cp), C.int(ct), C.int(ldc),
		computeF32, gemmDefault))
}

func (b *BLAS) sgemm(ta, tb, m, n, k int, alpha float32, A uintptr, lda int, B uintptr, ldb int, beta float32, Cp uintptr, ldc int) int {
	return int(C.rdl_cublasSgemm(cu(b.fn.sgemm), b.fn.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.uintptr_t(A), C.int(lda), C.uintptr_t(B), C.int(ldb), C.float(beta), C.uintptr_t(Cp), C.int(ldc)))
}

// ---- cuBLASLt ----

type ltFns struct {
	c *C.rdl_lt
	h unsafe.Pointer
}

func (f Finder) newLt() (*Lt, error) {
	l, err := f.Open(CUBLASLtLib)
	if err != nil {
		return nil, err
	}
	s, err := l.syms("cublasLtCreate", "cublasLtDestroy", "cublasLtGetVersion", "cublasLtMatmulDescCreate", "cublasLtMatmulDescDestroy",
		"cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate", "cublasLtMatrixLayoutDestroy", "cublasLtMatmulPreferenceCreate",
		"cublasLtMatmulPreferenceDestroy", "cublasLtMatmulPreferenceSetAttribute", "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul")
	if err != nil {
		return nil, err
	}
	c := (*C.rdl_lt)(C.calloc(1, C.size_t(unsafe.Sizeof(C.rdl_lt{}))))
	*c = C.rdl_lt{create: cu(s[0]), destroy: cu(s[1]), version: cu(s[2]), descCreate: cu(s[3]), descDestroy: cu(s[4]), descSet: cu(s[5]),
		layoutCreate: cu(s[6]), layoutDestroy: cu(s[7]), prefCreate: cu(s[8]), prefDestroy: cu(s[9]), prefSet: cu(s[10]), heuristic: cu(s[11]), matmul: cu(s[12])}
	lt := &Lt{Path: l.Path, fn: &ltFns{c: c}}
	lt.Version = int(C.rdl_ltVersion(c))
	var h unsafe.Pointer
	if r := C.rdl_ltCreate(c, &h); r != 0 {
		C.free(unsafe.Pointer(c))
		return nil, &BLASError{Lib: "cuBLASLt", Call: "cublasLtCreate", Code: int(r), Msg: blasStatusName(int(r))}
	}
	lt.fn.h = h
	return lt, nil
}

func (l *Lt) close() error {
	if l.fn.c == nil {
		return nil
	}
	r := C.rdl_ltDestroy(l.fn.c, l.fn.h)
	C.free(unsafe.Pointer(l.fn.c))
	l.fn.c = nil
	if r != 0 {
		return &BLASError{Lib: "cuBLASLt", Call: "cublasLtDestroy", Code: int(r), Msg: blasStatusName(int(r))}
	}
	return nil
}

func (l *Lt) matmul(ta, tb, m, n, k int, alpha float32, A uintptr, at DType, lda int, B uintptr, bt DType, ldb int, beta float32, Cp uintptr, ct DType, ldc int, ws uintptr, wsBytes int64, stream uintptr) (int, string) {
	var stage *C.char
	r := C.rdl_ltMatmul(l.fn.c, l.fn.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha), C.uintptr_t(A), C.int(at), C.int(lda),
		C.uintptr_t(B), C.int(bt), C.int(ldb), C.float(beta), C.uintptr_t(Cp), C.int(ct), C.int(ldc), C.uintptr_t(ws), C.size_t(wsBytes), C.uintptr_t(stream), &stage)
	if r != 0 {
		return int(r), C.GoString(stage)
	}
	return 0, ""
}

// ---- NVRTC ----

type nvrtcFns struct{ c *C.rdl_nvrtc }

func (f Finder) newNVRTC() (*NVRTC, error) {
	l, err := f.Open(NVRTCLib)
	if err != nil {
		return nil, err
	}
	s, err := l.syms("nvrtcVersion", "nvrtcCreateProgram", "nvrtcCompileProgram", "nvrtcGetPTXSize", "nvrtcGetPTX",
		"nvrtcGetProgramLogSize", "nvrtcGetProgramLog", "nvrtcDestroyProgram", "?nvrtcGetErrorString")
	if err != nil {
		return nil, err
	}
	c := (*C.rdl_nvrtc)(C.calloc(1, C.size_t(unsafe.Sizeof(C.rdl_nvrtc{}))))
	*c = C.rdl_nvrtc{version: cu(s[0]), create: cu(s[1]), compile: cu(s[2]), ptxSize: cu(s[3]), ptx: cu(s[4]), logSize: cu(s[5]), log: cu(s[6]), destroy: cu(s[7]), errstr: cu(s[8])}
	r := &NVRTC{Path: l.Path, fn: &nvrtcFns{c: c}}
	var maj, min C.int
	if e := C.rdl_nvrtcVersion(c, &maj, &min); e != 0 {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("NVRTC (%s): nvrtcVersion: error %d", l.Path, int(e))
	}
	r.Version = [2]int{int(maj), int(min)}
	return r, nil
}

func (r *NVRTC) compile(src, name string, opts []string) (ptx, log string, code int, stage string) {
	csrc, cname := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	copts := (**C.char)(C.calloc(C.size_t(len(opts)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(copts))
	cs := unsafe.Slice(copts, len(opts)+1)
	for i, o := range opts {
		cs[i] = C.CString(o)
		defer C.free(unsafe.Pointer(cs[i]))
	}
	var cptx, clog *C.char
	var cstage *C.char
	e := C.rdl_nvrtcCompile(r.fn.c, csrc, cname, C.int(len(opts)), copts, &cptx, &clog, &cstage)
	if cptx != nil {
		ptx = C.GoString(cptx)
		C.free(unsafe.Pointer(cptx))
	}
	if clog != nil {
		log = C.GoString(clog)
		C.free(unsafe.Pointer(clog))
	}
	if e != 0 {
		return ptx, log, int(e), C.GoString(cstage)
	}
	return ptx, log, 0, ""
}

func (r *NVRTC) errString(code int) string {
	if p := C.rdl_nvrtcErr(r.fn.c, C.int(code)); p != nil {
		return C.GoString(p)
	}
	return fmt.Sprintf("NVRTC error %d", code)
}

func (r *NVRTC) close() {
	if r.fn.c != nil {
		C.free(unsafe.Pointer(r.fn.c))
		r.fn.c = nil
	}
}

// ---- NCCL ----

func ncclVersion(l *Lib) (int, error) {
	p, err := l.Sym("ncclGetVersion")
	if err != nil {
		return 0, err
	}
	var v C.int
	if r := C.rdl_ncclGetVersion(cu(p), &v); r != 0 {
		return 0, fmt.Errorf("ncclGetVersion: NCCL error %d", int(r))
	}
	return int(v), nil
}

func blasVersion(l *Lib) (string, error) {
	p, err := l.Sym("cublasGetProperty")
	if err != nil {
		return "", err
	}
	var v [3]C.int
	for i := range v {
		if r := C.rdl_cublasGetProperty(cu(p), C.int(i), &v[i]); r != 0 {
			return "", &BLASError{Lib: "cuBLAS (" + l.Path + ")", Call: "cublasGetProperty", Code: int(r), Msg: blasStatusName(int(r))}
		}
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]), nil
}

func ltVersion(l *Lib) (string, error) {
	p, err := l.Sym("cublasLtGetVersion")
	if err != nil {
		return "", err
	}
	lt := C.rdl_lt{version: cu(p)}
	v := int(C.rdl_ltVersion(&lt))
	return fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100), nil
}
