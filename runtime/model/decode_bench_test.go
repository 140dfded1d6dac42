package model

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/sample"
)

// stories15MConfig is the shape of llama2.c's stories15M: dim 288, hidden
// 768, 6 layers, 6 heads, vocabulary 32,000, 256 positions, tied head.
func stories15MConfig() Config {
	return Config{Arch: Llama, Dim: 288, Hidden: 768, Layers: 6, Heads: 6, KVHeads: 6, HeadDim: 48, Vocab: 32000,
		RopeTheta: 10000, NormEps: 1e-5, TiedEmbed: true, MaxPos: 256, BOS: 1, EOS: []int{1}}
}

// writeRandomLlama2C writes a llama2.c legacy-v0 checkpoint of cfg's shape
// with random weights (projections and embeddings N(0, std^2), norm weights
// 1), so that run.c and realc read the same file. Embedding row 1 (BOS) is
// zero: its logit is then 0, below the maximum of the others, and run.c,
// which stops at BOS, always generates the full length.
func writeRandomLlama2C(path string, cfg Config, seed uint64, std float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, v := range []int{cfg.Dim, cfg.Hidden, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.Vocab, cfg.MaxPos} {
		binary.Write(w, binary.LittleEndian, int32(v))
	}
	r := rand.New(rand.NewPCG(seed, 15))
	var buf [4]byte
	put := func(n int, gen func(i int) float32) {
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(gen(i)))
			w.Write(buf[:])
		}
	}
	normal := func(int) float32 { return float32(r.NormFloat64() * std) }
	one := func(int) float32 { return 1 }
	d, h, L, kvd := cfg.Dim, cfg.Hidden, cfg.Layers, cfg.KVDim()
	put(cfg.Vocab*d, func(i int) float32 {
		if i/d == 1 {
			return 0
		}
		return normal(i)
	})
	put(L*d, one)                                               // rms_att
	put(L*d*d, normal)                                          // wq
	put(L*kvd*d, normal)                                        // wk
	put(L*kvd*d, normal)                                        // wv
	put(L*d*d, normal)                                          // wo
	put(L*d, one)                                               // rms_ffn
	put(L*h*d, normal)                                          // w1
	put(L*d*h, normal)                                          // w2
	put(L*h*d, normal)                                          // w3
	put(d, one)                                                 // rms_final
	put(cfg.MaxPos*cfg.HeadDim, func(int) float32 { return 0 }) // freq_cis (unused)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runcBinary is run.c built by testdata/build_runc.sh, or "" when absent.
func runcBinary() string {
	bin := os.Getenv("RUNC")
	if bin == "" {
		bin = "/tmp/llama2.c/run"
	}
	if _, err := os.Stat(bin); err != nil {
		return ""
	}
	return bin
}

var runcTokS = regexp.MustCompile(`achieved tok/s: ([0-9.]+)`)

// ompPolicies are the OpenMP wait policies run.c and llm.c are timed
// under, the best kept: libgomp's default spins at its barriers, which on a
// quiet machine is fastest and on a loaded one (threads descheduled while
// their partner spins) can be a hundred times slower; passive sleeps there.
var ompPolicies = []string{"", "OMP_WAIT_POLICY=passive"}

// ompEnv is the environment of an OpenMP reference program: GOMAXPROCS
// threads and the wait policy (empty: libgomp's default).
func ompEnv(policy string) []string {
	env := append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", runtime.GOMAXPROCS(0)))
	if policy != "" {
		env = append(env, policy)
	}
	return env
}

// bestOf returns the best of f over as many runs as run.c gets in a
// repetition (one per wait policy, the best kept): each contender's figure
// is then the best of the same number of tries, where one run against the
// best of two leaned every ratio toward run.c by the machine's noise alone.
func bestOf(f func() float64) float64 {
	best := 0.0
	for range ompPolicies {
		best = max(best, f())
	}
	return best
}

// runRunC runs run.c greedily for genSteps positions from BOS with
// GOMAXPROCS OpenMP threads, under each of ompPolicies, and returns the
// best of its own tok/s figures.
func runRunC(bin, model, tok string) (float64, error) {
	best := 0.0
	for _, pol := range ompPolicies {
		cmd := exec.Command(bin, model, "-z", tok, "-t", "0", "-n", strconv.Itoa(genSteps))
		cmd.Env = ompEnv(pol)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("%s: %v: %s", bin, err, stderr.String())
		}
		mt := runcTokS.FindStringSubmatch(stderr.String())
		if mt == nil {
			return 0, fmt.Errorf("%s printed no 'achieved tok/s': %s", bin, stderr.String())
		}
		v, err := strconv.ParseFloat(mt[1], 64)
		if err != nil {
			return 0, err
		}
		best = max(best, v)
	}
	return best, nil
}

