//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/fused/recipe"
)

// LossResult is what RunLoss brings back from the device.
type LossResult struct {
	Loss   float64
	Vals   []float64 // every IR value (see Spec.Counts)
	DTok   []uint16  // bf16 gradient of the token logits [T x V]
	DScore []uint16  // bf16 gradient of the score logits [S x V]
}

// RunLoss runs a generated recipe's kernels on bf16 logits already computed:
// tok [T x V] (row t predicted token t) and score [S x V]. Order: row
// statistics of every row, the score, rest and token stages (one block
// each), then the gradient kernels (one block per row).
func RunLoss(d *Device, m *Module, spec *Spec, l *recipe.Layout, hyper []float64, tok, score []uint16) (*LossResult, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	if len(tok) != l.T*l.V || len(score) != l.S*l.V {
		return nil, fmt.Errorf("cuda: logits have %d and %d values, want T*V = %d and S*V = %d", len(tok), len(score), l.T*l.V, l.S*l.V)
	}
	block := spec.Block
	if block <= 0 {
		block = 256
	}
	k := map[string]*Kernel{}
	for _, n := range spec.KernelNames() {
		kk, err := m.Kernel(n)
		if err != nil {
			return nil, err
		}
		k[n] = kk
	}
	var bufs []Buffer
	defer func() {
		for _, b := range bufs {
			d.Free(b)
		}
	}()
	var firstErr error
	up := func(b Buffer, err error) Buffer {
		if err != nil && firstErr == nil {
			firstErr = err
		}
		bufs = append(bufs, b)
		return b
	}
	i32 := func(xs []int32) Buffer { return up(Upload(d, xs)) }
	f64 := func(xs []float64, n int) Buffer {
		if xs == nil {
			xs = make([]float64, n)
		}
		return up(Upload(d, xs))
	}
	nv := Offset(spec.Counts, l.G, l.S, l.T)
	kk := len(l.ScoreTokens)
	vals := f64(nil, nv)
	ctx := []Arg{
		Ptr(vals.Ptr), Ptr(f64(hyper, len(hyper)).Ptr), I32(l.G), I32(l.S), I32(l.T), I32(kk),
		Ptr(i32(l.GroupOff).Ptr), Ptr(i32(l.SeqGroup).Ptr), Ptr(i32(l.TokOff).Ptr), Ptr(i32(l.TokSeq).Ptr),
		Ptr(i32(l.Tokens).Ptr), Ptr(i32(l.ScoreTokens).Ptr),
		Ptr(f64(l.Mask, l.T).Ptr), Ptr(f64(l.Cot, l.T).Ptr), Ptr(f64(l.Answer, l.T).Ptr),
		Ptr(f64(l.OldLogp, l.T).Ptr), Ptr(f64(l.RefLogp, l.T).Ptr),
		Ptr(f64(l.Pred, l.S).Ptr), Ptr(f64(l.Acc, l.S).Ptr), Ptr(f64(l.Len, l.S).Ptr),
		Ptr(f64(l.Truncated, l.S).Ptr), Ptr(f64(l.FormatOK, l.S).Ptr), Ptr(f64(l.Y, l.G).Ptr),
		Ptr(up(Upload(d, make([]float32, l.S))).Ptr), Ptr(up(Upload(d, make([]float32, l.S*kk))).Ptr),
		Ptr(up(Upload(d, make([]float32, l.T))).Ptr), Ptr(up(Upload(d, make([]float32, l.T))).Ptr),
		Ptr(up(Upload(d, make([]float32, l.T))).Ptr), Ptr(up(Upload(d, make([]int32, 1))).Ptr),
	}
	if err := CheckContext(len(ctx)); err != nil {
		return nil, err
	}
	errBuf := bufs[len(bufs)-1]
	tokB, scoreB := up(Upload(d, tok)), up(Upload(d, score))
	dTokB, dScoreB := up(d.Alloc(int64(len(tok))*2)), up(d.Alloc(int64(len(score))*2))
	if firstErr != nil {
		return nil, firstErr
	}
	ld := I64(int64(l.V))
	launch := func(name string, grid int, args ...Arg) {
		if firstErr == nil {
			firstErr = k[spec.Prefix+"_"+name].Launch(grid, block, 0, append(args, ctx...)...)
		}
	}
	launch("row_stats", l.T, Ptr(tokB.Ptr), ld, I32(l.T), I32(l.V), I32(0), I32(0))
	launch("row_stats", l.S, Ptr(scoreB.Ptr), ld, I32(l.S), I32(l.V), I32(1), I32(0))
	launch("stage_score", 1)
	launch("stage_rest", 1)
	launch("stage_token", 1)
	launch("token_grad", l.T, Ptr(tokB.Ptr), Ptr(dTokB.Ptr), ld, I32(l.T), I32(l.V), I32(0))
	launch("score_grad", l.S, Ptr(scoreB.Ptr), Ptr(dScoreB.Ptr), ld, I32(l.S), I32(l.V), I32(0))
	if firstErr != nil {
		return nil, firstErr
	}
	if err := d.Synchronize(); err != nil {
		return nil, fmt.Errorf("cuda: %v", err)
	}
	res := &LossResult{Vals: make([]float64, nv), DTok: make([]uint16, len(tok)), DScore: make([]uint16, len(score))}
	bad := make([]int32, 1)
	for _, e := range []error{Download(d, vals, res.Vals), Download(d, errBuf, bad), Download(d, dTokB, res.DTok), Download(d, dScoreB, res.DScore)} {
		if e != nil {
			return nil, e
		}
	}
	if bad[0] < 0 {
		return nil, fmt.Errorf("cuda: %d score tokens: the kernels handle at most 32", kk)
	}
	if bad[0] != 0 {
		where := fmt.Sprintf("sequence %d", bad[0]-1)
		if s := int(bad[0]) - 1; s < len(l.SeqPath) {
			where = l.SeqPath[s]
		}
		return nil, fmt.Errorf("%s: the value of prob/logprob is not a score value %v", where, l.ScoreValues)
	}
	anyKept := !spec.HasFilter
	for g := 0; g < l.G && !anyKept; g++ {
		anyKept = res.Vals[Offset(spec.FilterOff, l.G, l.S, l.T)+g] != 0
	}
	if !anyKept { // as the reference: no group trains, the loss is 0
		return res, nil
	}
	res.Loss = res.Vals[Offset(spec.LossOff, l.G, l.S, l.T)]
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return nil, fmt.Errorf("cuda: the loss is not finite (%v)", res.Loss)
	}
	return res, nil
}
