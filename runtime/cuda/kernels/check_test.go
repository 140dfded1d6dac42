package kernels_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/dl"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/kernels/kerneltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
)

// requireNVCC finds nvcc, or skips; with REALC_REQUIRE_NVCC=1 (make
// cuda-check) a missing nvcc fails instead.
func requireNVCC(t *testing.T) string {
	t.Helper()
	nvcc, err := exec.LookPath("nvcc")
	if err != nil {
		if os.Getenv("REALC_REQUIRE_NVCC") == "1" {
			t.Fatal("nvcc not found and REALC_REQUIRE_NVCC=1: install nvidia-cuda-toolkit (.ci/install --cuda)")
		}
		t.Skip("nvcc not found")
	}
	return nvcc
}

var entryRE = regexp.MustCompile(`(?s)\.entry\s+(\w+)\s*\((.*?)\)`)
var paramRE = regexp.MustCompile(`\.param\s+\.(?:[a-z])(\d+)`)

// ptxParams maps each .entry of a PTX text to its parameter sizes in bytes.
func ptxParams(ptx string) map[string][]int {
	out := map[string][]int{}
	for _, m := range entryRE.FindAllStringSubmatch(ptx, -1) {
		var sizes []int
		for _, p := range paramRE.FindAllStringSubmatch(m[2], -1) {
			n := 0
			for _, c := range p[1] {
				n = n*10 + int(c-'0')
			}
			sizes = append(sizes, n/8)
		}
		out[m[1]] = sizes
	}
	return out
}

// TestNVCC compiles every .cu file on its own to PTX for sm_80 and sm_90
// with warnings as errors, and checks that the PTX parameter sizes are the
// ones Signatures derives from the source (which the launch builders and the
// twins are checked against).
func TestNVCC(t *testing.T) {
	nvcc := requireNVCC(t)
	sigs := kernels.Signatures()
	dir := t.TempDir()
	for _, f := range kernels.Files() {
		for _, arch := range []string{"sm_80", "sm_90"} {
			out := filepath.Join(dir, f+"."+arch+".ptx")
			cmd := exec.Command(nvcc, "-ptx", "-arch="+arch, "-Werror", "all-warnings", "-o", out, f)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("nvcc -arch=%s %s: %v\n%s", arch, f, err, msg)
				continue
			}
			ptx, _ := os.ReadFile(out)
			for name, sizes := range ptxParams(string(ptx)) {
				want := sigs[name].Sizes()
				if fmtInts(sizes) != fmtInts(want) {
					t.Errorf("%s (%s): PTX parameter sizes %v, the source's signature gives %v", name, arch, sizes, want)
				}
			}
		}
	}
}

func fmtInts(xs []int) string {
	var b strings.Builder
	b.WriteString("[")
	for i, x := range xs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(strconv.Itoa(x))
	}
	b.WriteString("]")
	return b.String()
}

// TestNVRTC compiles Program (all kernels in one unit, as the GPU backend
// does at run time) with the NVRTC installed here, for compute_80 and
// compute_90: the kernels need no header NVRTC 11.8 lacks.
func TestNVRTC(t *testing.T) {
	r, err := dl.NewNVRTCDefault()
	if err != nil {
		if os.Getenv("REALC_REQUIRE_NVCC") == "1" {
			t.Fatalf("NVRTC not found and REALC_REQUIRE_NVCC=1: %v", err)
		}
		t.Skipf("no NVRTC here: %v", err)
	}
	defer r.Close()
	sigs := kernels.Signatures()
	for _, arch := range []string{"compute_80", "compute_90"} {
		ptx, log, err := r.Compile(kernels.Program(), "realc_kernels.cu", "--gpu-architecture="+arch, "--std=c++17")
		if err != nil {
			t.Fatalf("NVRTC %v (%s): %v", r.Version, arch, err)
		}
		if strings.TrimSpace(strings.Trim(log, "\x00")) != "" {
			t.Errorf("NVRTC %s warnings:\n%s", arch, log)
		}
		got := ptxParams(ptx)
		for name, sig := range sigs {
			if fmtInts(got[name]) != fmtInts(sig.Sizes()) {
				t.Errorf("%s (%s): NVRTC's PTX parameter sizes %v, the signature gives %v", name, arch, got[name], sig.Sizes())
			}
		}
	}
}

// TestEveryKernelCovered: every entry point has a twin and at least one
// test case, and every launch of the cases passes the argument sizes of the
// kernel's signature (the twin machine checks that on each launch).
func TestEveryKernelCovered(t *testing.T) {
	m := twin.NewMachine()
	for _, c := range kerneltest.Cases(2, kerneltest.Small) {
		if _, err := kerneltest.Run(m, c); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	var missing []string
	for name := range kernels.Signatures() {
		if m.Launches[name] == 0 {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("kernels without a test case (or twin): %v", missing)
	}
	if len(kernels.Signatures()) < 20 {
		t.Errorf("only %d kernels parsed from the sources", len(kernels.Signatures()))
	}
}

// TestBuilderErrors: impossible sizes give a launch that every machine
// refuses, with a message.
func TestBuilderErrors(t *testing.T) {
	m := twin.NewMachine()
	for _, l := range []kernels.Launch{
		kernels.Attention(1, 1, 1, 1, 1, kernels.Attn{B: 1, T: 4, H: 3, KVH: 2, HD: 8}),
		kernels.Attention(1, 1, 1, 1, 1, kernels.Attn{B: 1, T: 4, H: 2, KVH: 2, HD: 512}),
		kernels.RMSNormBack(1, 1, 1, 1, 1, 1, kernels.F32, 4, kernels.RMSNormMaxWidth+1, false),
		kernels.RoPE(1, 1, 1, kernels.BF16, 4, 2, 7, false),
		kernels.AdamW(1, 1, 1, 1, 1, 4, kernels.AdamWArgs{Step: 0}),
	} {
		if err := m.Launch(l); err == nil || !strings.Contains(err.Error(), l.Kernel) {
			t.Errorf("%v: %v", l, err)
		}
	}
	// A wrong-sized argument is caught against the signature.
	l := kernels.SwiGLU(1, 2, 3, 4)
	l.Args[3] = l.Args[0]
	l.Args = l.Args[:3]
	if err := m.Launch(l); err == nil || !strings.Contains(err.Error(), "takes 4 arguments") {
		t.Errorf("short argument list: %v", err)
	}
}
