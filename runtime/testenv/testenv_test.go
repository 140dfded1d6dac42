package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records a skip or a fatal error and ends the goroutine the way the
// real testing.T does. Methods it does not override panic (nil embedded TB),
// so an unexpected call is noticed.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs fn with a fakeTB on its own goroutine, so that Goexit ends only it.
func call(fn func(testing.TB) string) (f *fakeTB, got string) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = fn(f)
	}()
	<-done
	return f, got
}

// tree makes root/repo/go.mod and root/repo/a/b, and moves into root/repo/a/b
// for the rest of the test. It returns root and repo with symlinks resolved,
// as os.Getwd reports them.
func tree(t *testing.T) (root, repo string) {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo = filepath.Join(root, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(repo, "a", "b")) // restored when the test ends
	return root, repo
}

func TestRepoRootOfThisModule(t *testing.T) {
	root := RepoRoot(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Dir(filepath.Dir(wd)); root != want {
		t.Errorf("RepoRoot = %s, want %s (runtime/testenv is two levels down)", root, want)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Error(err)
	}
}

func TestRepoRootWalksUp(t *testing.T) {
	_, repo := tree(t)
	if got := RepoRoot(t); got != repo {
		t.Errorf("RepoRoot = %s, want %s", got, repo)
	}
}

func TestRepoRootFatalWithoutGoMod(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			t.Skipf("%s holds a go.mod above the temporary directory", d)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	t.Chdir(dir)
	f, _ := call(RepoRoot)
	if !f.failed || f.skipped || !strings.Contains(f.msg, "no go.mod") || !strings.Contains(f.msg, dir) {
		t.Errorf("failed %v skipped %v msg %q, want a fatal error naming %s", f.failed, f.skipped, f.msg, dir)
	}
}

func TestSharedDataPresent(t *testing.T) {
	root, _ := tree(t)
	want := filepath.Join(root, "shared", "data", "tokenizers", "qwen3")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := SharedData(t, "tokenizers", "qwen3"); got != want {
		t.Errorf("SharedData = %s, want %s", got, want)
	}
	if got, want := SharedData(t), filepath.Join(root, "shared", "data"); got != want {
		t.Errorf("SharedData() = %s, want %s", got, want)
	}
}

func TestSharedDataSkipsWhenAbsent(t *testing.T) {
	t.Setenv(RequireDataEnv, "") // CI sets it for the rest of the suite
	root, _ := tree(t)
	if err := os.MkdirAll(filepath.Join(root, "shared", "data", "tokenizers"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range [][]string{{"models", "stories260K", "stories260K.bin"}, {"tokenizers", "missing"}} {
		f, got := call(func(tb testing.TB) string { return SharedData(tb, sub...) })
		want := filepath.Join(append([]string{root, "shared", "data"}, sub...)...)
		if !f.skipped || f.failed || got != "" || !strings.Contains(f.msg, want) {
			t.Errorf("%v: skipped %v failed %v got %q msg %q, want a skip naming %s", sub, f.skipped, f.failed, got, f.msg, want)
		}
	}
}

// TestSharedDataFailsWhenRequired: with REALC_REQUIRE_DATA=1 (CI) a missing
// path fails the test, naming the path and the variable, instead of skipping.
func TestSharedDataFailsWhenRequired(t *testing.T) {
	t.Setenv(RequireDataEnv, "1")
	root, _ := tree(t)
	f, got := call(func(tb testing.TB) string { return SharedData(tb, "tokenizers", "qwen3") })
	want := filepath.Join(root, "shared", "data", "tokenizers", "qwen3")
	if !f.failed || f.skipped || got != "" || !strings.Contains(f.msg, want) || !strings.Contains(f.msg, "REALC_REQUIRE_DATA=1") {
		t.Errorf("failed %v skipped %v got %q msg %q, want a failure naming %s and REALC_REQUIRE_DATA", f.failed, f.skipped, got, f.msg, want)
	}
	// Present data is returned as before.
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := SharedData(t, "tokenizers", "qwen3"); got != want {
		t.Errorf("SharedData = %s, want %s", got, want)
	}
}
