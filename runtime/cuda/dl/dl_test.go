package dl

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// The fake libraries (testdata/*.c and ../fakecuda/fakecuda.c) are built
// once per test binary into fakeDir under the CUDA 13 file names. Their
// SONAMEs are fake-<name>: once loaded, a library answers dlopen of its
// SONAME, and a fake must not answer TestNVRTCReal's plain libnvrtc.so.13.
var (
	fakeOnce sync.Once
	fakeDir  string
	fakeErr  error
)

func fakes(t *testing.T) Finder {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build the fake libraries")
	}
	fakeOnce.Do(func() {
		fakeDir, fakeErr = os.MkdirTemp("", "realc-dl-fakes")
		if fakeErr != nil {
			return
		}
		for _, b := range []struct{ src, name string }{
			{"testdata/fakecublas.c", "libcublas.so.13"},
			{"testdata/fakecublas.c", "libcublasLt.so.13"},
			{"testdata/fakenvrtc.c", "libnvrtc.so.13"},
			{"../fakecuda/fakecuda.c", "libcuda.so.1"},
		} {
			out, err := exec.Command(gcc, "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-Wl,-soname,fake-"+b.name,
				"-o", filepath.Join(fakeDir, b.name), b.src).CombinedOutput()
			if err != nil {
				fakeErr = errors.New(string(out))
				return
			}
		}
	})
	if fakeErr != nil {
		t.Fatalf("building the fake libraries: %v", fakeErr)
	}
	return Finder{Getenv: func(string) string { return "" }, Roots: []string{fakeDir}, NoSoname: true}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fakeDir != "" {
		os.RemoveAll(fakeDir)
	}
	os.Exit(code)
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestCandidatesOrder(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "venv", "lib", "python3.12", "site-packages")
	os.MkdirAll(filepath.Join(site, "nvidia", "cublas", "lib"), 0o755)
	f := Finder{Getenv: env("REALC_CUBLAS_LIB", "/opt/x/libcublas.so", "CUDA_HOME", "/cuda", "VIRTUAL_ENV", filepath.Join(dir, "venv"))}
	c := f.Candidates(CUBLASLib)
	idx := func(s string) int {
		for i, x := range c {
			if x == s {
				return i
			}
		}
		t.Fatalf("%s not among the candidates %v", s, c)
		return -1
	}
	order := []string{"/opt/x/libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "/cuda/lib64/libcublas.so.13",
		"/usr/local/cuda/lib64/libcublas.so.13", filepath.Join(site, "nvidia", "cublas", "lib", "libcublas.so.13"),
		filepath.Join(site, "torch", "lib", "libcublas.so.13"), "/usr/lib/python3*/site-packages"}
	// The active virtualenv's site-packages come before the system's.
	order[len(order)-1] = ""
	for _, x := range c {
		if strings.HasPrefix(x, "/usr/lib/python3") || strings.HasPrefix(x, "/usr/local/lib/python3") {
			order[len(order)-1] = x
			break
		}
	}
	if order[len(order)-1] == "" {
		order = order[:len(order)-1]
	}
	for i := 1; i < len(order); i++ {
		if idx(order[i-1]) >= idx(order[i]) {
			t.Errorf("%s should come before %s in %v", order[i-1], order[i], c)
		}
	}
	if c[0] != "/opt/x/libcublas.so" {
		t.Errorf("the override variable's path must come first: %v", c)
	}
	// NVRTC's wheel folder is cuda_nvrtc, NCCL's nccl.
	if !strings.Contains(strings.Join(f.Candidates(NVRTCLib), " "), filepath.Join("nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.13")) {
		t.Errorf("NVRTC candidates lack the wheel folder: %v", f.Candidates(NVRTCLib))
	}
}

