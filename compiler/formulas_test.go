package compiler

import (
	"math"
	"math/rand"
	"testing"
)

// The formula tests compute every recipe's rewards, advantages, filter and
// loss a second time, directly from objectives.md with plain loops over the
// batch (no IR), and compare with the reference evaluator. A few tests use
// numbers worked out by hand.

func checkNear(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !near(got, want, tol) {
		t.Errorf("%s = %.15g, want %.15g", what, got, want)
	}
}

func groupsOf(b *Batch) [][]int {
	var out [][]int
	s := 0
	for _, g := range b.Groups {
		var idx []int
		for range g.Seqs {
			idx = append(idx, s)
			s++
		}
		out = append(out, idx)
	}
	return out
}

func pick(xs []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

func hp(over map[string]float64, name string, def float64) float64 {
	if v, ok := over[name]; ok {
		return v
	}
	return def
}

func TestRealFormulas(t *testing.T) {
	for _, name := range []string{"real.rl", "real_abs.rl"} {
		p := compileRecipe(t, name)
		b := randBatch(rand.New(rand.NewSource(1)), []int{4, 3, 1, 2, 5}, map[int]bool{3: true})
		for _, over := range []map[string]float64{nil, {"lambda": 0.7, "beta": 0.3}} {
			r := eval(t, p, b, over)
			lambda, beta := hp(over, "lambda", 1), hp(over, "beta", 0)
			seqs, grp := flatSeqs(b)
			n := len(seqs)
			E, py, reg := make([]float64, n), make([]float64, n), make([]float64, n)
			for i, s := range seqs {
				y := b.Groups[grp[i]].Y
				E[i], py[i] = refE(s, y)
				if name == "real.rl" {
					reg[i] = -(E[i] - y) * (E[i] - y)
				} else {
					reg[i] = -math.Abs(E[i] - y)
				}
			}
			A := make([]float64, n)
			kept := make([]bool, len(b.Groups))
			for g, idx := range groupsOf(b) {
				norm := func(xs []float64) []float64 {
					l := refLOO(xs)
					sd := refStd(l, false)
					for i := range l {
						l[i] = clip(l[i]/(sd+1e-8), -1, 1)
					}
					return l
				}
				ar, ap := norm(pick(reg, idx)), norm(pick(py, idx))
				for k, i := range idx {
					A[i] = ar[k] + lambda*ap[k]
				}
				acc := 0.0
				for _, i := range idx {
					acc += seqs[i].Acc
				}
				m := acc / float64(len(idx))
				kept[g] = 0 < m && m < 1
			}
			num, den, nk, l2, nll := 0.0, 0.0, 0.0, 0.0, 0.0
			for i, s := range seqs {
				if !kept[grp[i]] {
					continue
				}
				y := b.Groups[grp[i]].Y
				nk++
				for tt, tok := range s.Tokens {
					den++
					if tt < s.Regions["cot"][1] {
						num += -A[i] * refLogSoftmax(s.Logits[tt])[tok]
					}
				}
				if name == "real.rl" {
					l2 += (E[i] - y) * (E[i] - y)
				} else {
					l2 += math.Abs(E[i] - y)
				}
				nll += -math.Log(py[i])
			}
			loss := num/(den+1e-8) + beta*l2/nk + beta*lambda*nll/nk
			for i := range seqs {
				checkNear(t, name+" reward reg", r.Rewards["reg"][i], reg[i], 1e-12)
				checkNear(t, name+" reward prob_y", r.Rewards["prob_y"][i], py[i], 1e-12)
				checkNear(t, name+" adv A", r.Advantages["A"][i], A[i], 1e-10)
			}
			for g := range kept {
				if r.Kept[g] != kept[g] {
					t.Errorf("%s kept[%d] = %v, want %v", name, g, r.Kept[g], kept[g])
				}
			}
			checkNear(t, name+" loss", r.Loss, loss, 1e-12)
		}
	}
}

// TestRealByHand: one group of two, score distributions chosen so that every
// number can be worked out on paper (objectives.md 1.4-1.5).
func TestRealByHand(t *testing.T) {
	p := compileRecipe(t, "real.rl")
	// V = 5, the score tokens are the whole vocabulary (values 1..5), so
	// p = the chosen distribution exactly.
	logs := func(ps ...float64) []float64 {
		out := make([]float64, len(ps))
		for i, x := range ps {
			out[i] = math.Log(x)
		}
		return out
	}
	uniform := [][]float64{{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}
	b := &Batch{Vocab: 5, ScoreTokens: []int{0, 1, 2, 3, 4}, Groups: []Group{{Y: 4, Seqs: []Seq{
		{Tokens: []int{1, 3}, Logits: uniform[:2], Regions: map[string][2]int{"cot": {0, 1}, "answer": {1, 2}},
			ScoreLogits: logs(0.1, 0.1, 0.2, 0.3, 0.3), Acc: 1, Pred: 4},
		{Tokens: []int{2, 0, 1}, Logits: uniform, Regions: map[string][2]int{"cot": {0, 2}, "answer": {2, 3}},
			ScoreLogits: logs(0.2, 0.2, 0.2, 0.2, 0.2), Acc: 0, Pred: 2},
	}}}}
	r := eval(t, p, b, map[string]float64{"beta": 0.5})
	// E1 = .1+.2+.6+1.2+1.5 = 3.6, E2 = 3; y = 4.
	checkNear(t, "reg[0]", r.Rewards["reg"][0], -0.16, 1e-12)
	checkNear(t, "reg[1]", r.Rewards["reg"][1], -1.0, 1e-12)
	checkNear(t, "prob_y[0]", r.Rewards["prob_y"][0], 0.3, 1e-12)
	checkNear(t, "prob_y[1]", r.Rewards["prob_y"][1], 0.2, 1e-12)
	// LOO of two: +-(R1 - R2); the population std of (d, -d) is |d|.
	aReg := 0.84 / (0.84 + 1e-8)
	aProb := 0.1 / (0.1 + 1e-8)
	checkNear(t, "A[0]", r.Advantages["A"][0], aReg+aProb, 1e-12)
	checkNear(t, "A[1]", r.Advantages["A"][1], -aReg-aProb, 1e-12)
	if !r.Kept[0] {
		t.Fatal("group with acc (1, 0) must be kept")
	}
	// logp = log(1/5) at every token; CoT tokens: 1 + 2; all tokens: 2 + 3.
	A1 := aReg + aProb
	cot := (-A1*math.Log(0.2) + 2*A1*math.Log(0.2)) / (5 + 1e-8)
	extra := 0.5*((0.4*0.4+1.0)/2) + 0.5*1.0*(-(math.Log(0.3)+math.Log(0.2))/2)
	checkNear(t, "loss", r.Loss, cot+extra, 1e-12)
	// dL/dlogp on a CoT token of seq 0 is -A1/5; the answer slot gets nothing.
	// d logp/dz_j = [j=tok] - 1/5 for uniform logits.
	checkNear(t, "dlogits[0][0][1]", r.GradLogits[0][0][1], -A1/(5+1e-8)*(1-0.2), 1e-9)
	checkNear(t, "dlogits[0][0][0]", r.GradLogits[0][0][0], -A1/(5+1e-8)*(-0.2), 1e-9)
	for j := range 5 {
		checkNear(t, "answer slot dlogits", r.GradLogits[0][1][j], 0, 1e-15)
	}
}

// ppoRef is verl's dual-clip policy loss per token (objectives.md 2).
func ppoRef(A, lp, old, lo, hi, c float64) float64 {
	ratio := math.Exp(clip(lp-old, -20, 20))
	pg1 := -A * ratio
	pg2 := -A * clip(ratio, 1-lo, 1+hi)
	c1 := math.Max(pg1, pg2)
	if A < 0 {
		return math.Min(-A*c, c1)
	}
	return c1
}

func k3(lp, ref float64) float64 {
	d := clip(ref-lp, -20, 20)
	return clip(math.Exp(d)-d-1, -10, 10)
}

func TestGRPOFormulas(t *testing.T) {
	p := compileRecipe(t, "grpo.rl")
	b := randBatch(rand.New(rand.NewSource(2)), []int{4, 1, 3, 2}, map[int]bool{3: true})
	r := eval(t, p, b, nil)
	seqs, _ := flatSeqs(b)
	A := make([]float64, len(seqs))
	for _, idx := range groupsOf(b) {
		rw := make([]float64, len(idx))
		for k, i := range idx {
			rw[k] = seqs[i].Acc
		}
		m, sd := mean(rw), refStd(rw, true)
		if len(idx) == 1 { // verl: mean 0, std 1 for a group of one
			m, sd = 0, 1
		}
		for k, i := range idx {
			A[i] = (rw[k] - m) / (sd + 1e-6)
		}
	}
	pg, kl, n := 0.0, 0.0, 0.0
	for i, s := range seqs {
		checkNear(t, "grpo A", r.Advantages["A"][i], A[i], 1e-12)
		checkNear(t, "grpo r", r.Rewards["r"][i], s.Acc, 0)
		for tt, tok := range s.Tokens {
			lp := refLogSoftmax(s.Logits[tt])[tok]
			pg += ppoRef(A[i], lp, s.OldLogp[tt], 0.2, 0.2, 10)
			kl += k3(lp, s.RefLogp[tt])
			n++
		}
	}
	checkNear(t, "grpo loss", r.Loss, pg/(n+1e-8)+0.01*kl/(n+1e-8), 1e-12)
	for g, k := range r.Kept {
		if !k {
			t.Errorf("grpo has no filter, group %d dropped", g)
		}
	}
}

// TestGRPOByHand: rewards (1, 0, 0): mean 1/3, unbiased std sqrt(1/3).
func TestGRPOByHand(t *testing.T) {
	p := compileRecipe(t, "grpo.rl")
	b := randBatch(rand.New(rand.NewSource(3)), []int{3, 1}, nil)
	b.Groups[0].Seqs[0].Acc, b.Groups[0].Seqs[1].Acc, b.Groups[0].Seqs[2].Acc = 1, 0, 0
	b.Groups[1].Seqs[0].Acc = 1
	r := eval(t, p, b, nil)
	sd := math.Sqrt(1.0 / 3)
	checkNear(t, "A[0]", r.Advantages["A"][0], (2.0/3)/(sd+1e-6), 1e-12)
	checkNear(t, "A[1]", r.Advantages["A"][1], (-1.0/3)/(sd+1e-6), 1e-12)
	checkNear(t, "A[3] (group of one)", r.Advantages["A"][3], 1/(1+1e-6), 1e-12)
}

func TestRLOOFormulas(t *testing.T) {
	p := compileRecipe(t, "rloo.rl")
	b := randBatch(rand.New(rand.NewSource(4)), []int{3, 1, 4}, nil)
	b.Groups[0].Seqs[0].Acc, b.Groups[0].Seqs[1].Acc, b.Groups[0].Seqs[2].Acc = 1, 0, 0
	b.Groups[1].Seqs[0].Acc = 1
	r := eval(t, p, b, nil)
	// By hand: (1, 0, 0) -> (1 - 0, 0 - 1/2, 0 - 1/2); a group of one keeps r.
	checkNear(t, "A[0]", r.Advantages["A"][0], 1, 1e-15)
	checkNear(t, "A[1]", r.Advantages["A"][1], -0.5, 1e-15)
	checkNear(t, "A[3]", r.Advantages["A"][3], 1, 1e-15)
	seqs, _ := flatSeqs(b)
	A := make([]float64, len(seqs))
	for _, idx := range groupsOf(b) {
		rw := make([]float64, len(idx))
		for k, i := range idx {
			rw[k] = seqs[i].Acc
		}
		n := float64(len(idx))
		for k, i := range idx {
			A[i] = rw[k]
			if n > 1 { // verl: r*n/(n-1) - mean*n/(n-1)
				A[i] = rw[k]*n/(n-1) - mean(rw)*n/(n-1)
			}
		}
	}
	pg, n := 0.0, 0.0
	for i, s := range seqs {
		checkNear(t, "rloo A", r.Advantages["A"][i], A[i], 1e-12)
		for tt, tok := range s.Tokens {
			pg += ppoRef(A[i], refLogSoftmax(s.Logits[tt])[tok], s.OldLogp[tt], 0.2, 0.2, 3)
			n++
		}
	}
	checkNear(t, "rloo loss", r.Loss, pg/(n+1e-8), 1e-12)
}

func TestPPOFormulas(t *testing.T) {
	p := compileRecipe(t, "ppo.rl")
	b := randBatch(rand.New(rand.NewSource(5)), []int{3, 2, 4}, nil)
	for _, over := range []map[string]float64{nil, {"ent_coef": 0.05}} {
		r := eval(t, p, b, over)
		seqs, _ := flatSeqs(b)
		// verl masked_whiten over the tokens: masked mean (+1e-8), unbiased
		// masked variance, (x - mean) * rsqrt(var + 1e-8).
		sum, cnt := 0.0, 0.0
		for _, s := range seqs {
			sum += s.Acc * float64(len(s.Tokens))
			cnt += float64(len(s.Tokens))
		}
		mu := sum / (cnt + 1e-8)
		v := 0.0
		for _, s := range seqs {
			v += (s.Acc - mu) * (s.Acc - mu) * float64(len(s.Tokens))
		}
		v = v / (cnt + 1e-8) * cnt / (cnt - 1)
		pg, ent := 0.0, 0.0
		for i, s := range seqs {
			A := (s.Acc - mu) / math.Sqrt(v+1e-8)
			checkNear(t, "ppo A", r.Advantages["A"][i], A, 1e-12)
			for tt, tok := range s.Tokens {
				pg += ppoRef(A, refLogSoftmax(s.Logits[tt])[tok], s.OldLogp[tt], 0.2, 0.2, 3)
				ent += refEntropy(s.Logits[tt])
			}
		}
		want := pg/(cnt+1e-8) - hp(over, "ent_coef", 0)*ent/(cnt+1e-8)
		checkNear(t, "ppo loss", r.Loss, want, 1e-12)
	}
}

func TestRAFTAndTRACTFormulas(t *testing.T) {
	b := randBatch(rand.New(rand.NewSource(6)), []int{2, 3}, nil)
	seqs, grp := flatSeqs(b)
	mse, ce, n := 0.0, 0.0, 0.0
	for i, s := range seqs {
		y := b.Groups[grp[i]].Y
		E, _ := refE(s, y)
		mse += (E - y) * (E - y)
		for tt, tok := range s.Tokens {
			if tt >= s.Regions["answer"][0] && tt < s.Regions["answer"][1] {
				continue // TRACT: the score token's label is -100
			}
			ce += -refLogSoftmax(s.Logits[tt])[tok]
			n++
		}
	}
	mse /= float64(len(seqs))
	r := eval(t, compileRecipe(t, "raft.rl"), b, nil)
	checkNear(t, "raft loss", r.Loss, mse, 1e-12)
	r = eval(t, compileRecipe(t, "tract.rl"), b, nil)
	checkNear(t, "tract loss", r.Loss, ce/(n+1e-8)+mse, 1e-12)
	r = eval(t, compileRecipe(t, "tract.rl"), b, map[string]float64{"mse_weight": 0.25})
	checkNear(t, "tract loss, mse_weight 0.25", r.Loss, ce/(n+1e-8)+0.25*mse, 1e-12)
}

// TestBatchReductionsUseKeptGroups: in the advantage and loss stages, mean
// and token_mean range over the sequences of kept groups only.
func TestBatchReductionsUseKeptGroups(t *testing.T) {
	src := `recipe kept
filter 0 < mean_g(acc) < 1
adv A = acc - mean(acc)
loss token_mean(-A * logp) + mean(A^2) * 0.5
`
	p, err := Compile("kept.rl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := randBatch(rand.New(rand.NewSource(12)), []int{2, 2, 3}, map[int]bool{1: true})
	r := eval(t, p, b, nil)
	if !r.Kept[0] || r.Kept[1] || !r.Kept[2] {
		t.Fatalf("kept %v, want [true false true]", r.Kept)
	}
	seqs, grp := flatSeqs(b)
	sum, n := 0.0, 0.0
	for i, s := range seqs {
		if r.Kept[grp[i]] {
			sum += s.Acc
			n++
		}
	}
	m := sum / n // 2 of 5 kept sequences are correct
	num, den, sq := 0.0, 0.0, 0.0
	for i, s := range seqs {
		A := s.Acc - m
		checkNear(t, "A", r.Advantages["A"][i], A, 1e-15)
		if !r.Kept[grp[i]] {
			continue
		}
		sq += A * A
		for tt, tok := range s.Tokens {
			num += -A * refLogSoftmax(s.Logits[tt])[tok]
			den++
		}
	}
	checkNear(t, "loss", r.Loss, num/(den+1e-8)+0.5*sq/n, 1e-12)
}

// TestCompileIsDeterministic: emitters write golden files from the IR, so
// compiling twice must give the same program.
func TestCompileIsDeterministic(t *testing.T) {
	for _, name := range []string{"real.rl", "grpo.rl", "ppo.rl"} {
		a, b := Dump(compileRecipe(t, name)), Dump(compileRecipe(t, name))
		if a != b {
			t.Errorf("%s compiles to different IR on a second run", name)
		}
		if Explain(compileRecipe(t, name)) != Explain(compileRecipe(t, name)) {
			t.Errorf("%s: explain output differs between runs", name)
		}
	}
}
