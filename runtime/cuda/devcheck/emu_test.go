package devcheck

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpu/gputest"
)

// TestDeviceCheckOnEmulatedDriver runs the device check's tests at small
// sizes on the emulating fake driver (kernels run on the CPU from their
// .cu source), to catch mistakes in the check's own code before a GPU
// session spends its time on them. Opt-in (REALC_DEVCHECK_EMU=1): it takes
// minutes.
func TestDeviceCheckOnEmulatedDriver(t *testing.T) {
	if os.Getenv("REALC_DEVCHECK_EMU") != "1" {
		t.Skip("set REALC_DEVCHECK_EMU=1 to run the device check on the emulated driver")
	}
	if _, err := os.Stat("/usr/include/cuda.h"); err != nil && os.Getenv("CGO_CFLAGS") == "" {
		t.Skip("cuda.h not found: cannot build gorgonia.org/cu")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH")
	}
	env, note, err := gputest.FakeLibs("../../..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(note)
	run := "^TestDevice(Doctor|Kernels|TrainStep|RecipeLoss|FusedLoss)$"
	if r := os.Getenv("REALC_EMU_RUN"); r != "" { // one of them, while working on it
		run = r
	}
	cmd := exec.Command(goTool, "test", "-tags", "cuda", "-count=1", "-v", "-timeout", "30m", "-run", run, ".")
	cmd.Env = append(env, "REALC_DEVCHECK_EMU=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("the device check on the emulated driver: %v", err)
	}
	for _, name := range []string{"Kernels", "TrainStep", "RecipeLoss", "FusedLoss"} {
		if os.Getenv("REALC_EMU_RUN") == "" && !strings.Contains(string(out), "--- PASS: TestDevice"+name) {
			t.Errorf("TestDevice%s did not pass", name)
		}
	}
}
