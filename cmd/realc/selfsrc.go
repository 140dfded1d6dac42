package main

// Where `realc build` finds the realc source that generated code builds
// against when the working directory is not in a checkout: the checkout the
// realc executable sits in (bin/realc of a checkout), else the source realc
// carries (realc.Source), written once to the user cache.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	realc "github.com/realc-project/realc"
	"github.com/realc-project/realc/codegen"
)

func init() {
	exeCheckout := codegen.SelfRoot
	codegen.SelfRoot = func() (string, error) {
		if root, err := exeCheckout(); err == nil {
			return root, nil
		}
		return extractSource(realc.Source)
	}
}

// completeMark is written last into an extracted source folder; a folder
// without it is an interrupted extraction and is never used.
const completeMark = ".realc-source-complete"

// sourceKey is a hash of every file's path and contents: one folder per
// distinct source, so that two realc versions never share one.
func sourceKey(src fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// extractSource writes src to <user cache>/realc/src/<key> unless a complete
// copy is there, and returns that folder. It writes to a temporary sibling
// and renames it into place, so a concurrent or interrupted run never leaves
// a half-written folder under the final name.
func extractSource(src fs.FS) (string, error) {
	key, err := sourceKey(src)
	if err != nil {
		return "", fmt.Errorf("reading realc's embedded source: %v", err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("not in a realc checkout, and no user cache folder to unpack realc's own source into (%v): set XDG_CACHE_HOME or run inside a checkout", err)
	}
	dir := filepath.Join(base, "realc", "src", key)
	if _, err := os.Stat(filepath.Join(dir, completeMark)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), key+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := src.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, completeMark), []byte(key+"\n"), 0o444)
	}
	if err != nil {
		return "", fmt.Errorf("unpacking realc's source into %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another realc got there first: use its complete copy.
		if _, serr := os.Stat(filepath.Join(dir, completeMark)); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("unpacking realc's source: %v (remove %s and retry)", err, dir)
	}
	return dir, nil
}
