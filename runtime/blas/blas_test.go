package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/realc-project/realc/runtime/blas/internal/asm"
)

// naive is the textbook triple loop in float64, the reference every
// implementation is checked against.
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var x, y float32
				if transA {
					x = a[p*lda+i]
				} else {
					x = a[i*lda+p]
				}
				if transB {
					y = b[j*ldb+p]
				} else {
					y = b[p*ldb+j]
				}
				s += float64(x) * float64(y)
			}
			old := float64(0)
			if beta != 0 {
				old = float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(float64(alpha)*s + old)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func TestSgemmMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {17, 33, 9}, {64, 64, 256}, {65, 130, 257}, {5, 1031, 300}, {300, 6, 513}, {2, 2, 0}, {73, 529, 260}, {6, 16, 1},
		{1, 4099, 300}, {2, 2053, 517}, {1, 7, 3}, // m <= 2: the matrix-vector path, serial and split
		{3, 37, 70}, {4, 21, 64}, {7, 1030, 290}, {48, 50, 65}, {49, 66, 17}, {5, 3, 100}, {64, 40, 64}, {8, 50, 33}, {9, 17, 40}, // the few-row paths of the wide kernels
		{8, 1031, 300}, {12, 257, 288}, {13, 777, 96}, {16, 301, 768}, {17, 93, 200}, {40, 101, 70}, {61, 95, 300}} // eight-row panels: odd columns, column blocks, remainder rows, split, up to wideRows
	impls := Impls()
	if fn, ok := SgemmSerial(); ok {
		impls = append(impls, Impl{"go-serial", func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			fn(Triangle{}, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		}})
	}
	// Every kernel the CPU can run, also where a wider one is the default.
	for _, mk := range kernels() {
		impls = append(impls, Impl{"go-" + mk.name, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
			if m > 0 && n > 0 && k > 0 && alpha != 0 {
				sgemmWith(mk.microKernel, true, Triangle{}, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			} else if m > 0 && n > 0 {
				scaleC(m, n, beta, c, ldc)
			}
		}})
	}
	for _, impl := range impls {
		for _, sh := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-2, 0.25}} {
						m, n, k := sh[0], sh[1], sh[2]
						name := fmt.Sprintf("%s/%dx%dx%d/tA=%v/tB=%v/a=%g/b=%g", impl.Name, m, n, k, ta, tb, ab[0], ab[1])
						// Strides wider than the matrices, to catch lda/ldb/ldc mix-ups.
						ar, ac := m, k
						if ta {
							ar, ac = k, m
						}
						br, bc := k, n
						if tb {
							br, bc = n, k
						}
						lda, ldb, ldc := ac+3, bc+1, n+2
						a := randSlice(r, max(ar*lda, 1))
						b := randSlice(r, max(br*ldb, 1))
						c := randSlice(r, m*ldc)
						if ab[1] == 0 {
							c[0] = float32(math.NaN()) // beta == 0 must not propagate NaN
						}
						want := append([]float32(nil), c...)
						naive(ta, tb, m, n, k, ab[0], a, lda, b, ldb, ab[1], want, ldc)
						impl.Fn(ta, tb, m, n, k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
						tol := 1e-5 * float64(k+1)
						for i := 0; i < m; i++ {
							for j := 0; j < ldc; j++ {
								g, w := c[i*ldc+j], want[i*ldc+j]
								if j >= n {
									if g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
										t.Fatalf("%s: wrote outside C at (%d,%d)", name, i, j)
									}
									continue
								}
								if d := math.Abs(float64(g - w)); !(d <= tol*(1+math.Abs(float64(w)))) {
									t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, g, w)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmTriangle checks the products that skip a triangle (causal
// attention's) against the naive product, with every kernel: for TriLowerA
// and TriUpperA op(A) is zeroed in its triangle and all of C must match; for
// TriLowerC the entries on and below the diagonal must match, and the
// others hold the product, what C held, or (beta 0) zero. Shapes cross the row (72),
// k (256) and tile edges, so that each block's local diagonal is exercised.
func TestSgemmTriangle(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, mk := range kernels() {
		for _, part := range []TrianglePart{TriLowerC, TriLowerA, TriUpperA} {
			for _, sh := range [][3]int{{128, 128, 64}, {128, 64, 128}, {100, 80, 300}, {75, 40, 530}, {13, 33, 20}} {
				for _, diag := range []int{0, -5, 7, 130} {
					for _, ta := range []bool{false, true} {
						for _, beta := range []float32{0, 1} {
							m, n, k := sh[0], sh[1], sh[2]
							name := fmt.Sprintf("%s/part%d/%dx%dx%d/d=%d/tA=%v/b=%g", mk.name, part, m, n, k, diag, ta, beta)
							tri := Triangle{part, diag}
							lda := k + 1
							if ta {
								lda = m + 1
							}
							a := randSlice(r, max(m, k)*lda)
							at := func(i, p int) *float32 {
								if ta {
									return &a[p*lda+i]
								}
								return &a[i*lda+p]
							}
							for i := 0; i < m; i++ {
								for p := 0; p < k; p++ {
									if (part == TriLowerA && p > i+diag) || (part == TriUpperA && p < i-diag) {
										*at(i, p) = 0
									}
								}
							}
							b := randSlice(r, k*n)
							c := randSlice(r, m*n)
							old := append([]float32(nil), c...)
							want := append([]float32(nil), c...)
							naive(ta, false, m, n, k, 1, a, lda, b, n, beta, want, n)
							overwrite := beta == 0 && mk.store
							if !overwrite {
								scaleC(m, n, beta, c, n)
							}
							gemmSerial(mk.microKernel, overwrite, tri, ta, false, 0, m, 0, n, k, 1, a, lda, b, n, c, n)
							for i := 0; i < m; i++ {
								for j := 0; j < n; j++ {
									g, w := c[i*n+j], want[i*n+j]
									ok := math.Abs(float64(g-w)) <= 1e-5*float64(k+1)*(1+math.Abs(float64(w)))
									if part == TriLowerC && j > i+diag && (ok || g == old[i*n+j] || g == 0) {
										continue
									}
									if !ok {
										t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, g, w)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestSgemmShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Sgemm with a short A did not panic")
		}
	}()
	SgemmGo(false, false, 4, 4, 4, 1, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

func TestImplsDefaultFirst(t *testing.T) {
	impls := Impls()
	if impls[0].Name != Backend() {
		t.Fatalf("Impls()[0] = %q, Backend() = %q", impls[0].Name, Backend())
	}
	if impls[len(impls)-1].Name != "go" {
		t.Fatalf("pure Go must always be listed, got %v", impls)
	}
}

// BenchmarkSgemm reports GFLOP/s for every implementation side by side.
func BenchmarkSgemm(b *testing.B) {
	for _, sh := range [][3]int{{512, 512, 512}, {1024, 1024, 1024}, {64, 16384, 512}} {
		m, n, k := sh[0], sh[1], sh[2]
		r := rand.New(rand.NewPCG(3, 4))
		a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		for _, impl := range Impls() {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", impl.Name, m, n, k), func(b *testing.B) {
				for b.Loop() {
					impl.Fn(false, true, m, n, k, 1, a, k, bb, k, 0, c, n)
				}
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestSgemmGoAllocations: after warm-up the pure-Go Sgemm allocates only
// its goroutines' bookkeeping, not per-tile buffers (the fused loss driver
// measures its extra memory).
func TestSgemmGoAllocations(t *testing.T) {
	m, n, k := 200, 300, 100
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	SgemmGo(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	allocs := testing.AllocsPerRun(5, func() { SgemmGo(true, false, m, n, k, 1, a, m, b, n, 0, c, n) })
	if allocs > 10 {
		t.Fatalf("%v allocations per call, want a handful", allocs)
	}
}

type namedKernel struct {
	name string
	microKernel
}

// kernels lists the micro-kernels this CPU can run.
func kernels() []namedKernel {
	ks := []namedKernel{{"4x4", goKernel}}
	if asm.HasAVX2 {
		ks = append(ks, namedKernel{"avx2", avxKernel})
	}
	if asm.HasAVX512 {
		ks = append(ks, namedKernel{"avx512", avx512Kernel})
	}
	return ks
}

// BenchmarkFewRows compares, for the products of a batched decoding step
// (m rows of activations times weights stored [n x k]), the few-row path
// against the packed GEMM with the same kernel, in GFLOP/s.
func BenchmarkFewRows(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][2]int{{32000, 288}, {768, 288}, {288, 768}} {
		n, k := sh[0], sh[1]
		w := randSlice(r, n*k)
		for _, m := range []int{1, 2, 4, 8, 16, 32, 48, 64, 96} {
			x, c := randSlice(r, m*k), make([]float32, m*n)
			mk := defaultKernel()
			b.Run(fmt.Sprintf("%dx%dx%d/few", m, n, k), func(b *testing.B) {
				for b.Loop() {
					gemvRows(mk, true, true, true, m, n, k, 1, x, k, w, k, c, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("%dx%dx%d/packed", m, n, k), func(b *testing.B) {
				for b.Loop() {
					workers := 1
					if m*n*k >= parallelMin {
						workers = 2
					}
					var wg sync.WaitGroup
					for w0 := 0; w0 < workers; w0++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							j0, j1 := share(n, workers, w0, mk.nr)
							gemmSerial(mk, true, Triangle{}, false, true, 0, m, j0, j1, k, 1, x, k, w, k, c, n)
						}()
					}
					wg.Wait()
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
