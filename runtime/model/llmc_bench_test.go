package model

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// llmcRun is llm.c's train_gpt2 (built by testdata/build_llmc.sh) with a
// random GPT-2 checkpoint and token files in a folder of its own.
type llmcRun struct {
	bin, dir string
	flops    float64 // model FLOPs of one step (llmcFlops)
}

// The GPT-2 that BenchmarkTrainStep gives llm.c: the Qwen3's depth, width,
// heads (head dimension 64) and vocabulary, at B=4, T=128 (the binary is
// built for those by build_llmc.sh).
const (
	llmcL, llmcC, llmcNH, llmcV, llmcB, llmcT = 8, 384, 6, 8192, 4, 128
)

// llmcFlops counts one forward+backward of that GPT-2 as trainFlops counts
// the Qwen3's: 6 * matmul parameters * tokens (per layer qkv 3C^2, attention
// projection C^2, MLP 8C^2; the tied head VC) plus attention's six T x T x hd
// products, forward and backward.
func llmcFlops() float64 {
	n := float64(llmcB * llmcT)
	mat := float64(llmcL)*12*llmcC*llmcC + float64(llmcV)*llmcC
	attn := float64(llmcL) * llmcB * llmcNH * llmcT * llmcT * (llmcC / llmcNH) * 2 * 6
	return 6*mat*n + attn
}

// newLLMCRun writes the checkpoint and token files, or logs why the llm.c
// half is skipped and returns nil.
func newLLMCRun(b *testing.B) *llmcRun {
	bin := os.Getenv("LLMC")
	if bin == "" {
		bin = "/tmp/llm.c/train_gpt2"
	}
	if _, err := os.Stat(bin); err != nil {
		b.Logf("llm.c half skipped: %s not found (run runtime/model/testdata/build_llmc.sh with karpathy/llm.c in /tmp/llm.c, or set LLMC)", bin)
		return nil
	}
	dir := b.TempDir()
	if err := writeGPT2Checkpoint(filepath.Join(dir, "gpt2_124M.bin"), 1); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "dev", "data", "tinyshakespeare")
	if err := os.MkdirAll(data, 0o755); err != nil {
		b.Fatal(err)
	}
	for i, name := range []string{"tiny_shakespeare_train.bin", "tiny_shakespeare_val.bin"} {
		if err := writeLLMCTokens(filepath.Join(data, name), 64*llmcB*llmcT+1, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	return &llmcRun{bin: bin, dir: dir, flops: llmcFlops()}
}

var llmcTook = regexp.MustCompile(`step (\d+): train loss \S+ \(took ([0-9.]+) ms\)`)

// run runs the trainer (OpenMP threads = GOMAXPROCS) under each of
// ompPolicies and returns the best median of its step times after the
// first, in seconds.
func (l *llmcRun) run() (float64, error) {
	best := math.Inf(1)
	for _, pol := range ompPolicies {
		cmd := exec.Command(l.bin)
		cmd.Dir = l.dir
		cmd.Env = ompEnv(pol)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%s: %v: %s", l.bin, err, out)
		}
		var ts []float64
		for _, mt := range llmcTook.FindAllStringSubmatch(string(out), -1) {
			if mt[1] == "0" {
				continue // the first step allocates its gradients and AdamW state
			}
			ms, _ := strconv.ParseFloat(mt[2], 64)
			ts = append(ts, ms/1e3)
		}
		if len(ts) == 0 {
			return 0, fmt.Errorf("%s printed no timed step after the first: %s", l.bin, out)
		}
		best = min(best, statsOf(ts).med)
	}
	return best, nil
}

// writeGPT2Checkpoint writes an llm.c GPT-2 checkpoint (version 3: a header
// of 256 int32, then the float32 tensors in fill_in_parameter_sizes' order)
// of the shape above with random weights: matrices N(0, 0.02^2), layer norm
// weights 1, biases 0, the vocabulary unpadded (8192 is a multiple of 128).
func writeGPT2Checkpoint(path string, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var hdr [256]int32
	copy(hdr[:], []int32{20240326, 3, llmcT, llmcV, llmcL, llmcNH, llmcC, llmcV})
	binary.Write(w, binary.LittleEndian, hdr)
	r := rand.New(rand.NewPCG(seed, 2))
	var buf [4]byte
	put := func(n int, gen func() float32) {
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(gen()))
			w.Write(buf[:])
		}
	}
	normal := func() float32 { return float32(r.NormFloat64() * 0.02) }
	one := func() float32 { return 1 }
	zero := func() float32 { return 0 }
	const L, C, V, T = llmcL, llmcC, llmcV, llmcT
	put(V*C, normal)     // wte
	put(T*C, normal)     // wpe
	put(L*C, one)        // ln1w
	put(L*C, zero)       // ln1b
	put(L*3*C*C, normal) // qkvw
	put(L*3*C, zero)     // qkvb
	put(L*C*C, normal)   // attprojw
	put(L*C, zero)       // attprojb
	put(L*C, one)        // ln2w
	put(L*C, zero)       // ln2b
	put(L*4*C*C, normal) // fcw
	put(L*4*C, zero)     // fcb
	put(L*C*4*C, normal) // fcprojw
	put(L*C, zero)       // fcprojb
	put(C, one)          // lnfw
	put(C, zero)         // lnfb
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeLLMCTokens writes an llm.c token file (a header of 256 int32: magic
// 20240520, version 1, count; then uint16 tokens) of n random ids.
func writeLLMCTokens(path string, n int, seed uint64) error {
	var hdr [256]int32
	hdr[0], hdr[1], hdr[2] = 20240520, 1, int32(n)
	toks := make([]uint16, n)
	r := rand.New(rand.NewPCG(seed, 3))
	for i := range toks {
		toks[i] = uint16(r.IntN(llmcV))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	binary.Write(w, binary.LittleEndian, hdr)
	binary.Write(w, binary.LittleEndian, toks)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
