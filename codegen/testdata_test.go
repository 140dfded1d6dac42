package codegen

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
)

// Test recipes under codegen/testdata cover what the shipped recipes do not:
// a two-pass loss, entropy with grad, renormalized score readouts. They are
// generated into codegen/testdata/<name>/ (golden like generated/, -update
// rewrites) and their generated tests run here.
func TestTestdataRecipes(t *testing.T) {
	root := testenv.RepoRoot(t)
	paths, err := filepath.Glob(filepath.Join(root, "codegen", "testdata", "*.rl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no codegen/testdata/*.rl (%v)", err)
	}
	var pkgs []string
	for _, p := range paths {
		rel := "codegen/testdata/" + filepath.Base(p)
		prog, err := CompileFile(p, rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		files, err := Generate(prog, Options{})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "codegen", "testdata", prog.Name)
		if *update {
			if err := WriteDir(dir, files); err != nil {
				t.Fatal(err)
			}
		} else if d := Diff(dir, files); len(d) > 0 {
			t.Fatalf("codegen/testdata/%s is stale (go test ./codegen/... -update):\n%s", prog.Name, strings.Join(d, "\n"))
		}
		pkgs = append(pkgs, "./codegen/testdata/"+prog.Name)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH: cannot run the generated tests")
	}
	args := append([]string{"test", "-count=1"}, pkgs...)
	if testing.Short() {
		args = append(args, "-short")
	}
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("%s", out)
}
