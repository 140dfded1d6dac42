package blas

import (
	"runtime"

	"github.com/realc-project/realc/runtime/blas/internal/asm"
)

// smallM is the widest C that goes to the matrix-vector path: packing B for a
// row or two of A costs more than the multiply (one decoding step multiplies
// one row of activations by every weight matrix).
const smallM = 2

// wideRows is that width with the AVX-512 kernels when B is transposed
// (weights stored [n x k], as models keep them): a few rows of A against
// every row of B, each of B's rows read from memory once for all of A's
// (asm.DotTile4x4), which beats packing B up to several tens of rows (the
// rows of a batched decoding step; measured by BenchmarkFewRows).
const wideRows = 64

// wideAxpyRows is the width up to which a non-transposed B goes to
// asm.AxpyRows64 (each row of A reads B again, from cache: decoding
// attention's probabilities times values, one row per query head of a group).
const wideAxpyRows = 8

// wideMinK is the shortest dot product for the wide path: each 4 x 4 tile
// ends in a 16-way horizontal sum (about 45 instructions), which products of
// one or two 16-lane chunks per dot do not amortize.
const wideMinK = 64

// gemvParallelMin is the work (m*n*k) from which the matrix-vector path
// splits B's rows over two goroutines: a decoding step's products are
// memory-bound, one core streams weights at about half the rate two do, and
// a handoff costs a microsecond or two (a 288 x 288 matrix, 83K, takes about
// 13 µs on one core).
const gemvParallelMin = 1 << 16

// fewRows is the number of rows of A up to which sgemmWith takes the
// matrix-vector path.
func fewRows(mk microKernel, transB bool, k int) int {
	switch {
	case mk.wide && transB && k >= wideMinK:
		return wideRows
	case mk.wide && !transB:
		return wideAxpyRows
	}
	return smallM
}

// gemvRows computes C[i,:] += alpha * A[i,:] * op(B) for the few rows of a
// non-transposed A, reading B once in its stored order: dot products
// with B's rows when B is transposed (weights stored [n x k], as models keep
// them), axpys over B's rows otherwise. Columns are split over two goroutines
// when there is enough work and split allows it. The kernels are AVX-512 (mk.wide), AVX2
// (mk.vec: asm.Dot4x8, asm.SumRows8) or Go. With overwrite (wide kernels
// only) C is set rather than added to.
func gemvRows(mk microKernel, split, overwrite, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	// Size first: runtime.GOMAXPROCS takes the scheduler lock, a cost
	// that shows on the many tiny products of decoding.
	workers := 1
	if split && m*n*k >= gemvParallelMin {
		workers = min(runtime.GOMAXPROCS(0), 2)
	}
	run := gemvRange
	vec := mk.vec
	if mk.wide {
		run = gemvRangeWide
		vec = overwrite
	}
	if workers < 2 {
		run(vec, transB, m, 0, n, k, alpha, a, lda, b, ldb, c, ldc)
		return
	}
	j0, j1 := share(n, 2, 0, 16)
	both(func() { run(vec, transB, m, j0, j1, k, alpha, a, lda, b, ldb, c, ldc) },
		func() { run(vec, transB, m, j1, n, k, alpha, a, lda, b, ldb, c, ldc) })
}

// gemvRangeWide is gemvRange with the AVX-512 kernels, for columns [j0, j1)
// of C, which it overwrites (or adds to, add false). With B transposed,
// blocks of B's rows are read once for all rows of A: sixteen at a time
// against each row of A when A has fewer than four (asm.DotRows16), four
// by four (asm.DotTile4x4) from four to seven, and in panels from eight
// (panelRows).
func gemvRangeWide(overwrite, transB bool, m, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if j0 >= j1 {
		return
	}
	add := 1
	if overwrite {
		add = 0
	}
	// The assembly does not check bounds: check the extremes once.
	_ = a[(m-1)*lda+k-1]
	_ = c[(m-1)*ldc+j1-1]
	if !transB {
		_ = b[(k-1)*ldb+j1-1]
		for i := 0; i < m; i++ {
			for j := j0; j < j1; j += 64 {
				asm.AxpyRows64(k, &a[i*lda], &b[j], ldb, &c[i*ldc+j], min(64, j1-j), alpha, add)
			}
		}
		return
	}
	_ = b[(j1-1)*ldb+k-1]
	var xp, wp [4]*float32
	if m < 4 {
		j := j0
		for ; j+16 <= j1; j += 16 {
			for i := 0; i < m; i++ {
				asm.DotRows16(k, &a[i*lda], &b[j*ldb], ldb, &c[i*ldc+j], alpha, add)
			}
		}
		for ; j < j1; j += 4 {
			nw := min(4, j1-j)
			for s := range wp {
				wp[s] = &b[(j+min(s, nw-1))*ldb]
			}
			for i := 0; i < m; i++ {
				xp = [4]*float32{&a[i*lda], &a[i*lda], &a[i*lda], &a[i*lda]}
				asm.DotTile4x4(k, &xp, &wp, &c[i*ldc+j], ldc, 1, nw, alpha, add)
			}
		}
		return
	}
	if m >= 8 {
		panelRows(m, j0, j1, k, alpha, a, lda, b, ldb, c, ldc, add)
		return
	}
	dotTiles(0, m, j0, j1, k, alpha, a, lda, b, ldb, c, ldc, add)
}

