//go:build unix

package safetensors

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the whole file read-only. An empty file cannot be mapped and is
// returned as an empty slice (Parse then reports it as truncated).
func mapFile(path string) ([]byte, func() error, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		return nil, nil, fmt.Errorf("safetensors %s: is a directory (use OpenDir or Load for a sharded checkpoint folder)", path)
	}
	size := st.Size()
	if size == 0 {
		return []byte{}, nil, nil
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("safetensors %s: %d bytes is too large to map", path, size)
	}
	b, err := syscall.Mmap(int(fd.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems cannot be mapped: read the file instead.
		b, err = os.ReadFile(path)
		return b, nil, err
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
