package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/dsl"
)

// TestWarnings compiles every recipe in testdata/warn, which compile but
// deserve a warning, and compares the warnings with NAME.golden (go test
// ./compiler -update rewrites them). The shipped recipes have none.
func TestWarnings(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "warn", "*.rl"))
	if len(files) == 0 {
		t.Fatal("no recipes in testdata/warn")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(filepath.ToSlash(f), src)
			if err != nil {
				t.Fatalf("%s does not compile: %v", f, err)
			}
			if len(p.Warnings) == 0 {
				t.Fatalf("%s: no warnings", f)
			}
			var b strings.Builder
			for _, w := range p.Warnings {
				if w.Severity != dsl.Warning || w.Pos.Line < 1 || w.Pos.Col < 1 {
					t.Errorf("warning with severity %v at %v: %s", w.Severity, w.Pos, w)
				}
				b.WriteString(w.String() + "\n")
			}
			got := b.String()
			golden := strings.TrimSuffix(f, ".rl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./compiler -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("warnings differ from %s (go test ./compiler -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
	recipes, _ := filepath.Glob(filepath.Join(repoRoot(t), "recipes", "*.rl"))
	for _, f := range recipes {
		if p := compileRecipe(t, filepath.Base(f)); len(p.Warnings) > 0 {
			t.Errorf("%s has warnings: %v", f, p.Warnings)
		}
	}
}
