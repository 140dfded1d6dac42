package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

func rnd(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func near(t *testing.T, what string, got, want float64, k int) {
	t.Helper()
	if d := math.Abs(got - want); !(d <= 1e-5*float64(k+1)*(1+math.Abs(want))) {
		t.Fatalf("%s: got %g, want %g", what, got, want)
	}
}

func TestKernel12x32(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{0, 1, 7, 64} {
		for _, add := range []int{0, 1} {
			a, b := rnd(r, 12*k+1), rnd(r, 32*k+1)
			const ldc = 35
			c := rnd(r, 12*ldc)
			old := append([]float32(nil), c...)
			Kernel12x32(k, &a[0], &b[0], &c[0], ldc, add)
			for i := 0; i < 12; i++ {
				for j := 0; j < ldc; j++ {
					if j >= 32 {
						if c[i*ldc+j] != old[i*ldc+j] {
							t.Fatalf("wrote outside the tile at %d,%d", i, j)
						}
						continue
					}
					var s float64
					for p := 0; p < k; p++ {
						s += float64(a[p*12+i]) * float64(b[p*32+j])
					}
					if add != 0 {
						s += float64(old[i*ldc+j])
					}
					near(t, "Kernel12x32", float64(c[i*ldc+j]), s, k)
				}
			}
		}
	}
}

func TestKernel12x32Rows(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(17, 18))
	for _, k := range []int{0, 1, 9, 64} {
		for _, add := range []int{0, 1} {
			lda := k + 5
			a, b := rnd(r, 12*lda+1), rnd(r, 32*k+1)
			const ldc = 33
			c := rnd(r, 12*ldc)
			old := append([]float32(nil), c...)
			Kernel12x32Rows(k, &a[0], lda, &b[0], &c[0], ldc, add)
			for i := 0; i < 12; i++ {
				for j := 0; j < ldc; j++ {
					if j >= 32 {
						if c[i*ldc+j] != old[i*ldc+j] {
							t.Fatalf("wrote outside the tile at %d,%d", i, j)
						}
						continue
					}
					var s float64
					for p := 0; p < k; p++ {
						s += float64(a[i*lda+p]) * float64(b[p*32+j])
					}
					if add != 0 {
						s += float64(old[i*ldc+j])
					}
					near(t, "Kernel12x32Rows", float64(c[i*ldc+j]), s, k)
				}
			}
		}
	}
}

func TestDotRows16(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{0, 1, 15, 16, 17, 48, 100, 288} {
		for _, add := range []int{0, 1} {
			ldw := k + 3
			x, w := rnd(r, k+1), rnd(r, 16*ldw)
			c := rnd(r, 18)
			old := append([]float32(nil), c...)
			DotRows16(k, &x[0], &w[0], ldw, &c[0], 0.5, add)
			for j := 0; j < 18; j++ {
				if j >= 16 {
					if c[j] != old[j] {
						t.Fatal("wrote past 16")
					}
					continue
				}
				var s float64
				for p := 0; p < k; p++ {
					s += float64(x[p]) * float64(w[j*ldw+p])
				}
				s *= 0.5
				if add != 0 {
					s += float64(old[j])
				}
				near(t, "DotRows16", float64(c[j]), s, k)
			}
		}
	}
}

func TestDotTile4x4(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []int{0, 1, 16, 31, 48, 77} {
		for nx := 1; nx <= 4; nx++ {
			for nw := 1; nw <= 4; nw++ {
				xs, ws := rnd(r, 4*k+4), rnd(r, 4*k+4)
				var xp, wp [4]*float32
				for i := 0; i < 4; i++ {
					xp[i] = &xs[min(i, nx-1)*k]
					wp[i] = &ws[min(i, nw-1)*k]
				}
				const ldc = 6
				c := rnd(r, 4*ldc)
				old := append([]float32(nil), c...)
				add := (k + nx + nw) % 2
				DotTile4x4(k, &xp, &wp, &c[0], ldc, nx, nw, -2, add)
				for i := 0; i < 4; i++ {
					for j := 0; j < ldc; j++ {
						if i >= nx || j >= nw {
							if c[i*ldc+j] != old[i*ldc+j] {
								t.Fatalf("k=%d nx=%d nw=%d: wrote outside at %d,%d", k, nx, nw, i, j)
							}
							continue
						}
						var s float64
						for p := 0; p < k; p++ {
							s += float64(xs[i*k+p]) * float64(ws[j*k+p])
						}
						if add != 0 {
							s -= float64(old[i*ldc+j]) / 2
						}
						near(t, "DotTile4x4", float64(c[i*ldc+j]), -2*s, k)
					}
				}
			}
		}
	}
}

