package model_test

import (
	"fmt"
	"math"

	"github.com/realc-project/realc/runtime/model"
)

// crossEntropy returns the mean next-token loss over real positions and its
// gradient with respect to the logits.
func crossEntropy(logits []float32, b *model.Batch, V int) (float64, []float32) {
	d := make([]float32, len(logits))
	loss, count := 0.0, 0
	for r := 0; r < b.B; r++ {
		for t := 0; t+1 < b.T; t++ {
			i := r*b.T + t
			if b.Mask != nil && (!b.Mask[i] || !b.Mask[i+1]) {
				continue
			}
			count++
		}
	}
	for r := 0; r < b.B; r++ {
		for t := 0; t+1 < b.T; t++ {
			i := r*b.T + t
			if b.Mask != nil && (!b.Mask[i] || !b.Mask[i+1]) {
				continue
			}
			row := logits[i*V : (i+1)*V]
			mx := math.Inf(-1)
			for _, z := range row {
				mx = math.Max(mx, float64(z))
			}
			s := 0.0
			for _, z := range row {
				s += math.Exp(float64(z) - mx)
			}
			target := b.Tokens[i+1]
			loss += mx + math.Log(s) - float64(row[target])
			for j, z := range row {
				p := math.Exp(float64(z)-mx) / s
				if j == target {
					p--
				}
				d[i*V+j] = float32(p / float64(count))
			}
		}
	}
	return loss / float64(count), d
}

// A training step: Forward, Logits, a loss gradient, Backward into a
// gradient model, then an update over Params (model and gradient params line
// up index by index).
func Example_trainingStep() {
	m := model.NewTinyQwen3(64, 1)
	g := m.NewGrads()
	batch := &model.Batch{B: 2, T: 8, Tokens: []int{
		1, 5, 9, 13, 17, 21, 25, 29,
		0, 0, 1, 4, 8, 12, 16, 20, // left-padded by 2
	}, Mask: []bool{
		true, true, true, true, true, true, true, true,
		false, false, true, true, true, true, true, true,
	}, Pos: []int{0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 1, 2, 3, 4, 5}}
	var first, last float64
	for step := 0; step < 30; step++ {
		pass, err := m.Forward(batch)
		if err != nil {
			panic(err)
		}
		loss, dlogits := crossEntropy(m.Logits(pass), batch, m.Cfg.Vocab)
		if step == 0 {
			first = loss
		}
		last = loss
		g.Zero()
		if err := m.Backward(pass, dlogits, g); err != nil {
			panic(err)
		}
		gp := g.Params()
		for i, p := range m.Params() {
			for j := range p.Data {
				p.Data[j] -= 0.1 * gp[i].Data[j]
			}
		}
	}
	// ln(64) = 4.16 is the loss of a uniform guess; 30 steps memorize the batch.
	fmt.Printf("first loss > 4: %v, last loss < 0.5: %v\n", first > 4, last < 0.5)
	// Output: first loss > 4: true, last loss < 0.5: true
}
