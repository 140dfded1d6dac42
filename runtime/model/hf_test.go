package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/safetensors"
)

func equalParams(t *testing.T, a, b *Model, tol float64) {
	t.Helper()
	pa, pb := a.Params(), b.Params()
	if len(pa) != len(pb) {
		t.Fatalf("%d tensors vs %d", len(pa), len(pb))
	}
	for i := range pa {
		if pa[i].Name != pb[i].Name || !slices.Equal(pa[i].Shape, pb[i].Shape) {
			t.Fatalf("tensor %d: %s %v vs %s %v", i, pa[i].Name, pa[i].Shape, pb[i].Name, pb[i].Shape)
		}
		for j := range pa[i].Data {
			x, y := float64(pa[i].Data[j]), float64(pb[i].Data[j])
			if !numtest.Within(y, x, tol*max(1, math.Abs(x)), 0) {
				t.Fatalf("%s[%d]: %g vs %g", pa[i].Name, j, x, y)
			}
		}
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestTinyQwen3Checkpoint writes the project's tiny Qwen3 into a temporary
// folder, reloads it, and checks the weights, the logits, that the same seed
// writes byte-identical files, and the HF tensor names.
func TestTinyQwen3Checkpoint(t *testing.T) {
	m := NewTinyQwen3(0, 1)
	dir := t.TempDir()
	if err := m.SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflectEqualConfig(m.Cfg, back.Cfg) {
		t.Fatalf("config changed in the round trip:\n%+v\n%+v", m.Cfg, back.Cfg)
	}
	equalParams(t, m, back, 0)
	seq := []int{3, 1, 4, 1, 5}
	if d := maxAbsDiff(fullLogits(t, m, seq), fullLogits(t, back, seq)); d != 0 {
		t.Fatalf("reloaded logits differ by %g", d)
	}
	// Determinism: a second save of a freshly built model is byte-identical.
	dir2 := t.TempDir()
	if err := NewTinyQwen3(0, 1).SaveHF(dir2); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		if a, b := fileSHA(t, filepath.Join(dir, f)), fileSHA(t, filepath.Join(dir2, f)); a != b {
			t.Fatalf("%s differs between two saves of seed 1", f)
		}
	}
	if a, b := fileSHA(t, filepath.Join(dir, "model.safetensors")), fileSHA(t, filepath.Join(writeTiny(t, 2), "model.safetensors")); a == b {
		t.Fatal("seeds 1 and 2 wrote the same weights")
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	var names []string
	for _, ti := range set.Tensors() {
		names = append(names, ti.Name)
	}
	for _, want := range []string{"model.embed_tokens.weight", "model.layers.1.self_attn.q_norm.weight",
		"model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight"} {
		if !slices.Contains(names, want) {
			t.Errorf("tensor %s missing from model.safetensors (have %v)", want, names)
		}
	}
	if slices.Contains(names, "lm_head.weight") {
		t.Error("tied tiny Qwen3 should not store lm_head.weight")
	}
	var cfg map[string]any
	raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["model_type"] != "qwen3" || cfg["architectures"].([]any)[0] != "Qwen3ForCausalLM" || cfg["head_dim"] != 8.0 || cfg["tie_word_embeddings"] != true {
		t.Fatalf("config.json = %s", raw)
	}
}

func writeTiny(t *testing.T, seed uint64) string {
	dir := t.TempDir()
	if err := NewTinyQwen3(0, seed).SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func reflectEqualConfig(a, b Config) bool {
	return a.Arch == b.Arch && a.Dim == b.Dim && a.Hidden == b.Hidden && a.Layers == b.Layers && a.Heads == b.Heads &&
		a.KVHeads == b.KVHeads && a.HeadDim == b.HeadDim && a.Vocab == b.Vocab && a.RopeTheta == b.RopeTheta &&
		a.NormEps == b.NormEps && a.TiedEmbed == b.TiedEmbed && a.SlidingWindow == b.SlidingWindow &&
		a.QKNorm == b.QKNorm && a.BOS == b.BOS && slices.Equal(a.EOS, b.EOS)
}

// TestHFShardedAndBF16: an untied Mistral written as shards reloads exactly;
// written as bf16 it reloads within bf16 rounding (relative 2^-8).
func TestHFShardedAndBF16(t *testing.T) {
	m := tinyLlama(Mistral, 3)
	dir := t.TempDir()
	if err := m.SaveHFWith(dir, SaveOptions{MaxShardSize: 4000}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); err != nil {
		t.Fatalf("no shard index written: %v", err)
	}
	back, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	equalParams(t, m, back, 0)
	if back.Cfg.SlidingWindow != 3 || back.Cfg.TiedEmbed {
		t.Fatalf("config after reload: %+v", back.Cfg)
	}
	dir16 := t.TempDir()
	if err := m.SaveHFWith(dir16, SaveOptions{DType: safetensors.BF16}); err != nil {
		t.Fatal(err)
	}
	b16, err := LoadHF(dir16)
	if err != nil {
		t.Fatal(err)
	}
	equalParams(t, m, b16, 1.0/256)
	raw, _ := os.ReadFile(filepath.Join(dir16, "config.json"))
	if !strings.Contains(string(raw), `"torch_dtype": "bfloat16"`) {
		t.Fatalf("bf16 save should say torch_dtype bfloat16: %s", raw)
	}
}

func TestHFBadFolders(t *testing.T) {
	good := writeTiny(t, 1)
	copyDir := func() string {
		dir := t.TempDir()
		for _, f := range []string{"config.json", "model.safetensors"} {
			data, err := os.ReadFile(filepath.Join(good, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), data, 0o644)
		}
		return dir
	}
	editConfig := func(dir string, edit func(map[string]any)) {
		var cfg map[string]any
		raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		json.Unmarshal(raw, &cfg)
		edit(cfg)
		raw, _ = json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	}
	cases := []struct {
		name  string
		setup func(dir string)
		want  []string
	}{
		{"missing field", func(dir string) { editConfig(dir, func(c map[string]any) { delete(c, "rms_norm_eps") }) },
			[]string{"config.json", `"rms_norm_eps"`, "missing"}},
		{"missing head_dim", func(dir string) { editConfig(dir, func(c map[string]any) { delete(c, "head_dim") }) },
			[]string{"config.json", `"head_dim"`}},
		{"wrong type", func(dir string) { editConfig(dir, func(c map[string]any) { c["hidden_size"] = "32" }) },
			[]string{"config.json", `"hidden_size"`, "number"}},
		{"unknown arch", func(dir string) { editConfig(dir, func(c map[string]any) { c["model_type"] = "gpt2" }) },
			[]string{"config.json", `"model_type"`, "gpt2"}},
		{"shape mismatch", func(dir string) { editConfig(dir, func(c map[string]any) { c["intermediate_size"] = 65 }) },
			[]string{"model.safetensors", "mlp.gate_proj.weight", "[64 32]", "[65 32]"}},
		{"missing tensor", func(dir string) { editConfig(dir, func(c map[string]any) { c["tie_word_embeddings"] = false }) },
			[]string{"lm_head.weight", "missing"}},
		{"extra tensor", func(dir string) { editConfig(dir, func(c map[string]any) { c["num_hidden_layers"] = 1 }) },
			[]string{"model.layers.1.", "not part of"}},
		{"truncated weights", func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-10], 0o644)
		}, []string{"model.safetensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir()
			c.setup(dir)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("load succeeded")
			}
			t.Logf("%v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestGenerationConfigEOS(t *testing.T) {
	dir := writeTiny(t, 1)
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": [511, 7], "do_sample": true}`), 0o644)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Cfg.EOS, []int{511, 7}) {
		t.Fatalf("EOS = %v, want config's 511 then generation_config's 7", m.Cfg.EOS)
	}
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": "x"}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "generation_config.json") || !strings.Contains(err.Error(), "eos_token_id") {
		t.Fatalf("bad generation_config.json: err = %v", err)
	}
}

// TestTinyQwen3Pinned pins the weights of NewTinyQwen3(512, 1): tests and
// users elsewhere may rely on them, so a change to the generator must be
// deliberate (update the hash then).
func TestTinyQwen3Pinned(t *testing.T) {
	h := sha256.New()
	for _, p := range NewTinyQwen3(512, 1).Params() {
		h.Write([]byte(p.Name))
		for _, v := range p.Data {
			b := math.Float32bits(v)
			h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
	}
	const want = "f81d195513a1df3a79fa44be589b8c896f23d4586dd71ad6bbd69c29f7f9ed30"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("tiny Qwen3 (vocab 512, seed 1) weights hash %s, pinned %s", got, want)
	}
}