func TestNotFound(t *testing.T) {
	if !cgoEnabled {
		t.Skip("built without cgo")
	}
	dir := t.TempDir()
	// A file that is not a library is tried and its dlopen error listed.
	os.WriteFile(filepath.Join(dir, "libnvrtc.so.12"), []byte("not an ELF file"), 0o644)
	f := Finder{Getenv: env("REALC_NVRTC_LIB", filepath.Join(dir, "missing.so")), Roots: []string{dir}, NoSoname: true}
	_, err := f.Open(NVRTCLib)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("got %v, want a NotFoundError", err)
	}
	msg := err.Error()
	for _, want := range []string{"NVRTC library not found: tried ", "missing.so (REALC_NVRTC_LIB=", "no such file",
		filepath.Join(dir, "libnvrtc.so.12") + " (", "set REALC_NVRTC_LIB"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// Nothing at all to try.
	_, err = Finder{Getenv: env(), Roots: []string{}, NoSoname: true}.Open(CUBLASLib)
	if err == nil || !strings.Contains(err.Error(), "cuBLAS library not found: tried no candidate exists") {
		t.Errorf("empty search: %v", err)
	}
	// Plain SONAMEs that the loader does not find are listed with its message.
	_, err = Finder{Getenv: env(), Roots: []string{}}.Open(Kind{Name: "Nothing", Env: "REALC_NOTHING_LIB", Sonames: []string{"librealc-nothing.so.13"}})
	if err == nil || !strings.Contains(err.Error(), "librealc-nothing.so.13 (") {
		t.Errorf("missing SONAME: %v", err)
	}
}

func TestDriverFake(t *testing.T) {
	f := fakes(t)
	info, err := f.Driver()
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 13000 || VersionString(info.Version) != "13.0" || len(info.Devices) != 1 {
		t.Fatalf("driver info %+v", info)
	}
	d := info.Devices[0]
	if d.Name != "Fake GPU 0" || d.CC != [2]int{9, 0} || d.SMs != 132 || d.Memory != 80<<30 {
		t.Errorf("device %+v", d)
	}
	t.Setenv("FAKE_CUDA_INIT_ERROR", "100")
	info, err = f.Driver()
	var de *DriverError
	if !errors.As(err, &de) || de.Code != 100 || !strings.Contains(err.Error(), "cuInit: CUDA error 100 (no CUDA-capable device is detected)") {
		t.Fatalf("cuInit failure: %v", err)
	}
	if info == nil || info.Version != 13000 {
		t.Errorf("the version is known before cuInit: %+v", info)
	}
	t.Setenv("FAKE_CUDA_INIT_ERROR", "")
	t.Setenv("FAKE_CUDA_DEVICES", "0")
	if info, err = f.Driver(); err != nil || len(info.Devices) != 0 {
		t.Errorf("no devices: %+v %v", info, err)
	}
}

// refGemm is the row-major product in float64.
func refGemm(g Gemm, a, b []float32, c []float64) {
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			var s float64
			for p := 0; p < g.K; p++ {
				var x, y float32
				if g.TransA {
					x = a[p*g.LDA+i]
				} else {
					x = a[i*g.LDA+p]
				}
				if g.TransB {
					y = b[j*g.LDB+p]
				} else {
					y = b[p*g.LDB+j]
				}
				s += float64(x) * float64(y)
			}
			c[i*g.LDC+j] = float64(g.Alpha)*s + float64(g.Beta)*c[i*g.LDC+j]
		}
	}
}

