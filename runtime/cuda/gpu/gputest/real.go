//go:build cuda

package gputest

import (
	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/runtime/cuda/gpu"
	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
)

// A model batch as a recipe batch, for training-step checks: sequences of
// T tokens in groups of two (one correct, one not, so that REAL's
// "partial" filter keeps every group); rows 0..T-2 of a sequence predict
// its tokens 1..T-1 (the response: CoT, then one answer token) and row T-1
// is the score slot. Score value k is token 16+k.

// Rows returns the model rows of the recipe's token rows and score rows.
func Rows(b *model.Batch) (tok, score []int32) {
	for s := 0; s < b.B; s++ {
		for t := 0; t < b.T-1; t++ {
			tok = append(tok, int32(s*b.T+t))
		}
		score = append(score, int32(s*b.T+b.T-1))
	}
	return tok, score
}

// Batch builds the recipe batch; logits [B*T x V] (nil: zeros).
func Batch(prog *compiler.Program, b *model.Batch, logits []float32, V int) *compiler.Batch {
	cb := &compiler.Batch{Vocab: V, Hyper: map[string]float64{}}
	vals := prog.Score.Values
	for k := range vals {
		cb.ScoreTokens = append(cb.ScoreTokens, 16+k)
	}
	row := func(r int) []float64 {
		z := make([]float64, V)
		if logits != nil {
			for j := range z {
				z[j] = float64(logits[r*V+j])
			}
		}
		return z
	}
	T := b.T
	for s := 0; s < b.B; s++ {
		if s%2 == 0 {
			cb.Groups = append(cb.Groups, compiler.Group{Y: vals[s/2%len(vals)]})
		}
		L := T - 1
		seq := compiler.Seq{Regions: map[string][2]int{"cot": {0, L - 1}, "answer": {L - 1, L}}, FormatOK: 1,
			Acc: float64(s % 2), Pred: vals[s%len(vals)]}
		for t := 0; t < L; t++ {
			seq.Tokens = append(seq.Tokens, b.Tokens[s*T+t+1])
			seq.Logits = append(seq.Logits, row(s*T+t))
		}
		seq.ScoreLogits = row(s*T + T - 1)
		g := &cb.Groups[len(cb.Groups)-1]
		g.Seqs = append(g.Seqs, seq)
	}
	return cb
}

// Loss is the recipe's loss gradient on the host (the compiler's
// evaluator) over logits of the model batch b.
func Loss(prog *compiler.Program, b *model.Batch) gpumodeltest.LossGrad {
	return func(logits []float32, n, V int) (float64, []float32, error) {
		cb := Batch(prog, b, logits, V)
		res, err := compiler.Eval(prog, cb, nil)
		if err != nil {
			return 0, nil, err
		}
		d := make([]float32, n*V)
		tok, score := Rows(b)
		i, s := 0, 0
		for _, g := range cb.Groups {
			for range g.Seqs {
				for _, grow := range res.GradLogits[s] {
					for j, x := range grow {
						d[int(tok[i])*V+j] = float32(x)
					}
					i++
				}
				for j, x := range res.GradScoreLogits[s] {
					d[int(score[s])*V+j] = float32(x)
				}
				s++
			}
		}
		return res.Loss, d, nil
	}
}

// FusedLoss is the machine side of a training step through the fused
// loss: the loss's rows gathered from the final hidden state, the recipe's
// kernels run from them and the LM head a chunk of rows at a time (the head
// gradient added in place), their hidden-state gradient scattered back and
// the trunk's backward from there. This is the path a trainer takes on the
// GPU; the [rows x V] logits never exist.
func FusedLoss(rl *gpu.RecipeLoss, rc *Recipe, b *model.Batch, chunk int) gpumodeltest.MachineLoss {
	return func(g *gpumodel.Model, p *gpumodel.Pass) (float64, error) {
		m, c := g.M, &g.Cfg
		l, _, _, err := recipe.FromBatch(Batch(rc.Prog, b, nil, c.Vocab), rc.Meta)
		if err != nil {
			return 0, err
		}
		hv, err := recipe.HyperValues(rc.Meta, nil)
		if err != nil {
			return 0, err
		}
		tok, score := Rows(b)
		var bufs []uintptr
		defer func() {
			for _, q := range bufs {
				m.Free(q)
			}
		}()
		get := func(n int, t kernels.DType) uintptr {
			q, e := g.AllocRows(n, t)
			if e != nil && err == nil {
				err = e
			}
			bufs = append(bufs, q)
			return q
		}
		H, Hs := get(len(tok), kernels.BF16), get(len(score), kernels.BF16)
		dH, dHs, dHidden := get(len(tok), kernels.F32), get(len(score), kernels.F32), get(p.N, kernels.F32)
		if err != nil {
			return 0, err
		}
		if err := g.GatherHidden(p, tok, H); err != nil {
			return 0, err
		}
		if err := g.GatherHidden(p, score, Hs); err != nil {
			return 0, err
		}
		w, gw := g.Head()
		loss, err := rl.Fused(l, hv, H, Hs, w, c.Dim, chunk, dH, dHs, gw)
		if err != nil {
			return 0, err
		}
		if err := g.ScatterHiddenGrad(dHidden, dH, tok); err != nil {
			return 0, err
		}
		if err := g.ScatterHiddenGrad(dHidden, dHs, score); err != nil {
			return 0, err
		}
		return loss, g.BackwardHidden(p, dHidden)
	}
}
