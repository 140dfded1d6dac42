package compiler

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCompileReal measures parse + check + every pass (fold, cse, dce,
// autodiff, simplify, plan) of recipes/real.rl. Goal: well under 100 ms.
func BenchmarkCompileReal(b *testing.B) {
	src, err := os.ReadFile(filepath.Join(repoRoot(b), "recipes", "real.rl"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("recipes/real.rl", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalReal measures the reference evaluator on 4 groups of 8
// sequences of 6 tokens over a vocabulary of 11 (it is an oracle, not fast).
func BenchmarkEvalReal(b *testing.B) {
	src, _ := os.ReadFile(filepath.Join(repoRoot(b), "recipes", "real.rl"))
	p, err := Compile("recipes/real.rl", src)
	if err != nil {
		b.Fatal(err)
	}
	batch := randBatch(rand.New(rand.NewSource(1)), []int{8, 8, 8, 8}, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Eval(p, batch, map[string]float64{"beta": 0.1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvalRealQwenVocab: the evaluator at the Qwen3 vocabulary
// (V = 151,936), 2 groups of 2 sequences of 8 tokens: 32 token rows and 4
// score rows, loss and full dlogits.
func BenchmarkEvalRealQwenVocab(b *testing.B) {
	src, _ := os.ReadFile(filepath.Join(repoRoot(b), "recipes", "real.rl"))
	p, err := Compile("recipes/real.rl", src)
	if err != nil {
		b.Fatal(err)
	}
	const V = 151936
	rnd := rand.New(rand.NewSource(1))
	batch := &Batch{Vocab: V, ScoreTokens: []int{16, 17, 18, 19, 20}}
	for g := range 2 {
		grp := Group{Y: float64(2 + g)}
		for j := range 2 {
			s := Seq{Regions: map[string][2]int{"cot": {0, 7}, "answer": {7, 8}}, Acc: float64(j), Pred: 3, FormatOK: 1}
			for range 8 {
				s.Tokens = append(s.Tokens, rnd.Intn(V))
				row := make([]float64, V)
				for k := range row {
					row[k] = rnd.NormFloat64()
				}
				s.Logits = append(s.Logits, row)
			}
			s.ScoreLogits = make([]float64, V)
			for k := range s.ScoreLogits {
				s.ScoreLogits[k] = rnd.NormFloat64()
			}
			grp.Seqs = append(grp.Seqs, s)
		}
		batch.Groups = append(batch.Groups, grp)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Eval(p, batch, map[string]float64{"beta": 0.1}); err != nil {
			b.Fatal(err)
		}
	}
}
