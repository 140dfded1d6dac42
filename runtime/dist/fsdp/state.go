package fsdp

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
)

// Checkpoints come in two forms.
//
// Merged (any world size): FullParams gathers the parameters into a
// model.Model that train's SaveCheckpoint writes as before, and
// FullOptimizer the moments as "exp_avg.<param>" / "exp_avg_sq.<param>"
// (train's names); LoadFull shards them back at any world size.
//
// Sharded (same world size): SaveShards writes each rank's shards to
// DIR/fsdp-shard-RRRRR-of-WWWWW.safetensors (atomically: temporary file and
// rename) and rank 0 writes DIR/fsdp.json, the manifest; LoadShards reads
// them back; MergeShards turns a folder of shards into the merged form
// without any communicator (for `BIN merge-checkpoint`).

// FullParams gathers every unit and copies the parameters into dst (a model
// of the same config, from model.New); every rank must call it, and ranks
// that do not need the result pass nil. Gathered units stay as they were.
func (s *Sharded) FullParams(dst *model.Model) error {
	var fs []*[]float32
	if dst != nil {
		if err := checkFields(dst); err != nil {
			return err
		}
		fs = fields(dst)
	}
	for u, unit := range s.Units {
		flat := s.full[u]
		if flat == nil {
			flat = make([]float32, unit.Padded(s.Comm.Size()))
			if err := s.Comm.AllGather(flat, s.params[u]); err != nil {
				return fmt.Errorf("fsdp: gathering unit %s: %w", unit.Name, err)
			}
		}
		if dst == nil {
			continue
		}
		for k, t := range unit.Tensors {
			copy(*fs[unit.params[k]], flat[t.Offset:t.Offset+t.Numel])
		}
	}
	return nil
}

// FullOptimizer gathers AdamW's moments; rank root gets them by train's
// names ("exp_avg.<param>", "exp_avg_sq.<param>"), the others nil. Every
// rank must call it.
func (s *Sharded) FullOptimizer(root int) (map[string][]float32, error) {
	var out map[string][]float32
	if s.Comm.Rank() == root {
		out = map[string][]float32{}
	}
	for u, unit := range s.Units {
		for _, kind := range []struct {
			prefix string
			shard  []float32
		}{{"exp_avg.", s.expAvg[u]}, {"exp_avg_sq.", s.expAvgSq[u]}} {
			flat := make([]float32, unit.Padded(s.Comm.Size()))
			if err := s.Comm.AllGather(flat, kind.shard); err != nil {
				return nil, fmt.Errorf("fsdp: gathering %s of unit %s: %w", kind.prefix, unit.Name, err)
			}
			if out == nil {
				continue
			}
			for _, t := range unit.Tensors {
				out[kind.prefix+t.Name] = slices.Clone(flat[t.Offset : t.Offset+t.Numel])
			}
		}
	}
	return out, nil
}

// LoadFull sets this rank's shards from merged state that every rank holds:
// the parameters of m, the moments in tensors (train's names; nil: zero
// moments) and the step count. It resumes at any world size.
func (s *Sharded) LoadFull(m *model.Model, tensors map[string][]float32, step int) error {
	if err := checkFields(m); err != nil {
		return err
	}
	fs := fields(m)
	lo := s.Comm.Rank()
	s.ReleaseAll()
	for u, unit := range s.Units {
		off := lo * unit.ShardLen
		clear(s.params[u])
		clear(s.expAvg[u])
		clear(s.expAvgSq[u])
		for k, t := range unit.Tensors {
			src := *fs[unit.params[k]]
			if len(src) != t.Numel {
				return fmt.Errorf("fsdp: %s has %d elements, want %d", t.Name, len(src), t.Numel)
			}
			copyRange(s.params[u], off, src, t.Offset)
			if tensors == nil {
				continue
			}
			for prefix, dst := range map[string][]float32{"exp_avg.": s.expAvg[u], "exp_avg_sq.": s.expAvgSq[u]} {
				v, ok := tensors[prefix+t.Name]
				if !ok || len(v) != t.Numel {
					return fmt.Errorf("fsdp: optimizer tensor %s%s is missing or has %d elements, want %d", prefix, t.Name, len(v), t.Numel)
				}
				copyRange(dst, off, v, t.Offset)
			}
		}
	}
	s.Step = step
	return nil
}

// Manifest describes a sharded checkpoint.
type Manifest struct {
	Format    string         `json:"format"` // "realc-fsdp-1"
	WorldSize int            `json:"world_size"`
	Step      int            `json:"step"`
	Units     []ManifestUnit `json:"units"`
}

// ManifestUnit is one unit of a Manifest.
type ManifestUnit struct {
	Name     string   `json:"name"`
	Numel    int      `json:"numel"`
	ShardLen int      `json:"shard_len"`
	Tensors  []Tensor `json:"tensors"`
}

const manifestFormat = "realc-fsdp-1"

// ManifestName is the manifest's file name in a sharded checkpoint folder.
const ManifestName = "fsdp.json"

// ShardFile is rank r's file name in a sharded checkpoint of world size w.
func ShardFile(r, w int) string { return fmt.Sprintf("fsdp-shard-%05d-of-%05d.safetensors", r+1, w) }

func (s *Sharded) manifest() Manifest {
	m := Manifest{Format: manifestFormat, WorldSize: s.Comm.Size(), Step: s.Step}
	for _, u := range s.Units {
		m.Units = append(m.Units, ManifestUnit{Name: u.Name, Numel: u.Numel, ShardLen: u.ShardLen, Tensors: u.Tensors})
	}
	return m
}