// dotTiles computes rows [i0, i1) and columns [j0, j1) of C (B transposed)
// by asm.DotTile4x4, four rows by four columns at a time, each group of
// B's rows against every row of A in turn; a last partial tile repeats its
// last row or column pointer, as DotTile4x4 asks.
func dotTiles(i0, i1, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, add int) {
	var xp, wp [4]*float32
	for j := j0; j < j1; j += 4 {
		nw := min(4, j1-j)
		for s := range wp {
			wp[s] = &b[(j+min(s, nw-1))*ldb]
		}
		for i := i0; i < i1; i += 4 {
			nx := min(4, i1-i)
			for r := range xp {
				xp[r] = &a[(i+min(r, nx-1))*lda]
			}
			asm.DotTile4x4(k, &xp, &wp, &c[i*ldc+j], ldc, nx, nw, alpha, add)
		}
	}
}

// panelBytes is about how much of B a column block of panelRows holds: the
// eight-row groups after the first read it again from L1 (48 KiB here).
const panelBytes = 24 << 10

// panelRows is gemvRangeWide's transposed case from eight rows of A up to
// wideRows: B's rows in column blocks, each block read from memory once, by
// the first group of eight rows of A (asm.DotPanel8x3), and from cache by
// the others and by the last m%8 rows (asm.DotTile4x4); the last one or two
// columns of a block by DotTile4x4 too. DotPanel8x3's 24 multiply-adds per
// 11 loads beat DotTile4x4's 16 per 8 at every such width (interleaved
// calls, medians: 16-27% on the stories15M head and its 768 x 288 products
// from 24 to 64 rows, 2-3% on 288 x 768 and 864 x 288; with 8 and 16 rows
// the panels were already 8-20% faster on the head).
func panelRows(m, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, add int) {
	m8 := m &^ 7
	block := j1 - j0 // one group of eight: no rereading, one block
	if m > 8 {
		block = max(3, panelBytes/(4*max(k, 1))/3*3)
	}
	for jb := j0; jb < j1; jb += block {
		je := min(jb+block, j1)
		triples := (je - jb) / 3
		if triples > 0 {
			for i := 0; i < m8; i += 8 {
				asm.DotPanel8x3(k, &a[i*lda], lda, &b[jb*ldb], ldb, triples, &c[i*ldc+jb], ldc, alpha, add)
			}
		}
		dotTiles(0, m8, jb+3*triples, je, k, alpha, a, lda, b, ldb, c, ldc, add) // the last one or two columns
		dotTiles(m8, m, jb, je, k, alpha, a, lda, b, ldb, c, ldc, add)           // the last m%8 rows
	}
}

func gemvRange(vec, transB bool, m, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		x := a[i*lda : i*lda+k]
		cr := c[i*ldc : i*ldc+j1]
		if transB {
			j := j0
			// Four of B's rows at a time: each x[p] is loaded once for four
			// independent sums, which also keep the adds pipelined.
			if k8 := k / 8; vec && k8 > 0 {
				// Eight lanes of x at a time, the last k%8 in Go.
				var s [4]float32
				for ; j+4 <= j1; j += 4 {
					_ = b[(j+3)*ldb+k-1]
					asm.Dot4x8(k8, &x[0], &b[j*ldb], ldb, &s)
					for r := range s {
						br := b[(j+r)*ldb : (j+r)*ldb+k]
						for p := 8 * k8; p < k; p++ {
							s[r] += x[p] * br[p]
						}
						cr[j+r] += alpha * s[r]
					}
				}
			}
			for ; j+4 <= j1; j += 4 {
				b0 := b[j*ldb : j*ldb+k][:len(x)]
				b1 := b[(j+1)*ldb : (j+1)*ldb+k][:len(x)]
				b2 := b[(j+2)*ldb : (j+2)*ldb+k][:len(x)]
				b3 := b[(j+3)*ldb : (j+3)*ldb+k][:len(x)]
				var s0, s1, s2, s3 float32
				for p, xv := range x {
					s0 += xv * b0[p]
					s1 += xv * b1[p]
					s2 += xv * b2[p]
					s3 += xv * b3[p]
				}
				cr[j] += alpha * s0
				cr[j+1] += alpha * s1
				cr[j+2] += alpha * s2
				cr[j+3] += alpha * s3
			}
			for ; j < j1; j++ {
				cr[j] += alpha * dot(x, b[j*ldb:j*ldb+k])
			}
			continue
		}
		cr = cr[j0:j1]
		jv := j0 // columns [j0, jv) done by the AVX2 kernel
		if vec && k > 0 {
			// Eight columns at a time summed over all of x in registers
			// (no load-add-store of C per row of B); the last (j1-j0)%8
			// columns by the axpys below.
			var s [8]float32
			for ; jv+8 <= j1; jv += 8 {
				_ = b[(k-1)*ldb+jv+7]
				asm.SumRows8(k, &x[0], &b[jv], ldb, &s)
				for j, v := range s {
					cr[jv-j0+j] += alpha * v
				}
			}
			if jv == j1 {
				continue
			}
			cr = cr[jv-j0:]
		}
		for p, xv := range x {
			av := alpha * xv
			if av == 0 {
				continue
			}
			br := b[p*ldb+jv : p*ldb+j1]
			for j, bv := range br {
				cr[j] += av * bv
			}
		}
	}
}

// dot is a four-accumulator dot product (independent adds pipeline).
func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	p := 0
	for ; p+4 <= len(x); p += 4 {
		s0 += x[p] * y[p]
		s1 += x[p+1] * y[p+1]
		s2 += x[p+2] * y[p+2]
		s3 += x[p+3] * y[p+3]
	}
	for ; p < len(x); p++ {
		s0 += x[p] * y[p]
	}
	return (s0 + s1) + (s2 + s3)
}