func bf16(x float32) uint16 {
	u := math.Float32bits(x)
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

func f32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func addr[T any](s []T) uintptr { return uintptr(unsafe.Pointer(&s[0])) }

// runGemms checks products of every transpose combination and type pair
// through run against the float64 reference.
func runGemms(t *testing.T, run func(Gemm) error) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, n, k = 5, 7, 3
	for _, types := range [][2]DType{{F32, F32}, {BF16, BF16}, {BF16, F32}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				g := Gemm{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 1.5, Beta: 0.5, AB: types[0], CT: types[1], LDC: n + 2}
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				g.LDA, g.LDB = ac+1, bc
				a := make([]float32, ar*g.LDA)
				b := make([]float32, br*g.LDB)
				c := make([]float32, m*g.LDC)
				for _, s := range [][]float32{a, b, c} {
					for i := range s {
						s[i] = f32(bf16(float32(rng.NormFloat64()))) // exact in bf16
					}
				}
				want := make([]float64, len(c))
				for i, v := range c {
					want[i] = float64(v)
				}
				refGemm(g, a, b, want)
				var got []float32
				if types[0] == F32 {
					g.A, g.B, g.C = addr(a), addr(b), addr(c)
					if err := run(g); err != nil {
						t.Fatal(err)
					}
					got = c
				} else {
					a16, b16 := make([]uint16, len(a)), make([]uint16, len(b))
					for i := range a {
						a16[i] = bf16(a[i])
					}
					for i := range b {
						b16[i] = bf16(b[i])
					}
					g.A, g.B = addr(a16), addr(b16)
					if types[1] == F32 {
						g.C = addr(c)
						if err := run(g); err != nil {
							t.Fatal(err)
						}
						got = c
					} else {
						c16 := make([]uint16, len(c))
						for i := range c {
							c16[i] = bf16(c[i])
						}
						g.C = addr(c16)
						if err := run(g); err != nil {
							t.Fatal(err)
						}
						got = make([]float32, len(c))
						for i := range c16 {
							got[i] = f32(c16[i])
						}
						runtime.KeepAlive(c16)
					}
					runtime.KeepAlive(a16)
					runtime.KeepAlive(b16)
				}
				runtime.KeepAlive(a)
				runtime.KeepAlive(b)
				tol := 1e-5
				if types[1] == BF16 {
					tol = 1.0 / 128 // one bf16 rounding of the result
				}
				for i := 0; i < m; i++ {
					for j := 0; j < g.LDC; j++ {
						w, gv := want[i*g.LDC+j], float64(got[i*g.LDC+j])
						if j >= n {
							w = float64(c[i*g.LDC+j]) // padding untouched
						}
						if !(math.Abs(gv-w) <= tol*(1+math.Abs(w))) {
							t.Fatalf("%v->%v ta=%v tb=%v: C[%d,%d] = %v, want %v", types[0], types[1], ta, tb, i, j, gv, w)
						}
					}
				}
			}
		}
	}
}

func TestBLASFake(t *testing.T) {
	f := fakes(t)
	b, err := f.NewBLAS()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Version != [3]int{13, 1, 7} || !strings.HasSuffix(b.Path, "libcublas.so.13") {
		t.Errorf("version %v at %s", b.Version, b.Path)
	}
	if err := b.SetStream(0); err != nil {
		t.Fatal(err)
	}
	if err := b.SetMathMode(MathDefault); err != nil {
		t.Fatal(err)
	}
	runGemms(t, b.Run)
	t.Setenv("FAKE_CUBLAS_FAIL", "cublasGemmEx")
	x := make([]uint16, 4)
	err = b.Run(Gemm{M: 2, N: 2, K: 1, A: addr(x), LDA: 1, B: addr(x), LDB: 2, C: addr(x), LDC: 2, AB: BF16, CT: BF16, Alpha: 1})
	if err == nil || !strings.Contains(err.Error(), "cublasGemmEx(2x2x1, bf16->bf16): status 13 (fake: execution failed)") {
		t.Errorf("injected failure: %v", err)
	}
	if err := b.Run(Gemm{M: 2, N: 2, K: 1, LDA: 0, LDB: 2, LDC: 2, AB: F16, CT: F32}); err == nil ||
		!strings.Contains(err.Error(), "lda 0 < 1") || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("bad shapes: %v", err)
	}
}

