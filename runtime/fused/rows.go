package fused

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Kernel is the row epilogue that generated code supplies. Row r of the
// logits is the vocabulary distribution at one position (a response token or
// a score slot); the driver computes the row's statistics, hands them to Row,
// and turns the returned coefficients into the row's gradient:
//
//	dz_j = p_j * (Alpha + Beta*(z_j - M))  for every j,  plus Val[i] at Idx[i],
//
// with M the row's largest logit (Stats.M): the coefficients are formed on
// the shifted logits, as the sums are, so that Alpha carries no multiple of
// a large logit to cancel (an entropy term's Alpha holds -Beta*Stats.PZShift,
// not -Beta*Stats.PZ). It is the shape every readout's derivative has (design.md: d logp(t)/dz_j =
// [j=t]-p_j, dH/dz_j = -p_j(z_j - sum p z), dE/dz_j = p_j(v(j)-E),
// dp(y)/dz_j = p(y)([j=y]-p_j)).
type Kernel interface {
	// Gather appends to dst the vocabulary ids whose logits row r reads
	// (the target token, the score tokens); ids must be in [0, V).
	Gather(r int, dst []int32) []int32
	// Entropy reports whether rows read sum_j p_j z_j (entropy); only then
	// does the driver compute it and keep z alive until the gradient pass.
	Entropy() bool
	// Row returns row r's loss term and fills c (reset by the driver) with its
	// derivative coefficients. Rows run concurrently on different goroutines;
	// Row must only write state that belongs to row r.
	Row(r int, st *Stats, c *Coef) float64
}

// Stats is what the driver measured on one row of logits.
//
// The row's sums are kept relative to its largest logit M, as the driver
// forms them: LSE = M + LogSum and PZ = M + PZShift. LogP and Entropy read
// the shifted forms, which stay exact where adding M would round the small
// part away (logits near the float32 maximum).
type Stats struct {
	LSE float64   // log sum_j exp(z_j)
	PZ  float64   // sum_j p_j z_j (only when Kernel.Entropy())
	Idx []int32   // the ids Gather returned
	Z   []float32 // the logits at Idx

	M       float64 // the row's largest logit
	LogSum  float64 // log sum_j exp(z_j - M)
	PZShift float64 // sum_j p_j (z_j - M) (only when Kernel.Entropy())
}

// set fills the row's statistics from its max m, sum_j exp(z_j - m) and
// sum_j exp(z_j - m) (z_j - m).
func (s *Stats) set(m, sum, sumShift float64, ent bool) {
	s.M, s.LogSum = m, math.Log(sum)
	s.LSE = m + s.LogSum
	s.PZShift, s.PZ = 0, 0
	if ent {
		s.PZShift = sumShift / sum
		s.PZ = m + s.PZShift
	}
}

// LogP returns log p at the i-th gathered id.
func (s *Stats) LogP(i int) float64 { return (float64(s.Z[i]) - s.M) - s.LogSum }

// Entropy returns -sum_j p_j log p_j = LSE - sum_j p_j z_j.
func (s *Stats) Entropy() float64 { return s.LogSum - s.PZShift }

// Coef is a row's gradient in factored form (see Kernel).
type Coef struct {
	Alpha, Beta float64
	Idx         []int32
	Val         []float64
}

// Add puts v on the gradient of the logit of id.
func (c *Coef) Add(id int32, v float64) {
	c.Idx = append(c.Idx, id)
	c.Val = append(c.Val, v)
}

func (c *Coef) reset() {
	c.Alpha, c.Beta = 0, 0
	c.Idx, c.Val = c.Idx[:0], c.Val[:0]
}

func (c *Coef) zero() bool { return c.Alpha == 0 && c.Beta == 0 && len(c.Idx) == 0 }

// Workers is how many goroutines run row epilogues (the machines have 2 cores).
func Workers() int { return max(1, min(runtime.GOMAXPROCS(0), 8)) }

// worker holds one goroutine's scratch.
type worker struct {
	st Stats
	c  Coef
}

