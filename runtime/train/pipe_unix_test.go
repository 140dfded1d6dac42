//go:build unix

package train_test

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// brokenPipe makes path a named pipe whose reader takes what the trainer's
// openJSONL writes when it opens the file (the kept lines: none) and goes
// away once the trainer has reopened it for appending: opening works, the
// first line written fails with EPIPE ("broken pipe"), as a full disk or a
// lost network mount fails a run's file in the middle of it.
func brokenPipe(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		// os.WriteFile's open and write, then the append open.
		for i := 0; i < 2; i++ {
			f, err := os.Open(path)
			if err != nil {
				return
			}
			if i == 0 {
				io.Copy(io.Discard, f)
			}
			f.Close()
		}
	}()
}