func TestLtFake(t *testing.T) {
	f := fakes(t)
	l, err := f.NewLt()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Version != 130100 {
		t.Errorf("version %d", l.Version)
	}
	runGemms(t, func(g Gemm) error { return l.Run(g, 0, 0, 0) })
	t.Setenv("FAKE_CUBLAS_FAIL", "cublasLtMatmul")
	x := make([]float32, 4)
	err = l.Run(Gemm{M: 2, N: 2, K: 1, A: addr(x), LDA: 1, B: addr(x), LDB: 2, C: addr(x), LDC: 2, AB: F32, CT: F32, Alpha: 1}, 0, 0, 0)
	if err == nil || !strings.Contains(err.Error(), "cublasLtMatmul for 2x2x1 f32->f32: status 13") {
		t.Errorf("injected failure: %v", err)
	}
}

const twoKernels = `
extern "C" __global__ void a(const unsigned short* __restrict__ x, float* y, int n, long long ld, float s) { }
extern "C" __global__ void __launch_bounds__(256) b(double d, int k) { }
`

func TestNVRTCFake(t *testing.T) {
	f := fakes(t)
	r, err := f.NewNVRTC()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Version != [2]int{13, 0} {
		t.Errorf("version %v", r.Version)
	}
	ptx, _, err := r.Compile(twoKernels, "two.cu", "--gpu-architecture=compute_90", "-default-device")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"options: --gpu-architecture=compute_90 -default-device", ".entry a(\n\t.param .u64 p0,\n\t.param .u64 p1,\n\t.param .u32 p2,\n\t.param .u64 p3,\n\t.param .u32 p4\n)",
		".entry b(\n\t.param .u64 p0,\n\t.param .u32 p1\n)"} {
		if !strings.Contains(ptx, want) {
			t.Errorf("PTX lacks %q:\n%s", want, ptx)
		}
	}
	_, log, err := r.Compile("#error boom\n", "bad.cu")
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(log, "#error boom") || !strings.Contains(err.Error(), "nvrtcCompileProgram of bad.cu: NVRTC_ERROR_COMPILATION\nfake.cu: error: #error boom") {
		t.Errorf("compile error: %v (log %q)", err, log)
	}
}

// TestNVRTCReal compiles with the NVRTC installed on this machine, if any
// (Debian's 11.8 here; 13 on a GPU machine): it needs no GPU.
func TestNVRTCReal(t *testing.T) {
	if !cgoEnabled {
		t.Skip("built without cgo")
	}
	r, err := NewNVRTCDefault()
	if err != nil {
		t.Skipf("no NVRTC here: %v", err)
	}
	defer r.Close()
	ptx, _, err := r.Compile(`extern "C" __global__ void scale(float* x, float s, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= s; }`,
		"scale.cu", "--gpu-architecture=compute_80")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ptx, ".entry scale(") || !strings.Contains(ptx, ".target sm_80") {
		t.Errorf("PTX from NVRTC %v at %s:\n%s", r.Version, r.Path, ptx)
	}
	_, _, err = r.Compile("__global__ void f() { undefined_thing(); }", "bad.cu", "--gpu-architecture=compute_80")
	if err == nil || !strings.Contains(err.Error(), "undefined_thing") {
		t.Errorf("a compile error must carry NVRTC's log: %v", err)
	}
}

// TestProbe reports the fakes with their versions and a clear error for the
// missing NCCL.
func TestProbe(t *testing.T) {
	f := fakes(t)
	got := map[string]Found{}
	for _, fd := range f.Probe() {
		got[fd.Kind.Name] = fd
	}
	for name, ver := range map[string]string{"cuBLAS": "13.1.7", "cuBLASLt": "13.1.0", "NVRTC": "13.0"} {
		if fd := got[name]; fd.Err != nil || fd.Version != ver || !strings.HasPrefix(fd.Path, fakeDir) {
			t.Errorf("%s: %+v, want version %s", name, fd, ver)
		}
	}
	if fd := got["CUDA driver"]; fd.Err != nil || fd.Path == "" {
		t.Errorf("driver: %+v", fd)
	}
	if fd := got["NCCL"]; fd.Err == nil || !strings.Contains(fd.Err.Error(), "NCCL library not found: tried") {
		t.Errorf("NCCL: %+v", fd)
	}
}
