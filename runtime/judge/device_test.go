package judge_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/judge"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// trackedLM is an LM from a judge's Config.LM that checks the judge keeps
// to what it asked for: never more live caches than the LM was made for,
// never a cache past its length; it counts the caches alive.
type trackedLM struct {
	sample.LM
	t              *testing.T
	caches, maxLen int
	live           *int
}

type trackedCache struct {
	sample.Cache
	lm       *trackedLM
	released bool
}

func (l *trackedLM) NewCache() sample.Cache {
	*l.live++
	if *l.live > l.caches {
		l.t.Errorf("%d caches alive on an LM made for %d", *l.live, l.caches)
	}
	return &trackedCache{Cache: l.LM.NewCache(), lm: l}
}

func (c *trackedCache) Clone() sample.Cache {
	*c.lm.live++
	if *c.lm.live > c.lm.caches {
		c.lm.t.Errorf("%d caches alive on an LM made for %d", *c.lm.live, c.lm.caches)
	}
	return &trackedCache{Cache: c.Cache.Clone(), lm: c.lm}
}

func (c *trackedCache) Release() {
	if !c.released {
		c.released = true
		*c.lm.live--
	}
}

func (l *trackedLM) Forward(caches []sample.Cache, toks [][]int) ([][]float32, error) {
	inner := make([]sample.Cache, len(caches))
	for i, c := range caches {
		tc := c.(*trackedCache)
		if tc.released {
			l.t.Errorf("Forward on a released cache")
		}
		if tc.Len()+len(toks[i]) > l.maxLen {
			l.t.Errorf("a cache of %d tokens on an LM made for %d", tc.Len()+len(toks[i]), l.maxLen)
		}
		inner[i] = tc.Cache
	}
	return l.LM.Forward(inner, toks)
}

func tinyJudgeDir(t *testing.T) string {
	dir := t.TempDir()
	if err := traintest.WriteJudge(dir, 7); err != nil {
		t.Fatal(err)
	}
	return dir
}

var tinyBench = eval.Benchmark{Name: "tiny", Prompts: []string{"Rate: ab", "Rate the answer: abab", "Score this: x", "Rate: abcabc ab", "Go"}, Gold: []float64{1, 3, 5, 2, 4}}

