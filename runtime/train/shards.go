package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
)

// Sharded checkpoints (--save-shards in a world of W > 1): OUT/fsdp-step-N
// holds every rank's fsdp-shard-RRRRR-of-WWWWW.safetensors (parameters and
// AdamW moments of its shards, each written atomically), fsdp.json (the
// manifest: units, offsets, world size, step), config.json,
// trainer_state.json and the tokenizer files of OUT/step-N, and COMPLETE,
// written last by rank 0 once every rank's shard is on disk. `BIN
// merge-checkpoint OUT/fsdp-step-N DEST` rebuilds the merged checkpoint
// DEST/step-N (what OUT/step-N holds) without any communicator.
const shardPrefix = "fsdp-step-"

func shardDir(out string, step int) string {
	return filepath.Join(out, shardPrefix+fmt.Sprint(step))
}

// prepareShardDir (rank 0) empties dir and copies the merged checkpoint's
// config, state and tokenizer files into it; it also removes the shard
// folders whose merged checkpoint --keep pruned.
func prepareShardDir(dir, out string, step int) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(out, stepDirName(step))
	for _, name := range append([]string{"config.json", stateJSONName}, tokenizerFiles...) {
		in, err := os.Open(filepath.Join(src, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		err = copyInto(in, filepath.Join(dir, name))
		in.Close()
		if err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), shardPrefix); ok {
			if _, err := os.Stat(filepath.Join(out, "step-"+s)); os.IsNotExist(err) {
				os.RemoveAll(filepath.Join(out, e.Name()))
			}
		}
	}
	return nil
}

// finishShardDir (rank 0, after every rank saved) marks dir complete.
func finishShardDir(dir string) error {
	return writeFileSync(filepath.Join(dir, completeName), []byte("realc fsdp shards\n"))
}

// MergeShardCheckpoint reads a sharded checkpoint folder (OUT/fsdp-step-N,
// written at any world size) and writes the merged checkpoint to
// dest/step-N: the Hugging Face folder, the optimizer moments and the
// trainer state, as a world of one writes them. It returns its path.
func MergeShardCheckpoint(dir, dest string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, completeName)); err != nil {
		return "", fmt.Errorf("%s: no COMPLETE marker: not a complete sharded checkpoint (a run stopped while writing it?)", dir)
	}
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("%s: %v", dir, err)
	}
	m, err := model.New(*cfg)
	if err != nil {
		return "", err
	}
	moments, step, err := fsdp.MergeShards(dir, m)
	if err != nil {
		return "", err
	}
	state, err := os.ReadFile(filepath.Join(dir, stateJSONName))
	if err != nil {
		return "", err
	}
	var ts []safetensors.Tensor
	for _, p := range m.Params() {
		for _, k := range []string{"exp_avg.", "exp_avg_sq."} {
			x, err := safetensors.FromFloat32(k+p.Name, p.Shape, moments[k+p.Name], safetensors.F32)
			if err != nil {
				return "", err
			}
			ts = append(ts, x)
		}
	}
	slices.SortFunc(ts, func(a, b safetensors.Tensor) int { return strings.Compare(a.Name, b.Name) })
	// The step folder is named after the trainer's step (trainer_state's
	// "step"), which is what OUT/step-N is called; the manifest's step is
	// the optimizer's.
	var st savedState
	if err := json.Unmarshal(state, &st); err != nil {
		return "", fmt.Errorf("%s: %s: %v", dir, stateJSONName, err)
	}
	if st.OptStep != step {
		return "", fmt.Errorf("%s: the shards are at optimizer step %d but %s says %d", dir, step, stateJSONName, st.OptStep)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return "", err
	}
	return SaveCheckpoint(dest, st.Step, CheckpointFiles{Model: m, CopyFrom: dir, Tensors: ts, State: state}, 0)
}

// loadResume is LoadCheckpoint for --resume, which may also name a sharded
// checkpoint folder (OUT/fsdp-step-N). Written by a world of this size,
// nothing is read here but the config and the trainer state: setupDist
// has each rank read only its own shard file (parameters and moments). At
// another world size every rank merges the shards (MergeShards) and
// resumes from the merged form.
func (t *Trainer) loadResume(dir string) (*Loaded, error) {
	if _, err := os.Stat(filepath.Join(dir, fsdp.ManifestName)); err != nil {
		return LoadCheckpoint(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, completeName)); err != nil {
		return nil, fmt.Errorf("%s: no COMPLETE marker: not a complete sharded checkpoint (a run stopped while writing it?)", dir)
	}
	man, err := fsdp.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	state, err := os.ReadFile(filepath.Join(dir, stateJSONName))
	if err != nil {
		return nil, err
	}
	ld := &Loaded{Dir: dir, State: state}
	if man.WorldSize == t.comm.Size() && t.comm.Size() > 1 {
		// A model without weights: setupDist loads this rank's shard.
		ld.Model = &model.Model{Cfg: *cfg, Layers: make([]model.Layer, cfg.Layers)}
		t.resumeShards = dir
		return ld, nil
	}
	if ld.Model, err = model.New(*cfg); err != nil {
		return nil, err
	}
	if ld.Tensors, _, err = fsdp.MergeShards(dir, ld.Model); err != nil {
		return nil, err
	}
	return ld, nil
}
