//go:build cuda

package gpu_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpu/gputest"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// TestEmuTrainDevice builds recipe real's trainer with the cuda tag and runs
// `real train` for two steps on the tiny Qwen3 judge with replayed rollouts,
// --device cpu and --device cuda (the emulated GPU: the model kernels,
// cuBLAS products and real's generated loss kernels run on the CPU through
// the fake libcuda), two micro-batches a forward, one optimizer step a
// training step, and compares the runs.
//
// Tolerances, from bf16 rounding (runtime/cuda/gpumodel/gpumodeltest: a
// gradient tensor's relative error is at most e = GradTol(L), 0.044 for L=2;
// the loss's at most 3e):
//   - step 1's loss and gradient norm (before any update: the same weights)
//     within 3e and e relative;
//   - the weights' total change Δ = θ_2 - θ_0: AdamW's first step moves a
//     weight by lr·g/(|g|+eps), lr·sign(g), and the second by a ratio of
//     moment estimates of the same sign pattern, so the runs' updates differ
//     where a gradient entry's sign flips under the bf16 error: for entries
//     of spread σ and errors of spread eσ a fraction of about e/π, each by
//     2lr. Hence ‖Δ_gpu - Δ_cpu‖/‖Δ_cpu‖ ≈ 2·sqrt(e/π) (0.24 at L=2); the
//     bound allows twice that. Gradients of no relation to the CPU's give
//     about sqrt(2), a wrong sign 2;
//   - AdamW's moments (checkpointed): exp_avg is a clip-scaled sum of
//     gradients (relative error at most e from the gradient plus e from the
//     clip's norm), exp_avg_sq of their squares (twice that): 2e and 4e.
func TestEmuTrainDevice(t *testing.T) {
	emuOnly(t)
	_, dir, bin := buildTrainer(t, "real")
	s := traintest.NewSetup(t)
	// The emulated GPU runs a block's threads as OS threads: keep the
	// sequences short (prompts cut to 6 tokens, responses of the bare score
	// line, right or wrong, or no score) so that the run takes minutes.
	short := filepath.Join(dir, "short.jsonl")
	var rolls strings.Builder
	for i, y := range s.Y {
		for k := 0; k < 16; k++ {
			text := [4]string{traintest.Marker + strconv.Itoa(int(y)), "No. " + traintest.Marker + strconv.Itoa(int(y)%5+1), traintest.Marker + strconv.Itoa(int(y)), "Hm"}[k%4]
			b, _ := json.Marshal(map[string]any{"prompt": i, "response": text})
			rolls.Write(append(b, '\n'))
		}
	}
	if err := os.WriteFile(short, []byte(rolls.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The evaluation at the end (two short items, four new tokens) decodes
	// on the GPU with --device cuda.
	bench := filepath.Join(dir, "short.parquet")
	writeShortBench(t, bench)
	const lr = 1e-3
	runOn := func(device string) string {
		out := filepath.Join(dir, "out-"+device)
		cmd := exec.Command(bin, "train", "--model", s.Model, "--train", s.Data, "--rollouts", short, "--out", out, "--device", device,
			"--val", bench, "--eval-limit", "2", "--eval-max-tokens", "4",
			"--steps", "2", "--prompts-per-step", "1", "--n", "4", "--buffer", "1", "--mini_batch", "4", "--epochs", "1",
			"--lr", strconv.FormatFloat(lr, 'g', -1, 64), "--max_response", "64", "--max_prompt", "6", "--max-tokens-per-micro", "80", "--seed", "3", "--quiet")
		msg, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("real train --device %s: %v\n%s", device, err, msg)
		}
		t.Logf("--device %s:\n%s", device, msg)
		return out
	}
	cpuOut, gpuOut := runOn("cpu"), runOn("cuda")

	lines := func(out, kind string) []map[string]any {
		f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var ls []map[string]any
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if l["kind"] == kind {
				ls = append(ls, l)
			}
		}
		return ls
	}
	mc, mg := lines(cpuOut, "train"), lines(gpuOut, "train")
	if len(mc) != 2 || len(mg) != 2 {
		t.Fatalf("metrics: %d and %d train lines, want 2", len(mc), len(mg))
	}
	num := func(m map[string]any, k string) float64 {
		v, ok := m[k].(float64)
		if !ok {
			t.Fatalf("metrics: no %s in %v", k, m)
		}
		return v
	}
	const layers = 2 // traintest.WriteJudge's Qwen3
	e := gpumodeltest.GradTol(layers)
	for _, k := range []string{"optimizer_steps", "kept_frac"} {
		for i := range mc {
			if num(mc[i], k) != num(mg[i], k) {
				t.Errorf("step %d: %s %v on the CPU, %v on the GPU", i+1, k, num(mc[i], k), num(mg[i], k))
			}
		}
	}
	if num(mc[0], "optimizer_steps") != 1 || num(mc[1], "optimizer_steps") != 1 {
		t.Fatalf("want one optimizer step per training step: %v", mc)
	}
	lc, lg := num(mc[0], "loss"), num(mg[0], "loss")
	if !(math.Abs(lg-lc) <= 3*e*math.Max(1, math.Abs(lc))) || lc == 0 {
		t.Errorf("step 1 loss: cpu %v, gpu %v (bound %.3g)", lc, lg, 3*e*math.Max(1, math.Abs(lc)))
	}
	nc, ng := num(mc[0], "grad_norm"), num(mg[0], "grad_norm")
	if !(math.Abs(ng-nc) <= e*nc) {
		t.Errorf("step 1 gradient norm: cpu %v, gpu %v (bound %.3g)", nc, ng, e*nc)
	}
	t.Logf("step 1: loss cpu %.6g gpu %.6g; grad norm cpu %.6g gpu %.6g; step 2 loss cpu %.6g gpu %.6g", lc, lg, nc, ng, num(mc[1], "loss"), num(mg[1], "loss"))

	// The evaluation after step 2: the same parse failures and items, the
	// RMSE within predBound of a prediction of at most 5 (the recipe's top
	// score value). The sampled outputs are the same tokens unless bf16
	// moves a sampling threshold, which these seeds do not.
	ec, eg := lines(cpuOut, "eval"), lines(gpuOut, "eval")
	if len(ec) != 1 || len(eg) != 1 {
		t.Fatalf("metrics: %d and %d eval lines, want 1", len(ec), len(eg))
	}
	for _, k := range []string{"eval/short/parse_failures", "eval/short/n"} {
		if num(ec[0], k) != num(eg[0], k) {
			t.Errorf("eval: %s %v on the CPU, %v on the GPU", k, num(ec[0], k), num(eg[0], k))
		}
	}
	rc, rg := num(ec[0], "eval/short/rmse"), num(eg[0], "eval/short/rmse")
	if b := 5 * predBound(t, s.Model); !(math.Abs(rg-rc) <= b) || rc == 0 {
		t.Errorf("eval RMSE: cpu %v, gpu %v (bound %.3g)", rc, rg, b)
	}
	t.Logf("eval after step 2: RMSE cpu %.6g gpu %.6g", rc, rg)

	m0, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	ckc, err := train.LoadCheckpoint(filepath.Join(cpuOut, "step-2"))
	if err != nil {
		t.Fatal(err)
	}
	ckg, err := train.LoadCheckpoint(filepath.Join(gpuOut, "step-2"))
	if err != nil {
		t.Fatal(err)
	}
	var diff, ref float64
	p0, pc, pg := m0.Params(), ckc.Model.Params(), ckg.Model.Params()
	for i := range p0 {
		for j := range p0[i].Data {
			dc := float64(pc[i].Data[j]) - float64(p0[i].Data[j])
			dg := float64(pg[i].Data[j]) - float64(p0[i].Data[j])
			diff += (dg - dc) * (dg - dc)
			ref += dc * dc
		}
	}
	rel := math.Sqrt(diff / ref)
	bound := 4 * math.Sqrt(e/math.Pi)
	if !(rel <= bound) || ref == 0 {
		t.Errorf("weights after 2 steps: the GPU's change differs from the CPU's by %.3g relative (bound %.3g)", rel, bound)
	}
	t.Logf("weights after 2 steps: change relative error %.3g (bound %.3g), |Δ_cpu| %.4g", rel, bound, math.Sqrt(ref))
	for _, k := range []struct {
		prefix string
		bound  float64
	}{{"exp_avg.", 2 * e}, {"exp_avg_sq.", 4 * e}} {
		var want, got []float32
		for _, p := range p0 {
			want = append(want, ckc.Tensors[k.prefix+p.Name]...)
			got = append(got, ckg.Tensors[k.prefix+p.Name]...)
		}
		if len(want) != len(got) || len(want) != m0.Cfg.NumParams() {
			t.Fatalf("%s: %d and %d values for %d parameters", k.prefix, len(want), len(got), m0.Cfg.NumParams())
		}
		if r := gpumodeltest.RelErr(got, want); !(r <= k.bound) {
			t.Errorf("%s: relative error %.3g above %.3g", strings.TrimSuffix(k.prefix, "."), r, k.bound)
		} else {
			t.Logf("%s: relative error %.3g (bound %.3g)", strings.TrimSuffix(k.prefix, "."), r, k.bound)
		}
	}
}

