//go:build cuda && mpi

package dist

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/dist/disttest"
)

// TestFakeNCCLChildBootstrap is a rank of TestNCCLBootstrapWithFakeLibrary
// (mpi_test.go): it opens the NCCL backend in a world of 2, whose unique id
// rank 0 makes and MPI broadcasts.
func TestFakeNCCLChildBootstrap(t *testing.T) {
	disttest.SkipUnlessChild(t)
	if os.Getenv("REALC_FAKE_NCCL") != "1" {
		t.Skip("runs against the fake libnccl")
	}
	c, err := Open(Options{Backend: "nccl", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != 2 || c.Backend() != "nccl" {
		t.Fatalf("size %d backend %s", c.Size(), c.Backend())
	}
	fmt.Printf("rank %d: NCCL communicator open\n", c.Rank())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
