//go:build !unix

package train_test

import "testing"

func brokenPipe(t *testing.T, path string) { t.Skip("needs a named pipe (unix)") }
