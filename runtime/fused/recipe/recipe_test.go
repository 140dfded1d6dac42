package recipe

import (
	"math"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/internal/numtest"
)

func testMeta() *Meta {
	return &Meta{Name: "t", Hypers: []Hyper{{"a", 1}, {"b", 2}}, ScoreValues: []float64{1, 2, 3}, ScoreReadouts: true, OldLogp: true, Regions: []string{"cot"}}
}

func testBatch() *compiler.Batch {
	return &compiler.Batch{Vocab: 4, ScoreTokens: []int{0, 1, 2}, Groups: []compiler.Group{{Y: 2, Seqs: []compiler.Seq{{
		Tokens: []int{3, 1}, Regions: map[string][2]int{"cot": {0, 1}}, Logits: [][]float64{{0, 1, 2, 3}, {1, 1, 1, 1}},
		OldLogp: []float64{-1, -2}, Mask: []float64{1, 0}, ScoreLogits: []float64{0, 0, 0, 0}, Acc: 1, Pred: math.NaN(), FormatOK: 1,
	}}}}}
}

func TestFromBatch(t *testing.T) {
	l, tok, score, err := FromBatch(testBatch(), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if l.T != 2 || l.S != 1 || l.G != 1 || len(tok) != 8 || len(score) != 4 || tok[3] != 3 {
		t.Fatalf("layout T=%d S=%d G=%d tok=%v", l.T, l.S, l.G, tok)
	}
	// cot covers token 0; the mask zeroes token 1; len counts the mask.
	if l.Cot[0] != 1 || l.Cot[1] != 0 || l.Mask[1] != 0 || l.Len[0] != 1 || l.Tokens[0] != 3 {
		t.Fatalf("leaves cot=%v mask=%v len=%v", l.Cot, l.Mask, l.Len)
	}
}

func TestFromBatchErrorsNamePaths(t *testing.T) {
	for _, c := range []struct {
		edit func(b *compiler.Batch)
		want string
	}{
		{func(b *compiler.Batch) { b.Groups[0].Seqs[0].OldLogp = nil }, "groups[0].seqs[0].old_logp: missing"},
		{func(b *compiler.Batch) { b.Groups[0].Seqs[0].ScoreLogits = nil }, "groups[0].seqs[0].score_logits: missing"},
		{func(b *compiler.Batch) { delete(b.Groups[0].Seqs[0].Regions, "cot") }, "groups[0].seqs[0].regions.cot: missing"},
		{func(b *compiler.Batch) { b.ScoreTokens = b.ScoreTokens[:2] }, "score_tokens: expected 3 token ids"},
		{func(b *compiler.Batch) { b.Groups[0].Seqs[0].Tokens[1] = 9 }, "groups[0].seqs[0].tokens[1]: token id 9 outside"},
	} {
		b := testBatch()
		c.edit(b)
		if _, _, _, err := FromBatch(b, testMeta()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

func TestHyperValues(t *testing.T) {
	h, err := HyperValues(testMeta(), map[string]float64{"b": 5})
	if err != nil || h[0] != 1 || h[1] != 5 {
		t.Fatalf("HyperValues = %v, %v", h, err)
	}
	if _, err := HyperValues(testMeta(), map[string]float64{"zz": 1, "c": 2}); err == nil || !strings.Contains(err.Error(), "hyper.c: recipe t has no such hyperparameter") {
		t.Fatalf("unknown hyper: %v", err)
	}
}

func TestScoreReadouts(t *testing.T) {
	l := &Layout{ScoreValues: []float64{1, 2}, ScoreTokens: []int32{0, 1}, S: 1, SeqPath: []string{"groups[0].seqs[0]"}}
	s := &State{L: l, ScoreLSE: []float64{math.Log(4)}, ScoreZ: []float64{0, math.Log(2)}}
	// p = (1/4, 2/4): E = 1/4 + 1 = 1.25; renorm q = (1/3, 2/3): E = 5/3.
	if e := s.Expect(0, false); !numtest.Within(e, 1.25, 1e-15, 0) {
		t.Fatalf("Expect = %v", e)
	}
	if e := s.Expect(0, true); !numtest.Within(e, 5.0/3, 1e-15, 0) {
		t.Fatalf("Expect renorm = %v", e)
	}
	if p, err := s.Prob(0, 2, false); err != nil || !numtest.Within(p, 0.5, 1e-15, 0) {
		t.Fatalf("Prob = %v %v", p, err)
	}
	if lp, err := s.LogProb(0, 1, true); err != nil || !numtest.Within(lp, math.Log(1.0/3), 1e-15, 0) {
		t.Fatalf("LogProb renorm = %v %v", lp, err)
	}
	if _, err := s.Prob(0, 7, false); err == nil || !strings.Contains(err.Error(), "groups[0].seqs[0]: 7 is not a score value") {
		t.Fatalf("Prob of a non-score value: %v", err)
	}
}