// TestEmuTrainRef: recipe grpo (low_var_kl against ref_logp) for one step
// on the emulated GPU, whose reference model is uploaded frozen (bf16
// weights only). At step 1 the reference model is the policy, and the
// frozen upload's bf16 weights are the policy's bf16 copies bit for bit, so
// ref_logp equals logp and old_logp exactly: every ratio is 1 and every KL
// term exp(d) - d - 1 is 0, and the loss is -token_mean(A), the CPU run's
// (whose logp, old_logp and ref_logp agree the same way). A reference
// model that differed by bf16 rounding (|d| ~ 1e-2) would add about
// kl_coef·d²/2 ~ 5e-7 to it, far above the float64 noise the bound allows.
func TestEmuTrainRef(t *testing.T) {
	emuOnly(t)
	root, dir, bin := buildTrainer(t, "grpo")
	// The emulating driver with grpo's loss kernels (this process's runs
	// real's), for the binary's runs.
	libs := filepath.Join(dir, "libs")
	if err := os.Mkdir(libs, 0o755); err != nil {
		t.Fatal(err)
	}
	env, _, err := gputest.FakeLibsFor(root, libs, "grpo")
	if err != nil {
		t.Fatal(err)
	}
	s := traintest.NewSetup(t)
	short := filepath.Join(dir, "short.jsonl")
	var rolls strings.Builder
	for i, y := range s.Y {
		for k := 0; k < 4; k++ {
			text := [4]string{traintest.Marker + strconv.Itoa(int(y)), "No. " + traintest.Marker + strconv.Itoa(int(y)%5+1), traintest.Marker + strconv.Itoa(int(y)), "Hm"}[k]
			b, _ := json.Marshal(map[string]any{"prompt": i, "response": text})
			rolls.Write(append(b, '\n'))
		}
	}
	if err := os.WriteFile(short, []byte(rolls.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The reference model's device memory, as the trainer reports it: its
	// bf16 weights, 2 bytes a parameter (each tensor padded to 8).
	m0, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	var padded int
	for _, p := range m0.Params() {
		padded += (len(p.Data) + 7) &^ 7
	}
	want := fmt.Sprintf("reference model %.1f KiB", float64(2*padded)/1024)
	loss := func(device string) float64 {
		out := filepath.Join(dir, "out-"+device)
		cmd := exec.Command(bin, "train", "--model", s.Model, "--train", s.Data, "--rollouts", short, "--out", out, "--device", device,
			"--steps", "1", "--prompts-per-step", "1", "--n", "4", "--mini_batch", "4", "--max_response", "64", "--max_prompt", "6", "--seed", "3")
		cmd.Env = env
		msg, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("grpo train --device %s: %v\n%s", device, err, msg)
		}
		if device == "cuda" && !strings.Contains(string(msg), want) {
			t.Errorf("the GPU run does not report %q (bf16 weights only):\n%s", want, msg)
		}
		b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["kind"] == "train" {
				if v, ok := l["loss"].(float64); ok {
					return v
				}
			}
		}
		t.Fatalf("--device %s: no train line with a loss in\n%s", device, b)
		return 0
	}
	lc, lg := loss("cpu"), loss("cuda")
	if !(math.Abs(lg-lc) <= 1e-12*math.Max(1, math.Abs(lc))) || lc == 0 {
		t.Errorf("step 1 loss: cpu %.17g, gpu %.17g: the reference model's logp is not the policy's", lc, lg)
	}
	t.Logf("step 1 loss: cpu %.17g, gpu %.17g", lc, lg)
}

// buildTrainer builds recipe's trainer with the cuda tag into a new
// temporary folder, returning the module root, the folder and the binary.
func buildTrainer(t *testing.T, recipe string) (root, dir, bin string) {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, recipe)
	build := exec.Command("go", "build", "-tags", "cuda", "-o", bin, "./generated/"+recipe)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags cuda ./generated/%s: %v\n%s", recipe, err, out)
	}
	return root, dir, bin
}
