package fsdp_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/model"
)

// dLogits is d(loss)/d(logits) of one sequence's next-token cross-entropy
// divided by total.
func dLogits(logits []float32, toks []int, V, total int) []float32 {
	d := make([]float32, len(logits))
	for t := 0; t+1 < len(toks); t++ {
		row := logits[t*V : (t+1)*V]
		mx := row[0]
		for _, x := range row {
			mx = max(mx, x)
		}
		var sum float64
		for _, x := range row {
			sum += math.Exp(float64(x - mx))
		}
		for v, x := range row {
			pr := math.Exp(float64(x-mx)) / sum
			if v == toks[t+1] {
				pr--
			}
			d[t*V+v] = float32(pr / float64(total))
		}
	}
	return d
}

// evalPattern is what train's Evaluator does with micro-batches: forward
// each (here: one sequence each) and read its loss gradient, then backward
// the last one, and re-forward and backward each earlier one, last first.
func evalPattern(m, g *model.Model, seqs [][]int, total int) error {
	V := m.Cfg.Vocab
	ds := make([][]float32, len(seqs))
	var last *model.Pass
	for i, toks := range seqs {
		p, err := m.Forward(&model.Batch{B: 1, T: len(toks), Tokens: toks})
		if err != nil {
			return err
		}
		ds[i] = dLogits(m.Logits(p), toks, V, total)
		last = p
	}
	for i := len(seqs) - 1; i >= 0; i-- {
		p := last
		if i != len(seqs)-1 {
			var err error
			if p, err = m.Forward(&model.Batch{B: 1, T: len(seqs[i]), Tokens: seqs[i]}); err != nil {
				return err
			}
		}
		if err := m.Backward(p, ds[i], g); err != nil {
			return err
		}
	}
	return nil
}

// flatUnits lays g's gradients out as the units' padded flat arrays.
func flatUnits(g *model.Model, units []*fsdp.Unit, w int) [][]float32 {
	byName := map[string][]float32{}
	for _, p := range g.Params() {
		byName[p.Name] = p.Data
	}
	out := make([][]float32, len(units))
	for i, u := range units {
		out[i] = make([]float32, u.Padded(w))
		for _, t := range u.Tensors {
			copy(out[i][t.Offset:], byName[t.Name])
		}
	}
	return out
}

// The per-unit step (PerUnit hooks, ranks with different numbers of
// micro-batches, one with none) leaves in every rank's gradient shards
// exactly the reference sum: backward pass j of every rank (zero for a rank
// with fewer) added over ranks in rank order, the passes added in order,
// as goroutine ranks reduce. At most two units are ever gathered at once
// (the head and, tied, the embedding during the loss) plus the
// gradients being built.
func TestPerUnitStep(t *testing.T) {
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		for _, counts := range [][]int{{3}, {1, 2}, {2, 0, 1}} {
			w := len(counts)
			t.Run(fmt.Sprintf("tied=%v/counts=%v", cfg.TiedEmbed, counts), func(t *testing.T) {
				init, err := model.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				init.InitRandom(21, 0.2)
				var seqsOf [][][]int
				most, total, next := 0, 0, 0
				for _, n := range counts {
					var mine [][]int
					for range n {
						toks := tinyBatch(next, cfg.Vocab)
						next++
						total += len(toks) - 1
						mine = append(mine, toks)
					}
					seqsOf = append(seqsOf, mine)
					most = max(most, n)
				}
				units, err := fsdp.Layout(cfg, w)
				if err != nil {
					t.Fatal(err)
				}
				// Reference: pass j of rank r is its sequence counts[r]-1-j.
				want := make([][]float32, len(units))
				for i, u := range units {
					want[i] = make([]float32, u.Padded(w))
				}
				for j := 0; j < most; j++ {
					var sum [][]float32
					for r := 0; r < w; r++ {
						g := init.NewGrads()
						if k := counts[r] - 1 - j; k >= 0 {
							if err := evalPattern(init, g, seqsOf[r][k:k+1], total); err != nil {
								t.Fatal(err)
							}
						}
						f := flatUnits(g, units, w)
						if sum == nil {
							sum = f
							continue
						}
						for i := range sum {
							for e := range sum[i] {
								sum[i][e] += f[i][e]
							}
						}
					}
					for i := range want {
						for e := range want[i] {
							want[i][e] += sum[i][e]
						}
					}
				}
				var largest int64
				for _, u := range units {
					largest = max(largest, 4*int64(u.Padded(w)))
				}
				onLocal(t, w, func(c dist.Comm) error {
					s, err := fsdp.New(c, init.Clone())
					if err != nil {
						return err
					}
					h := s.PerUnit()
					mine := seqsOf[c.Rank()]
					h.Plan(len(mine), most)
					if len(mine) > 0 {
						err = evalPattern(s.Model, h.Grads(), mine, total)
					} else {
						err = h.PadForwards(most)
					}
					if err == nil {
						err = h.PadBackwards(most)
					}
					if ferr := h.Finish(); err == nil {
						err = ferr
					}
					if err != nil {
						return err
					}
					if h.Forwards() != 2*most-1 || h.Backwards() != most {
						return fmt.Errorf("%d forward and %d backward passes, want %d and %d", h.Forwards(), h.Backwards(), 2*most-1, most)
					}
					if s.GatheredBytes() != 0 || s.Model.Hooks != nil {
						return fmt.Errorf("after Finish: %d bytes gathered, hooks %v", s.GatheredBytes(), s.Model.Hooks)
					}
					// Two units and two gradient buffers at most.
					if h.PeakBytes() > 4*largest {
						return fmt.Errorf("peak %d bytes of units and gradients, more than 4 of the largest unit (%d)", h.PeakBytes(), largest)
					}
					for u, unit := range s.Units {
						_, got, _, _ := s.Shard(u)
						lo := c.Rank() * unit.ShardLen
						for e, v := range got {
							if v != want[u][lo+e] {
								return fmt.Errorf("unit %s: gradient shard element %d = %v, want %v", unit.Name, e, v, want[u][lo+e])
							}
						}
					}
					return nil
				})
			})
		}
	}
}
