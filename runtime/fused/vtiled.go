package fused

import (
	"fmt"
	"math"
	"sync"
)

// runTiled is the vocabulary-tiled schedule (Options.Schedule = VocabTiles) of the fused loss: instead of
// chunks of rows it takes tiles of the vocabulary, so every GEMM has all N
// rows (as efficient as the naive schedule's) and dW is written once per
// tile instead of read and written once per row chunk. The price is a second
// forward GEMM: pass 1 computes each tile's logits [N x tile] and merges
// their online max / sum-exp / sum p*z and gathers into per-row statistics;
// the kernel's Row gives each row's coefficients; pass 2 recomputes each
// tile's logits, turns them into dlogits in place and runs dH += dZ W_tile
// and dW_tile += dZ^T H. Peak extra memory: N*tile floats plus O(N).
// Same contract and results as the row-chunk schedule.
func runTiled(p *Problem, k Kernel, grad bool, o Options) (float64, error) {
	n, d, v := p.N, p.D, p.V
	tile := o.Tile
	if tile <= 0 {
		tile = DefaultTile(n)
	}
	tile = min(tile, v)
	z := o.Scratch
	if len(z) < n*tile {
		z = make([]float32, n*tile)
	}
	ent := k.Entropy()
	rows := make([]tiledRow, n)
	for r := range rows {
		rows[r] = tiledRow{m: math.Inf(-1)}
		rows[r].st.Idx = k.Gather(r, nil)
		rows[r].st.Z = make([]float32, len(rows[r].st.Idx))
		for _, id := range rows[r].st.Idx {
			if id < 0 || int(id) >= v {
				return 0, fmt.Errorf("fused: row %d gathers token id %d outside the vocabulary [0, %d)", r, id, v)
			}
		}
	}
	workers := max(1, min(Workers(), n))
	parallel := func(f func(r int)) {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for r := w; r < n; r += workers {
					f(r)
				}
			}(w)
		}
		wg.Wait()
	}
	// Pass 1: statistics.
	for v0 := 0; v0 < v; v0 += tile {
		t := min(tile, v-v0)
		zt := z[:n*t]
		o.Gemm(false, true, n, t, d, 1, p.H, d, p.W[v0*d:], d, 0, zt, t)
		parallel(func(r int) { rows[r].absorb(zt[r*t:(r+1)*t], v0, ent) })
	}
	rowLoss := make([]float64, n)
	var firstErr error
	var mu sync.Mutex
	parallel(func(r int) {
		rw := &rows[r]
		if math.IsInf(rw.m, 0) || math.IsNaN(rw.m) || math.IsNaN(rw.s) {
			mu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("fused: row %d has a non-finite logit", r)
			}
			mu.Unlock()
			return
		}
		rw.st.set(rw.m, rw.s, rw.sz, ent)
		rowLoss[r] = k.Row(r, &rw.st, &rw.c)
	})
	if firstErr != nil {
		return 0, firstErr
	}
	if !grad {
		return sum(rowLoss), nil
	}
	// Pass 2: gradients.
	if p.DH != nil {
		clear(p.DH[:n*d])
	}
	for v0 := 0; v0 < v; v0 += tile {
		t := min(tile, v-v0)
		zt := z[:n*t]
		o.Gemm(false, true, n, t, d, 1, p.H, d, p.W[v0*d:], d, 0, zt, t)
		parallel(func(r int) { rows[r].gradTile(zt[r*t:(r+1)*t], v0) })
		if p.DH != nil {
			o.Gemm(false, false, n, d, t, 1, zt, t, p.W[v0*d:], d, 1, p.DH, d)
		}
		if p.DW != nil {
			o.Gemm(true, false, t, d, n, 1, zt, t, p.H, d, 1, p.DW[v0*d:], d)
		}
	}
	return sum(rowLoss), nil
}

// DefaultTile keeps a tile's logits near 4 MiB (and at least 256 wide).
func DefaultTile(n int) int { return max(256, (1<<20)/max(n, 1)) }

// tiledRow is one row's running statistics and, after Row, its coefficients.
type tiledRow struct {
	m, s, sz float64 // online max, sum exp(z - m), sum exp(z - m) (z - m)
	st       Stats
	c        Coef
}

// absorb merges one tile of the row's logits (vocabulary ids v0...).
func (rw *tiledRow) absorb(z []float32, v0 int, ent bool) {
	for i, id := range rw.st.Idx {
		if j := int(id) - v0; j >= 0 && j < len(z) {
			rw.st.Z[i] = z[j]
		}
	}
	mt := rowMax(z)
	if mt != mt || math.IsInf(float64(mt), 1) {
		rw.m = math.NaN()
		return
	}
	if math.IsInf(float64(mt), -1) {
		return // every logit of the tile masked
	}
	var st, szt float64
	if ent {
		st, szt = expSumZ(z, mt)
	} else {
		st = expSum(z, mt, false)
	}
	// Rebase both parts on the new max m: e^(z-mt) (z-mt) * e^(mt-m) is
	// e^(z-m) (z-m) less e^(z-m) (mt-m).
	m := math.Max(rw.m, float64(mt))
	b := math.Exp(float64(mt) - m)
	s, sz := st*b, (szt+st*(float64(mt)-m))*b
	if rw.s > 0 {
		a := math.Exp(rw.m - m)
		s += rw.s * a
		sz += (rw.sz + rw.s*(rw.m-m)) * a
	}
	rw.s, rw.sz, rw.m = s, sz, m
}

// gradTile overwrites one tile of the row's logits with its gradient.
func (rw *tiledRow) gradTile(z []float32, v0 int) {
	c := &rw.c
	if c.zero() {
		clear(z)
		return
	}
	// p_j = exp(z_j - m) / s with m the row's max (exact in float32).
	gradFromZ(z, float32(rw.m), float32(1/rw.s), float32(c.Alpha), float32(c.Beta))
	for i, id := range c.Idx {
		if j := int(id) - v0; j >= 0 && j < len(z) {
			z[j] += float32(c.Val[i])
		}
	}
}
