package model

import (
	"math"
	"runtime"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// TestParallelMatchesSerial runs a model large enough to cross the
// goroutine thresholds (row-split norms and activations, attention heads on
// several goroutines, batched cached attention) with GOMAXPROCS 1 and 4, and
// compares logits, gradients and cached decoding. Run with -race it also
// checks the parallel paths for races.
func TestParallelMatchesSerial(t *testing.T) {
	m, err := New(Config{Arch: Qwen3, Dim: 128, Hidden: 192, Layers: 2, Heads: 16, KVHeads: 4, HeadDim: 8, Vocab: 96,
		RopeTheta: 1e4, NormEps: 1e-6, QKNorm: true})
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(12, 0.1)
	const B, T = 4, 64
	b := &Batch{B: B, T: T, Tokens: make([]int, B*T)}
	for i := range b.Tokens {
		b.Tokens[i] = (i*37 + 11) % m.Cfg.Vocab
	}
	w := make([]float32, B*T*m.Cfg.Vocab)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)))
	}
	run := func(procs int) ([]float32, []Param, [][]float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		logits, grads := logitsAndGrads(t, m, b, w)
		caches := make([]*KVCache, 8)
		toks := make([][]int, 8)
		for i := range caches {
			caches[i] = m.NewKVCache()
			toks[i] = b.Tokens[i*20 : i*20+20]
		}
		if _, err := m.Step(caches, toks); err != nil { // prefill 20 each
			t.Fatal(err)
		}
		var last [][]float32
		for s := 0; s < 50; s++ { // the cache grows past 64, where 8 sequences go parallel
			for i := range toks {
				toks[i] = []int{(s*7 + i) % m.Cfg.Vocab}
			}
			if last, err = m.Step(caches, toks); err != nil {
				t.Fatal(err)
			}
		}
		return logits, grads, last
	}
	l1, g1, d1 := run(1)
	l4, g4, d4 := run(4)
	if d := maxAbsDiff(l1, l4); d > 1e-5 {
		t.Errorf("logits differ by %g", d)
	}
	for i := range g1 {
		scale := 0.0
		for _, v := range g1[i].Data {
			scale = max(scale, math.Abs(float64(v)))
		}
		if d := maxAbsDiff(g1[i].Data, g4[i].Data); numtest.Exceeds(d, 1e-5*max(1, scale)) {
			t.Errorf("%s: gradients differ by %g", g1[i].Name, d)
		}
	}
	for i := range d1 {
		if d := maxAbsDiff(d1[i], d4[i]); d > 1e-5 {
			t.Errorf("cached decode of sequence %d differs by %g", i, d)
		}
	}
	hd := m.Cfg.HeadDim
	if !headTasks(B*m.Cfg.KVHeads, B*m.Cfg.Heads*T*T*hd, T*T*hd).parallel {
		t.Fatal("the test no longer reaches the parallel attention path")
	}
}
