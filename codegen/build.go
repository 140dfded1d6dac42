package codegen

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/realc-project/realc/compiler"
)

// ModulePath is the Go module generated code imports its runtime from.
const ModulePath = "github.com/realc-project/realc"

// FindModuleRoot walks up from start to the folder whose go.mod declares
// ModulePath.
func FindModuleRoot(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePathOf(data) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above %s: run realc inside a checkout of realc", ModulePath, start)
		}
		dir = parent
	}
}

func modulePathOf(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// Generated is the result of Gen.
type Generated struct {
	Prog   *compiler.Program
	Dir    string // absolute output folder
	Root   string // module root
	Source string // recipe path as headers print it
	Files  []File
}

// SelfRoot finds the realc checkout when the working directory is not in
// one: by default the module above the running realc executable (a realc
// built into <checkout>/bin). Tests replace it.
var SelfRoot = func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", err
	}
	return FindModuleRoot(filepath.Dir(exe))
}

// sourceRoot is the realc checkout generated code builds against: the one
// around the working directory, else the one realc was built from.
func sourceRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := FindModuleRoot(wd)
	if err == nil {
		return root, nil
	}
	if self, serr := SelfRoot(); serr == nil {
		return self, nil
	}
	return "", fmt.Errorf("%v, or use a realc built inside one (bin/realc of a checkout)", err)
}

// CacheDir is where generated code goes when no --out is given and the
// recipe is not one of the checkout's own recipes/<name>.rl: a folder per
// recipe name and source hash under the user's cache, so that a user recipe
// never overwrites the shipped generated/ folders.
func CacheDir(prog *compiler.Program) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no --out given and no user cache folder (%v): pass --out DIR", err)
	}
	h := sha256.Sum256(prog.Source)
	return filepath.Join(base, "realc", "build", prog.Name+"-"+hex.EncodeToString(h[:6])), nil
}

// Gen compiles a recipe and writes its generated folder: out; or, for the
// checkout's own recipes/<name>.rl, <module root>/generated/<name>; or a
// cache folder (CacheDir). A recipe inside the module is named in headers by
// its slash path relative to the module root (so output does not depend on
// the working directory); one outside by its absolute path.
func Gen(recipePath, out string) (*Generated, error) {
	root, err := sourceRoot()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(recipePath)
	if err != nil {
		return nil, err
	}
	source := filepath.ToSlash(abs)
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		source = filepath.ToSlash(rel)
	}
	prog, err := CompileFile(abs, source)
	if err != nil {
		return nil, err
	}
	files, err := Generate(prog, Options{Source: source})
	if err != nil {
		return nil, err
	}
	if out == "" {
		if abs == filepath.Join(root, "recipes", prog.Name+".rl") {
			out = filepath.Join(root, "generated", prog.Name)
		} else if out, err = CacheDir(prog); err != nil {
			return nil, err
		}
	}
	if out, err = filepath.Abs(out); err != nil {
		return nil, err
	}
	if err := WriteDir(out, files); err != nil {
		return nil, err
	}
	g := &Generated{Prog: prog, Dir: out, Root: root, Source: source, Files: files}
	if !g.insideModule() {
		if err := writeModule(g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (g *Generated) insideModule() bool {
	rel, err := filepath.Rel(g.Root, g.Dir)
	return err == nil && !strings.HasPrefix(rel, "..")
}

// writeModule makes a folder outside the realc module buildable: a go.mod
// that requires realc from the local checkout, and realc's go.sum.
func writeModule(g *Generated) error {
	gomod := fmt.Sprintf("// Written by realc gen: builds this generated recipe against the realc checkout.\nmodule realc.generated/%s\n\ngo 1.26\n\nrequire %s v0.0.0\n\nreplace %s => %s\n",
		g.Prog.Name, ModulePath, ModulePath, filepath.ToSlash(g.Root))
	if err := os.WriteFile(filepath.Join(g.Dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	sum, err := os.ReadFile(filepath.Join(g.Root, "go.sum"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(g.Dir, "go.sum"), sum, 0o644)
}

// Build runs Gen and then `go build` on the generated folder, writing the
// binary to bin (default: ./<recipe name>). tags are extra build tags
// (e.g. "openblas"). The go tool's output goes to stderr.
func Build(recipePath, out, bin string, tags []string, stderr io.Writer) (*Generated, string, error) {
	g, err := Gen(recipePath, out)
	if err != nil {
		return nil, "", err
	}
	if bin == "" {
		bin = g.Prog.Name
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, "", fmt.Errorf("realc build needs the go tool in PATH: %v", err)
	}
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	cmd.Dir = g.Dir
	if !g.insideModule() {
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		io.Copy(stderr, &buf)
		return nil, "", fmt.Errorf("go build of %s failed: %v", g.Dir, err)
	}
	io.Copy(stderr, &buf)
	return g, bin, nil
}
