package model

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/sample"
	"github.com/realc-project/realc/runtime/testenv"
)

// sharedData is ../shared/data beside the module root; tests skip without it.
func sharedData(t testing.TB) string { return testenv.SharedData(t) }

func loadStories(t testing.TB) (*Model, string) {
	t.Helper()
	dir := filepath.Join(sharedData(t), "models", "stories260K")
	m, err := LoadLlama2C(filepath.Join(dir, "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	return m, dir
}

func TestStories260KHeader(t *testing.T) {
	m, _ := loadStories(t)
	c := m.Cfg
	if c.Dim != 64 || c.Hidden != 172 || c.Layers != 5 || c.Heads != 8 || c.KVHeads != 4 || c.Vocab != 512 || c.MaxPos != 512 || !c.TiedEmbed {
		t.Fatalf("config %+v, want dim 64, hidden 172, 5 layers, 8/4 heads, vocab 512, seq 512, tied", c)
	}
}

// TestStories260KGreedy matches run.c's 200 greedy ids and its logits at
// positions 0..3 within 1e-4, decoding one token at a time with the KV cache.
func TestStories260KGreedy(t *testing.T) {
	m, dir := loadStories(t)
	var ref struct {
		Greedy []int `json:"greedy_ids"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "reference_greedy_ids.runc.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Greedy) != 200 {
		t.Fatalf("reference has %d ids, want 200", len(ref.Greedy))
	}
	f, err := os.Open(filepath.Join(dir, "reference_logits_pos0-3.runc.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var refLogits [][]float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row struct {
			Pos    int       `json:"pos"`
			Input  int       `json:"input_token"`
			Logits []float64 `json:"logits"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		if row.Pos != len(refLogits) {
			t.Fatalf("logits rows out of order: pos %d", row.Pos)
		}
		refLogits = append(refLogits, row.Logits)
	}
	if len(refLogits) != 4 {
		t.Fatalf("got %d reference logit rows, want 4", len(refLogits))
	}

	cache := m.NewKVCache()
	tok := 1 // BOS
	maxDiff := 0.0
	for step, want := range ref.Greedy {
		out, err := m.Step([]*KVCache{cache}, [][]int{{tok}})
		if err != nil {
			t.Fatal(err)
		}
		logits := out[0]
		if step < len(refLogits) {
			for i, r := range refLogits[step] {
				maxDiff = max(maxDiff, numtest.Diff(logits[i], r))
			}
		}
		got, err := sample.Argmax(logits)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if got != want {
			t.Fatalf("step %d: greedy id %d, run.c gives %d", step, got, want)
		}
		tok = got
	}
	if numtest.Exceeds(maxDiff, 1e-4) {
		t.Fatalf("logits at positions 0..3 differ from run.c by up to %g, want <= 1e-4", maxDiff)
	}
	t.Logf("200 greedy ids match run.c; max |logit diff| at pos 0..3 = %.3g", maxDiff)
}

// TestStories260KFullForwardMatchesCache checks the batched training forward
// against the cached decode on the same greedy sequence.
func TestStories260KFullForwardMatchesCache(t *testing.T) {
	m, _ := loadStories(t)
	seq := []int{1, 461, 461, 401, 401, 401, 461, 378, 455, 473, 456, 435}
	p, err := m.Forward(&Batch{B: 1, T: len(seq), Tokens: seq})
	if err != nil {
		t.Fatal(err)
	}
	full := m.Logits(p)
	cache := m.NewKVCache()
	V := m.Cfg.Vocab
	for i, tok := range seq {
		out, err := m.Step([]*KVCache{cache}, [][]int{{tok}})
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < V; j++ {
			if !numtest.Within(out[0][j], full[i*V+j], 1e-4, 0) {
				t.Fatalf("pos %d logit %d: cached %g, full %g", i, j, out[0][j], full[i*V+j])
			}
		}
	}
}

func TestLlama2CBadFiles(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.bin")
	os.WriteFile(short, []byte{1, 2, 3}, 0o644)
	if _, err := LoadLlama2C(short); err == nil || !strings.Contains(err.Error(), "short.bin") || !strings.Contains(err.Error(), "header") {
		t.Fatalf("short file: err = %v, want one naming the file and the header", err)
	}
	src := filepath.Join(sharedData(t), "models", "stories260K", "stories260K.bin")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.bin")
	os.WriteFile(trunc, data[:len(data)-4], 0o644)
	if _, err := LoadLlama2C(trunc); err == nil || !strings.Contains(err.Error(), "trunc.bin") || !strings.Contains(err.Error(), "implies 1056540") {
		t.Fatalf("truncated file: err = %v, want one naming the file and the expected size", err)
	}
}

// TestStories260KAsHF converts the llama2.c checkpoint to a Hugging Face
// folder (wq/wk already in rotate_half order) and checks that the reloaded
// model decodes the same greedy ids.
func TestStories260KAsHF(t *testing.T) {
	m, _ := loadStories(t)
	dir := t.TempDir()
	if err := m.SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Greedy([]int{1}, 40, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := back.Greedy([]int{1}, 40, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) || len(a) != 40 {
		t.Fatalf("greedy ids after the HF round trip differ:\n%v\n%v", a, b)
	}
	if back.Cfg.Arch != Llama || back.Cfg.NormEps != 1e-5 || back.Cfg.RopeTheta != 10000 || !back.Cfg.TiedEmbed {
		t.Fatalf("config after the round trip: %+v", back.Cfg)
	}
}

func TestLlama2CVersion1Refused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v1.bin")
	os.WriteFile(p, append([]byte("24ka"), make([]byte, 250)...), 0o644)
	if _, err := LoadLlama2C(p); err == nil || !strings.Contains(err.Error(), "legacy v0") {
		t.Fatalf("a version-1 export: err = %v", err)
	}
}
