package codegen

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
)

// TestTrainerDeps keeps the compiler out of the trainers: a generated
// recipe binary, and the runtime packages it is built from, link neither the
// compiler nor the dsl nor participle (the batch format lives in
// runtime/fused/batch, the closest-name hint in internal/suggest).
func TestTrainerDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	root := testenv.RepoRoot(t)
	dirs, _ := filepath.Glob(filepath.Join(root, "generated", "*"))
	if len(dirs) == 0 {
		t.Fatal("no generated recipes")
	}
	pkgs := []string{"./runtime/fused/batch", "./runtime/fused/recipe"}
	for _, d := range dirs {
		rel, _ := filepath.Rel(root, d)
		pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
	}
	for _, pkg := range pkgs {
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{ModulePath + "/compiler", ModulePath + "/dsl", ModulePath + "/codegen", "github.com/alecthomas/participle"} {
				if dep == banned || strings.HasPrefix(dep, banned+"/") {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
