package kernels_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/kernels/kerneltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
)

// emuMachine runs launches and GEMMs through emu/runner: the .cu files
// compiled for the host with g++ and emu/emu.h. It records operations and
// runs them in one runner process when a result is read.
type emuMachine struct {
	runner  string
	dir     string
	allocs  []emuAlloc
	next    uintptr
	pending bytes.Buffer
	nops    uint32
}

type emuAlloc struct {
	base uintptr
	mem  []byte
}

var (
	runnerOnce sync.Once
	runnerPath string
	runnerErr  error
	runnerDir  string
)

// buildRunner compiles emu/runner.cc with every kernel (once per test binary).
func buildRunner(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles the kernels for the host with g++")
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found")
	}
	runnerOnce.Do(func() {
		runnerDir, runnerErr = os.MkdirTemp("", "realc-kernels-emu")
		if runnerErr != nil {
			return
		}
		here, _ := os.Getwd()
		var inc, table strings.Builder
		for _, f := range kernels.Files() {
			fmt.Fprintf(&inc, "#include %q\n", filepath.Join(here, f))
		}
		var names []string
		for n := range kernels.Signatures() {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&table, "EMU_KERNEL(%s)\n", n)
		}
		os.WriteFile(filepath.Join(runnerDir, "kernels.inc"), []byte(inc.String()), 0o644)
		os.WriteFile(filepath.Join(runnerDir, "table.inc"), []byte(table.String()), 0o644)
		runnerPath = filepath.Join(runnerDir, "runner")
		cmd := exec.Command(gxx, "-std=c++20", "-O1", "-pthread", "-w", "-ffp-contract=off", "-DREALC_EMU",
			"-include", filepath.Join(here, "emu", "emu.h"), "-I", runnerDir, filepath.Join(here, "emu", "runner.cc"), "-o", runnerPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			runnerErr = fmt.Errorf("g++: %v\n%s", err, out)
		}
	})
	if runnerErr != nil {
		t.Fatal(runnerErr)
	}
	return runnerPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if runnerDir != "" {
		os.RemoveAll(runnerDir)
	}
	os.Exit(code)
}

func newEmu(t *testing.T) *emuMachine {
	return &emuMachine{runner: buildRunner(t), dir: t.TempDir(), next: 1 << 40}
}

func (m *emuMachine) Name() string { return "host emulation of the .cu kernels" }

func (m *emuMachine) Alloc(n int64) (uintptr, error) {
	m.flush()
	a := emuAlloc{base: m.next, mem: make([]byte, (max(n, 1)+7)&^7)}
	m.next += uintptr(len(a.mem)+4095)&^4095 + 4096
	m.allocs = append(m.allocs, a)
	return a.base, nil
}

func (m *emuMachine) find(p uintptr, n int) ([]byte, error) {
	for _, a := range m.allocs {
		if p >= a.base && p+uintptr(n) <= a.base+uintptr(len(a.mem)) {
			return a.mem[p-a.base : p-a.base+uintptr(n)], nil
		}
	}
	return nil, fmt.Errorf("emu: %d bytes at %#x are not in an allocation", n, p)
}

