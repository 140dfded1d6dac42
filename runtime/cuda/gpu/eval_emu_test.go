//go:build cuda

package gpu_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// writeShortBench writes a benchmark of three items with short prompts
// (the emulated GPU decodes a token of every layer kernel by kernel).
func writeShortBench(t *testing.T, path string) {
	t.Helper()
	var rows []data.Row
	for i, p := range []string{"Rate: ab", "Rate: x", "Go"} {
		y := []int{1, 3, 5}[i]
		rows = append(rows, data.Row{DataSource: "short", Prompt: []data.Message{{Role: "user", Content: p}}, Ability: "judge", Style: "rule",
			GroundTruth: data.StringGT(string(rune('0' + y))), Extra: data.Extra{"index": int64(i)}})
	}
	if err := data.WriteFile(path, rows, data.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// predBound bounds how far the GPU's prediction E[score] = Σ_k v_k p_k of
// an output may move, relative to it, under bf16. The slot's logits
// z_i = h·w_i (h the final normed hidden state, w_i the LM head's rows) move
// by at most δ = (e + u)·|h|·max_i |w_i|: e the hidden state's relative
// bf16 error (gpumodeltest.ForwardTol, which TestDecode checks on the
// decoder), u = 2^-9 the rounding of the head's weights to bf16, and
// |h| <= sqrt(D)·max|g| (RMSNorm: x/rms(x) has norm sqrt(D); g the final
// norm's weights). p_k = softmax(z)_k moves by p_k (Δz_k - E_p[Δz]), at
// most 2δ p_k, so E[score] by at most 2δ of itself. RMSE moves by at most
// the largest change of an item's prediction.
func predBound(t *testing.T, dir string) float64 {
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var g, w []float32
	for _, p := range m.Params() {
		switch p.Name {
		case "model.norm.weight":
			g = p.Data
		case "lm_head.weight":
			w = p.Data
		case "model.embed_tokens.weight":
			if w == nil || m.Cfg.TiedEmbed {
				w = p.Data
			}
		}
	}
	d := m.Cfg.Dim
	maxG, maxW := 0.0, 0.0
	for _, x := range g {
		maxG = math.Max(maxG, math.Abs(float64(x)))
	}
	for i := 0; i+d <= len(w); i += d {
		var s float64
		for _, x := range w[i : i+d] {
			s += float64(x) * float64(x)
		}
		maxW = math.Max(maxW, math.Sqrt(s))
	}
	delta := (gpumodeltest.ForwardTol(m.Cfg.Layers) + math.Ldexp(1, -9)) * math.Sqrt(float64(d)) * maxG * maxW
	return 2 * delta
}

// TestEmuEvalDevice: `real eval --device cuda` (built with the cuda tag, on
// the emulated GPU: the frozen bf16 upload, the decoder for sampling and the
// score slots' forward) against `real eval --device cpu` on the tiny judge:
// greedy decoding, so the same outputs and parse failures, and every item's
// prediction and the RMSE within predBound.
func TestEmuEvalDevice(t *testing.T) {
	emuOnly(t)
	_, dir, bin := buildTrainer(t, "real")
	judgeDir := filepath.Join(dir, "judge")
	if err := traintest.WriteJudge(judgeDir, 7); err != nil {
		t.Fatal(err)
	}
	bench := filepath.Join(dir, "short.parquet")
	writeShortBench(t, bench)
	type report struct {
		Benchmarks []struct {
			ParseFailures int `json:"parse_failures"`
			Metrics       struct {
				RMSE float64 `json:"rmse"`
			} `json:"metrics"`
			Results []struct {
				Pred    float64 `json:"pred"`
				Outputs []struct {
					Score *float64 `json:"score"`
					Slot  int      `json:"slot"`
				} `json:"outputs"`
			} `json:"results"`
		} `json:"benchmarks"`
	}
	runOn := func(device string) report {
		out := filepath.Join(dir, "out-"+device)
		cmd := exec.Command(bin, "eval", "--model", judgeDir, "--device", device, "--temperature", "0", "--max-tokens", "4", "--n", "1",
			"--policy", "blind", "--out", out, bench)
		msg, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("real eval --device %s: %v\n%s", device, err, msg)
		}
		t.Logf("--device %s:\n%s", device, msg)
		b, err := os.ReadFile(filepath.Join(out, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Benchmarks) != 1 || len(r.Benchmarks[0].Results) != 3 {
			t.Fatalf("--device %s: report %s", device, b)
		}
		return r
	}
	cpu, gpu := runOn("cpu").Benchmarks[0], runOn("cuda").Benchmarks[0]
	bound := predBound(t, judgeDir)
	if cpu.ParseFailures != gpu.ParseFailures {
		t.Errorf("parse failures: %d on the CPU, %d on the GPU", cpu.ParseFailures, gpu.ParseFailures)
	}
	worst, maxPred := 0.0, 0.0
	for i := range cpu.Results {
		c, g := cpu.Results[i], gpu.Results[i]
		if len(c.Outputs) != 1 || len(g.Outputs) != 1 || c.Outputs[0].Slot != g.Outputs[0].Slot {
			t.Errorf("item %d: outputs %v on the CPU, %v on the GPU (greedy: the same tokens)", i, c.Outputs, g.Outputs)
			continue
		}
		d := math.Abs(g.Pred - c.Pred)
		worst, maxPred = math.Max(worst, d/c.Pred), math.Max(maxPred, c.Pred)
		if !(d <= bound*c.Pred) || c.Pred <= 0 {
			t.Errorf("item %d: prediction %.6g on the GPU, %.6g on the CPU (bound %.3g)", i, g.Pred, c.Pred, bound*c.Pred)
		}
	}
	if d := math.Abs(gpu.Metrics.RMSE - cpu.Metrics.RMSE); !(d <= bound*maxPred) {
		t.Errorf("RMSE %.6g on the GPU, %.6g on the CPU (bound %.3g)", gpu.Metrics.RMSE, cpu.Metrics.RMSE, bound*maxPred)
	}
	t.Logf("predictions: worst relative difference %.3g (bound %.3g); RMSE cpu %.6g gpu %.6g", worst, bound, cpu.Metrics.RMSE, gpu.Metrics.RMSE)
}
