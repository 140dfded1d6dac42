package traintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/blas"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
	"github.com/realc-project/realc/runtime/train"
)

// benchConfig is a ~3M-parameter Qwen3 over the byte-level vocabulary: big
// enough that the trunk, not the bookkeeping, is what is timed.
func benchConfig() model.Config {
	c := model.TinyQwen3Config(Vocab)
	c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.HeadDim = 256, 768, 4, 4, 2, 64
	c.EOS = []int{ImEnd}
	return c
}

// stepFlops is 6 x matmul parameters x tokens plus attention's products
// (as MFU figures count them), for sequences of the given lengths.
func stepFlops(c model.Config, lens []int) float64 {
	d, h, q, kv := float64(c.Dim), float64(c.Hidden), float64(c.QDim()), float64(c.KVDim())
	mat := float64(c.Layers)*(d*q+2*d*kv+q*d+3*d*h) + float64(c.Vocab)*d
	var f float64
	for _, L := range lens {
		f += 6*mat*float64(L) + float64(c.Layers*c.Heads*L*L*c.HeadDim)*2*6/2
	}
	return f
}

func sgemmGFLOPs(n, reps int) float64 {
	a, bb, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], bb[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	start := time.Now()
	for i := 0; i < reps; i++ {
		blas.Sgemm(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
	}
	return 2 * float64(n*n*n) * float64(reps) / time.Since(start).Seconds() / 1e9
}

// peakRSS is the process's peak resident set (VmHWM) in MiB, 0 if unknown.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchTrain measures the trainer on recipe p, side by side in one run:
// rollout tokens/s with the n samples of a prompt decoded together (prompt
// prefilled once, KV cache shared) against one sequence at a time; update
// tokens/s and GFLOP/s against the machine's Sgemm; each stage's share of a
// step; peak RSS. `make bench-train` runs it for REAL.
func BenchTrain(b *testing.B, p recipe.Program) {
	if testing.Short() {
		b.Skip("make bench-train runs the trainer benchmark")
	}
	m := p.Meta()
	dir := b.TempDir()
	s := &Setup{Dir: dir, Model: filepath.Join(dir, "judge"), Data: filepath.Join(dir, "train.parquet")}
	mm, err := model.New(benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	mm.InitRandom(5, 0.05)
	if err := mm.SaveHF(s.Model); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Model, "tokenizer.json"), TokenizerJSON(), 0o644)
	if s.Y, err = WriteData(s.Data, 16); err != nil {
		b.Fatal(err)
	}
	const n, maxNew = 8, 96
	prompt := make([]int, 160)
	for i := range prompt {
		prompt[i] = 'a' + i%26
	}
	lm := sample.Restrict(model.LM{M: mm}, Vocab-1)
	opts := sample.Options{Params: sample.Params{Temperature: 1}, Seed: 1, MaxNewTokens: maxNew, EOS: []int{Vocab - 1}} // the padding row: never sampled past the tokenizer, so every response runs maxNew
	b.Run("rollout", func(b *testing.B) {
		var batched, single float64
		for i := 0; i < b.N; i++ {
			o := opts
			o.N = n
			t0 := time.Now()
			if _, err := sample.Generate(lm, [][]int{prompt}, o); err != nil {
				b.Fatal(err)
			}
			batched += float64(n*maxNew) / time.Since(t0).Seconds()
			t0 = time.Now()
			for k := 0; k < n; k++ {
				o := opts
				o.N, o.Seed = 1, uint64(k)
				if _, err := sample.Generate(lm, [][]int{prompt}, o); err != nil {
					b.Fatal(err)
				}
			}
			single += float64(n*maxNew) / time.Since(t0).Seconds()
		}
		b.ReportMetric(batched/float64(b.N), "tok/s-batched")
		b.ReportMetric(single/float64(b.N), "tok/s-single")
		b.ReportMetric(batched/single, "x-single")
	})
	b.Run("update", func(b *testing.B) {
		c := s.Config(m, filepath.Join(dir, "u"))
		c.Rollouts, c.Rollout.MaxResponse, c.Rollout.N = "", maxNew, n
		tr, err := train.New(p, c, nil, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		groups, err := tr.StepGroups(0)
		if err != nil {
			b.Fatal(err)
		}
		var lens []int
		toks := 0
		for _, g := range groups {
			for _, sq := range g.Seqs {
				lens = append(lens, len(sq.Prompt)+len(sq.Resp)-1)
				toks += lens[len(lens)-1]
			}
		}
		pol, ev := tr.Policy(), tr.Evaluator()
		g := pol.NewGrads()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := ev.Eval(pol, g, groups); err != nil {
				b.Fatal(err)
			}
		}
		sec := b.Elapsed().Seconds() / float64(b.N)
		b.StopTimer()
		gf := stepFlops(pol.Cfg, lens) / sec / 1e9
		b.ReportMetric(float64(toks)/sec, "tok/s")
		b.ReportMetric(gf, "GFLOP/s")
		b.ReportMetric(gf/sgemmGFLOPs(1024, 3), "x-sgemm")
	})
	// A step: rollouts replayed (long, mixed-accuracy responses, so that REAL
	// keeps groups and updates), scored and trained; the rollout share is the
	// time sampling the same tokens takes at the batched rate measured above.
	var batchedRate float64
	runs := 0
	b.Run("step", func(b *testing.B) {
		if batchedRate == 0 {
			o := opts
			o.N = n
			t0 := time.Now()
			if _, err := sample.Generate(lm, [][]int{prompt}, o); err != nil {
				b.Fatal(err)
			}
			batchedRate = float64(n*maxNew) / time.Since(t0).Seconds()
		}
		rolls := filepath.Join(dir, "rollouts.jsonl")
		f, _ := os.Create(rolls)
		enc := json.NewEncoder(f)
		for i, y := range s.Y {
			for k := 0; k < 4*n; k++ {
				score := int(y)
				if k%2 == 1 {
					score = score%5 + 1
				}
				enc.Encode(map[string]any{"prompt": i, "response": strings.Repeat("The response is checked. ", 2) + fmt.Sprintf("%s%d", Marker, score)})
			}
		}
		f.Close()
		shares := map[string]float64{}
		for i := 0; i < b.N; i++ {
			runs++
			c := s.Config(m, filepath.Join(dir, fmt.Sprintf("run%d", runs)))
			c.Rollouts, c.Rollout.MaxResponse, c.Rollout.N, c.Steps, c.Optim.Buffer, c.Optim.Epochs = rolls, maxNew, n, 2, 3, 1
			tr, err := train.New(p, c, nil, io.Discard, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			if err := tr.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(c.Out, "metrics.jsonl"))
			for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
				var v map[string]any
				json.Unmarshal(line, &v)
				for _, k := range []string{"time/score", "time/update"} {
					if f, ok := v[k].(float64); ok {
						shares[k] += f
					}
				}
				if f, ok := v["response_len"].(float64); ok {
					shares["time/rollout"] += f * float64(c.PromptsPerStep*c.Rollout.N) / batchedRate
				}
			}
		}
		if shares["time/update"] == 0 {
			b.Fatalf("no update ran: the replayed groups were not kept")
		}
		var tot float64
		for _, v := range shares {
			tot += v
		}
		for _, k := range []string{"rollout", "score", "update"} {
			b.ReportMetric(100*shares["time/"+k]/tot, "%"+k)
		}
		b.ReportMetric(peakRSS(), "MiB-peak-RSS")
	})
}
