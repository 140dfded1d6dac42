package dist

import (
	"fmt"
	"math"
)

// SelfTest runs every collective on c with values whose results are exact in
// their type (small integers), and compares them with the expected values
// bit for bit. Every rank of the job must call it. It is what the tests run
// on each backend and what `realc doctor`-style checks can run on a cluster.
func SelfTest(c Comm) error {
	w, r := c.Size(), c.Rank()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("dist self-test (%s, rank %d of %d): %s", c.Backend(), r, w, fmt.Sprintf(format, args...))
	}
	// sumRanks is 0+1+...+(w-1).
	sumRanks := float64(w * (w - 1) / 2)
	for _, n := range []int{0, 1, 7, 1000} {
		// float32 sum and max.
		buf := make([]float32, n)
		for i := range buf {
			buf[i] = float32(r*3 + i%5)
		}
		if err := c.AllReduce(buf, Sum); err != nil {
			return err
		}
		for i, v := range buf {
			if want := float32(3*sumRanks + float64(w*(i%5))); v != want {
				return fail("all-reduce sum of %d float32: [%d] = %v, want %v", n, i, v, want)
			}
		}
		for i := range buf {
			buf[i] = float32((r*7+i)%w) - 0.5
		}
		if err := c.AllReduce(buf, Max); err != nil {
			return err
		}
		for i, v := range buf {
			if want := float32(w-1) - 0.5; v != want {
				return fail("all-reduce max of %d float32: [%d] = %v, want %v", n, i, v, want)
			}
		}
		// bf16: small integers are exact, and so are their sums below 256.
		hb := make([]uint16, n)
		for i := range hb {
			hb[i] = Float32ToBF16(float32(r + i%3))
		}
		if err := c.AllReduceBF16(hb, Sum); err != nil {
			return err
		}
		for i, v := range hb {
			if want := float32(sumRanks + float64(w*(i%3))); BF16ToFloat32(v) != want {
				return fail("all-reduce sum of %d bf16: [%d] = %v, want %v", n, i, BF16ToFloat32(v), want)
			}
		}
		for i := range hb {
			hb[i] = Float32ToBF16(-float32((r + i) % w))
		}
		if err := c.AllReduceBF16(hb, Max); err != nil {
			return err
		}
		for i, v := range hb {
			if BF16ToFloat32(v) != 0 {
				return fail("all-reduce max of %d bf16: [%d] = %v, want 0", n, i, BF16ToFloat32(v))
			}
		}
		// float64.
		db := make([]float64, n)
		for i := range db {
			db[i] = float64(r) + 0.25*float64(i)
		}
		if err := c.AllReduceF64(db, Sum); err != nil {
			return err
		}
		for i, v := range db {
			if want := sumRanks + float64(w)*0.25*float64(i); v != want {
				return fail("all-reduce sum of %d float64: [%d] = %v, want %v", n, i, v, want)
			}
		}
		// all-gather, out of place and in place.
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(r*10000 + i)
		}
		dst := make([]float32, w*n)
		if err := c.AllGather(dst, src); err != nil {
			return err
		}
		for i, v := range dst {
			if want := float32((i/max(n, 1))*10000 + i%max(n, 1)); v != want {
				return fail("all-gather of %d float32: [%d] = %v, want %v", n, i, v, want)
			}
		}
		for i := range dst {
			dst[i] = -1
		}
		copy(dst[r*n:], src)
		if err := c.AllGather(dst, dst[r*n:(r+1)*n]); err != nil {
			return err
		}
		for i, v := range dst {
			if want := float32((i/max(n, 1))*10000 + i%max(n, 1)); v != want {
				return fail("in-place all-gather of %d float32: [%d] = %v, want %v", n, i, v, want)
			}
		}
		hs := make([]uint16, n)
		for i := range hs {
			hs[i] = uint16(r<<8 | i&0xff)
		}
		hd := make([]uint16, w*n)
		if err := c.AllGatherBF16(hd, hs); err != nil {
			return err
		}
		for i, v := range hd {
			if want := uint16((i/max(n, 1))<<8 | (i%max(n, 1))&0xff); v != want {
				return fail("all-gather of %d bf16: [%d] = %#x, want %#x", n, i, v, want)
			}
		}
		ds := make([]float64, n)
		for i := range ds {
			ds[i] = float64(r) + float64(i)/8
		}
		dd := make([]float64, w*n)
		if err := c.AllGatherF64(dd, ds); err != nil {
			return err
		}
		for i, v := range dd {
			if want := float64(i/max(n, 1)) + float64(i%max(n, 1))/8; v != want {
				return fail("all-gather of %d float64: [%d] = %v, want %v", n, i, v, want)
			}
		}
		bs := make([]byte, n)
		for i := range bs {
			bs[i] = byte(r*31 + i)
		}
		bd := make([]byte, w*n)
		if err := c.AllGatherBytes(bd, bs); err != nil {
			return err
		}
		for i, v := range bd {
			if want := byte((i/max(n, 1))*31 + i%max(n, 1)); v != want {
				return fail("all-gather of %d bytes: [%d] = %d, want %d", n, i, v, want)
			}
		}
		// reduce-scatter: rank r holds src[j] = r + j; part k sums over ranks.
		rs := make([]float32, w*n)
		for j := range rs {
			rs[j] = float32(r + j%50)
		}
		out := make([]float32, n)
		if err := c.ReduceScatter(out, rs, Sum); err != nil {
			return err
		}
		for i, v := range out {
			if want := float32(sumRanks + float64(w*((r*n+i)%50))); v != want {
				return fail("reduce-scatter sum of %d float32 per rank: [%d] = %v, want %v", n, i, v, want)
			}
		}
		if err := c.ReduceScatter(out, rs, Max); err != nil {
			return err
		}
		for i, v := range out {
			if want := float32(w - 1 + (r*n+i)%50); v != want {
				return fail("reduce-scatter max of %d float32 per rank: [%d] = %v, want %v", n, i, v, want)
			}
		}
		rsh := make([]uint16, w*n)
		for j := range rsh {
			rsh[j] = Float32ToBF16(float32(r + j%7))
		}
		outh := make([]uint16, n)
		if err := c.ReduceScatterBF16(outh, rsh, Sum); err != nil {
			return err
		}
		for i, v := range outh {
			if want := float32(sumRanks + float64(w*((r*n+i)%7))); BF16ToFloat32(v) != want {
				return fail("reduce-scatter sum of %d bf16 per rank: [%d] = %v, want %v", n, i, BF16ToFloat32(v), want)
			}
		}
		// broadcast from the last rank.
		root := w - 1
		bb := make([]float32, n)
		bh := make([]uint16, n)
		by := make([]byte, n)
		for i := range bb {
			bb[i] = float32(r*100 + i)
			bh[i] = uint16(r*100 + i)
			by[i] = byte(r + i)
		}
		if err := c.Broadcast(bb, root); err != nil {
			return err
		}
		if err := c.BroadcastBF16(bh, root); err != nil {
			return err
		}
		if err := c.BroadcastBytes(by, root); err != nil {
			return err
		}
		for i := range bb {
			if bb[i] != float32(root*100+i) || bh[i] != uint16(root*100+i) || by[i] != byte(root+i) {
				return fail("broadcast of %d from rank %d: [%d] = %v, %v, %v", n, root, i, bb[i], bh[i], by[i])
			}
		}
		if err := c.Barrier(); err != nil {
			return err
		}
	}
	// Infinities survive sums.
	x := []float32{float32(r), float32(math.Inf(1))}
	if err := c.AllReduce(x, Sum); err != nil {
		return err
	}
	if x[0] != float32(sumRanks) || !math.IsInf(float64(x[1]), 1) {
		return fail("all-reduce sum with +Inf: %v, want [%v +Inf]", x, sumRanks)
	}
	return nil
}

// SelfTestSmall checks one all-reduce and one barrier (a quick liveness
// check of the job).
func SelfTestSmall(c Comm) error {
	x := []float32{1}
	if err := c.AllReduce(x, Sum); err != nil {
		return err
	}
	if x[0] != float32(c.Size()) {
		return fmt.Errorf("dist self-test (%s, rank %d): all-reduce of ones gave %v, want %d", c.Backend(), c.Rank(), x[0], c.Size())
	}
	return c.Barrier()
}
