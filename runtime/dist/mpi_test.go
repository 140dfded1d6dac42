//go:build mpi

package dist

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/dist/disttest"
)

// TestMPI runs SelfTest under mpirun -np 2 and -np 3.
func TestMPI(t *testing.T) {
	for _, np := range []int{2, 3} {
		out, err := disttest.Run(t, disttest.Job{NP: np, Run: "^TestMPIChildSelfTest$"})
		if err != nil {
			t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
		}
		for r := 0; r < np; r++ {
			if !strings.Contains(out, fmt.Sprintf("rank %d of %d: self-test passed", r, np)) {
				t.Errorf("mpirun -np %d: rank %d did not pass:\n%s", np, r, out)
			}
		}
	}
}

func TestMPIChildSelfTest(t *testing.T) {
	disttest.SkipUnlessChild(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Minute)
	if c.Backend() != "mpi" {
		t.Fatalf("backend %s, want mpi", c.Backend())
	}
	w, _ := EnvWorld()
	if c.Rank() != w.Rank || c.Size() != w.Size || c.LocalRank() != w.LocalRank {
		t.Fatalf("MPI rank %d size %d local %d, launcher %+v", c.Rank(), c.Size(), c.LocalRank(), w)
	}
	if err := SelfTest(c); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rank %d of %d: self-test passed\n", c.Rank(), c.Size())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// killTimeout is the collective timeout of the killed-rank test.
const killTimeout = 3 * time.Second

// TestMPIKilledRank: in a job of 3, rank 1 exits while the others wait in
// an all-reduce; ranks 0 and 2 must return the timeout error naming rank 1
// within the timeout. mpirun's default is to kill the job when a rank exits
// with an error; orte_abort_on_non_zero_status=0 keeps the survivors alive
// so that the test sees their own error.
func TestMPIKilledRank(t *testing.T) {
	out, err := disttest.Run(t, disttest.Job{NP: 3, Run: "^TestMPIChildKilled$",
		MCA: []string{"orte_abort_on_non_zero_status 0"}, Timeout: time.Minute})
	if err != nil && !strings.Contains(out, "KILLED") {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`SURVIVOR rank (\d) after ([0-9.]+)s: (.*)`)
	got := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		got[m[1]] = true
		var secs float64
		fmt.Sscan(m[2], &secs)
		if secs > killTimeout.Seconds()+0.5 {
			t.Errorf("rank %s returned after %.2fs, timeout %v", m[1], secs, killTimeout)
		}
		want := fmt.Sprintf("dist(mpi): rank %s: all-reduce #3 (1048576 x float32, sum) timed out after 3s: rank 1 did not arrive (rank 1: process exited)", m[1])
		if !strings.HasPrefix(m[3], want) {
			t.Errorf("rank %s:\n got %s\nwant %s...", m[1], m[3], want)
		}
	}
	if !got["0"] || !got["2"] {
		t.Errorf("survivors reporting: %v, want ranks 0 and 2:\n%s", got, out)
	}
	t.Logf("%s", out)
}

func TestMPIChildKilled(t *testing.T) {
	disttest.SkipUnlessChild(t)
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(killTimeout)
	if err := SelfTestSmall(c); err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, 1<<20)
	if c.Rank() == 1 {
		// The others are waiting in the all-reduce when this rank dies.
		time.Sleep(500 * time.Millisecond)
		fmt.Printf("KILLED rank 1 exits while the others wait in all-reduce #3\n")
		os.Exit(3)
	}
	start := time.Now()
	err = c.AllReduce(buf, Sum)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("rank %d: the all-reduce completed without rank 1", c.Rank())
	}
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("rank %d: %v, want a *TimeoutError", c.Rank(), err)
	}
	fmt.Printf("SURVIVOR rank %d after %.3fs: %v\n", c.Rank(), took.Seconds(), err)
	// The all-reduce is still pending in MPI: finalizing could hang, and
	// MPI_Abort would kill the other survivor before it reports.
	os.Exit(0)
}

// TestNCCLBootstrapWithFakeLibrary builds this package with -tags cuda,mpi
// and runs two ranks against the fake libnccl: rank 0 makes the unique id,
// MPI broadcasts it, and both ranks hand the same id to ncclCommInitRank.
func TestNCCLBootstrapWithFakeLibrary(t *testing.T) {
	disttest.Mpirun(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	dir, env := buildFakeNCCL(t)
	bin := filepath.Join(dir, "dist-cuda-mpi.test")
	if out, err := exec.Command(goTool, "test", "-c", "-tags", "cuda,mpi", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the cuda,mpi-tagged tests: %v\n%s", err, out)
	}
	out, err := disttest.Run(t, disttest.Job{NP: 2, Binary: bin, Run: "^TestFakeNCCLChildBootstrap$", Env: env, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	log, err := os.ReadFile(filepath.Join(dir, "nccl.log"))
	if err != nil {
		t.Fatal(err)
	}
	ids := regexp.MustCompile(`ncclCommInitRank nranks=2 rank=(\d) id=([0-9a-f]+)`).FindAllStringSubmatch(string(log), -1)
	if len(ids) != 2 || ids[0][2] != ids[1][2] || ids[0][1] == ids[1][1] {
		t.Errorf("want ranks 0 and 1 initialized with one id:\n%s\n%s", log, out)
	}
	if n := strings.Count(string(log), "ncclGetUniqueId"); n != 1 {
		t.Errorf("ncclGetUniqueId called %d times, want once (rank 0):\n%s", n, log)
	}
}
