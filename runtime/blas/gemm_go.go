package blas

import (
	"runtime"

	"github.com/realc-project/realc/runtime/blas/internal/asm"
)

// Blocking of the pure-Go multiply (Goto's scheme): C is cut into column
// blocks of nc, the k dimension into slices of kc and rows into blocks of mc;
// each A block (mc x kc, 72 KiB, kept in L2) is packed into strips of mr rows
// and each B block (kc x nc) into strips of nr columns (one strip, 32 KiB
// at most, stays in L1 while the A strips pass), so the micro-kernel reads
// both operands contiguously whatever the transposes were. nc is wide (A is
// packed again for every column block: the LM head's 8192 columns took 16
// packings at 512). The micro-kernel is 12x32 in AVX-512 assembly where the
// CPU has it, else 6x16 in AVX2+FMA, else 4x4 in Go. The AVX-512 kernel also
// reads a row-major A unpacked (Kernel12x32Rows: twelve rows by pointer), so
// only B and transposed A are packed there.
const (
	mc = 72
	kc = 256
	nc = 2048
)

// microKernel adds (or, with add false, writes) a packed mr x kb strip of
// A times a packed kb x nr strip of B into C (row stride ldc). Kernels that
// cannot overwrite (store false) always add, and C is cleared first.
type microKernel struct {
	mr, nr int
	fn     func(kb int, a, b, c []float32, ldc int, add bool)
	vec    bool // AVX2: the matrix-vector path uses asm.Dot4x8 too
	store  bool // fn honours add == false
	wide   bool // AVX-512: the few-row paths use the 16-lane kernels
}

var (
	goKernel     = microKernel{mr: 4, nr: 4, fn: kernel4x4}
	avxKernel    = microKernel{mr: 6, nr: 16, fn: kernelAVX, vec: true}
	avx512Kernel = microKernel{mr: 12, nr: 32, fn: kernelAVX512, vec: true, store: true, wide: true}
)

func kernelAVX(kb int, a, b, c []float32, ldc int, _ bool) {
	// The assembly does not check bounds: do it once per tile.
	_ = a[6*kb-1]
	_ = b[16*kb-1]
	_ = c[5*ldc+15]
	asm.Kernel6x16(kb, &a[0], &b[0], &c[0], ldc)
}

func kernelAVX512(kb int, a, b, c []float32, ldc int, add bool) {
	_ = a[12*kb-1]
	_ = b[32*kb-1]
	_ = c[11*ldc+31]
	f := 0
	if add {
		f = 1
	}
	asm.Kernel12x32(kb, &a[0], &b[0], &c[0], ldc, f)
}

// maxMR and maxNR bound every kernel's tile (for the edge buffer).
const maxMR, maxNR = 12, 32

func defaultKernel() microKernel {
	switch {
	case asm.HasAVX512:
		return avx512Kernel
	case asm.HasAVX2:
		return avxKernel
	}
	return goKernel
}

// parallelMin is the work (m*n*k) below which a second goroutine costs more
// than it saves.
const parallelMin = 1 << 18

