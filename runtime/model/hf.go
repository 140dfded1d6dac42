package model

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WeightReader is what loading needs from a set of safetensors files (one, or
// shards behind model.safetensors.index.json): tensors by name, as float32
// whatever their stored dtype.
type WeightReader interface {
	// Names lists every tensor.
	Names() []string
	// Shape gives a tensor's shape; ok is false when it is absent.
	Shape(name string) (shape []int, ok bool)
	// Float32Into decodes a tensor into dst (len(dst) elements), converting
	// bf16 and f16 to float32.
	Float32Into(name string, dst []float32) error
	// Where names the file holding a tensor, for error messages.
	Where(name string) string
}

// LoadHFFrom builds a model from dir/config.json and the tensors of src, which
// must carry the Hugging Face names (model.embed_tokens.weight,
// model.layers.N.self_attn.q_proj.weight, ..., lm_head.weight). A missing or
// misshapen tensor is an error naming the file and the tensor; so is a tensor
// this package does not know (a bias, say), which would otherwise be ignored.
// A tied model may still carry lm_head.weight (some exporters write it); it
// must then equal the embeddings' shape and is ignored.
func LoadHFFrom(dir string, src WeightReader) (*Model, error) {
	cfgPath := filepath.Join(dir, "config.json")
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	m, err := New(*cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cfgPath, err)
	}
	known := map[string]bool{}
	for _, p := range m.Params() {
		known[p.Name] = true
		shape, ok := src.Shape(p.Name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %s is missing (the model needs it for %s with config %s)", dir, p.Name, cfg.Arch, cfgPath)
		}
		if !slices.Equal(shape, p.Shape) {
			return nil, fmt.Errorf("%s: tensor %s has shape %v, but %s implies %v", src.Where(p.Name), p.Name, shape, cfgPath, p.Shape)
		}
		if err := src.Float32Into(p.Name, p.Data); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %v", src.Where(p.Name), p.Name, err)
		}
	}
	for _, name := range src.Names() {
		switch {
		case known[name]:
		case name == "lm_head.weight" && cfg.TiedEmbed:
			if shape, _ := src.Shape(name); !slices.Equal(shape, []int{cfg.Vocab, cfg.Dim}) {
				return nil, fmt.Errorf("%s: tensor lm_head.weight has shape %v, want %v", src.Where(name), shape, []int{cfg.Vocab, cfg.Dim})
			}
		case strings.HasSuffix(name, ".rotary_emb.inv_freq"):
			// Old exporters saved the RoPE frequencies; they follow from rope_theta.
		default:
			return nil, fmt.Errorf("%s: tensor %s is not part of a %s model (biases and other extras are not supported)", src.Where(name), name, cfg.Arch)
		}
	}
	if err := m.checkFinite(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// WriteConfig writes dir/config.json for m, with torch_dtype float32.
func (m *Model) WriteConfig(dir string) error { return m.writeConfig(dir, "float32") }

func (m *Model) writeConfig(dir, torchDType string) error {
	data, err := m.Cfg.jsonFor(torchDType)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n'), 0o644)
}
