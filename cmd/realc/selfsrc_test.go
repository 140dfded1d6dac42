package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	realc "github.com/realc-project/realc"
	"github.com/realc-project/realc/codegen"
	"github.com/realc-project/realc/runtime/testenv"
)

// extractSource writes every file once, byte for byte, under a folder named
// by the content's hash; a second call reuses it; an interrupted extraction
// (no completion mark) is not used; different content gets another folder.
func TestExtractSource(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	src := fstest.MapFS{
		"go.mod":            {Data: []byte("module example.com/x\n")},
		"runtime/a/a.go":    {Data: []byte("package a\n")},
		"internal/b/b.go":   {Data: []byte("package b\n")},
		"runtime/a/data.md": {Data: []byte("notes")},
	}
	dir, err := extractSource(src)
	if err != nil {
		t.Fatal(err)
	}
	for p, f := range src {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Fatalf("%s: %q, %v; want %q", p, got, err, f.Data)
		}
	}
	again, err := extractSource(src)
	if err != nil || again != dir {
		t.Fatalf("second extraction: %s, %v; want the same folder %s", again, err, dir)
	}
	// A half-written folder under the final name (no completion mark) is
	// never used: an error says to remove it.
	src["go.mod"] = &fstest.MapFile{Data: []byte("module example.com/y\n")}
	key, _ := sourceKey(src)
	half := filepath.Join(filepath.Dir(dir), key)
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "go.mod"), []byte("module exa"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := extractSource(src); err == nil || !strings.Contains(err.Error(), "remove "+half) {
		t.Fatalf("extractSource over a half-written folder: %s, %v; want an error naming it", got, err)
	}
	os.RemoveAll(half)
	if got, err := extractSource(src); err != nil || got != half {
		t.Fatalf("after removing it: %s, %v", got, err)
	}
	if key == filepath.Base(dir) {
		t.Fatal("different content, same key")
	}
}

// A realc with no checkout anywhere (neither around the working directory
// nor around its executable) builds a recipe against the source it carries.
func TestBuildFromEmbeddedSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not in PATH")
	}
	root := testenv.RepoRoot(t)
	// Everything a trainer imports must be in realc.Source.
	for _, p := range []string{"go.mod", "go.sum", "runtime/train/main.go", "internal/suggest"} {
		if _, err := fs.Stat(realc.Source, p); err != nil {
			t.Fatalf("realc.Source lacks %s: %v", p, err)
		}
	}
	src, err := os.ReadFile(filepath.Join(root, "recipes", "real.rl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	rec := filepath.Join(dir, "mine.rl")
	if err := os.WriteFile(rec, src, 0o644); err != nil {
		t.Fatal(err)
	}
	old := codegen.SelfRoot
	codegen.SelfRoot = func() (string, error) { return extractSource(realc.Source) }
	defer func() { codegen.SelfRoot = old }()
	t.Chdir(dir)
	bin := filepath.Join(dir, "mine")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"build", rec, "-o", bin}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc build with no checkout: exit %d: %s", code, stderr.String())
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "cache", "realc", "build", "*", "go.mod"))
	if len(matches) != 1 {
		t.Fatalf("want one generated module in the cache, got %v", matches)
	}
	b, _ := os.ReadFile(matches[0])
	if !strings.Contains(string(b), filepath.ToSlash(filepath.Join(dir, "cache", "realc", "src"))) {
		t.Errorf("the generated go.mod does not build against the unpacked source:\n%s", b)
	}
	if out, err := exec.Command(bin, "help").Output(); err != nil || !strings.Contains(string(out), "trainer of recipe real") {
		t.Errorf("%s help: %v\n%s", bin, err, out)
	}
}
