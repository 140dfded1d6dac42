package dsl_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/dsl"
)

// FuzzParseCheck feeds arbitrary text to the parser, the formatter, the
// checker and compiler passes, explain, and the reference evaluator. It must
// never panic; errors must be diagnostic lists with positions inside the text;
// formatted output must parse again and format to itself. CI runs it briefly
// (make fuzz); the seeds are the recipes and the bad recipes of the tests.
func FuzzParseCheck(f *testing.F) {
	root := repoRoot(f)
	var seeds []string
	for _, pat := range []string{"recipes/*.rl", "compiler/testdata/*.rl", "compiler/testdata/diag/*.rl", "dsl/testdata/fmt/*.rl"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		seeds = append(seeds, m...)
	}
	for _, s := range seeds {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	batch := fuzzBatch()
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := bytes.Count(src, []byte("\n")) + 1
		checkErr := func(stage string, err error) {
			var el dsl.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("%s error is %T, not dsl.ErrorList: %v", stage, err, err)
			}
			if len(el) == 0 {
				t.Fatalf("%s returned an empty error list", stage)
			}
			for _, d := range el {
				if d.Pos.Line < 1 || d.Pos.Line > lines || d.Pos.Col < 1 {
					t.Fatalf("%s diagnostic outside the text (%d lines): %s", stage, lines, d)
				}
			}
		}
		file, err := dsl.Parse("fuzz.rl", src)
		if err != nil {
			checkErr("parse", err)
		} else {
			out := dsl.Format(file)
			again, err := dsl.Parse("fuzz.rl", out)
			if err != nil {
				t.Fatalf("formatted output does not parse: %v\n%s", err, out)
			}
			if out2 := dsl.Format(again); !bytes.Equal(out, out2) {
				t.Fatalf("format is not idempotent:\n%s\n--- then ---\n%s", out, out2)
			}
		}
		prog, err := compiler.Compile("fuzz.rl", src)
		if err != nil {
			checkErr("compile", err)
			return
		}
		_ = compiler.Explain(prog)
		_ = compiler.Dump(prog)
		// The evaluator may refuse the batch (missing fields, a y that is not
		// a score value), but it must not panic.
		_, _ = compiler.Eval(prog, batch, nil)
	})
}

// fuzzBatch is a small batch with every field, score tokens 1..5 at ids 3..7.
func fuzzBatch() *compiler.Batch {
	rnd := rand.New(rand.NewSource(1))
	b := &compiler.Batch{Vocab: 8, ScoreTokens: []int{3, 4, 5, 6, 7}, Hyper: map[string]float64{}}
	for g := range 2 {
		grp := compiler.Group{Y: float64(2 + g)}
		for j := range 2 {
			s := compiler.Seq{Regions: map[string][2]int{"cot": {0, 2}, "answer": {2, 3}}, Acc: float64(j), Pred: 3, FormatOK: 1}
			for range 3 {
				s.Tokens = append(s.Tokens, rnd.Intn(8))
				row := make([]float64, 8)
				for k := range row {
					row[k] = rnd.NormFloat64()
				}
				s.Logits = append(s.Logits, row)
				s.OldLogp = append(s.OldLogp, -2+rnd.NormFloat64()*0.1)
				s.RefLogp = append(s.RefLogp, -2+rnd.NormFloat64()*0.1)
			}
			s.ScoreLogits = make([]float64, 8)
			for k := range s.ScoreLogits {
				s.ScoreLogits[k] = rnd.NormFloat64()
			}
			grp.Seqs = append(grp.Seqs, s)
		}
		b.Groups = append(b.Groups, grp)
	}
	return b
}