// TestDotPanel8x3: the panel's sums are the float64 dot products (within
// rounding) and DotTile4x4's bit for bit (a batch's rows match a lone
// row's), it writes only its 8 x 3*triples block of c, and it adds when
// asked.
func TestDotPanel8x3(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(17, 18))
	for _, k := range []int{0, 1, 16, 31, 48, 77, 288} {
		for _, triples := range []int{0, 1, 2, 5} {
			const ldx, ldc = 300, 19
			ldw := k + 3
			xs, ws := rnd(r, 8*ldx), rnd(r, 3*triples*ldw+1)
			for _, add := range []int{0, 1} {
				c := rnd(r, 9*ldc)
				old := append([]float32(nil), c...)
				DotPanel8x3(k, &xs[0], ldx, &ws[0], ldw, triples, &c[ldc+1], ldc, 1.5, add)
				// The same block by DotTile4x4, four rows and up to four columns at a time.
				want := append([]float32(nil), old...)
				for i := 0; i < 8; i += 4 {
					for j := 0; j < 3*triples; j += 4 {
						nw := min(4, 3*triples-j)
						var xp, wp [4]*float32
						for q := range xp {
							xp[q] = &xs[(i+q)*ldx]
							wp[q] = &ws[(j+min(q, nw-1))*ldw]
						}
						DotTile4x4(k, &xp, &wp, &want[(1+i)*ldc+1+j], ldc, 4, nw, 1.5, add)
					}
				}
				for i := range c {
					row, col := i/ldc-1, i%ldc-1
					if row < 0 || row >= 8 || col < 0 || col >= 3*triples {
						if c[i] != old[i] {
							t.Fatalf("k=%d triples=%d: wrote outside the block at %d", k, triples, i)
						}
						continue
					}
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("k=%d triples=%d add=%d: c[%d] = %v, DotTile4x4 %v", k, triples, add, i, c[i], want[i])
					}
					var s float64
					for p := 0; p < k; p++ {
						s += float64(xs[row*ldx+p]) * float64(ws[col*ldw+p])
					}
					if add != 0 {
						s += float64(old[i]) / 1.5
					}
					near(t, "DotPanel8x3", float64(c[i]), 1.5*s, k)
				}
			}
		}
	}
}

// TestAxpyRows64: the sums are the float64 ones (within rounding), columns
// past cols are untouched, and a column's sum does not depend on cols (the
// same bits when the columns come sixteen at a time).
func TestAxpyRows64(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 3, 4, 9, 100} {
		for _, cols := range []int{1, 5, 16, 17, 33, 48, 63, 64} {
			const ldb = 70
			x, b := rnd(r, n+1), rnd(r, (n+1)*ldb)
			c := rnd(r, 65)
			old := append([]float32(nil), c...)
			add := (n + cols) % 2
			AxpyRows64(n, &x[0], &b[0], ldb, &c[0], cols, 1.5, add)
			by16 := append([]float32(nil), old...)
			for j := 0; j < cols; j += 16 {
				AxpyRows64(n, &x[0], &b[j], ldb, &by16[j], min(16, cols-j), 1.5, add)
			}
			for j := range c {
				if j >= cols {
					if c[j] != old[j] {
						t.Fatalf("n=%d cols=%d: wrote column %d", n, cols, j)
					}
					continue
				}
				if math.Float32bits(c[j]) != math.Float32bits(by16[j]) {
					t.Fatalf("n=%d cols=%d: column %d is %v, %v sixteen columns at a time", n, cols, j, c[j], by16[j])
				}
				var s float64
				for p := 0; p < n; p++ {
					s += float64(x[p]) * float64(b[p*ldb+j])
				}
				if add != 0 {
					s += float64(old[j]) / 1.5
				}
				near(t, "AxpyRows64", float64(c[j]), 1.5*s, n)
			}
		}
	}
}

func TestTranspose16(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for nrows := 1; nrows <= 16; nrows++ {
		for _, ncols := range []int{1, 5, 16} {
			for _, width := range []int{nrows, 16} {
				const lds, ldd = 19, 18
				src := rnd(r, 16*lds)
				dst := rnd(r, 16*ldd)
				old := append([]float32(nil), dst...)
				Transpose16(&src[0], lds, nrows, ncols, &dst[0], ldd, width, 2)
				for c := 0; c < 16; c++ {
					for l := 0; l < ldd; l++ {
						got := dst[c*ldd+l]
						var want float32
						switch {
						case c >= ncols || l >= width:
							want = old[c*ldd+l]
						case l < nrows:
							want = 2 * src[l*lds+c]
						}
						if got != want {
							t.Fatalf("nrows=%d ncols=%d width=%d: dst[%d][%d] = %g, want %g", nrows, ncols, width, c, l, got, want)
						}
					}
				}
			}
		}
	}
}

