package batch

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	b := &Batch{Vocab: 3, ScoreTokens: []int{2, 1}, Hyper: map[string]float64{"lambda": 0.5}, Groups: []Group{{Y: 4, Seqs: []Seq{
		{Tokens: []int{0, 2}, Regions: map[string][2]int{"cot": {0, 1}, "answer": {1, 2}}, Logits: [][]float64{{1, 2, 3}, {0, -1, 0.5}},
			OldLogp: []float64{-1, -2}, ScoreLogits: []float64{0.1, 0.2, 0.3}, Acc: 1, Pred: 4, FormatOK: 1},
		{Tokens: []int{1}, Regions: map[string][2]int{}, Logits: [][]float64{{0, 0, 0}}, OldLogp: []float64{-1}, Pred: math.NaN(), Truncated: 1},
	}}}}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Groups[0].Seqs[1].Pred; !math.IsNaN(p) {
		t.Errorf("pred null read back as %v, want NaN", p)
	}
	got.Groups[0].Seqs[1].Pred, b.Groups[0].Seqs[1].Pred = 0, 0
	if !reflect.DeepEqual(got, b) {
		t.Errorf("batch changed through JSON:\n got %+v\nwant %+v", got, b)
	}
	if n := got.NumSeqs(); n != 2 {
		t.Errorf("NumSeqs = %d", n)
	}
}

func TestErrorsNameTheJSONPath(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"vocab": 2, "score_tokens": [], "groups": [{"y": 1, "seqs": [{"tokens": [0], "logits": [[1]]}]}]}`,
			"groups[0].seqs[0].logits[0]: expected 2 floats (vocab), got 1"},
		{`{"vocab": 2, "score_tokens": [], "groups": []}`, "groups: empty"},
		{`{"vocab": 2,`, "not valid JSON"},
	} {
		if _, err := Parse([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
	b := &Batch{Vocab: 1, Groups: []Group{{Seqs: []Seq{{Tokens: []int{0}, Logits: [][]float64{{1e39}}}}}}}
	if err := b.CheckLogits(); err == nil || !strings.Contains(err.Error(), "groups[0].seqs[0].logits[0][0]: logit 1e+39 overflows float32") {
		t.Errorf("CheckLogits: %v", err)
	}
}
