package train

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
)

// engine runs a trainer's model work: the forward passes, the recipe's
// fused loss from hidden states, the backward, the gradient norm and the
// AdamW step. cpuEngine is the host path (runtime/model and runtime/fused);
// the GPU engine (device_cuda.go, build tag cuda) runs the same steps on a
// GPU. The trainer's host policy and optimizer state (t.policy, t.opt) are
// what sampling, evaluation and checkpoints read: an engine that keeps its
// own copy brings them up to date in sync.
type engine interface {
	// score is Evaluator.Score of the policy on groups: the no-gradient
	// pass of stage 1 (old_logp stored in the sequences where the recipe
	// reads it), with every response token's entropy.
	score(groups []*Group) (*recipe.Output, []float64, error)
	// refLogp is TokenLogp of seqs under the reference model.
	refLogp(seqs []*Seq) ([][]float64, error)
	// gradients sets the policy's gradients to those of the recipe's loss
	// on groups (stage-one values from frozen when not nil) and returns the
	// evaluation and the global gradient norm.
	gradients(groups []*Group, frozen *recipe.Frozen) (*recipe.Output, float64, error)
	// adamw takes one AdamW step (t.opt.Step counts it) with the gradients
	// scaled by scale, at learning rate lr.
	adamw(scale, lr float64) error
	// sampler is the policy as a sample.LM for up to caches caches of up
	// to maxLen tokens; done releases it.
	sampler(caches, maxLen int) (lm sample.LM, done func(), err error)
	// sync brings the host policy's weights, and with moments the AdamW
	// moments, up to date.
	sync(moments bool) error
	close()
}

// cpuEngine is the host path.
type cpuEngine struct{ t *Trainer }

func (c cpuEngine) score(groups []*Group) (*recipe.Output, []float64, error) {
	return c.t.ev.Score(c.t.policy, groups)
}

func (c cpuEngine) refLogp(seqs []*Seq) ([][]float64, error) {
	return TokenLogp(c.t.ref, seqs, c.t.cfg.MaxTokensPerMicro, c.t.ev.Fused)
}

func (c cpuEngine) gradients(groups []*Group, frozen *recipe.Frozen) (*recipe.Output, float64, error) {
	t := c.t
	t.grads.Zero()
	out, err := t.ev.EvalFrozen(t.policy, t.grads, groups, frozen)
	if err != nil {
		return nil, 0, err
	}
	return out, GradNorm(t.grads), nil
}

func (c cpuEngine) adamw(scale, lr float64) error {
	c.t.opt.Update(c.t.policy, c.t.grads, scale, lr, c.t.cfg.Optim)
	return nil
}

func (c cpuEngine) sampler(int, int) (sample.LM, func(), error) {
	return model.LM{M: c.t.policy}, func() {}, nil
}

func (cpuEngine) sync(bool) error { return nil }
func (cpuEngine) close()          {}

// parseDevice reads --device: cpu, cuda (GPU 0) or cuda:N.
func parseDevice(s string) (cuda bool, ordinal int, err error) {
	switch {
	case s == "" || s == "cpu":
		return false, 0, nil
	case s == "cuda":
		return true, 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err == nil && n >= 0 {
			return true, n, nil
		}
	}
	return false, 0, fmt.Errorf("--device %q: want cpu, cuda or cuda:N (GPU N)", s)
}

// newEngine picks the engine of --device.
func newEngine(t *Trainer) (engine, error) {
	onGPU, ordinal, err := parseDevice(t.cfg.Device)
	if err != nil {
		return nil, usageError{err}
	}
	if !onGPU {
		return cpuEngine{t}, nil
	}
	if t.comm.Size() > 1 {
		return nil, usageError{fmt.Errorf("--device %s with %d ranks: distributed training runs on the CPU only for now (FSDP on GPUs needs NCCL, which this trainer does not wire yet); run one rank, or --device cpu", t.cfg.Device, t.comm.Size())}
	}
	return newGPUEngine(t, ordinal)
}