// greedyTokS decodes genSteps positions greedily from BOS, one sequence with
// the KV cache, and returns tok/s over the genSteps-1 steps after the first
// (run.c's count: its clock starts after the first forward). The logits go
// to one buffer reused every step (StepInto), as run.c's do.
func greedyTokS(m *Model) float64 {
	cache := m.NewKVCache()
	defer cache.Release()
	logits := make([]float32, m.Cfg.Vocab)
	tok := 1
	var start time.Time
	for pos := 0; pos < genSteps; pos++ {
		out, err := m.StepInto(logits, []*KVCache{cache}, [][]int{{tok}})
		if err != nil {
			panic(err)
		}
		if tok, err = sample.Argmax(out[0]); err != nil {
			panic(err)
		}
		if pos == 0 {
			start = time.Now()
		}
	}
	return float64(genSteps-1) / time.Since(start).Seconds()
}

// rolloutTokS is the RL rollout case: n samples of one prompt (BOS), the
// prompt prefilled once and its cache shared, every live sequence stepped
// together (sample.Generate at temperature 1), genSteps-1 new tokens each;
// tok/s counts every sequence's tokens over the whole call.
func rolloutTokS(m *Model, n int, seed uint64) float64 {
	start := time.Now()
	out, err := sample.Generate(LM{m}, [][]int{{1}}, sample.Options{Params: sample.Params{Temperature: 1},
		N: n, MaxNewTokens: genSteps - 1, Seed: seed})
	if err != nil {
		panic(err)
	}
	el := time.Since(start).Seconds()
	toks := 0
	for _, r := range out[0] {
		toks += len(r.Tokens)
	}
	return float64(toks) / el
}

// stats is min, median and max.
type stats struct{ min, med, max float64 }

func statsOf(xs []float64) stats {
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{s[0], med, s[len(s)-1]}
}

func (s stats) String() string {
	return fmt.Sprintf("%.3g / %.3g / %.3g", s.min, s.med, s.max)
}

// benchReps is the number of side-by-side repetitions (REALC_BENCH_REPS, default 3).
func benchReps() int {
	if v, err := strconv.Atoi(os.Getenv("REALC_BENCH_REPS")); err == nil && v >= 1 {
		return v
	}
	return 3
}

// report records one contender's repetitions as a sub-benchmark whose
// metrics are their min, median and max.
func report(b *testing.B, name, unit string, xs []float64) {
	if len(xs) == 0 {
		return
	}
	s := statsOf(xs)
	// Printed too: benchmark metrics do not say what they compare.
	fmt.Printf("%-22s %s %s (min / median / max of %d)\n", b.Name()+"/"+name, s, unit, len(xs))
	b.Run(name, func(b *testing.B) {
		b.ReportMetric(s.min, unit+"-min")
		b.ReportMetric(s.med, unit+"-med")
		b.ReportMetric(s.max, unit+"-max")
	})
}

// BenchmarkDecode15M decodes on a random model of the stories15M shape,
// written by the benchmark in llama2.c format so that run.c (built by
// testdata/build_runc.sh; skipped when absent) and realc read the same file.
// Each repetition runs, back to back: run.c greedy (256 positions, OpenMP
// threads = GOMAXPROCS, the better of libgomp's default and passive wait
// policies), realc greedy one sequence, and the rollout case at
// n = 1, 8, 16, 64 (sample.Generate, temperature 1), each realc figure the
// best of as many runs as run.c had (bestOf). Reported: tok/s of
// each and the ratio to run.c of the same repetition, min/median/max over
// REALC_BENCH_REPS (default 3) repetitions.
func BenchmarkDecode15M(b *testing.B) {
	cfg := stories15MConfig()
	path := filepath.Join(b.TempDir(), "random15M.bin")
	if err := writeRandomLlama2C(path, cfg, 1, 0.02); err != nil {
		b.Fatal(err)
	}
	m, err := LoadLlama2C(path)
	if err != nil {
		b.Fatal(err)
	}
	tok := filepath.Join(b.TempDir(), "tok.bin")
	if err := writeDummyTokenizer(tok, cfg.Vocab); err != nil {
		b.Fatal(err)
	}
	bin := runcBinary()
	if bin == "" {
		b.Logf("run.c not found (/tmp/llama2.c/run or $RUNC): run runtime/model/testdata/build_runc.sh; reporting realc alone")
	}
	ns := []int{1, 8, 16, 64}
	var runc, single []float64
	roll := make([][]float64, len(ns))
	for r := 0; r < benchReps(); r++ {
		if bin != "" {
			v, err := runRunC(bin, path, tok)
			if err != nil {
				b.Fatal(err)
			}
			runc = append(runc, v)
		}
		single = append(single, bestOf(func() float64 { return greedyTokS(m) }))
		for i, n := range ns {
			roll[i] = append(roll[i], bestOf(func() float64 { return rolloutTokS(m, n, uint64(r)) }))
		}
	}
	report(b, "runc", "tok/s", runc)
	report(b, "realc", "tok/s", single)
	for i, n := range ns {
		report(b, fmt.Sprintf("rollout-n%d", n), "tok/s", roll[i])
	}
	if bin != "" {
		report(b, "realc/runc", "x", ratioTo(single, runc))
		for i, n := range ns {
			report(b, fmt.Sprintf("rollout-n%d/runc", n), "x", ratioTo(roll[i], runc))
		}
	}
}
