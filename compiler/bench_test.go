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
