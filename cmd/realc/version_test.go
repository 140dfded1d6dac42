package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion: `realc version` names the module version, the Go version and
// the platform, and exits 0.
func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("realc version: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"realc ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "commit:"} {
		if !strings.Contains(out, want) {
			t.Errorf("realc version lacks %q:\n%s", want, out)
		}
	}
	if code := run([]string{"version", "extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("realc version extra: exit %d, want 2", code)
	}
}

// TestVersionText: the VCS settings of the build information are printed
// where present: commit, time and the modified flag.
func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/realc-project/realc", Version: "v0.3.1"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "6d213fd0123456789abcdef0123456789abcdef0"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := versionText(bi, true, "go1.26.8", "linux", "amd64")
	want := "realc v0.3.1\n" +
		"module:   github.com/realc-project/realc\n" +
		"commit:   6d213fd0123456789abcdef0123456789abcdef0 (modified: uncommitted changes)\n" +
		"time:     2026-01-02T03:04:05Z\n" +
		"go:       go1.26.8\n" +
		"platform: linux/amd64\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// A build from a checkout without VCS stamping: (devel), commit unknown.
	got = versionText(&debug.BuildInfo{Main: debug.Module{Path: "github.com/realc-project/realc", Version: "(devel)"}}, true, "go1.26.8", "darwin", "arm64")
	for _, w := range []string{"realc (devel)\n", "commit:   unknown", "platform: darwin/arm64\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("got %q, want it to contain %q", got, w)
		}
	}
	if got := versionText(nil, false, "go1.26.8", "linux", "amd64"); !strings.HasPrefix(got, "realc (devel)\n") || !strings.Contains(got, "go:       go1.26.8") {
		t.Errorf("without build info: %q", got)
	}
}
