// Package testenv locates the repository and its shared test data for tests.
//
// Tests run with the working directory set to their package's folder, at
// varying depths below the module root, and the large test data (tokenizers,
// models, data sets) is kept outside the repository in ../shared/data beside
// it. These helpers are the one place that knows both facts, so that every
// test finds them the same way and skips the same way when the data is absent.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root: the nearest directory holding go.mod,
// walking up from the working directory. It calls t.Fatal if there is none,
// since a test run outside the module cannot find its recipes or testdata.
func RepoRoot(t testing.TB) string {
	t.Helper()
	start, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := start; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod in %s or any directory above it", start)
		}
		dir = parent
	}
}

// RequireDataEnv names the environment variable that turns SharedData's skip
// into a failure: with REALC_REQUIRE_DATA=1 (CI sets it, see .ci/run) a
// checkout without the shared data cannot pass by skipping the tests that
// read it.
const RequireDataEnv = "REALC_REQUIRE_DATA"

// SharedData returns RepoRoot/../shared/data joined with sub. The shared data
// is not part of the repository: CI and developers keep it beside the
// checkout, and a checkout without it should still pass its tests, so when
// the path (the deepest one asked for) is absent the test is skipped with a
// message naming it rather than failed, unless REALC_REQUIRE_DATA=1, which
// fails it with the same message.
func SharedData(t testing.TB, sub ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{RepoRoot(t), "..", "shared", "data"}, sub...)...)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("shared test data not found at %s (expected in ../shared/data beside the repository root): %v", p, err)
		if os.Getenv(RequireDataEnv) == "1" {
			t.Fatalf("%s; %s=1 requires it", msg, RequireDataEnv)
		}
		t.Skip(msg)
	}
	return p
}
