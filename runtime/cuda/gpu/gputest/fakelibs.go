package gputest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/realc-project/realc/runtime/cuda/dl"
	"github.com/realc-project/realc/runtime/cuda/kernels"
)

var globalRE = regexp.MustCompile(`extern "C" __global__ void (\w+)\(`)

// FakeLibs builds, into dir, a libcuda.so.1 that runs realc's kernels and
// recipe real's generated loss kernels on the CPU
// (runtime/cuda/kernels/emu/emucuda.cc over runtime/cuda/fakecuda/fakecuda.c),
// a fake cuBLAS with CPU products (runtime/cuda/dl/testdata/fakecublas.c)
// and, when no NVRTC is installed, a fake NVRTC. root is the module root.
// It returns the environment that makes cuda-tagged code use them
// (LD_LIBRARY_PATH, REALC_CUBLAS_LIB, REALC_FAKE_CUDA=emu, and
// REALC_NVRTC_LIB for the fake NVRTC) and a note on the NVRTC used.
func FakeLibs(root, dir string) (env []string, note string, err error) {
	return FakeLibsFor(root, dir, "real")
}

// FakeLibsFor is FakeLibs with the generated loss kernels of another recipe
// (generated/<recipe>/kernels.cu) in the emulating driver: a recipe's
// binary built with the cuda tag runs on it.
func FakeLibsFor(root, dir, recipe string) (env []string, note string, err error) {
	gcc, err1 := exec.LookPath("gcc")
	gxx, err2 := exec.LookPath("g++")
	if err1 != nil || err2 != nil {
		return nil, "", fmt.Errorf("gcc and g++ are needed to build the fake libraries")
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, "", err
	}
	cu := filepath.Join(root, "runtime", "cuda")
	kdir := filepath.Join(cu, "kernels")
	var inc, table strings.Builder
	for _, f := range kernels.Files() {
		fmt.Fprintf(&inc, "#include %q\n", filepath.Join(kdir, f))
	}
	var names []string
	for n := range kernels.Signatures() {
		names = append(names, n)
	}
	real := filepath.Join(root, "generated", recipe, "kernels.cu")
	if src, err := os.ReadFile(real); err == nil {
		fmt.Fprintf(&inc, "#include %q\n", real)
		for _, m := range globalRE.FindAllStringSubmatch(string(src), -1) {
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&table, "EMU_KERNEL(%s)\n", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "kernels.inc"), []byte(inc.String()), 0o644); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "table.inc"), []byte(table.String()), 0o644); err != nil {
		return nil, "", err
	}
	run := func(name string, args ...string) error {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v\n%s", name, args, err, out)
		}
		return nil
	}
	obj := filepath.Join(dir, "fakecuda.o")
	if err := run(gcc, "-c", "-fPIC", "-DFAKE_CUDA_EMU", "-Wall", "-Wextra", "-Werror", "-o", obj, filepath.Join(cu, "fakecuda", "fakecuda.c")); err != nil {
		return nil, "", err
	}
	if err := run(gxx, "-std=c++20", "-shared", "-fPIC", "-O1", "-pthread", "-w", "-ffp-contract=off", "-DREALC_EMU",
		"-include", filepath.Join(kdir, "emu", "emu.h"), "-I", dir, "-Wl,-soname,libcuda.so.1",
		filepath.Join(kdir, "emu", "emucuda.cc"), obj, "-o", filepath.Join(dir, "libcuda.so.1")); err != nil {
		return nil, "", err
	}
	if err := run(gcc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libcublas.so.13"), filepath.Join(cu, "dl", "testdata", "fakecublas.c")); err != nil {
		return nil, "", err
	}
	env = append(os.Environ(), "LD_LIBRARY_PATH="+dir, "REALC_CUBLAS_LIB="+filepath.Join(dir, "libcublas.so.13"), "REALC_FAKE_CUDA=emu")
	if r, err := dl.NewNVRTCDefault(); err == nil {
		note = fmt.Sprintf("kernels compiled by NVRTC %d.%d (%s)", r.Version[0], r.Version[1], r.Path)
		r.Close()
	} else {
		if err := run(gcc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libnvrtc.so.13"), filepath.Join(cu, "dl", "testdata", "fakenvrtc.c")); err != nil {
			return nil, "", err
		}
		env = append(env, "REALC_NVRTC_LIB="+filepath.Join(dir, "libnvrtc.so.13"))
		note = "no NVRTC here: the fake one writes the PTX signatures"
	}
	return env, note, nil
}
