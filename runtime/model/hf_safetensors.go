package model

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/realc-project/realc/runtime/safetensors"
)

// setReader adapts a safetensors.Set to WeightReader.
type setReader struct{ s *safetensors.Set }

func (r setReader) Names() []string {
	var ns []string
	for _, t := range r.s.Tensors() {
		ns = append(ns, t.Name)
	}
	return ns
}

func (r setReader) Shape(name string) ([]int, bool) {
	t, ok := r.s.Info(name)
	return t.Shape, ok
}

func (r setReader) Float32Into(name string, dst []float32) error { return r.s.Float32Into(name, dst) }

func (r setReader) Where(name string) string {
	if f, ok := r.s.FileOf(name); ok {
		return f.Path
	}
	return r.s.Dir
}

// LoadHF reads a Hugging Face model folder: config.json and model.safetensors,
// or shards listed by model.safetensors.index.json (bf16, f16 or f32).
func LoadHF(dir string) (*Model, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	// Read the config first, so that a bad config is reported before the weights.
	if _, err := LoadConfig(filepath.Join(dir, "config.json")); err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	m, err := LoadHFFrom(dir, setReader{set})
	if err != nil {
		return nil, err
	}
	// transformers' generate stops at generation_config.json's eos_token_id
	// (Qwen3 lists both <|im_end|> and <|endoftext|> there).
	gen := filepath.Join(dir, "generation_config.json")
	if data, err := os.ReadFile(gen); err == nil {
		eos, err := parseEOS(data, gen)
		if err != nil {
			return nil, err
		}
		for _, id := range eos {
			if !slices.Contains(m.Cfg.EOS, id) {
				m.Cfg.EOS = append(m.Cfg.EOS, id)
			}
		}
	}
	return m, nil
}

// SaveOptions controls SaveHF.
type SaveOptions struct {
	// DType is how weights are stored: safetensors.F32 (the default),
	// safetensors.BF16 or safetensors.F16.
	DType safetensors.DType
	// MaxShardSize is the most bytes per shard (0: transformers' 5 GB); a
	// model larger than that is written as model-0000i-of-0000n.safetensors
	// plus model.safetensors.index.json.
	MaxShardSize int64
}

// SaveHF writes m as a Hugging Face folder (config.json, model.safetensors)
// in float32, which transformers' from_pretrained loads.
func (m *Model) SaveHF(dir string) error { return m.SaveHFWith(dir, SaveOptions{}) }

// SaveHFWith is SaveHF with a storage dtype and shard size.
func (m *Model) SaveHFWith(dir string, o SaveOptions) error {
	dt := o.DType
	if dt == "" {
		dt = safetensors.F32
	}
	torch := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16"}[dt]
	if torch == "" {
		return fmt.Errorf("saving %s: dtype %s is not supported (use F32, BF16 or F16)", dir, dt)
	}
	if err := m.writeConfig(dir, torch); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	for _, p := range m.Params() {
		// F32 is converted while writing: no second copy of the weights.
		ts = append(ts, safetensors.Tensor{Name: p.Name, DType: dt, Shape: p.Shape, F32: p.Data})
	}
	if _, err := safetensors.WriteDir(dir, ts, safetensors.DirOptions{MaxShardSize: o.MaxShardSize}); err != nil {
		return fmt.Errorf("saving %s: %v", dir, err)
	}
	return nil
}
