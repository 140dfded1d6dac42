package recipe

import (
	"math"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
)

// TestFromBatchRefusesWhatEvalRefuses: a logit that overflows float32 (or is
// not finite) is refused by its JSON path, in the reference evaluator's words
// (compiler.Batch.CheckLogits), not as "fused: row 0 has a non-finite logit".
func TestFromBatchRefusesWhatEvalRefuses(t *testing.T) {
	for _, c := range []struct {
		edit func(b *compiler.Batch)
		want string
	}{
		{func(b *compiler.Batch) { b.Groups[0].Seqs[0].Logits[1][2] = 1.7e308 },
			"groups[0].seqs[0].logits[1][2]: logit 1.7e+308 overflows float32, the precision of the generated kernels"},
		{func(b *compiler.Batch) { b.Groups[0].Seqs[0].Logits[0][3] = math.Inf(1) }, "groups[0].seqs[0].logits[0][3]: logit +Inf is not finite"},
		{func(b *compiler.Batch) { b.Groups[0].Seqs[0].ScoreLogits[1] = -4e38 }, "groups[0].seqs[0].score_logits[1]: logit -4e+38 overflows float32"},
	} {
		b := testBatch()
		c.edit(b)
		_, _, _, err := FromBatch(b, testMeta())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
			continue
		}
		if want := b.CheckLogits(); want == nil || err.Error() != want.Error() {
			t.Errorf("FromBatch says %q, the evaluator's check %v", err, want)
		}
	}
	// The largest float32 logits are still read.
	b := testBatch()
	b.Groups[0].Seqs[0].Logits[0][0] = math.MaxFloat32
	if _, _, _, err := FromBatch(b, testMeta()); err != nil {
		t.Errorf("MaxFloat32 refused: %v", err)
	}
}

// TestKnownHypersListsNames: an unknown hyperparameter lists the recipe's
// as "a, b", in realc eval-loss's words, not as a Go slice.
func TestKnownHypersListsNames(t *testing.T) {
	err := knownHypers(testMeta(), "hyper.", map[string]float64{"zz": 1, "c": 2, "a": 3})
	if want := "hyper.c: recipe t has no such hyperparameter (it has: a, b)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if err := knownHypers(testMeta(), "override ", map[string]float64{"b": 1}); err != nil {
		t.Errorf("a known hyperparameter refused: %v", err)
	}
}
