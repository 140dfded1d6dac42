package main

// `realc version`: what a bug report needs to name this realc.

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	register("version", "print realc's module version, VCS commit and time, Go version and GOOS/GOARCH", runVersion)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr, "version")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("version takes no arguments, got %q", strings.Join(pos, " "))
	}
	bi, ok := debug.ReadBuildInfo()
	io.WriteString(stdout, versionText(bi, ok, runtime.Version(), runtime.GOOS, runtime.GOARCH))
	return nil
}

// versionText formats the build information: the main module's version
// ("(devel)" for a build from a checkout), the VCS commit, its time and
// whether the tree had uncommitted changes where the build recorded them,
// then the Go version and the platform.
func versionText(bi *debug.BuildInfo, ok bool, goVersion, goos, goarch string) string {
	var b strings.Builder
	version := "(devel)"
	if ok && bi != nil && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	fmt.Fprintf(&b, "realc %s\n", version)
	if ok && bi != nil {
		if bi.Main.Path != "" {
			fmt.Fprintf(&b, "module:   %s\n", bi.Main.Path)
		}
		set := map[string]string{}
		for _, s := range bi.Settings {
			set[s.Key] = s.Value
		}
		if rev := set["vcs.revision"]; rev != "" {
			line := rev
			switch set["vcs.modified"] {
			case "true":
				line += " (modified: uncommitted changes)"
			case "false":
				line += " (clean)"
			}
			fmt.Fprintf(&b, "commit:   %s\n", line)
		} else {
			b.WriteString("commit:   unknown (built without VCS information, e.g. by go test or -buildvcs=false)\n")
		}
		if t := set["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "time:     %s\n", t)
		}
	}
	fmt.Fprintf(&b, "go:       %s\n", goVersion)
	fmt.Fprintf(&b, "platform: %s/%s\n", goos, goarch)
	return b.String()
}
