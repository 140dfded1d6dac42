//go:build !unix

package safetensors

import (
	"fmt"
	"os"
)

// mapFile reads the whole file: no memory mapping on this platform.
func mapFile(path string) ([]byte, func() error, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, nil, fmt.Errorf("safetensors %s: is a directory (use OpenDir or Load for a sharded checkpoint folder)", path)
	}
	b, err := os.ReadFile(path)
	return b, nil, err
}
