// Package dl finds and loads the CUDA libraries realc uses without linking
// them: the driver (libcuda), cuBLAS, cuBLASLt, NVRTC and (for `realc
// doctor`) NCCL. Each is dlopen'ed from an override variable, its SONAMEs
// (CUDA 13, then 12, then 11), $CUDA_HOME/lib64, /usr/local/cuda/lib64 and
// the Python wheel folders (site-packages/nvidia/<lib>/lib, torch/lib), and
// its entry points are found with dlsym. Linking is avoided because cuBLAS
// symbols are versioned (cublasGemmEx@@libcublas.so.11): a binary linked
// against one major version does not start against another.
//
// The package needs cgo (dlopen) but no CUDA header and no GPU: without cgo
// every function reports ErrNoCgo. It does not import gorgonia.org/cu and
// needs no build tag.
//
// Calls that touch device memory (GEMMs) must come from the OS thread where
// the CUDA context is current (runtime/cuda.Device's thread); device pointers
// are passed as uintptr.
package dl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is one library realc looks for.
type Kind struct {
	Name    string   // for messages: "cuBLAS"
	Env     string   // override variable: a full path to the library
	Sonames []string // newest first
	Wheel   string   // the folder under site-packages/nvidia/ of its Python wheel
}

// The libraries, newest SONAME first. NVRTC 11.x carries the SONAME
// libnvrtc.so.11.2 for every 11.x release from 11.2 on.
var (
	DriverLib   = Kind{"CUDA driver", "REALC_CUDA_LIB", []string{"libcuda.so.1", "libcuda.so"}, "cuda_runtime"}
	CUBLASLib   = Kind{"cuBLAS", "REALC_CUBLAS_LIB", []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}, "cublas"}
	CUBLASLtLib = Kind{"cuBLASLt", "REALC_CUBLASLT_LIB", []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"}, "cublas"}
	NVRTCLib    = Kind{"NVRTC", "REALC_NVRTC_LIB", []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"}, "cuda_nvrtc"}
	NCCLLib     = Kind{"NCCL", "REALC_NCCL_LIB", []string{"libnccl.so.2"}, "nccl"}
)

// Kinds lists every library, in the order `realc doctor` prints them.
var Kinds = []Kind{DriverLib, CUBLASLib, CUBLASLtLib, NVRTCLib, NCCLLib}

// ErrNoCgo is returned by every loader in a binary built without cgo.
var ErrNoCgo = errors.New("this binary was built without cgo (CGO_ENABLED=0), so it cannot dlopen the CUDA libraries; rebuild it with cgo")

// Finder says where to look. The zero Finder looks in the process
// environment and the standard folders; tests replace both.
type Finder struct {
	Getenv func(string) string // nil: os.Getenv
	// Roots replaces the folders searched after the plain SONAMEs
	// ($CUDA_HOME/lib64, /usr/local/cuda/lib64, Python wheel folders) when
	// not nil.
	Roots []string
	// NoSoname skips the plain SONAMEs (the dynamic loader's own search), so
	// that tests see only their own folders.
	NoSoname bool
}

func (f Finder) getenv(k string) string {
	if f.Getenv != nil {
		return f.Getenv(k)
	}
	return os.Getenv(k)
}

// pythonSites are the glob patterns of Python package folders looked in for
// the NVIDIA wheels (nvidia-cublas-cu13 ...) and PyTorch's bundled copies.
var pythonSites = []string{
	"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
	"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
	"/opt/conda/lib/python3*/site-packages",
}

// roots lists the folders searched for kind k after the plain SONAMEs.
func (f Finder) roots(k Kind) []string {
	if f.Roots != nil {
		return f.Roots
	}
	var out []string
	if h := f.getenv("CUDA_HOME"); h != "" {
		out = append(out, filepath.Join(h, "lib64"), filepath.Join(h, "lib"))
	}
	if h := f.getenv("CUDA_PATH"); h != "" {
		out = append(out, filepath.Join(h, "lib64"))
	}
	out = append(out, "/usr/local/cuda/lib64")
	// The active environment first, then the user's, then the system's.
	var sites []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := f.getenv(env); v != "" {
			sites = append(sites, filepath.Join(v, "lib", "python3*", "site-packages"))
		}
	}
	if h := f.getenv("HOME"); h != "" {
		sites = append(sites, filepath.Join(h, ".local", "lib", "python3*", "site-packages"))
	}
	sites = append(sites, pythonSites...)
	var found []string
	for _, g := range sites {
		ms, _ := filepath.Glob(g)
		sort.Sort(sort.Reverse(sort.StringSlice(ms))) // newest Python first
		found = append(found, ms...)
	}
	for _, m := range found {
		if k.Wheel != "" {
			out = append(out, filepath.Join(m, "nvidia", k.Wheel, "lib"))
		}
		out = append(out, filepath.Join(m, "torch", "lib"))
	}
	return out
}

// Candidates lists what Open tries for kind k, in order: the override
// variable's path, the plain SONAMEs (the dynamic loader's search:
// LD_LIBRARY_PATH, ld.so.cache), then each SONAME in each folder.
func (f Finder) Candidates(k Kind) []string {
	var out []string
	if v := f.getenv(k.Env); v != "" {
		out = append(out, v)
	}
	if !f.NoSoname {
		out = append(out, k.Sonames...)
	}
	for _, r := range f.roots(k) {
		for _, n := range k.Sonames {
			out = append(out, filepath.Join(r, n))
		}
	}
	return out
}

// NotFoundError lists every candidate that failed and why.
type NotFoundError struct {
	Kind  Kind
	Tried []string // "path (reason)"
}

func (e *NotFoundError) Error() string {
	hint := fmt.Sprintf("set %s to the library's full path", e.Kind.Env)
	return fmt.Sprintf("%s library not found: tried %s (%s)", e.Kind.Name, strings.Join(e.Tried, "; "), hint)
}

// Lib is a loaded library.
type Lib struct {
	Kind Kind
	Path string // the candidate that loaded
	// File is the file the dynamic loader opened for Path (a plain SONAME
	// resolved through LD_LIBRARY_PATH or ld.so.cache), "" if unknown.
	File string
	h    handle
}

// Sym returns the address of an entry point.
func (l *Lib) Sym(name string) (uintptr, error) {
	p := sym(l.h, name)
	if p == 0 {
		return 0, fmt.Errorf("%s (%s): symbol %s not found", l.Kind.Name, l.Path, name)
	}
	return p, nil
}

// Open loads the first candidate of kind k that dlopen accepts. A folder
// candidate that does not exist is skipped silently (it is listed in the
// error only when it is the override variable's).
func (f Finder) Open(k Kind) (*Lib, error) {
	if !cgoEnabled {
		return nil, fmt.Errorf("%s: %w", k.Name, ErrNoCgo)
	}
	override := f.getenv(k.Env)
	var tried []string
	for _, p := range f.Candidates(k) {
		if strings.Contains(p, "/") {
			if _, err := os.Stat(p); err != nil {
				if p == override {
					tried = append(tried, fmt.Sprintf("%s (%s=%s: no such file)", p, k.Env, p))
				}
				continue
			}
		}
		h, err := open(p)
		if err == nil {
			return &Lib{Kind: k, Path: p, File: file(h), h: h}, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
	}
	if len(tried) == 0 {
		tried = []string{"no candidate exists"}
	}
	return nil, &NotFoundError{Kind: k, Tried: tried}
}

// Open loads kind k with the default Finder.
func Open(k Kind) (*Lib, error) { return Finder{}.Open(k) }
