package dist

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SumF64 returns the sums over ranks of xs, added in rank order from every
// rank's values (an all-gather), so that every rank gets the same bits
// whatever the backend's reduction order.
func SumF64(c Comm, xs ...float64) ([]float64, error) {
	all, err := gatherFixed(c, xs)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(xs))
	for r := 0; r < c.Size(); r++ {
		for i := range out {
			out[i] += all[r*len(xs)+i]
		}
	}
	return out, nil
}

// MaxF64 returns the maxima over ranks of xs.
func MaxF64(c Comm, xs ...float64) ([]float64, error) {
	all, err := gatherFixed(c, xs)
	if err != nil {
		return nil, err
	}
	out := append([]float64(nil), xs...)
	for r := 0; r < c.Size(); r++ {
		for i := range out {
			out[i] = max64(out[i], all[r*len(xs)+i])
		}
	}
	return out, nil
}

func gatherFixed(c Comm, xs []float64) ([]float64, error) {
	all := make([]float64, c.Size()*len(xs))
	if err := c.AllGatherF64(all, xs); err != nil {
		return nil, err
	}
	return all, nil
}

// SumInts returns the sums over ranks of counts: the loss normalizers of a
// data-parallel mini-batch (its tokens, sequences, groups), so that a loss
// divided by them, summed over ranks by ReduceGrads, is the loss of the
// whole mini-batch at any world size. Exact below 2^53.
func SumInts(c Comm, counts ...int) ([]int, error) {
	xs := make([]float64, len(counts))
	for i, n := range counts {
		if n < 0 || n > 1<<53 {
			return nil, fmt.Errorf("dist: count %d outside [0, 2^53]", n)
		}
		xs[i] = float64(n)
	}
	s, err := SumF64(c, xs...)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out, nil
}

// Normalizers are the global counts of a mini-batch split over ranks.
type Normalizers struct {
	Tokens, Seqs int
}

// GlobalNormalizers sums each rank's response tokens and sequences of the
// mini-batch: the divisors of a token-mean and a sequence-mean loss.
func GlobalNormalizers(c Comm, tokens, seqs int) (Normalizers, error) {
	s, err := SumInts(c, tokens, seqs)
	if err != nil {
		return Normalizers{}, err
	}
	return Normalizers{Tokens: s[0], Seqs: s[1]}, nil
}

// GatherF64 returns every rank's xs (lengths may differ), by rank: metrics,
// per-sequence scores for evaluation.
func GatherF64(c Comm, xs []float64) ([][]float64, error) {
	b := make([]byte, 8*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	parts, err := GatherBytes(c, b)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(parts))
	for r, p := range parts {
		out[r] = make([]float64, len(p)/8)
		for i := range out[r] {
			out[r][i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
		}
	}
	return out, nil
}

// GatherBytes returns every rank's b (lengths may differ), by rank: a JSON
// record of a rank's rollouts, say.
func GatherBytes(c Comm, b []byte) ([][]byte, error) {
	lens := make([]float64, c.Size())
	if err := c.AllGatherF64(lens, []float64{float64(len(b))}); err != nil {
		return nil, err
	}
	most := 0
	for _, l := range lens {
		most = max(most, int(l))
	}
	pad := make([]byte, most)
	copy(pad, b)
	all := make([]byte, most*c.Size())
	if err := c.AllGatherBytes(all, pad); err != nil {
		return nil, err
	}
	out := make([][]byte, c.Size())
	for r := range out {
		out[r] = all[r*most : r*most+int(lens[r])]
	}
	return out, nil
}
