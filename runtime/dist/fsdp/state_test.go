package fsdp_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
	"github.com/realc-project/realc/runtime/train"
)

const ckptSamples = 6

// exactSteps takes steps [from, to) of scenarioExact's schedule on s.
func exactSteps(c dist.Comm, s *fsdp.Sharded, from, to int) error {
	tmp, _ := model.New(s.Cfg)
	for k := from; k < to; k++ {
		g := s.NewGrads()
		for _, i := range samplesOf(c.Rank(), c.Size(), ckptSamples) {
			sampleGrads(tmp, 11, k, i, true)
			addInto(g, tmp)
		}
		if err := s.ReduceGrads(g); err != nil {
			return err
		}
		norm, err := s.GradNorm()
		if err != nil {
			return err
		}
		s.Update(testOptim.LR, fsdp.ClipScale(norm, testOptim.Clip), adamwOf(testOptim))
	}
	return nil
}

// referenceSteps is world size 1 with train's optimizer after n steps.
func referenceSteps(init *model.Model, n int) (*model.Model, *train.AdamW) {
	ref := init.Clone()
	opt := train.NewAdamW(ref)
	gsum, tmp := ref.NewGrads(), ref.NewGrads()
	for k := 0; k < n; k++ {
		gsum.Zero()
		for i := 0; i < ckptSamples; i++ {
			sampleGrads(tmp, 11, k, i, true)
			addInto(gsum, tmp)
		}
		norm := train.GradNorm(gsum)
		opt.Update(ref, gsum, train.ClipScale(norm, testOptim.Clip), testOptim.LR, testOptim)
	}
	return ref, opt
}

// TestCheckpointRoundTrip: a world of 3 takes 2 steps and saves its shards;
// the merged form equals the live gathered state and world size 1's; a
// world of 2 resumes from the merged form and a world of 3 from the shards,
// and after one more step both equal world size 1 after 3 steps, bit for
// bit (exact sums).
func TestCheckpointRoundTrip(t *testing.T) {
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		dir := t.TempDir()
		init, _ := model.New(cfg)
		init.InitRandom(5, 0.2)
		ref2, opt2 := referenceSteps(init, 2)
		ref3, _ := referenceSteps(init, 3)
		onLocal(t, 3, func(c dist.Comm) error {
			s, err := fsdp.New(c, init.Clone())
			if err != nil {
				return err
			}
			if err := exactSteps(c, s, 0, 2); err != nil {
				return err
			}
			if err := s.SaveShards(dir); err != nil {
				return err
			}
			live, _ := model.New(cfg)
			if c.Rank() != 0 {
				live = nil
			}
			if err := s.FullParams(live); err != nil {
				return err
			}
			optim, err := s.FullOptimizer(0)
			if err != nil {
				return err
			}
			if c.Rank() == 0 {
				if _, _, err := compare(live, ref2, nil); err != nil {
					return fmt.Errorf("FullParams: %v", err)
				}
				if len(optim) != 2*len(ref2.Params()) {
					return fmt.Errorf("FullOptimizer: %d tensors", len(optim))
				}
			}
			return c.Barrier()
		})
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) != 4 {
			t.Fatalf("shard folder: %v, want 3 shards and fsdp.json", files)
		}
		merged, _ := model.New(cfg)
		optim, step, err := fsdp.MergeShards(dir, merged)
		if err != nil {
			t.Fatal(err)
		}
		if step != 2 {
			t.Errorf("merged step %d, want 2", step)
		}
		if _, _, err := compare(merged, ref2, nil); err != nil {
			t.Errorf("merged parameters: %v", err)
		}
		for pi, p := range ref2.Params() {
			for j, v := range optim["exp_avg_sq."+p.Name] {
				if v != opt2.V[pi][j] || optim["exp_avg."+p.Name][j] != opt2.M[pi][j] {
					t.Fatalf("merged moments of %s[%d] differ from train.AdamW's", p.Name, j)
				}
			}
		}
		// Resume at world size 2 from the merged form.
		onLocal(t, 2, func(c dist.Comm) error {
			s, err := fsdp.New(c, init.Clone())
			if err != nil {
				return err
			}
			if err := s.LoadFull(merged, optim, step); err != nil {
				return err
			}
			if err := exactSteps(c, s, 2, 3); err != nil {
				return err
			}
			got, err := gatheredCopy(s)
			if err != nil {
				return err
			}
			_, _, err = compare(got, ref3, nil)
			return err
		})
		// Resume at world size 3 from the shards; world size 2 is refused.
		onLocal(t, 3, func(c dist.Comm) error {
			s, err := fsdp.New(c, init.Clone())
			if err != nil {
				return err
			}
			if err := s.LoadShards(dir); err != nil {
				return err
			}
			if s.Step != 2 {
				return fmt.Errorf("step %d after LoadShards", s.Step)
			}
			if err := exactSteps(c, s, 2, 3); err != nil {
				return err
			}
			got, err := gatheredCopy(s)
			if err != nil {
				return err
			}
			_, _, err = compare(got, ref3, nil)
			return err
		})
		onLocal(t, 2, func(c dist.Comm) error {
			s, err := fsdp.New(c, init.Clone())
			if err != nil {
				return err
			}
			if err := s.LoadShards(dir); err == nil || !strings.Contains(err.Error(), "written by a world of 3 ranks, this one has 2") {
				return fmt.Errorf("loading shards of 3 at 2: %v", err)
			}
			return nil
		})
	}
}

// TestLoadHF: LoadHF decodes only each rank's part (f32 and bf16 files) and
// equals model.LoadHF.
func TestLoadHF(t *testing.T) {
	cfg := testConfig()
	m, _ := model.New(cfg)
	m.InitRandom(8, 0.2)
	for _, dt := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
		dir := t.TempDir()
		if err := m.SaveHFWith(dir, model.SaveOptions{DType: dt}); err != nil {
			t.Fatal(err)
		}
		want, err := model.LoadHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int{1, 3} {
			onLocal(t, w, func(c dist.Comm) error {
				s, err := fsdp.LoadHF(c, dir)
				if err != nil {
					return err
				}
				got, err := gatheredCopy(s)
				if err != nil {
					return err
				}
				_, _, err = compare(got, want, nil)
				return err
			})
		}
	}
}
