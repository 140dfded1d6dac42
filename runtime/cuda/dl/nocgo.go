//go:build !cgo

package dl

const cgoEnabled = false

type handle uintptr

func open(path string) (handle, error)  { return 0, ErrNoCgo }
func sym(h handle, name string) uintptr { return 0 }
func file(h handle) string              { return "" }

type blasFns struct{}
type ltFns struct{}
type nvrtcFns struct{}

func (f Finder) driverInfo() (*DriverInfo, error) { return nil, ErrNoCgo }
func (f Finder) newBLAS() (*BLAS, error)          { return nil, ErrNoCgo }
func (f Finder) newLt() (*Lt, error)              { return nil, ErrNoCgo }
func (f Finder) newNVRTC() (*NVRTC, error)        { return nil, ErrNoCgo }
func (b *BLAS) statusString(code int) string      { return blasStatusName(code) }
func (b *BLAS) close() error                      { return nil }
func (b *BLAS) setStream(uintptr) int             { return 1 }
func (b *BLAS) setMathMode(int) int               { return 1 }
func (b *BLAS) gemmEx(ta, tb, m, n, k int, alpha float32, A uintptr, at DType, lda int, B uintptr, bt DType, ldb int, beta float32, Cp uintptr, ct DType, ldc int) int {
	return 1
}
func (b *BLAS) sgemm(ta, tb, m, n, k int, alpha float32, A uintptr, lda int, B uintptr, ldb int, beta float32, Cp uintptr, ldc int) int {
	return 1
}
func (l *Lt) close() error { return nil }
func (l *Lt) matmul(ta, tb, m, n, k int, alpha float32, A uintptr, at DType, lda int, B uintptr, bt DType, ldb int, beta float32, Cp uintptr, ct DType, ldc int, ws uintptr, wsBytes int64, stream uintptr) (int, string) {
	return 1, "no cgo"
}
func (r *NVRTC) compile(src, name string, opts []string) (string, string, int, string) {
	return "", "", 1, "no cgo"
}
func (r *NVRTC) errString(int) string    { return ErrNoCgo.Error() }
func (r *NVRTC) close()                  {}
func ncclVersion(l *Lib) (int, error)    { return 0, ErrNoCgo }
func blasVersion(l *Lib) (string, error) { return "", ErrNoCgo }
func ltVersion(l *Lib) (string, error)   { return "", ErrNoCgo }
