package model

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/blas"
)

// genSteps matches run.c's default -n 256: BOS then 255 generated tokens.
const genSteps = 256

// BenchmarkGenerateStories260K measures greedy generation tokens/s on
// stories260K with the KV cache (realc), and, side by side in the same run,
// llama2.c's run.c on the same weights with as many OpenMP threads as
// GOMAXPROCS (runc; build it first with runtime/model/testdata/build_runc.sh,
// or point RUNC at a built binary; skipped otherwise). run.c goes first: with
// -tags openblas, OpenBLAS's spinning worker threads would otherwise steal
// its cores (run it with OPENBLAS_NUM_THREADS=1 for decoding, whose products
// are too small to thread).
func BenchmarkGenerateStories260K(b *testing.B) {
	m, dir := loadStories(b)
	b.Run("runc", func(b *testing.B) {
		bin := os.Getenv("RUNC")
		if bin == "" {
			bin = "/tmp/llama2.c/run"
		}
		if _, err := os.Stat(bin); err != nil {
			b.Skipf("run.c binary %s not found: run runtime/model/testdata/build_runc.sh (needs karpathy/llama2.c in /tmp/llama2.c) or set RUNC", bin)
		}
		tok := filepath.Join(b.TempDir(), "tok512.bin")
		if err := writeDummyTokenizer(tok, m.Cfg.Vocab); err != nil {
			b.Fatal(err)
		}
		re := regexp.MustCompile(`achieved tok/s: ([0-9.]+)`)
		total := 0.0
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(bin, filepath.Join(dir, "stories260K.bin"), "-z", tok, "-t", "0", "-n", strconv.Itoa(genSteps))
			cmd.Env = append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", runtime.GOMAXPROCS(0)))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("%s: %v: %s", bin, err, stderr.String())
			}
			mt := re.FindStringSubmatch(stderr.String())
			if mt == nil {
				b.Fatalf("%s printed no 'achieved tok/s': %s", bin, stderr.String())
			}
			v, _ := strconv.ParseFloat(mt[1], 64)
			total += v
		}
		b.ReportMetric(total/float64(b.N), "tok/s")
	})
	b.Run("realc", func(b *testing.B) {
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			cache := m.NewKVCache()
			tok := 1
			for pos := 0; pos < genSteps-1; pos++ {
				out, err := m.Step([]*KVCache{cache}, [][]int{{tok}})
				if err != nil {
					b.Fatal(err)
				}
				tok = argmax(out[0])
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*(genSteps-1))/elapsed.Seconds(), "tok/s")
	})
	// Eight sequences decoded together (as the RL sampler does): one Step per
	// position with 8 rows per product. tok/s counts all sequences' tokens.
	b.Run("realc-batch8", func(b *testing.B) {
		const B = 8
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			caches := make([]*KVCache, B)
			toks := make([][]int, B)
			for j := range caches {
				caches[j] = m.NewKVCache()
				toks[j] = []int{1 + j}
			}
			for pos := 0; pos < genSteps-1; pos++ {
				out, err := m.Step(caches, toks)
				if err != nil {
					b.Fatal(err)
				}
				for j := range toks {
					toks[j][0] = argmax(out[j])
				}
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*B*(genSteps-1))/elapsed.Seconds(), "tok/s")
	})
}

// writeDummyTokenizer writes a llama2.c tokenizer.bin whose token i is " i":
// run.c needs one to start, and only ids are compared.
func writeDummyTokenizer(path string, vocab int) error {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, int32(8))
	for i := 0; i < vocab; i++ {
		s := " " + strconv.Itoa(i)
		binary.Write(&buf, binary.LittleEndian, float32(0))
		binary.Write(&buf, binary.LittleEndian, int32(len(s)))
		buf.WriteString(s)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// trainBenchConfig is a ~16M-parameter Qwen3 (8 layers, dim 384, vocab 8192).
func trainBenchConfig() Config {
	return Config{Arch: Qwen3, Dim: 384, Hidden: 1024, Layers: 8, Heads: 6, KVHeads: 2, HeadDim: 64, Vocab: 8192,
		RopeTheta: 1e6, NormEps: 1e-6, TiedEmbed: true, QKNorm: true, BOS: -1}
}

// trainFlops counts the model FLOPs of one forward+backward over B sequences
// of T: 6 * matmul params * tokens, plus attention (QK^T and PV forward, four
// products backward, over the full T x T as for T <= attnBlock). The
// backward's recomputation of QK^T is not counted, as in MFU figures.
func trainFlops(c Config, B, T int) float64 {
	n := float64(B * T)
	d, h, q, kv := float64(c.Dim), float64(c.Hidden), float64(c.QDim()), float64(c.KVDim())
	mat := float64(c.Layers)*(d*q+2*d*kv+q*d+3*d*h) + float64(c.Vocab)*d
	attn := float64(c.Layers) * float64(B) * float64(c.Heads) * float64(T*T) * float64(c.HeadDim) * 2 * 6
	return 6*mat*n + attn
}

// BenchmarkTrainStep measures forward+backward GFLOP/s of a ~16M-parameter
// Qwen3 on 4 x 128 tokens, next to the machine's Sgemm GFLOP/s on a square
// 1024 product and on the model's largest shape (LM head), all in one run.
func BenchmarkTrainStep(b *testing.B) {
	cfg := trainBenchConfig()
	const B, T = 4, 128
	b.Run("sgemm1024", func(b *testing.B) {
		b.ReportMetric(sgemmGFLOPs(1024, b.N), "GFLOP/s")
	})
	b.Run("sgemmHead", func(b *testing.B) {
		n, d, v := B*T, cfg.Dim, cfg.Vocab
		x, w, z := make([]float32, n*d), make([]float32, v*d), make([]float32, n*v)
		for i := range x {
			x[i] = float32(i%7) * 0.1
		}
		for i := range w {
			w[i] = float32(i%5) * 0.1
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			linear(z, x, w, n, d, v, 0)
		}
		b.ReportMetric(2*float64(n*d*v)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("qwen3-16M", func(b *testing.B) {
		m, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		m.InitRandom(1, 0.02)
		g := m.NewGrads()
		batch := &Batch{B: B, T: T, Tokens: make([]int, B*T)}
		for i := range batch.Tokens {
			batch.Tokens[i] = (i * 7919) % cfg.Vocab
		}
		dl := make([]float32, B*T*cfg.Vocab)
		for i := range dl {
			dl[i] = float32(math.Sin(float64(i))) * 1e-3
		}
		b.ReportMetric(float64(cfg.NumParams())/1e6, "Mparams")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, err := m.Forward(batch)
			if err != nil {
				b.Fatal(err)
			}
			m.Logits(p)
			if err := m.Backward(p, dl, g); err != nil {
				b.Fatal(err)
			}
		}
		train := trainFlops(cfg, B, T) * float64(b.N) / b.Elapsed().Seconds() / 1e9
		b.StopTimer()
		b.ReportMetric(train, "GFLOP/s")
		// The ratio to a 1024^3 Sgemm timed right after, which a shared
		// machine's load disturbs less than two separate sub-benchmarks.
		b.ReportMetric(train/sgemmGFLOPs(1024, 3), "x-sgemm")
	})
}

func sgemmGFLOPs(n, reps int) float64 {
	x, y, z := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range x {
		x[i], y[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	start := time.Now()
	for i := 0; i < reps; i++ {
		blas.Sgemm(false, false, n, n, n, 1, x, n, y, n, 0, z, n)
	}
	return 2 * float64(n*n*n) * float64(reps) / time.Since(start).Seconds() / 1e9
}
