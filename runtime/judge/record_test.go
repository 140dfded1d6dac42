package judge

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/sample"
)

// Recording three MT-Bench items and playing them back through eval.Replay
// gives the model run's predictions exactly, under REAL's blind policy.
func TestRecordReplayRoundTrip(t *testing.T) {
	j := tinyQwenJudge(t)
	bench, err := eval.LoadBenchmark(filepath.Join(sharedData(t), "prometheus", "mt_bench_eval.json"), eval.LoadOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := eval.Sampling{Temperature: 1, TopP: 0.9, MaxTokens: 6, Seed: 9}
	var buf bytes.Buffer
	if err := j.RecordBenchmark(ctx, &buf, bench, 2, s, 2); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 3 {
		t.Fatalf("%d lines, want one per item:\n%s", lines, buf.String())
	}
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rp, err := eval.LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := eval.Config{NCoT: 2, Sampling: s, Policy: eval.PolicyBlind, Mode: eval.ModeRAIL}
	live, err := eval.Run(ctx, j, []eval.Benchmark{bench}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	played, err := eval.Run(ctx, rp, []eval.Benchmark{bench}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range live.Benchmarks[0].Results {
		if p := played.Benchmarks[0].Results[i].Pred; p != it.Pred {
			t.Errorf("item %d: replayed pred %v, live %v", i, p, it.Pred)
		}
	}
}

// An output that states a score: Record reads the parsed slot (the digit's
// token) and the blind slot (the last token), each as the full forward's
// softmax predicts it.
func TestRecordParsedSlot(t *testing.T) {
	j := tinyQwenJudge(t)
	prompt := "Rate it."
	pids, _ := j.Encode(prompt)
	toks := j.Tok.Encode("Good answer. So the overall score is 4 .")
	g, err := j.generation(pids, sample.Response{Tokens: append(toks, 151645), StopReason: sample.StopEOS})
	if err != nil {
		t.Fatal(err)
	}
	r, err := j.Record(ctx, prompt, g)
	if err != nil {
		t.Fatal(err)
	}
	// The digit is the token before " ." : the second last.
	digit := len(toks) - 2
	if toks[digit] != 19 || r.Text != "Good answer. So the overall score is 4 ." || !slices.Equal(r.TokenStarts, g.TokenStarts) {
		t.Fatalf("tokens %v, text %q", toks, r.Text)
	}
	for _, c := range []struct {
		name string
		got  []float64
		t    int
	}{{"probs", r.Probs, digit}, {"probs_last", r.ProbsLast, len(toks) - 1}} {
		want := softmaxAt(fullForwardLast(t, j.M, slices.Concat(pids, toks[:c.t])), j.ScoreIDs())
		if len(c.got) != 5 {
			t.Fatalf("%s = %v", c.name, c.got)
		}
		for k := range want {
			if !closeRel(c.got[k], want[k], 2e-5) {
				t.Errorf("%s[%d] = %.9g, full forward %.9g", c.name, k, c.got[k], want[k])
			}
		}
	}
	// No score: no probs, only probs_last.
	g, _ = j.generation(pids, sample.Response{Tokens: j.Tok.Encode("no score here")})
	if r, err = j.Record(ctx, prompt, g); err != nil || r.Probs != nil || len(r.ProbsLast) != 5 {
		t.Errorf("unparsed output: %+v, %v", r, err)
	}
}

func TestCancel(t *testing.T) {
	j := tinyQwenJudge(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := j.Generate(c, "x", 1, eval.Sampling{Temperature: 1, MaxTokens: 4})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