// SaveShards writes this rank's shards into dir (which must exist), and
// rank 0 the manifest. Each file is written whole or not at all; the
// caller makes the folder complete (a barrier, then its marker).
func (s *Sharded) SaveShards(dir string) error {
	var ts []safetensors.Tensor
	for u, unit := range s.Units {
		for _, kind := range []struct {
			prefix string
			data   []float32
		}{{"param.", s.params[u]}, {"exp_avg.", s.expAvg[u]}, {"exp_avg_sq.", s.expAvgSq[u]}} {
			ts = append(ts, safetensors.Tensor{Name: kind.prefix + unit.Name, DType: safetensors.F32, Shape: []int{unit.ShardLen}, F32: kind.data})
		}
	}
	path := filepath.Join(dir, ShardFile(s.Comm.Rank(), s.Comm.Size()))
	meta := []safetensors.KV{{Key: "format", Value: manifestFormat}, {Key: "step", Value: fmt.Sprint(s.Step)}}
	if err := safetensors.WriteFile(path, ts, safetensors.Options{Metadata: meta}); err != nil {
		return err
	}
	if s.Comm.Rank() != 0 {
		return nil
	}
	data, err := json.MarshalIndent(s.manifest(), "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ManifestName), append(data, '\n'))
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("fsdp: writing %s: %w", path, err)
	}
	return nil
}

// ReadManifest reads dir's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, m.Format, manifestFormat)
	}
	return &m, nil
}

// checkLayout compares a manifest's units with units at world size world.
func checkLayout(units []*Unit, world int, m *Manifest, where string) error {
	if m.WorldSize != world {
		return fmt.Errorf("%s: written by a world of %d ranks, this one has %d: resume through the merged checkpoint (MergeShards, LoadFull)", where, m.WorldSize, world)
	}
	if len(m.Units) != len(units) {
		return fmt.Errorf("%s: %d units, the model has %d", where, len(m.Units), len(units))
	}
	for i, u := range units {
		mu := m.Units[i]
		if mu.Name != u.Name || mu.Numel != u.Numel || mu.ShardLen != u.ShardLen || len(mu.Tensors) != len(u.Tensors) {
			return fmt.Errorf("%s: unit %d is %s of %d elements, the model's is %s of %d", where, i, mu.Name, mu.Numel, u.Name, u.Numel)
		}
		for k, t := range u.Tensors {
			mt := mu.Tensors[k]
			if mt.Name != t.Name || mt.Offset != t.Offset || mt.Numel != t.Numel {
				return fmt.Errorf("%s: unit %s tensor %d is %s, the model's is %s", where, u.Name, k, mt.Name, t.Name)
			}
		}
	}
	return nil
}

// LoadShards reads this rank's shards from dir (written by SaveShards at the
// same world size).
func (s *Sharded) LoadShards(dir string) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	if err := checkLayout(s.Units, s.Comm.Size(), m, dir); err != nil {
		return err
	}
	path := filepath.Join(dir, ShardFile(s.Comm.Rank(), s.Comm.Size()))
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s.ReleaseAll()
	for u, unit := range s.Units {
		for prefix, dst := range map[string][]float32{"param.": s.params[u], "exp_avg.": s.expAvg[u], "exp_avg_sq.": s.expAvgSq[u]} {
			if err := f.Float32Into(prefix+unit.Name, dst); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
		}
	}
	s.Step = m.Step
	return nil
}

// MergeShards reads a sharded checkpoint folder written at any world size
// and fills dst (model.New of the same config) with the parameters; it
// returns the moments by train's names and the step. No communicator: this
// is `BIN merge-checkpoint`'s half.
func MergeShards(dir string, dst *model.Model) (map[string][]float32, int, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, 0, err
	}
	if err := checkFields(dst); err != nil {
		return nil, 0, err
	}
	units, err := Layout(dst.Cfg, m.WorldSize)
	if err != nil {
		return nil, 0, err
	}
	if err := checkLayout(units, m.WorldSize, m, dir); err != nil {
		return nil, 0, err
	}
	fs := fields(dst)
	optim := map[string][]float32{}
	for _, unit := range units {
		for _, t := range unit.Tensors {
			optim["exp_avg."+t.Name] = make([]float32, t.Numel)
			optim["exp_avg_sq."+t.Name] = make([]float32, t.Numel)
		}
	}
	shard := make([]float32, 0)
	for r := 0; r < m.WorldSize; r++ {
		path := filepath.Join(dir, ShardFile(r, m.WorldSize))
		f, err := safetensors.Open(path)
		if err != nil {
			return nil, 0, err
		}
		for _, unit := range units {
			shard = slices.Grow(shard[:0], unit.ShardLen)[:unit.ShardLen]
			lo := r * unit.ShardLen
			for _, prefix := range []string{"param.", "exp_avg.", "exp_avg_sq."} {
				if err := f.Float32Into(prefix+unit.Name, shard); err != nil {
					f.Close()
					return nil, 0, fmt.Errorf("%s: %v", path, err)
				}
				for k, t := range unit.Tensors {
					var dstT []float32
					if prefix == "param." {
						dstT = *fs[unit.params[k]]
					} else {
						dstT = optim[prefix+t.Name]
					}
					// The part of tensor t inside this shard.
					a, b := max(lo, t.Offset), min(lo+unit.ShardLen, t.Offset+t.Numel)
					if a < b {
						copy(dstT[a-t.Offset:b-t.Offset], shard[a-lo:b-lo])
					}
				}
			}
		}
		f.Close()
	}
	return optim, m.Step, nil
}