// Epilogue runs k over rows [r0, r0+n) of logits (row-major, V columns, row
// r0 at logits[0:V]). With grad it overwrites the logits with their gradient
// (zero rows where the kernel returns no coefficients); otherwise it leaves
// them as they were. The row loss terms go to loss[0:n]. It returns an error
// naming the row when a gathered id is out of range or a row is not finite.
func Epilogue(k Kernel, logits []float32, r0, n, V int, grad bool, loss []float64) error {
	if len(logits) < n*V || len(loss) < n {
		return fmt.Errorf("fused: epilogue buffers too short for %d rows of %d", n, V)
	}
	workers := min(Workers(), n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var s worker
			for i := w; i < n; i += workers {
				lv, err := s.row(k, logits[i*V:(i+1)*V], r0+i, grad)
				if err != nil {
					errs[w] = err
					return
				}
				loss[i] = lv
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *worker) row(k Kernel, z []float32, r int, grad bool) (float64, error) {
	V := len(z)
	st := &s.st
	st.Idx = k.Gather(r, st.Idx[:0])
	st.Z = st.Z[:0]
	for _, id := range st.Idx {
		if id < 0 || int(id) >= V {
			return 0, fmt.Errorf("fused: row %d gathers token id %d outside the vocabulary [0, %d)", r, id, V)
		}
		st.Z = append(st.Z, z[id])
	}
	m := rowMax(z)
	if math.IsInf(float64(m), 0) || m != m {
		return 0, fmt.Errorf("fused: row %d has a non-finite logit (max %g)", r, m)
	}
	ent := k.Entropy()
	// One exp per logit: without entropy the exponentials replace z in place
	// and the gradient pass only scales them.
	var sum, sumShift float64
	if ent {
		sum, sumShift = expSumZ(z, m)
	} else {
		sum = expSum(z, m, grad)
	}
	st.set(float64(m), sum, sumShift, ent)
	s.c.reset()
	lv := k.Row(r, st, &s.c)
	if !grad {
		return lv, nil
	}
	c := &s.c
	if c.zero() {
		clear(z)
		return lv, nil
	}
	if ent {
		gradFromZ(z, m, float32(1/sum), float32(c.Alpha), float32(c.Beta))
	} else {
		scale(z, float32(c.Alpha/sum))
	}
	for i, id := range c.Idx {
		z[id] += float32(c.Val[i])
	}
	return lv, nil
}

// The row passes below use AVX2 (rows_amd64.s) on the largest multiple of 8
// and Go for the rest; sums are float32 within blocks of 256 and float64
// across blocks. The Go forms are the reference the assembly is tested against.

const block = 256

// rowMax is max_j z_j; NaN if some z_j is NaN, +-Inf if one is infinite.
func rowMax(z []float32) float32 {
	m := float32(math.Inf(-1))
	if n8 := len(z) &^ 7; useAVX2 && n8 > 0 {
		var s float32
		m, s = maxAVX2(&z[0], n8)
		if s-s != 0 { // NaN or Inf somewhere: let the Go form say which
			return rowMaxGo(z)
		}
		z = z[n8:]
	}
	return max(m, rowMaxGo(z))
}

func rowMaxGo(z []float32) float32 {
	m0, m1, m2, m3 := float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))
	i := 0
	for ; i+4 <= len(z); i += 4 {
		v := z[i : i+4 : i+4]
		m0, m1, m2, m3 = max(m0, v[0]), max(m1, v[1]), max(m2, v[2]), max(m3, v[3])
	}
	for ; i < len(z); i++ {
		m0 = max(m0, z[i])
	}
	return max(m0, m1, m2, m3)
}

// exp32 is Exp32 for arguments <= 0, written to be inlined in the row loops:
// 0 below expMin (and for -Inf, a masked logit).
func exp32(x float32) float32 {
	if x < expMin {
		return 0
	}
	n := x*log2e + roundUp
	n -= roundUp
	r := x - n*ln2Hi - n*ln2Lo
	p := ((((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r+expP5)*r+1)*r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// expSum returns sum_j exp(z_j - m); with store it also replaces z_j by
// exp(z_j - m).
func expSum(z []float32, m float32, store bool) float64 {
	var total float64
	for b := 0; b < len(z); b += block {
		blk := z[b:min(b+block, len(z))]
		if n8 := len(blk) &^ 7; useAVX2 && n8 > 0 {
			total += float64(expSumAVX2(&blk[0], n8, m, store))
			blk = blk[n8:]
		}
		total += float64(expSumGo(blk, m, store))
	}
	return total
}

func expSumGo(blk []float32, m float32, store bool) float32 {
	var s float32
	for i, v := range blk {
		e := exp32(v - m)
		if store {
			blk[i] = e
		}
		s += e
	}
	return s
}

// expSumZ returns sum_j e_j and sum_j e_j (z_j - m) with e_j = exp(z_j - m).
// The second sum is shifted so that it cannot overflow, and a masked logit
// (-Inf, e_j = 0) adds 0 to it rather than 0 * -Inf.
func expSumZ(z []float32, m float32) (float64, float64) {
	var total, totalZ float64
	for b := 0; b < len(z); b += block {
		blk := z[b:min(b+block, len(z))]
		if n8 := len(blk) &^ 7; useAVX2 && n8 > 0 {
			s, sz := expSumZAVX2(&blk[0], n8, m)
			total, totalZ = total+float64(s), totalZ+float64(sz)
			blk = blk[n8:]
		}
		s, sz := expSumZGo(blk, m)
		total, totalZ = total+float64(s), totalZ+float64(sz)
	}
	return total, totalZ
}

func expSumZGo(blk []float32, m float32) (float32, float32) {
	var s, sz float32
	for _, v := range blk {
		d := v - m
		e := exp32(d)
		s += e
		sz += e * max(d, expMin)
	}
	return s, sz
}

// scale multiplies z in place by a.
func scale(z []float32, a float32) {
	if n8 := len(z) &^ 7; useAVX2 && n8 > 0 {
		scaleAVX2(&z[0], n8, a)
		z = z[n8:]
	}
	for i := range z {
		z[i] *= a
	}
}

// gradFromZ overwrites z_j by p_j (alpha + beta (z_j - m)),
// p_j = exp(z_j - m) * inv. A masked logit (-Inf) gets 0.
func gradFromZ(z []float32, m, inv, alpha, beta float32) {
	if n8 := len(z) &^ 7; useAVX2 && n8 > 0 {
		gradAVX2(&z[0], n8, m, inv, alpha, beta)
		z = z[n8:]
	}
	gradFromZGo(z, m, inv, alpha, beta)
}

func gradFromZGo(z []float32, m, inv, alpha, beta float32) {
	for i, v := range z {
		d := v - m
		z[i] = exp32(d) * inv * (alpha + beta*max(d, expMin))
	}
}
