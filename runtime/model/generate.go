package model

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/realc-project/realc/runtime/sample"
)

// Load opens a model from path: a Hugging Face folder (config.json plus
// safetensors) or a llama2.c legacy checkpoint file.
func Load(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err != nil {
			return nil, fmt.Errorf("%s: a model folder needs config.json: %v", path, err)
		}
		return LoadHF(path)
	}
	return LoadLlama2C(path)
}

// Greedy appends up to maxNew argmax tokens (first maximum wins, as run.c's
// sample_argmax) to prompt and returns the new ones only, stopping after the
// first id in eos (which is included).
func (m *Model) Greedy(prompt []int, maxNew int, eos []int) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("greedy: empty prompt (give at least one id, e.g. BOS)")
	}
	if mp := m.Cfg.MaxPos; mp > 0 && len(prompt)+maxNew > mp {
		maxNew = mp - len(prompt)
		if maxNew < 0 {
			return nil, fmt.Errorf("greedy: prompt of %d ids exceeds max_position_embeddings=%d", len(prompt), mp)
		}
	}
	cache := m.NewKVCache()
	defer cache.Release()
	cache.Reserve(len(prompt) + maxNew) // the cache never moves while it grows
	buf := make([]float32, m.Cfg.Vocab) // one logits buffer for every step
	next := prompt
	var out []int
	for len(out) < maxNew {
		logits, err := m.StepInto(buf, []*KVCache{cache}, [][]int{next})
		if err != nil {
			return nil, err
		}
		best, err := sample.Argmax(logits[0])
		if err != nil {
			return nil, fmt.Errorf("greedy: new token %d: %w", len(out), err)
		}
		out = append(out, best)
		if slices.Contains(eos, best) {
			break
		}
		next = []int{best}
	}
	return out, nil
}
