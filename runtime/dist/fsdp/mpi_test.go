//go:build mpi

package fsdp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/disttest"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/model"
)

// TestFSDPUnderMPI runs the scenarios of scenarios_test.go on MPI ranks:
// mpirun -np 2 and -np 3 (uneven shards).
func TestFSDPUnderMPI(t *testing.T) {
	for _, np := range []int{2, 3} {
		dir := t.TempDir()
		out, err := disttest.Run(t, disttest.Job{NP: np, Run: "^TestFSDPChild$", Env: []string{"REALC_FSDP_TEST_DIR=" + dir}, Timeout: 5 * time.Minute})
		if err != nil {
			t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
		}
		for r := 0; r < np; r++ {
			if !strings.Contains(out, fmt.Sprintf("rank %d of %d: fsdp scenarios passed", r, np)) {
				t.Errorf("mpirun -np %d: rank %d did not pass:\n%s", np, r, out)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "fsdp scenarios passed") {
				t.Log(strings.TrimSpace(line))
			}
		}
	}
}

func TestFSDPChild(t *testing.T) {
	disttest.SkipUnlessChild(t)
	c, err := dist.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(2 * time.Minute)
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		if err := scenarioExact(c, cfg); err != nil {
			t.Fatal(err)
		}
	}
	diff, ratio, err := scenarioTolerance(c, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	var modelDiff float64
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		d, err := scenarioModel(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		modelDiff = max(modelDiff, d)
	}
	// Shards written by separate processes merge into world size 1's state.
	dir := os.Getenv("REALC_FSDP_TEST_DIR")
	init, _ := model.New(testConfig())
	init.InitRandom(5, 0.2)
	s, err := fsdp.New(c, init.Clone())
	if err != nil {
		t.Fatal(err)
	}
	if err := exactSteps(c, s, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveShards(dir); err != nil {
		t.Fatal(err)
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	merged, _ := model.New(testConfig())
	if _, step, err := fsdp.MergeShards(dir, merged); err != nil || step != 2 {
		t.Fatalf("merging: step %d, %v", step, err)
	}
	ref2, _ := referenceSteps(init, 2)
	if _, _, err := compare(merged, ref2, nil); err != nil {
		t.Fatalf("merged shards: %v", err)
	}
	fmt.Printf("rank %d of %d: fsdp scenarios passed (general sums: largest |diff| %.3g, %.2f of the bound; model: largest |diff| %.3g)\n",
		c.Rank(), c.Size(), diff, ratio, modelDiff)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// memConfig is the model of the memory measurement: 12M parameters (48 MB
// in float32), untied; with REALC_FSDP_MEM_BIG=1, 58M (232 MB).
func memConfig() model.Config {
	if os.Getenv("REALC_FSDP_MEM_BIG") == "1" {
		return model.Config{Arch: model.Qwen3, Dim: 512, Hidden: 1536, Layers: 8, Heads: 8, KVHeads: 4, HeadDim: 64, Vocab: 32000,
			RopeTheta: 1e6, NormEps: 1e-6, QKNorm: true, MaxPos: 2048, BOS: -1, EOS: []int{0}}
	}
	return model.Config{Arch: model.Qwen3, Dim: 256, Hidden: 768, Layers: 6, Heads: 4, KVHeads: 2, HeadDim: 64, Vocab: 16000,
		RopeTheta: 1e6, NormEps: 1e-6, QKNorm: true, MaxPos: 2048, BOS: -1, EOS: []int{0}}
}

// synthReader makes up deterministic weights without holding them.
type synthReader struct{ shapes map[string][]int }

func newSynthReader(cfg model.Config) synthReader {
	r := synthReader{shapes: map[string][]int{}}
	units, _ := fsdp.Layout(cfg, 1)
	for _, u := range units {
		for _, t := range u.Tensors {
			r.shapes[t.Name] = t.Shape
		}
	}
	return r
}

func (r synthReader) Names() []string {
	var ns []string
	for n := range r.shapes {
		ns = append(ns, n)
	}
	return ns
}
func (r synthReader) Shape(n string) ([]int, bool) { s, ok := r.shapes[n]; return s, ok }
func (r synthReader) Where(string) string          { return "synthetic" }
func (r synthReader) Float32Into(n string, dst []float32) error {
	return r.Float32Range(n, 0, dst)
}
func (r synthReader) Float32Range(n string, lo int, dst []float32) error {
	for i := range dst {
		dst[i] = float32((lo+i)%97-48) / 1000
	}
	return nil
}

// procStatus reads VmRSS and VmHWM (bytes).
func procStatus() (rss, hwm int64) {
	data, _ := os.ReadFile("/proc/self/status")
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = kb << 10
			} else {
				hwm = kb << 10
			}
		}
	}
	return rss, hwm
}

func settledRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	rss, _ := procStatus()
	return rss
}

const mb = 1 << 20

// TestFSDPMemory measures each rank's resident memory for parameters,
// gradients and AdamW state at world size 1, 2 and 3 (mpirun -np N) and
// compares it with the bytes of its shards.
func TestFSDPMemory(t *testing.T) {
	re := regexp.MustCompile(`MEM rank (\d) of (\d): steady ([0-9.]+) MB \(shards ([0-9.]+) MB\)`)
	for _, np := range []int{1, 2, 3} {
		out, err := disttest.Run(t, disttest.Job{NP: np, Run: "^TestFSDPChildMemory$", Timeout: 5 * time.Minute})
		if err != nil {
			t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
		}
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if m := re.FindStringSubmatch(line); m != nil {
				n++
				t.Log(strings.TrimSpace(line))
				steady, _ := strconv.ParseFloat(m[3], 64)
				shards, _ := strconv.ParseFloat(m[4], 64)
				if steady > 1.15*shards+32 {
					t.Errorf("rank %s of %s: steady state %.0f MB for %.0f MB of shards", m[1], m[2], steady, shards)
				}
			} else if strings.Contains(line, "MEM") || strings.Contains(line, "TIME") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if n != np {
			t.Errorf("mpirun -np %d: %d ranks reported:\n%s", np, n, out)
		}
	}
}