// SgemmGo is the pure-Go Sgemm: blocked, packed, and split over
// min(GOMAXPROCS, 2) goroutines by columns of C (or rows when C is narrow).
func SgemmGo(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGo(true, Triangle{}, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmSerialGo is SgemmGo on the calling goroutine alone, skipping what
// tri says is zero or unneeded (SgemmSerial).
func sgemmSerialGo(tri Triangle, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmGo(false, tri, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmGo checks the arguments, handles the empty products and calls
// sgemmWith with the default kernel; split allows a second goroutine.
func sgemmGo(split bool, tri Triangle, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	sgemmWith(defaultKernel(), split, tri, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmWith is SgemmGo past its argument checks (m, n, k > 0), with the
// micro-kernel mk; split says whether it may take a second goroutine, tri
// what it may skip (the few-row path computes everything).
func sgemmWith(mk microKernel, split bool, tri Triangle, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !transA && m <= fewRows(mk, transB, k) {
		// The wide kernels overwrite C when beta is 0 (no clearing pass).
		overwrite := beta == 0 && mk.wide
		if !overwrite {
			scaleC(m, n, beta, c, ldc)
		}
		gemvRows(mk, split, overwrite, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc)
		return
	}
	// A kernel that can overwrite C does so on the first k block when
	// beta is 0, so that C is not cleared in a pass of its own.
	overwrite := beta == 0 && mk.store
	if !overwrite {
		scaleC(m, n, beta, c, ldc)
	}
	mr, nr := mk.mr, mk.nr
	// Size first: runtime.GOMAXPROCS takes the scheduler lock, a cost
	// that shows on the many tiny products of decoding.
	workers := 1
	if split && m*n*k >= parallelMin {
		workers = min(runtime.GOMAXPROCS(0), 2)
	}
	if workers < 2 {
		gemmSerial(mk, overwrite, tri, transA, transB, 0, m, 0, n, k, alpha, a, lda, b, ldb, c, ldc)
		return
	}
	half := func(w int) func() {
		return func() {
			if n >= m || m < 2*mr*workers {
				// Split columns, keeping each share a multiple of nr:
				// each worker packs all of A (the smaller operand) and
				// its share of B.
				j0, j1 := share(n, workers, w, nr)
				gemmSerial(mk, overwrite, tri, transA, transB, 0, m, j0, j1, k, alpha, a, lda, b, ldb, c, ldc)
			} else {
				// Split rows: each packs all of B, now the smaller.
				i0, i1 := share(m, workers, w, mr)
				gemmSerial(mk, overwrite, tri, transA, transB, i0, i1, 0, n, k, alpha, a, lda, b, ldb, c, ldc)
			}
		}
	}
	both(half(0), half(1))
}

// share returns worker w's half-open range of [0, total) in units of unit.
func share(total, workers, w, unit int) (int, int) {
	units := (total + unit - 1) / unit
	lo := units * w / workers * unit
	hi := units * (w + 1) / workers * unit
	return min(lo, total), min(hi, total)
}

// scaleC applies beta to C (beta == 0 clears it, so NaNs in C do not survive).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// packFree recycles packing buffers (about 700 KiB per goroutine). A
// channel, not a sync.Pool: a pool is emptied by every GC, and a GEMM-heavy
// loop would then allocate anew on most calls.
var packFree = make(chan *packBufs, 8)

type packBufs struct{ a, b, tmp []float32 }

func getPack() *packBufs {
	select {
	case p := <-packFree:
		return p
	default:
		return &packBufs{a: make([]float32, (mc+maxMR)*kc), b: make([]float32, kc*(nc+maxNR)), tmp: make([]float32, maxMR*maxNR)}
	}
}

func putPack(p *packBufs) {
	select {
	case packFree <- p:
	default:
	}
}

// gemmSerial adds alpha*op(A)op(B) into C[i0:i1, j0:j1] on one goroutine
// (overwrites C there when overwrite is set), skipping what tri allows.
func gemmSerial(mk microKernel, overwrite bool, tri Triangle, transA, transB bool, i0, i1, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	bufs := getPack()
	defer putPack(bufs)
	for jb := j0; jb < j1; jb += nc {
		nb := min(nc, j1-jb)
		for pb := 0; pb < k; pb += kc {
			kb := min(kc, k-pb)
			packB(mk, transB, b, ldb, pb, kb, jb, nb, alpha, bufs.b)
			add := !overwrite || pb > 0
			for ib := i0; ib < i1; ib += mc {
				mb := min(mc, i1-ib)
				if mk.wide && !transA {
					// The full strips read A where it lies (no packing);
					// only a last partial strip is packed.
					full := mb / mk.mr * mk.mr
					if full < mb {
						packA(mk, transA, a, lda, ib+full, mb-full, pb, kb, bufs.a)
					}
					macroKernelRows(mk, add, tri.local(ib, jb, pb), full, mb, nb, kb, a[ib*lda+pb:], lda, bufs.a, bufs.b, bufs.tmp, c[ib*ldc+jb:], ldc)
					continue
				}
				packA(mk, transA, a, lda, ib, mb, pb, kb, bufs.a)
				macroKernel(mk, add, tri.local(ib, jb, pb), mb, nb, kb, bufs.a, bufs.b, bufs.tmp, c[ib*ldc+jb:], ldc)
			}
		}
	}
}

// packA writes op(A)[i0:i0+mb, p0:p0+kb] as strips of mr rows, element (i, p)
// of a strip at p*mr+i; rows past mb are zero.
func packA(mk microKernel, trans bool, a []float32, lda, i0, mb, p0, kb int, dst []float32) {
	mr := mk.mr
	for s := 0; s < mb; s += mr {
		strip := dst[s*kb : s*kb+mr*kb]
		rows := min(mr, mb-s)
		r0 := i0 + s
		if trans {
			// op(A) rows are A's columns: each p gives rows contiguous values.
			if mk.wide {
				_ = a[(p0+kb-1)*lda+r0+rows-1]
				asm.PackRows(&a[p0*lda+r0], lda, kb, rows, &strip[0], mr, mr, 1)
				continue
			}
			for p := 0; p < kb; p++ {
				d := strip[p*mr : p*mr+mr]
				copy(d, a[(p0+p)*lda+r0:(p0+p)*lda+r0+rows])
				clear(d[rows:])
			}
			continue
		}
		if mk.wide {
			// Sixteen values of each row at a time, transposed in registers.
			_ = a[(r0+rows-1)*lda+p0+kb-1]
			for p := 0; p < kb; p += 16 {
				asm.Transpose16(&a[r0*lda+p0+p], lda, rows, min(16, kb-p), &strip[p*mr], mr, mr, 1)
			}
			continue
		}
		for i := 0; i < mr; i++ {
			if i >= rows {
				for p := 0; p < kb; p++ {
					strip[p*mr+i] = 0
				}
				continue
			}
			src := a[(r0+i)*lda+p0 : (r0+i)*lda+p0+kb]
			for p, v := range src {
				strip[p*mr+i] = v
			}
		}
	}
}

// packB writes alpha*op(B)[p0:p0+kb, j0:j0+nb] as strips of nr columns,
// element (p, j) of a strip at p*nr+j; columns past nb are zero.
func packB(mk microKernel, trans bool, b []float32, ldb, p0, kb, j0, nb int, alpha float32, dst []float32) {
	nr := mk.nr
	for s := 0; s < nb; s += nr {
		strip := dst[s*kb : s*kb+nr*kb]
		cols := min(nr, nb-s)
		if !trans {
			if mk.wide {
				_ = b[(p0+kb-1)*ldb+j0+s+cols-1]
				asm.PackRows(&b[p0*ldb+j0+s], ldb, kb, cols, &strip[0], nr, nr, alpha)
				continue
			}
			for p := 0; p < kb; p++ {
				src := b[(p0+p)*ldb+j0+s : (p0+p)*ldb+j0+s+cols]
				d := strip[p*nr : p*nr+nr]
				if alpha == 1 {
					copy(d, src)
				} else {
					for j, v := range src {
						d[j] = alpha * v
					}
				}
				clear(d[cols:])
			}
			continue
		}
		if mk.wide {
			// B's rows are op(B)'s columns: sixteen of them at a time,
			// sixteen values each, transposed in registers.
			_ = b[(j0+s+cols-1)*ldb+p0+kb-1]
			for h := 0; h < nr; h += 16 {
				if h >= cols {
					for p := 0; p < kb; p++ {
						clear(strip[p*nr+h : p*nr+h+16])
					}
					continue
				}
				for p := 0; p < kb; p += 16 {
					asm.Transpose16(&b[(j0+s+h)*ldb+p0+p], ldb, min(16, cols-h), min(16, kb-p), &strip[p*nr+h], nr, 16, alpha)
				}
			}
			continue
		}
		for j := 0; j < nr; j++ {
			if j >= cols {
				for p := 0; p < kb; p++ {
					strip[p*nr+j] = 0
				}
				continue
			}
			col := j0 + s + j
			src := b[col*ldb+p0 : col*ldb+p0+kb]
			for p, v := range src {
				strip[p*nr+j] = alpha * v
			}
		}
	}
}

// macroKernel adds packed A (mb x kb) times packed B (kb x nb) into C (or
// writes it, add false), skipping what tri (in the block's coordinates)
// allows. tmp (maxMR*maxNR floats) takes the edge tiles; it is passed in
// because a local array handed to mk.fn would escape to the heap on every
// call.
func macroKernel(mk microKernel, add bool, tri Triangle, mb, nb, kb int, pa, pb, tmp []float32, c []float32, ldc int) {
	mr, nr := mk.mr, mk.nr
	tmp = tmp[:mr*nr]
	for js := 0; js < nb; js += nr {
		cols := min(nr, nb-js)
		for is := 0; is < mb; is += mr {
			rows := min(mr, mb-is)
			p0, p1, ok := tri.span(c, ldc, is, rows, js, cols, kb, add)
			if !ok {
				continue
			}
			as := pa[is*kb+p0*mr : is*kb+p1*mr]
			bs := pb[js*kb+p0*nr : js*kb+p1*nr]
			if rows == mr && cols == nr {
				mk.fn(p1-p0, as, bs, c[is*ldc+js:], ldc, add)
				continue
			}
			if mk.store {
				mk.fn(p1-p0, as, bs, tmp, nr, false)
			} else {
				clear(tmp)
				mk.fn(p1-p0, as, bs, tmp, nr, true)
			}
			for i := 0; i < rows; i++ {
				cr := c[(is+i)*ldc+js : (is+i)*ldc+js+cols]
				tr := tmp[i*nr : i*nr+cols]
				if add {
					for j, v := range tr {
						cr[j] += v
					}
				} else {
					copy(cr, tr)
				}
			}
		}
	}
}

// macroKernelRows is macroKernel for the AVX-512 kernel with A unpacked:
// rows [0, full) of the block are read from a (row stride lda, at the block's
// first k) by asm.Kernel12x32Rows; rows [full, mb), fewer than mr, are packed
// in pa.
func macroKernelRows(mk microKernel, add bool, tri Triangle, full, mb, nb, kb int, a []float32, lda int, pa, pb, tmp []float32, c []float32, ldc int) {
	mr, nr := mk.mr, mk.nr
	tmp = tmp[:mr*nr]
	f := 0
	if add {
		f = 1
	}
	if full > 0 {
		_ = a[(full-1)*lda+kb-1]
	}
	for js := 0; js < nb; js += nr {
		cols := min(nr, nb-js)
		for is := 0; is < mb; is += mr {
			rows := min(mr, mb-is)
			p0, p1, ok := tri.span(c, ldc, is, rows, js, cols, kb, add)
			if !ok {
				continue
			}
			bs := pb[js*kb+p0*nr : js*kb+p1*nr]
			if rows == mr && cols == nr {
				_ = c[(is+mr-1)*ldc+js+nr-1]
				asm.Kernel12x32Rows(p1-p0, &a[is*lda+p0], lda, &bs[0], &c[is*ldc+js], ldc, f)
				continue
			}
			if is < full {
				asm.Kernel12x32Rows(p1-p0, &a[is*lda+p0], lda, &bs[0], &tmp[0], nr, 0)
			} else {
				mk.fn(p1-p0, pa[p0*mr:p1*mr], bs, tmp, nr, false)
			}
			for i := 0; i < rows; i++ {
				cr := c[(is+i)*ldc+js : (is+i)*ldc+js+cols]
				tr := tmp[i*nr : i*nr+cols]
				if add {
					for j, v := range tr {
						cr[j] += v
					}
				} else {
					copy(cr, tr)
				}
			}
		}
	}
}

// Triangle marks the part of a product that is zero or unneeded, so that
// the multiply may skip it (causal attention: a query sees no key after its
// own, so half of each square block of scores and probabilities is zero).
// With d = Diag:
//   - TriLowerC: only C[i][j] with j <= i+d is needed; the tiles wholly
//     above that diagonal are skipped and keep what they held.
//   - TriLowerA: op(A)[i][p] is zero for p > i+d: each strip of rows stops
//     its k loop after its last row's diagonal.
//   - TriUpperA: op(A)[i][p] is zero for p < i-d: each strip of rows starts
//     its k loop at its first row's diagonal.
//
// The zero Triangle skips nothing. Skipping is by whole tiles and strips,
// so a product that computes everything (another Sgemm) is as correct.
type Triangle struct {
	Part TrianglePart
	Diag int
}

// TrianglePart says which part a Triangle describes.
type TrianglePart uint8

const (
	TriNone TrianglePart = iota
	TriLowerC
	TriLowerA
	TriUpperA
)

// local is t in the coordinates of the block whose first row, column and
// k index in the whole product are i0, j0 and p0.
func (t Triangle) local(i0, j0, p0 int) Triangle {
	switch t.Part {
	case TriLowerC:
		t.Diag += i0 - j0
	case TriLowerA:
		t.Diag += i0 - p0
	case TriUpperA:
		t.Diag += p0 - i0
	}
	return t
}

// span says what the macro kernels do with the tile of rows
// [i0, i0+rows) and columns [j0, j0+cols) of c in a block of k length kb:
// multiply the k range [p0, p1) that can contribute, or (ok false) nothing,
// when the tile lies wholly above a TriLowerC diagonal or its product is
// zero (then added as nothing, or written here as zeros when C is
// overwritten).
func (t Triangle) span(c []float32, ldc, i0, rows, j0, cols, kb int, add bool) (p0, p1 int, ok bool) {
	p0, p1 = 0, kb
	switch t.Part {
	case TriLowerC:
		if j0 > i0+rows-1+t.Diag {
			return 0, 0, false
		}
	case TriLowerA:
		p1 = min(kb, i0+rows+t.Diag)
	case TriUpperA:
		p0 = max(0, i0-t.Diag)
	}
	if p0 >= p1 {
		if !add {
			scaleC(rows, cols, 0, c[i0*ldc+j0:], ldc)
		}
		return 0, 0, false
	}
	return p0, p1, true
}

// kernel4x4 adds the product of a 4 x kb strip of A and a kb x 4 strip of B
// into a 4 x 4 tile of C, keeping the 16 sums in registers.
func kernel4x4(kb int, a, b, c []float32, ldc int, _ bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	a = a[:kb*4]
	b = b[:kb*4]
	for p := 0; p+4 <= len(a); p += 4 {
		av := a[p : p+4 : p+4]
		bv := b[p : p+4 : p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	r := c[0*ldc : 0*ldc+4 : 0*ldc+4]
	r[0] += c00
	r[1] += c01
	r[2] += c02
	r[3] += c03
	r = c[1*ldc : 1*ldc+4 : 1*ldc+4]
	r[0] += c10
	r[1] += c11
	r[2] += c12
	r[3] += c13
	r = c[2*ldc : 2*ldc+4 : 2*ldc+4]
	r[0] += c20
	r[1] += c21
	r[2] += c22
	r[3] += c23
	r = c[3*ldc : 3*ldc+4 : 3*ldc+4]
	r[0] += c30
	r[1] += c31
	r[2] += c32
	r[3] += c33
}
