package dsl_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/dsl"
	"github.com/realc-project/realc/runtime/testenv"
)

// Use go test ./dsl -update to rewrite testdata/fmt/*.golden.
var update = flag.Bool("update", false, "rewrite golden files")

// repoRoot is kept for the other tests of the package (fuzz_test.go).
func repoRoot(t testing.TB) string {
	t.Helper()
	return testenv.RepoRoot(t)
}

func mustParse(t *testing.T, name string, src []byte) *dsl.File {
	t.Helper()
	f, err := dsl.Parse(name, src)
	if err != nil {
		t.Fatalf("parse %s:\n%v", name, err)
	}
	return f
}

// TestFormatGolden formats each testdata/fmt/*.rl, compares with its .golden,
// and checks that formatting the golden changes nothing (idempotence).
func TestFormatGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fmt", "*.rl"))
	if len(files) == 0 {
		t.Fatal("no testdata/fmt/*.rl")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := dsl.Format(mustParse(t, f, src))
		golden := strings.TrimSuffix(f, ".rl") + ".golden"
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test ./dsl -update creates it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: formatted output differs from %s\ngot:\n%s", f, golden, got)
		}
		again := dsl.Format(mustParse(t, golden, got))
		if !bytes.Equal(again, got) {
			t.Errorf("%s: formatting is not idempotent\nonce:\n%s\ntwice:\n%s", f, got, again)
		}
	}
}

// TestRecipesAreCanonical: every recipe in recipes/ is already formatted
// (realc fmt -l prints nothing), so fmt is idempotent on real recipes too.
func TestRecipesAreCanonical(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "recipes", "*.rl"))
	if len(files) < 6 {
		t.Fatalf("found %d recipes, want at least 6", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := dsl.Format(mustParse(t, f, src))
		if !bytes.Equal(got, src) {
			t.Errorf("%s is not in canonical form; run realc fmt -w %s\n%s", f, f, got)
		}
	}
}

// TestFormatKeepsMeaning: the formatter's parentheses give back the same
// tree (compared through a second formatting with every node parenthesized
// by FormatExpr's own precedence rules).
func TestFormatKeepsMeaning(t *testing.T) {
	cases := map[string]string{
		"-x^2":          "-x^2",
		"(-x)^2":        "(-x)^2",
		"2^-1":          "2^-1",
		"2^3^2":         "2^3^2",
		"(2^3)^2":       "(2^3)^2",
		"a - (b - c)":   "a - (b - c)",
		"(a - b) - c":   "a - b - c",
		"a / (b * c)":   "a / (b * c)",
		"-(a + b)":      "-(a + b)",
		"!(a < b)":      "!(a < b)",
		"(a < b) < c":   "(a < b) < c",
		"a < b < c":     "a < b < c",
		"a || b && c":   "a || b && c",
		"(a || b) && c": "(a || b) && c",
		"f(a, (b))":     "f(a, b)",
		"(((a)))":       "a",
		"a + b * c":     "a + b * c",
		"(a + b) * c":   "(a + b) * c",
	}
	for in, want := range cases {
		f := mustParse(t, "x.rl", []byte("loss "+in+"\n"))
		got := dsl.FormatStmt(f.Stmts[0])
		if got != "loss "+want {
			t.Errorf("format(%q) = %q, want %q", in, got, "loss "+want)
		}
	}
}

func TestParseErrorsCollected(t *testing.T) {
	src := "recipe x\nlet a = (1 +\nlet b = 2 *\nloss q $\n"
	_, err := dsl.Parse("x.rl", []byte(src))
	el, ok := err.(dsl.ErrorList)
	if !ok || len(el) < 3 {
		t.Fatalf("want at least 3 errors (one per bad line), got %v", err)
	}
	for i, line := range []int{2, 3, 4} {
		if el[i].Pos.Line != line {
			t.Errorf("error %d at line %d, want line %d: %s", i, el[i].Pos.Line, line, el[i])
		}
	}
}

func TestDeepNestingIsAnError(t *testing.T) {
	src := "recipe x\nloss " + strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000) + "\n"
	_, err := dsl.Parse("x.rl", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("want a nesting error, got %v", err)
	}
	src = "recipe x\nloss " + strings.Repeat("-", 10000) + "1\n"
	if _, err := dsl.Parse("x.rl", []byte(src)); err == nil {
		t.Fatal("10000 unary minus signs parse without error")
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"lambda", "beta", "logp", "loo", "token_mean"}
	for in, want := range map[string]string{"lamdba": "lambda", "lamda": "lambda", "logpp": "logp", "token_maen": "token_mean", "zzzzzz": ""} {
		got := dsl.Suggest(in, names)
		if want == "" && got != "" || want != "" && !strings.Contains(got, `"`+want+`"`) {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCRLF(t *testing.T) {
	lf := "# c\nrecipe x\nloss token_mean(-logp) # t\n"
	crlf := strings.ReplaceAll(lf, "\n", "\r\n")
	got := dsl.Format(mustParse(t, "x.rl", []byte(crlf)))
	if string(got) != lf {
		t.Errorf("CRLF source formats to %q, want %q", got, lf)
	}
}