// A judge whose Config.LM serves the same host model gives the host
// judge's evaluation exactly (outputs, score-slot probabilities, metrics):
// the LM path samples and teacher-forces the same tokens at the same slots.
// It keeps within the sizes it asked for, reuses its LM, and releases
// every cache and the LM at Close.
func TestConfigLMSameAsHost(t *testing.T) {
	dir := tinyJudgeDir(t)
	host, err := judge.Open(judge.Options{Model: dir})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var made, done, live int
	c := judge.Config{Chat: host.Chat(), ScoreIDs: host.ScoreIDs(), EOS: host.EOS(),
		LM: func(caches, maxLen int) (sample.LM, func(), error) {
			made++
			return &trackedLM{LM: model.LM{M: m}, t: t, caches: caches, maxLen: maxLen, live: &live}, func() { done++ }, nil
		}}
	// The host model's weights are never read: a zeroed copy stands for
	// them (its config is what the judge reads).
	blank, err := model.New(m.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := judge.New(blank, host.Tok, c)
	if err != nil {
		t.Fatal(err)
	}
	// Count first (these random outputs never parse: no score slot), then
	// blind (every output scored).
	for _, pol := range []eval.Policy{eval.PolicyCount, eval.PolicyBlind} {
		cfg := eval.Config{NCoT: 2, Sampling: eval.Sampling{Temperature: 1, TopP: 0.95, MaxTokens: 10, Seed: 5}, Policy: pol, Mode: eval.ModeRAIL, Batch: 3}
		want, err := eval.Run(context.Background(), host, []eval.Benchmark{tinyBench}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := eval.Run(context.Background(), dev, []eval.Benchmark{tinyBench}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.Benchmarks[0].Results) != fmt.Sprint(want.Benchmarks[0].Results) || fmt.Sprint(got.Benchmarks[0].Metrics) != fmt.Sprint(want.Benchmarks[0].Metrics) {
			t.Errorf("policy %s: through Config.LM\n%v\n%v\nthe host judge\n%v\n%v", pol, got.Benchmarks[0].Results, got.Benchmarks[0].Metrics, want.Benchmarks[0].Results, want.Benchmarks[0].Metrics)
		}
		if pol == eval.PolicyBlind {
			scored := 0
			for _, it := range got.Benchmarks[0].Results {
				for _, o := range it.Outputs {
					if !math.IsNaN(o.Pred) {
						scored++
					}
				}
			}
			if scored != 2*len(tinyBench.Prompts) {
				t.Errorf("blind: %d outputs scored, want every one of %d", scored, 2*len(tinyBench.Prompts))
			}
		}
	}
	if made < 1 || made > 2 || live != 1 {
		t.Errorf("%d LMs made (want the first one reused, at most one remade), %d caches alive after the runs (want ScoreProbs' prompt)", made, live)
	}
	dev.Close()
	if live != 0 || done != made {
		t.Errorf("after Close: %d caches alive, %d of %d LMs released", live, done, made)
	}
}

// A judge on runtime/cuda/gpumodel's LM (here on the CPU twins: bf16
// weights, the GPU kernels' arithmetic; the decoder samples, the score
// slots take one forward pass each, LastLogits) against the host judge,
// greedy: the same tokens, and score-slot probabilities within the bound
// that the forward's logit error gives. With z the slot's logits and Δz the
// decoder's error, p_k = softmax(z)_k moves by p_k (Δz_k - E_p[Δz]), so
// |Δp_k| <= 2 p_k max|Δz| <= 2 p_k e ||z||, e the forward's relative bf16
// error bound (gpumodeltest.ForwardTol).
func TestConfigLMGPUDecoder(t *testing.T) {
	dir := tinyJudgeDir(t)
	host, err := judge.Open(judge.Options{Model: dir})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gpumodel.UploadFrozen(twin.NewMachine(), host.M)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Free()
	dev, err := judge.New(host.M, host.Tok, judge.Config{Chat: host.Chat(), ScoreIDs: host.ScoreIDs(), EOS: host.EOS(),
		LM: func(caches, maxLen int) (sample.LM, func(), error) {
			lm, err := g.NewLM(caches, maxLen)
			if err != nil {
				return nil, nil, err
			}
			return lm, lm.Free, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	s := eval.Sampling{Temperature: 0, MaxTokens: 10, Seed: 1}
	want, err := host.GenerateBatch(context.Background(), tinyBench.Prompts, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dev.GenerateBatch(context.Background(), tinyBench.Prompts, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	e := gpumodeltest.ForwardTol(host.M.Cfg.Layers)
	worst := 0.0
	for i := range tinyBench.Prompts {
		tw, _, _ := host.Tokens(want[i][0])
		tg, _, _ := dev.Tokens(got[i][0])
		if !slices.Equal(tw, tg) {
			t.Errorf("prompt %d: the decoder's greedy tokens %v, the host's %v", i, tg, tw)
			continue
		}
		pids, err := host.Encode(tinyBench.Prompts[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, slot := range []eval.Slot{{Token: 0}, {Token: len(tw) / 2}, {Token: len(tw) - 1, Last: true}} {
			pw, err := host.ScoreProbs(context.Background(), "", want[i][0], slot)
			if err != nil {
				t.Fatal(err)
			}
			pg, err := dev.ScoreProbs(context.Background(), "", got[i][0], slot)
			if err != nil {
				t.Fatal(err)
			}
			at := slot.Token
			if slot.Last {
				at = max(len(tw)-1, 0)
			}
			seq := slices.Concat(pids, tw[:at])
			p, err := host.M.Forward(&model.Batch{B: 1, T: len(seq), Tokens: seq})
			if err != nil {
				t.Fatal(err)
			}
			v := host.M.Cfg.Vocab
			z := host.M.Logits(p)[(len(seq)-1)*v:]
			var norm float64
			for _, x := range z {
				norm += float64(x) * float64(x)
			}
			bound := 2 * e * math.Sqrt(norm)
			for k := range pw {
				r := math.Abs(pg[k]-pw[k]) / pw[k]
				worst = max(worst, r)
				if !(r <= bound) {
					t.Errorf("prompt %d slot %d: p[%d] %.6g on the decoder, %.6g on the host: %.3g relative, bound %.3g", i, at, k, pg[k], pw[k], r, bound)
				}
			}
		}
	}
	t.Logf("score probabilities: worst relative difference %.3g (e = %.3g)", worst, e)
}
