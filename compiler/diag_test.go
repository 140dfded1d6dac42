package compiler

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/realc-project/realc/dsl"
)

// TestDiagnostics compiles every bad recipe in testdata/diag and compares the
// diagnostics with NAME.golden. go test ./compiler -update rewrites them.
func TestDiagnostics(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "diag", "*.rl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("only %d bad recipes in testdata/diag; the issue asks for at least 25", len(files))
	}
	sort.Strings(files)
	want := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rl")
		want[name+".golden"] = true
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(filepath.ToSlash(f), src)
			if err == nil {
				t.Fatalf("%s compiles, but it is a bad recipe", f)
			}
			var el dsl.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("error is %T, want dsl.ErrorList: %v", err, err)
			}
			for _, d := range el {
				if d.Pos.Line < 1 || d.Pos.Col < 1 {
					t.Errorf("diagnostic without a position: %s", d)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".rl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			w, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./compiler -update to create it)", err)
			}
			if got != string(w) {
				t.Errorf("diagnostics differ from %s (go test ./compiler -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, w)
			}
		})
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "diag", "*.golden"))
	for _, g := range goldens {
		if !want[filepath.Base(g)] {
			t.Errorf("orphan golden file %s: its recipe is gone", g)
		}
	}
}

// TestReferenceListsEverything: recipes/README.md documents every function
// and every leaf of the language.
func TestReferenceListsEverything(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "recipes", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range FunctionNames() {
		if !strings.Contains(string(doc), name) {
			t.Errorf("recipes/README.md does not document the function %s", name)
		}
	}
	for _, l := range Leaves {
		if !strings.Contains(string(doc), "`"+l.Name+"`") {
			t.Errorf("recipes/README.md does not document the leaf %s", l.Name)
		}
	}
}

// TestExplainGolden pins `realc explain` for every recipe in
// testdata/explain/NAME.golden (go test ./compiler -update rewrites).
func TestExplainGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "recipes", "*.rl"))
	for _, f := range files {
		name := filepath.Base(f)
		got := Explain(compileRecipe(t, name))
		golden := filepath.Join("testdata", "explain", strings.TrimSuffix(name, ".rl")+".golden")
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./compiler -update creates it)", err)
		}
		if got != string(want) {
			t.Errorf("explain %s differs from %s (go test ./compiler -update rewrites it)\n%s", name, golden, got)
		}
	}
}
