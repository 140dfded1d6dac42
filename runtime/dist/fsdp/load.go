package fsdp

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
)

// LoadHF shards a Hugging Face model folder (config.json plus
// model.safetensors or shards with an index) over c's ranks. Each rank
// decodes only the part of each tensor its shards hold, straight from the
// mapped files (f32, bf16 or f16), so no rank ever holds the whole model.
// EOS ids from generation_config.json are added to the config, as
// model.LoadHF does.
func LoadHF(c dist.Comm, dir string) (*Sharded, error) {
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil {
		var gen struct {
			EOS json.RawMessage `json:"eos_token_id"`
		}
		if json.Unmarshal(data, &gen) == nil && len(gen.EOS) > 0 {
			var one int
			var many []int
			if json.Unmarshal(gen.EOS, &one) == nil {
				many = []int{one}
			} else {
				json.Unmarshal(gen.EOS, &many)
			}
			for _, id := range many {
				if !slices.Contains(cfg.EOS, id) {
					cfg.EOS = append(cfg.EOS, id)
				}
			}
		}
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	known := map[string]bool{}
	for _, p := range shell(*cfg).Params() {
		known[p.Name] = true
	}
	for _, t := range set.Tensors() {
		if !known[t.Name] && !(t.Name == "lm_head.weight" && cfg.TiedEmbed) {
			return nil, fmt.Errorf("%s: tensor %s is not part of a %s model", dir, t.Name, cfg.Arch)
		}
	}
	return Load(c, *cfg, setReader{set})
}

// setReader reads tensors of a safetensors.Set, whole or in part.
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

// Float32Range decodes elements [lo, lo+len(dst)) of a tensor.
func (r setReader) Float32Range(name string, lo int, dst []float32) error {
	info, ok := r.s.Info(name)
	if !ok {
		return fmt.Errorf("no tensor %s", name)
	}
	raw, err := r.s.Raw(name)
	if err != nil {
		return err
	}
	size := info.DType.Size()
	if lo < 0 || (lo+len(dst))*size > len(raw) {
		return fmt.Errorf("tensor %s: range [%d, %d) outside its %d elements", name, lo, lo+len(dst), len(raw)/max(size, 1))
	}
	b := raw[lo*size:]
	switch info.DType {
	case safetensors.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
	case safetensors.BF16:
		for i := range dst {
			dst[i] = safetensors.BF16ToFloat32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
	case safetensors.F16:
		for i := range dst {
			dst[i] = safetensors.F16ToFloat32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
	default:
		return fmt.Errorf("tensor %s: dtype %s is not a float", name, info.DType)
	}
	for i, v := range dst {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor %s has a non-finite value %v at flat index %d", name, v, lo+i)
		}
	}
	return nil
}

// rangeReader is a WeightReader that can decode part of a tensor.
type rangeReader interface {
	Float32Range(name string, lo int, dst []float32) error
}