func TestFSDPChildMemory(t *testing.T) {
	disttest.SkipUnlessChild(t)
	c, err := dist.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Minute)
	cfg := memConfig()
	o := fsdp.AdamW{WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	base := settledRSS()
	s, err := fsdp.Load(c, cfg, newSynthReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// One step touches every shard (moments, gradients).
	var gatherT, reduceT, updateT time.Duration
	var peakAll, peakUnit int64
	for step := 0; step < 3; step++ {
		t0 := time.Now()
		if err := s.GatherAll(); err != nil {
			t.Fatal(err)
		}
		gatherT += time.Since(t0)
		g := s.NewGrads()
		for _, p := range g.Params() {
			for j := range p.Data {
				p.Data[j] = float32(j%13-6) * 1e-3
			}
		}
		if step == 2 {
			peakAll = settledRSS() - base // every shard has been written by now
		}
		s.ReleaseAll()
		t0 = time.Now()
		if err := s.ReduceGrads(g); err != nil {
			t.Fatal(err)
		}
		reduceT += time.Since(t0)
		g = nil
		norm, err := s.GradNorm()
		if err != nil {
			t.Fatal(err)
		}
		t0 = time.Now()
		s.Update(1e-4, fsdp.ClipScale(norm, 1), o)
		updateT += time.Since(t0)
	}
	steady := settledRSS() - base
	// One unit gathered at a time (the per-unit schedule).
	for u := range s.Units {
		if err := s.Gather(u); err != nil {
			t.Fatal(err)
		}
		peakUnit = max(peakUnit, settledRSS()-base)
		s.Release(u)
	}
	_, hwm := procStatus()
	full := int64(4 * cfg.NumParams())
	fmt.Printf("MEM rank %d of %d: steady %.1f MB (shards %.1f MB); one unit gathered %.1f MB (shards + largest unit %.1f MB); all gathered + full grads %.1f MB (shards + 2 x model %.1f MB); baseline %.1f MB, peak RSS %.1f MB\n",
		c.Rank(), c.Size(), float64(steady)/mb, float64(s.ShardBytes())/mb, float64(peakUnit)/mb, float64(s.ShardBytes()+s.LargestUnitBytes())/mb,
		float64(peakAll)/mb, float64(s.ShardBytes()+2*full)/mb, float64(base)/mb, float64(hwm)/mb)
	fmt.Printf("TIME rank %d of %d: per step: gather all %.3fs, reduce-scatter grads %.3fs, AdamW on the shard %.3fs (%d parameters)\n",
		c.Rank(), c.Size(), gatherT.Seconds()/3, reduceT.Seconds()/3, updateT.Seconds()/3, cfg.NumParams())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFSDPStepMemory measures each rank's peak resident memory (VmHWM above
// the process's baseline) over optimizer steps that run forward and
// backward through PerUnit (one unit gathered at a time, each unit's
// gradient reduce-scattered after its backward) at world size 1, 2 and 3,
// against the plan: shards + two units (the head's parameters and
// gradient, or the embedding's) + activations; and the step time.
// Beyond the plan a rank holds its activation scratch, garbage of released
// units that awaits the collector (maybeGC collects once a unit's worth
// has been dropped) and, on rank 0, OpenMPI's reduce-scatter buffers. It
// fails when a rank's peak reaches its shards plus two whole models (what
// gathering every unit and a full gradient costs) plus 64 MB of that slack.
func TestFSDPStepMemory(t *testing.T) {
	re := regexp.MustCompile(`STEP rank (\d) of (\d): peak ([0-9.]+) MB; shards ([0-9.]+) MB, plan ([0-9.]+) MB, gather-all ([0-9.]+) MB`)
	for _, np := range []int{1, 2, 3} {
		out, err := disttest.Run(t, disttest.Job{NP: np, Run: "^TestFSDPChildStepMemory$", Timeout: 10 * time.Minute})
		if err != nil {
			t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
		}
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if m := re.FindStringSubmatch(line); m != nil {
				n++
				peak, _ := strconv.ParseFloat(m[3], 64)
				all, _ := strconv.ParseFloat(m[6], 64)
				if peak >= all+64 {
					t.Errorf("rank %s of %s: peak %.0f MB, no less than gathering everything (%.0f MB) and 64 MB", m[1], m[2], peak, all)
				}
			}
			if strings.Contains(line, "STEP") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if n != np {
			t.Errorf("mpirun -np %d: %d ranks reported:\n%s", np, n, out)
		}
	}
}

func TestFSDPChildStepMemory(t *testing.T) {
	disttest.SkipUnlessChild(t)
	c, err := dist.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Minute)
	cfg := memConfig()
	o := fsdp.AdamW{WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	base := settledRSS()
	s, err := fsdp.Load(c, cfg, newSynthReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// Each rank: 2 sequences of 16 tokens, one micro-batch, next-token
	// loss over the world's 60 predicted tokens.
	const B, T = 2, 16
	toks := make([]int, B*T)
	for i := range toks {
		toks[i] = (i*7919 + c.Rank()*31) % cfg.Vocab
	}
	total := B * (T - 1) * c.Size()
	var times []float64
	var peakUnits int64
	for step := 0; step < 4; step++ {
		t0 := time.Now()
		h := s.PerUnit()
		h.Plan(1, 1)
		p, err := s.Model.Forward(&model.Batch{B: B, T: T, Tokens: toks})
		if err == nil {
			V := cfg.Vocab
			logits := s.Model.Logits(p)
			d := make([]float32, len(logits))
			for b := 0; b < B; b++ {
				for t := 0; t+1 < T; t++ {
					r := b*T + t
					d[r*V+toks[r+1]] = -1 / float32(total) // d(-z_y)/dz: a linear loss keeps it short
				}
			}
			err = s.Model.Backward(p, d, h.Grads())
			p.Release()
		}
		if ferr := h.Finish(); err == nil {
			err = ferr
		}
		if err != nil {
			t.Fatal(err)
		}
		norm, err := s.GradNorm()
		if err != nil {
			t.Fatal(err)
		}
		s.Update(1e-4, fsdp.ClipScale(norm, 1), o)
		if err := c.Barrier(); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0).Seconds())
		peakUnits = max(peakUnits, h.PeakBytes())
	}
	_, hwm := procStatus()
	settled := settledRSS() - base
	full := int64(4 * cfg.NumParams())
	sort.Float64s(times[1:])
	fmt.Printf("STEP rank %d of %d: peak %.1f MB; shards %.1f MB, plan %.1f MB, gather-all %.1f MB (shards + params + grads); gathered units + gradient buffers at most %.1f MB; settled after the steps %.1f MB (shards, activation scratch); baseline %.1f MB\n",
		c.Rank(), c.Size(), float64(hwm-base)/mb, float64(s.ShardBytes())/mb, float64(s.ShardBytes()+2*s.LargestUnitBytes())/mb,
		float64(s.ShardBytes()+2*full)/mb, float64(peakUnits)/mb, float64(settled)/mb, float64(base)/mb)
	fmt.Printf("STEP TIME rank %d of %d: steps 2-4 min %.3fs median %.3fs max %.3fs (%d parameters, %d tokens a rank)\n",
		c.Rank(), c.Size(), times[1], times[2], times[3], cfg.NumParams(), B*T)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