func TestExpShift(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	inf := float32(math.Inf(1))
	special := []float32{0, -1e-8, 1, -1, 10, -10, 80, -80, -87.2, -87.4, -100, 88.7, 88.8, 1000, -inf, inf, float32(math.NaN())}
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 5, 16, 17, 40} {
		for _, shift := range []float32{0, 3} {
			x := make([]float32, n+1)
			for i := range x {
				if i < len(special) && n >= len(special) {
					x[i] = special[i]
				} else {
					x[i] = float32(r.NormFloat64() * 20)
				}
			}
			x[n] = 12345
			in := append([]float32(nil), x...)
			sum := ExpShift(&x[0], n, shift)
			if x[n] != 12345 {
				t.Fatal("wrote past n")
			}
			var want float64
			for i := 0; i < n; i++ {
				v := float64(in[i] - shift)
				w := math.Exp(v)
				switch {
				case math.IsNaN(v):
					if !math.IsNaN(float64(x[i])) {
						t.Fatalf("exp(NaN) = %g", x[i])
					}
					want = math.NaN()
					continue
				case v < -87.3:
					w = 0
				case v > 88.72:
					w = math.Inf(1)
				}
				want += w
				if d := math.Abs(float64(x[i]) - w); !(d <= 4e-7*w) && !(math.IsInf(w, 1) && math.IsInf(float64(x[i]), 1)) {
					t.Fatalf("exp(%g) = %g, want %g", v, x[i], w)
				}
			}
			if !(math.Abs(float64(sum)-want) <= 1e-6*want) && !(math.IsNaN(want) && math.IsNaN(float64(sum))) && !(math.IsInf(want, 1) && math.IsInf(float64(sum), 1)) {
				t.Fatalf("n=%d: sum %g, want %g", n, sum, want)
			}
		}
	}
}

func TestSwiGLU(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 16, 37} {
		g, u, da := rnd(r, n+1), rnd(r, n+1), rnd(r, n+1)
		g[0] = 100
		if n > 1 {
			g[1] = -100
		}
		for i := range g {
			g[i] *= 3
		}
		act, dg, du := make([]float32, n+1), make([]float32, n+1), make([]float32, n+1)
		SwiGLU(&act[0], &g[0], &u[0], n)
		SwiGLUBack(&dg[0], &du[0], &da[0], &g[0], &u[0], n)
		if act[n] != 0 || dg[n] != 0 || du[n] != 0 {
			t.Fatal("wrote past n")
		}
		for i := 0; i < n; i++ {
			gv, uv, dv := float64(g[i]), float64(u[i]), float64(da[i])
			s := 1 / (1 + math.Exp(-gv))
			for _, c := range [][3]float64{{float64(act[i]), gv * s * uv, 0}, {float64(du[i]), dv * gv * s, 1}, {float64(dg[i]), dv * uv * s * (1 + gv*(1-s)), 2}} {
				if d := math.Abs(c[0] - c[1]); !(d <= 1e-6*(1+math.Abs(c[1]))) {
					t.Fatalf("g=%g: output %v = %g, want %g", gv, c[2], c[0], c[1])
				}
			}
		}
	}
}

func TestPackRows(t *testing.T) {
	if !HasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for _, width := range []int{1, 12, 16, 17, 32} {
		for _, cols := range []int{1, width / 2, width} {
			if cols < 1 {
				continue
			}
			const n, lds, ldd = 5, 40, 35
			src := rnd(r, n*lds)
			dst := rnd(r, n*ldd)
			old := append([]float32(nil), dst...)
			PackRows(&src[0], lds, n, cols, &dst[0], ldd, width, 3)
			for p := 0; p < n; p++ {
				for j := 0; j < ldd; j++ {
					want := old[p*ldd+j]
					switch {
					case j < cols:
						want = 3 * src[p*lds+j]
					case j < width:
						want = 0
					}
					if dst[p*ldd+j] != want {
						t.Fatalf("width %d cols %d: dst[%d][%d] = %g, want %g", width, cols, p, j, dst[p*ldd+j], want)
					}
				}
			}
		}
	}
}
