//go:build cuda

package dist

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func fakeNCCLOnly(t *testing.T) string {
	t.Helper()
	if os.Getenv("REALC_FAKE_NCCL") != "1" {
		t.Skip("runs against the fake libnccl (go test ./runtime/dist builds it)")
	}
	missing := os.Getenv("REALC_FAKE_NCCL_MISSING") == "1"
	if missing != (t.Name() == "TestFakeNCCLMissingLibrary") {
		t.Skip("runs in a process of its own")
	}
	for _, v := range []string{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "RANK", "WORLD_SIZE"} {
		t.Setenv(v, "")
	}
	log := os.Getenv("FAKE_NCCL_LOG")
	os.Remove(log)
	return log
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no fake NCCL log: %v", err)
	}
	return string(b)
}

func TestFakeNCCLSelfTest(t *testing.T) {
	log := fakeNCCLOnly(t)
	c, err := Open(Options{Backend: "nccl", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	libs, version, ok := NCCLInfo(c)
	if !ok || version != 22304 || !strings.Contains(libs, "libnccl.so.2") {
		t.Errorf("NCCLInfo: %q %d %v", libs, version, ok)
	}
	if err := SelfTest(c); err != nil {
		t.Fatal(err)
	}
	d, ok := Device(c)
	if !ok {
		t.Fatal("the nccl communicator has no device collectives")
	}
	// The fake's device memory is host memory.
	buf := []float32{1, 2, 3}
	p := uintptr(unsafe.Pointer(&buf[0]))
	if err := d.AllReduceDevice(p, 3, Float32, Sum); err != nil {
		t.Fatal(err)
	}
	if err := d.AllGatherDevice(p, p, 3, Float32); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(buf)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLog(t, log)
	for _, want := range []string{
		"ncclGetUniqueId", "ncclCommInitRank nranks=1 rank=0",
		"ncclAllReduce count=1000 dtype=7 op=0 inplace=1", // float32 sum, in place
		"ncclAllReduce count=1000 dtype=7 op=2",           // max
		"ncclAllReduce count=1000 dtype=9 op=0",           // bf16
		"ncclAllReduce count=1000 dtype=8 op=0",           // float64
		"ncclAllGather count=1000 dtype=7 inplace=1",
		"ncclAllGather count=1000 dtype=9",
		"ncclReduceScatter count=1000 dtype=7 op=0",
		"ncclReduceScatter count=1000 dtype=9 op=0",
		"ncclBroadcast count=1000 dtype=1 root=0", // bytes
		"ncclAllReduce count=1 dtype=7 op=0",      // barrier
		"ncclAllReduce count=3 dtype=7 op=0 inplace=1",
		"ncclAllGather count=3 dtype=7 inplace=1",
		"cuStreamCreate flags=1", "ncclCommDestroy", "cuDevicePrimaryCtxRelease 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the fake NCCL log lacks %q:\n%s", want, got)
		}
	}
}

func TestFakeNCCLTimeout(t *testing.T) {
	log := fakeNCCLOnly(t)
	c, err := Open(Options{Backend: "nccl", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_NCCL_HANG", "1")
	start := time.Now()
	err = c.AllReduce(make([]float32, 8), Sum)
	took := time.Since(start)
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("a hung stream: %v, want a *TimeoutError", err)
	}
	if took > time.Second {
		t.Errorf("took %v with a timeout of 300ms", took)
	}
	want := "dist(nccl): rank 0: all-reduce #2 (8 x float32, sum) timed out after 300ms; the stream did not drain (one rank: the device or NCCL hung)"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); !strings.Contains(got, "ncclCommAbort") || strings.Contains(got, "ncclCommDestroy") {
		t.Errorf("after a timeout the communicator is aborted, not destroyed:\n%s", got)
	}
}

func TestFakeNCCLMissingLibrary(t *testing.T) {
	fakeNCCLOnly(t)
	_, err := Open(Options{Backend: "nccl"})
	if err == nil {
		t.Skip("a real libnccl.so.2 is installed")
	}
	if !strings.Contains(err.Error(), "dist(nccl): NCCL library not found: tried /nonexistent/libnccl.so.2") {
		t.Errorf("%v", err)
	}
}
