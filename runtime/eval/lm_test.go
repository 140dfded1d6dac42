package eval

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/realc-project/realc/runtime/sample"
)

// judgeLM is a toy LM over 9 tokens that always writes
// "Feedback: ok. So the overall score is D" + EOS, with the digit D drawn
// from logits log(1, 2, 3, 2, 1) (other tokens at -30): E[score] = 27/9 = 3.
type judgeLM struct{ fed int } // tokens fed to Forward

const (
	tMarker = 0 // "So the overall score is "
	tEOS    = 6
	tFeed   = 7 // "Feedback: ok. "
	tPrompt = 8
)

var judgePieces = []string{"So the overall score is ", "1", "2", "3", "4", "5", "</s>", "Feedback: ok. ", "P"}

type judgeHist struct{ toks []int }

func (h *judgeHist) Len() int            { return len(h.toks) }
func (h *judgeHist) Clone() sample.Cache { return &judgeHist{append([]int(nil), h.toks...)} }

func (m *judgeLM) Vocab() int             { return 9 }
func (m *judgeLM) NewCache() sample.Cache { return &judgeHist{} }
func (m *judgeLM) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	out := make([][]float32, len(caches))
	for i, c := range caches {
		h := c.(*judgeHist)
		h.toks = append(h.toks, toks[i]...)
		m.fed += len(toks[i])
		row := make([]float32, 9)
		for k := range row {
			row[k] = -30
		}
		switch last := h.toks[len(h.toks)-1]; {
		case last == tPrompt:
			row[tFeed] = 0
		case last == tFeed:
			row[tMarker] = 0
		case last == tMarker:
			for k, w := range []float64{1, 2, 3, 2, 1} {
				row[1+k] = float32(math.Log(w))
			}
		default:
			row[tEOS] = 0
		}
		out[i] = row
	}
	return out, nil
}

func TestLMJudge(t *testing.T) {
	lm := &judgeLM{}
	j := &LMJudge{
		LM:       lm,
		Encode:   func(string) ([]int, error) { return []int{tPrompt}, nil },
		Piece:    func(id int) ([]byte, error) { return []byte(judgePieces[id]), nil },
		EOS:      []int{tEOS},
		ScoreIDs: []int{1, 2, 3, 4, 5},
	}
	b := Benchmark{Name: "toy", Prompts: []string{"a", "b", "c"}, Gold: []float64{1, 3, 5}}
	// full-vocabulary mass on the digits: 9 / (9 + 4 e^-30) (the other 4 tokens at -30)
	mass := 9 / (9 + 4*math.Exp(-30))
	for _, c := range []struct {
		pol    Policy
		renorm bool
		want   float64
	}{{PolicyCount, false, 3 * mass}, {PolicyBlind, false, 3 * mass}, {PolicyCount, true, 3}} {
		rep, err := Run(context.Background(), j, []Benchmark{b}, Config{NCoT: 2, Policy: c.pol, Renorm: c.renorm, Batch: 2, Sampling: DefaultSampling})
		if err != nil {
			t.Fatal(err)
		}
		br := rep.Benchmarks[0]
		if br.ParseFailures != 0 || br.FormatBroken != 0 || br.Used != 3 {
			t.Errorf("%v: %+v", c, br)
		}
		for _, it := range br.Results {
			if math.Abs(it.Pred-c.want) > 1e-12 {
				t.Errorf("%v item %d: E = %.15f, want %.15f", c, it.Index, it.Pred, c.want)
			}
			for _, o := range it.Outputs {
				// tokens: "Feedback: ok. ", "So the overall score is ", digit
				if o.Slot != 2 || o.Score < 1 || o.Score > 5 {
					t.Errorf("%v item %d: output %+v", c, it.Index, o)
				}
			}
		}
	}
	// Prompts "a", "b", "c" encode to 1, 2, 3 tokens. Sampling feeds each
	// prompt once plus 3 tokens per output (the EOS is not fed back):
	// 1+6, 2+6, 3+6 = 24. Scoring feeds each prompt once (cached across the
	// item's outputs) plus the 2 output tokens before the slot per output:
	// 1+4, 2+4, 3+4 = 18. Without the cache it would be 24.
	lm.fed = 0
	enc := func(p string) ([]int, error) { return []int{tPrompt, tPrompt, tPrompt}[:int(p[0]-'a')+1], nil }
	if _, err := Run(context.Background(), &LMJudge{LM: lm, Encode: enc, Piece: j.Piece, EOS: j.EOS, ScoreIDs: j.ScoreIDs},
		[]Benchmark{b}, Config{NCoT: 2, Sampling: DefaultSampling}); err != nil {
		t.Fatal(err)
	}
	if lm.fed != 24+18 {
		t.Errorf("%d tokens fed to the model, want %d", lm.fed, 24+18)
	}
	gs, err := j.Generate(context.Background(), "a", 1, DefaultSampling)
	if err != nil {
		t.Fatal(err)
	}
	g := gs[0]
	want := "Feedback: ok. So the overall score is " + fmt.Sprint(ParseScore(g.Text).Score)
	if g.Text != want || fmt.Sprint(g.TokenStarts) != "[0 14 38]" {
		t.Errorf("text %q starts %v", g.Text, g.TokenStarts)
	}
	if _, err := j.ScoreProbs(context.Background(), "a", g, Slot{Token: 3}); err == nil {
		t.Error("slot past the output accepted")
	}
}
