// Package disttest starts a package's own test binary under mpirun, so that
// the MPI tests of runtime/dist and runtime/dist/fsdp run from plain
// `go test -tags mpi`: the parent test re-executes the binary with
// -test.run naming a child test, and the child tests run only under it.
package disttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// ChildEnv marks a process started by Run.
const ChildEnv = "REALC_DIST_CHILD"

// Child reports whether this process is one of Run's ranks.
func Child() bool { return os.Getenv(ChildEnv) == "1" }

// SkipUnlessChild skips a child test when it is not running under Run.
func SkipUnlessChild(t *testing.T) {
	t.Helper()
	if !Child() {
		t.Skip("a rank of an mpirun job: the parent test starts it")
	}
}

// Mpirun returns mpirun's path, skipping t when it is not installed.
func Mpirun(t *testing.T) string {
	t.Helper()
	if Child() {
		t.Skip("parent test: not run inside a rank")
	}
	p, err := exec.LookPath("mpirun")
	if err != nil {
		t.Skip("mpirun not found: install OpenMPI (apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin) to run the MPI tests")
	}
	return p
}

// Job is one mpirun of this test binary.
type Job struct {
	NP      int
	Binary  string        // the program to start (default: this test binary)
	Run     string        // -test.run pattern of the child tests
	Env     []string      // extra KEY=VALUE for every rank
	MCA     []string      // extra "name value" MCA pairs, e.g. "orte_abort_on_non_zero_status 0"
	Timeout time.Duration // for the whole job (default 5 minutes)
}

// Run starts j and returns its combined output and error (a non-zero exit).
func Run(t *testing.T, j Job) (string, error) {
	t.Helper()
	mpirun := Mpirun(t)
	if j.Timeout <= 0 {
		j.Timeout = 5 * time.Minute
	}
	args := []string{"--allow-run-as-root", "--oversubscribe", "-np", fmt.Sprint(j.NP)}
	for _, m := range j.MCA {
		var name, val string
		fmt.Sscan(m, &name, &val)
		args = append(args, "--mca", name, val)
	}
	bin := j.Binary
	if bin == "" {
		bin = os.Args[0]
	}
	args = append(args, bin, "-test.run", j.Run, "-test.v", "-test.count=1", "-test.timeout", j.Timeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), j.Timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, args...)
	cmd.Env = append(append(os.Environ(), ChildEnv+"=1"), j.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