func (m *emuMachine) Free(p uintptr) error {
	if err := m.flush(); err != nil {
		return err
	}
	for i, a := range m.allocs {
		if a.base == p {
			m.allocs = append(m.allocs[:i], m.allocs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("emu: freeing %#x", p)
}

func (m *emuMachine) Write(dst uintptr, src []byte) error {
	if err := m.flush(); err != nil {
		return err
	}
	b, err := m.find(dst, len(src))
	if err == nil {
		copy(b, src)
	}
	return err
}

func (m *emuMachine) Read(dst []byte, src uintptr) error {
	if err := m.flush(); err != nil {
		return err
	}
	b, err := m.find(src, len(dst))
	if err == nil {
		copy(dst, b)
	}
	return err
}

func (m *emuMachine) Zero(p uintptr, n int64) error {
	if err := m.flush(); err != nil {
		return err
	}
	b, err := m.find(p, int(n))
	if err == nil {
		clear(b)
	}
	return err
}

func (m *emuMachine) Copy(dst, src uintptr, n int64) error {
	if err := m.flush(); err != nil {
		return err
	}
	s, err := m.find(src, int(n))
	if err != nil {
		return err
	}
	d, err := m.find(dst, int(n))
	if err != nil {
		return err
	}
	copy(d, s)
	return nil
}

func (m *emuMachine) w(x any) { binary.Write(&m.pending, binary.LittleEndian, x) }

func (m *emuMachine) Launch(l kernels.Launch) error {
	if l.Err != nil {
		return l.Err
	}
	m.w(uint8(1))
	m.w(uint32(len(l.Kernel)))
	m.pending.WriteString(l.Kernel)
	m.w([]uint32{uint32(l.Grid), uint32(l.Block), uint32(len(l.Args))})
	for _, a := range l.Args {
		m.w(a.Bits())
	}
	m.nops++
	return nil
}

func b8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (m *emuMachine) Gemm(g kernels.Gemm) error {
	m.w([]uint8{2, b8(g.TransA), b8(g.TransB)})
	m.w([]int32{int32(g.M), int32(g.N), int32(g.K)})
	m.w([]float32{g.Alpha, g.Beta})
	m.w(uint64(g.A))
	m.w(int32(g.LDA))
	m.w(uint64(g.B))
	m.w(int32(g.LDB))
	m.w(uint64(g.C))
	m.w([]int32{int32(g.LDC), int32(g.AB), int32(g.CT)})
	m.nops++
	return nil
}

// flush runs the pending operations in one runner process.
func (m *emuMachine) flush() error {
	if m.nops == 0 {
		return nil
	}
	var in bytes.Buffer
	in.WriteString("REMU")
	binary.Write(&in, binary.LittleEndian, uint32(1))
	binary.Write(&in, binary.LittleEndian, uint32(len(m.allocs)))
	for _, a := range m.allocs {
		binary.Write(&in, binary.LittleEndian, []uint64{uint64(a.base), uint64(len(a.mem))})
		in.Write(a.mem)
	}
	binary.Write(&in, binary.LittleEndian, m.nops)
	in.Write(m.pending.Bytes())
	m.pending.Reset()
	m.nops = 0
	inPath, outPath := filepath.Join(m.dir, "in"), filepath.Join(m.dir, "out")
	if err := os.WriteFile(inPath, in.Bytes(), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(m.runner, inPath, outPath).CombinedOutput(); err != nil {
		return fmt.Errorf("emu runner: %v\n%s", err, out)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		return err
	}
	for _, a := range m.allocs {
		if len(data) < len(a.mem) {
			return fmt.Errorf("emu runner: short output")
		}
		copy(a.mem, data[:len(a.mem)])
		data = data[len(a.mem):]
	}
	return nil
}

// TestEmulated runs every kernel case through the host emulation of the
// .cu source and compares with the twins: the CUDA code is checked against
// its CPU reference without a GPU (what this cannot check: timing,
// coalescing, the device's own expf and float ordering between warps).
func TestEmulated(t *testing.T) {
	emu := newEmu(t)
	ref := twin.NewMachine()
	for _, c := range kerneltest.Cases(1, kerneltest.Small) {
		t.Run(c.Name, func(t *testing.T) {
			want, err := kerneltest.Run(ref, c)
			if err != nil {
				t.Fatalf("twin: %v", err)
			}
			got, err := kerneltest.Run(emu, c)
			if err != nil {
				t.Fatalf("emulation: %v", err)
			}
			for _, msg := range kerneltest.Compare(c, want, got) {
				t.Error(msg)
			}
		})
	}
}

// TestEmulatedCatchesWrongKernels: the comparison is not vacuous. A twin
// machine whose RMSNorm skips the weight, and one whose attention ignores
// the window, must be told apart from the emulated kernels.
func TestCompareFlagsDifferences(t *testing.T) {
	c := kerneltest.Cases(1, kerneltest.Small)[0]
	ref := twin.NewMachine()
	want, err := kerneltest.Run(ref, c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for k, v := range want {
		got[k] = append([]float64(nil), v...)
	}
	for k := range got {
		got[k][0] += 1
		got[k][1] = math.NaN()
	}
	if msgs := kerneltest.Compare(c, want, got); len(msgs) == 0 {
		t.Fatal("a changed and a NaN value passed the comparison")
	}
}
