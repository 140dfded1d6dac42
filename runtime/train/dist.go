package train

// Data-parallel training over a world of W ranks (issue 12): each rank rolls
// out and scores its own share of a step's prompts (a group lives on one
// rank, so group statistics never cross ranks), the model is sharded with
// FSDP (runtime/dist/fsdp), gradients are reduce-scattered and AdamW runs on
// the shards. A world of one takes none of these paths: it trains exactly as
// before.
//
// The loss. The generated loss divides by batch sums (token_mean: the kept
// response tokens plus 1e-8; mean and the seq_mean_* forms: the kept
// sequences) and may mix them (TRACT; REAL with beta != 0). Every such sum
// is a call of recipe.State.Total, which globalLoss (dist_loss.go) makes an
// all-reduce over the ranks while a step's loss runs: every rank computes
// the whole mini-batch's normalizers and loss, and the adjoints of its own
// rows, so the ranks' gradients add up to world size 1's whatever the
// loss's form. Stage one (the step's scoring, the buffer's score pass) runs
// with the score, filter and advantage stages' batch sums all-reduced the
// same way (stageOneDist): an advantage whitened over the batch (ppo's)
// is world size 1's.
//
// Memory. A step's forward and backward passes gather one unit at a time
// (fsdp.PerUnit, the model's hooks): a unit is all-gathered before its
// forward and again before its backward, its gradient reduce-scattered
// into this rank's shard right after its backward. Rollouts, scoring and
// evaluation gather the whole model (generation needs every layer at every
// token) and release it before the optimizer step; each rank evaluates its
// share of the validation items and rank 0 reports on all of them.

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
)

// distributed reports whether the run has more than one rank.
func (t *Trainer) distributed() bool { return t.sh != nil }

// Rank is this process's rank (0 in a world of one).
func (t *Trainer) Rank() int { return t.comm.Rank() }

// agreeTimeout bounds agree's wait: the time between the first and the
// last rank's arrival after work of their own (a step's rollouts and
// scoring, a forward and backward, an evaluation, rank 0's checkpoint),
// which the collective timeout (10 minutes, REALC_DIST_TIMEOUT) could
// wrongly cut short. REALC_DIST_WAIT overrides it (a Go duration).
func agreeTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("REALC_DIST_WAIT")); err == nil && d > 0 {
		return d
	}
	return 24 * time.Hour
}

// agree is called by every rank at the same point with its own error: it
// returns that error, or, when another rank failed, an error naming the
// first such rank and its message, so that every rank stops together
// instead of waiting for a collective the failed one never reaches. It is
// where ranks wait for each other's work, so it waits agreeTimeout.
func (t *Trainer) agree(err error) error {
	if t.comm.Size() == 1 {
		return err
	}
	// A rank that only heard of another's failure (errPeerFailed) sends
	// no message of its own: it reports that rank's.
	peer := errors.Is(err, errPeerFailed)
	var msg []byte
	if err != nil && !peer {
		msg = []byte(err.Error())
	}
	prev := t.comm.Timeout()
	if w := agreeTimeout(); w > prev {
		t.comm.SetTimeout(w)
	}
	all, cerr := dist.GatherBytes(t.comm, msg)
	t.comm.SetTimeout(prev)
	if err != nil && !peer {
		return err
	}
	if cerr != nil {
		return cerr
	}
	for r, m := range all {
		if len(m) > 0 {
			return fmt.Errorf("rank %d failed: %s", r, m)
		}
	}
	return err
}

// setupDist shards the policy over the communicator (after a resume, whose
// moments it takes) and routes the loss's batch sums through globalLoss.
func (t *Trainer) setupDist() error {
	var err error
	t.loss = &globalLoss{Program: t.ev.Prog, comm: t.comm}
	t.ev.Prog = t.loss
	view := *t.policy
	view.Layers = slices.Clone(t.policy.Layers)
	moments := t.resumeTensors
	t.resumeTensors = nil
	step := t.opt.Step
	t.grads, t.opt = nil, nil
	sh := t.sh // sharded by fsdp.LoadHF already (a fresh run from an HF folder)
	if sh == nil {
		if sh, err = fsdp.New(t.comm, t.policy); err != nil {
			return err
		}
	}
	switch {
	case t.resumeShards != "":
		// This rank's shard file only (the policy has no weights).
		if err := sh.LoadShards(t.resumeShards); err != nil {
			return fmt.Errorf("--resume: %v", err)
		}
		if sh.Step != step {
			return fmt.Errorf("--resume %s: the shards are at optimizer step %d but %s says %d", t.resumeShards, sh.Step, stateJSONName, step)
		}
	case moments != nil:
		if err := sh.LoadFull(&view, moments, step); err != nil {
			return fmt.Errorf("--resume: %v", err)
		}
	}
	sh.Step = step
	t.sh, t.policy, t.opt = sh, sh.Model, &AdamW{Step: step}
	// A resumed buffer (merged, in order) is dealt out round-robin; its
	// groups keep their order ahead of every new one.
	var mine []*Group
	for i, g := range t.buffer {
		if i%t.comm.Size() == t.comm.Rank() {
			g.pos = i - len(t.buffer)
			mine = append(mine, g)
		}
	}
	t.buffer = mine
	if t.comm.Rank() != 0 {
		t.truncated = 0 // the saved count is the world's: rank 0 carries it
	}
	return nil
}

// ownPositions are the positions (in the step's prompt order) this rank
// rolls out: every W-th, starting at its rank.
func (t *Trainer) ownPositions(n int) []int {
	var ks []int
	for k := t.comm.Rank(); k < n; k += t.comm.Size() {
		ks = append(ks, k)
	}
	return ks
}

// optimizeDist is optimize over the world: this rank's groups (possibly
// none) forward and backward with one unit gathered at a time, the loss
// over the whole mini-batch (globalLoss), each unit's gradient
// reduce-scattered after its backward, then AdamW on the shards.
func (t *Trainer) optimizeDist(groups []*Group, frozen *recipe.Frozen) (out *recipe.Output, norm, lr float64, skipped bool, err error) {
	var seqs []*Seq
	for _, g := range groups {
		seqs = append(seqs, g.Seqs...)
	}
	mine := len(planMicros(seqs, t.ev.MaxTokens))
	most, err := dist.MaxF64(t.comm, float64(mine))
	if err != nil {
		return nil, 0, 0, false, err
	}
	h := t.sh.PerUnit()
	h.Plan(mine, int(most[0]))
	out, lerr := t.evalPerUnit(h, groups, frozen, int(most[0]))
	if ferr := h.Finish(); lerr == nil {
		lerr = ferr
	}
	if err = t.agree(lerr); err != nil {
		return nil, 0, 0, false, err
	}
	// Every rank with a kept group computed the whole mini-batch's loss.
	loss := math.Inf(-1)
	if slices.Contains(out.Kept, true) {
		loss = out.Loss
	}
	ls, err := dist.MaxF64(t.comm, loss)
	if err != nil {
		return nil, 0, 0, false, err
	}
	if math.IsInf(ls[0], -1) {
		out.Loss = 0 // nothing kept anywhere: world size 1 reports 0 too
	} else {
		out.Loss = ls[0]
	}
	if norm, err = t.sh.GradNorm(); err != nil {
		return nil, 0, 0, false, err
	}
	lr = LR(t.cfg.Optim, t.opt.Step, t.totalOpt)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		t.skipped++
		return out, norm, lr, true, nil
	}
	o := t.cfg.Optim
	t.sh.Update(lr, fsdp.ClipScale(norm, o.Clip), fsdp.AdamW{WeightDecay: o.WeightDecay, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps})
	t.opt.Step = t.sh.Step
	return out, norm, lr, false, nil
}

// evalPerUnit runs the loss and its gradient on this rank's groups under
// h, most being the most forward passes any rank runs before the loss. A
// rank without groups runs the passes without data and the loss of an
// empty batch (its share of the all-reduces). After a local error the
// rank still makes the step's remaining collectives where it can tell
// which they are (the error came before the loss or after it), or stops
// every rank's loss (globalLoss.abort), so that the others reach agree and
// report it instead of timing out.
func (t *Trainer) evalPerUnit(h *fsdp.PerUnit, groups []*Group, frozen *recipe.Frozen, most int) (*recipe.Output, error) {
	t.loss.begin()
	defer t.loss.end()
	emptyLoss := func() (*recipe.Output, error) {
		l := layout(t.meta, nil, t.policy.Cfg.Vocab, t.ev.ScoreIDs)
		return recipe.EvalLogits(t.ev.Prog, l, t.ev.Hyper, nil, nil)
	}
	var out *recipe.Output
	var err error
	if len(groups) > 0 {
		out, err = t.ev.EvalFrozen(t.policy, h.Grads(), groups, frozen)
	} else if err = h.PadForwards(most); err == nil {
		out, err = emptyLoss()
	}
	switch {
	case err == nil || t.loss.done:
	case !t.loss.started:
		if perr := h.PadForwards(most); perr == nil {
			emptyLoss()
		}
	default:
		// Inside the loss: the others wait in a batch sum, which abort
		// answers with the failure flag; every rank skips the backward
		// passes and reports at agree.
		t.loss.abort()
		return nil, err
	}
	if perr := h.PadBackwards(most); err == nil {
		err = perr
	}
	return out, err
}

// stageOneDist runs score, stage one of this rank's n groups (the step's
// scoring or the buffer's score pass), with the score, filter and
// advantage stages' batch sums all-reduced over the world (globalLoss), so
// that a recipe whose advantage or filter reads a batch statistic computes
// world size 1's values. A rank without groups, or one that failed before
// the recipe's stages began (in a forward), evaluates an empty batch
// instead, and one that failed between its sums stops the others' sums
// (globalLoss.abort): every rank makes the same all-reduces, and the error
// reaches agree on every rank rather than a collective timeout.
func (t *Trainer) stageOneDist(n int, score func() (*recipe.Output, []float64, error)) (*recipe.Output, []float64, error) {
	t.loss.beginStageOne()
	defer t.loss.end()
	var out *recipe.Output
	var ent []float64
	var err error
	if n > 0 {
		out, ent, err = score()
	} else {
		out = &recipe.Output{Rewards: make([][]float64, len(t.meta.Rewards)), Advantages: make([][]float64, len(t.meta.Advantages))}
	}
	if (n == 0 || err != nil) && !t.loss.started {
		l := layout(t.meta, nil, t.policy.Cfg.Vocab, t.ev.ScoreIDs)
		if _, eerr := recipe.EvalLogits(t.ev.Prog, l, t.ev.Hyper, nil, nil); err == nil {
			err = eerr
		}
	}
	if err != nil {
		t.loss.abort() // failed between its first and last sum: stop the others' (globalLoss)
		return nil, nil, err
	}
	return out, ent, nil
}

// gatherF concatenates every rank's xs in rank order (xs itself in a world
// of one).
func (t *Trainer) gatherF(xs []float64) ([]float64, error) {
	if !t.distributed() {
		return xs, nil
	}
	parts, err := dist.GatherF64(t.comm, xs)
	if err != nil {
		return nil, err
	}
	var out []float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

func (t *Trainer) sumInt(n int) (int, error) {
	if !t.distributed() {
		return n, nil
	}
	s, err := dist.SumInts(t.comm, n)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

// trainStepSFTDist is a supervised step over the world.
func (t *Trainer) trainStepSFTDist(f map[string]float64) error {
	start := time.Now()
	exs := t.examplesAt(t.step)
	var groups []*Group
	toks := 0
	for _, k := range t.ownPositions(len(exs)) {
		g := t.sft[exs[k]]
		groups = append(groups, g)
		toks += inputLen(g.Seqs[0])
	}
	out, norm, lr, skipped, err := t.optimizeDist(groups, nil)
	if err != nil {
		return fmt.Errorf("step %d: %v", t.step, err)
	}
	// --trace is rank 0's file: its error stops every rank.
	if err := t.agree(t.traceUpdate(0, 0, groups, out)); err != nil {
		return err
	}
	if toks, err = t.sumInt(toks); err != nil {
		return err
	}
	sec := time.Since(start).Seconds()
	f["loss"], f["grad_norm"], f["lr"], f["skipped_steps"] = out.Loss, norm, lr, recipe.B2F(skipped)
	f["time/update"], f["tokens_per_s/update"] = sec, float64(toks)/sec
	return nil
}

// trainStepRLDist is an RL step over the world: this rank's prompts rolled
// out and scored, kept groups into this rank's buffer; once the world's
// buffers hold enough groups, the first ones in the order a world of one
// would have (step, then prompt position) form the update's batch.
func (t *Trainer) trainStepRLDist(f map[string]float64) error {
	t0 := time.Now()
	if err := t.sh.GatherAll(); err != nil {
		return err
	}
	exs := t.examplesAt(t.step)
	texts, err := t.replayTexts(t.step, exs)
	ks := t.ownPositions(len(exs))
	var groups []*Group
	gen := 0
	if err == nil {
		groups, gen, err = t.rolloutAt(t.step, exs, ks, texts)
	}
	if err = t.agree(err); err != nil {
		return err
	}
	for j, g := range groups {
		g.pos = t.step*t.cfg.PromptsPerStep + ks[j]
	}
	t1 := time.Now()
	out, err := t.stage1(groups, f)
	if err != nil {
		return fmt.Errorf("step %d: scoring: %v", t.step, err)
	}
	for g, k := range out.Kept {
		if k {
			t.buffer = append(t.buffer, groups[g])
		}
	}
	t2 := time.Now()
	if gen, err = t.sumInt(gen); err != nil {
		return err
	}
	tr, err := t.sumInt(t.truncated)
	if err != nil {
		return err
	}
	nbuf, err := t.sumInt(len(t.buffer))
	if err != nil {
		return err
	}
	f["time/rollout"], f["time/score"] = t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds()
	f["tokens_per_s/rollout"] = float64(gen) / t1.Sub(t0).Seconds()
	f["buffer_groups"] = float64(nbuf)
	f["truncated_prompts"] = float64(tr)
	if nbuf < t.bufferGroups() {
		return nil
	}
	pos := make([]float64, len(t.buffer))
	for i, g := range t.buffer {
		pos[i] = float64(g.pos)
	}
	all, err := t.gatherF(pos)
	if err != nil {
		return err
	}
	sort.Float64s(all)
	keys := all[:t.bufferGroups()]
	var local []*Group
	for _, g := range t.buffer {
		if _, ok := slices.BinarySearch(keys, float64(g.pos)); ok {
			local = append(local, g)
		}
	}
	slices.SortFunc(local, func(a, b *Group) int { return a.pos - b.pos })
	t.buffer = nil
	if err := t.updateDist(local, keys, f); err != nil {
		return err
	}
	sec := time.Since(t2).Seconds()
	f["time/update"], f["tokens_per_s/update"] = sec, f["update_tokens"]/sec
	return nil
}

// updateDist is update over the world: local holds this rank's groups of
// the batch in order, keys the positions of the whole batch; mini-batch m is
// keys[m*per:(m+1)*per] as in a world of one, each rank optimizing its part.
func (t *Trainer) updateDist(local []*Group, keys []float64, f map[string]float64) error {
	start := time.Now()
	if err := t.sh.GatherAll(); err != nil {
		return err
	}
	buf, _, err := t.stageOneDist(len(local), func() (*recipe.Output, []float64, error) {
		return t.ev.Score(t.policy, local)
	})
	if err = t.agree(err); err != nil {
		return fmt.Errorf("step %d: scoring the buffer: %v", t.step, err)
	}
	f["time/score_buffer"] = time.Since(start).Seconds()
	per := t.groupsPerMini()
	var losses, norms []float64
	toks := 0
	var traceErr error // rank 0's --trace, reported to every rank after the update
	for ep := 0; ep < t.cfg.Optim.Epochs; ep++ {
		llo := 0
		for mb, lo := 0, 0; lo < len(keys); mb, lo = mb+1, lo+per {
			hi := min(lo+per, len(keys))
			lhi := llo
			for lhi < len(local) && float64(local[lhi].pos) <= keys[hi-1] {
				lhi++
			}
			part := local[llo:lhi]
			var frozen *recipe.Frozen
			if len(part) > 0 {
				frozen = buf.State.Freeze(t.meta, llo, lhi)
			}
			out, norm, lr, skipped, err := t.optimizeDist(part, frozen)
			if err != nil {
				return fmt.Errorf("step %d, epoch %d, mini-batch %d: %v", t.step, ep, mb, err)
			}
			losses = append(losses, out.Loss)
			norms = append(norms, norm)
			f["lr"] = lr
			if skipped {
				f["skipped_steps"]++
			}
			for _, g := range part {
				for _, s := range g.Seqs {
					toks += inputLen(s)
				}
			}
			if len(part) > 0 && traceErr == nil {
				traceErr = t.traceUpdate(ep, mb, part, out)
			}
			llo = lhi
		}
	}
	if err := t.agree(traceErr); err != nil {
		return err
	}
	if toks, err = t.sumInt(toks); err != nil {
		return err
	}
	f["loss"], _ = meanStd(losses)
	f["grad_norm"], _ = meanStd(norms)
	f["optimizer_steps"] = float64(len(losses))
	f["update_tokens"] = float64(toks)
	return nil
}

// saveDist writes the merged checkpoint from rank 0 (the same files a world
// of one writes: --resume works at any world size) and, with --save-shards,
// every rank's FSDP shard beside it in OUT/fsdp-step-N.
func (t *Trainer) saveDist() error {
	var full *model.Model
	var err error
	if t.comm.Rank() == 0 {
		full, err = model.New(t.sh.Cfg)
	}
	if err = t.agree(err); err != nil {
		return err
	}
	if err := t.sh.FullParams(full); err != nil {
		return err
	}
	moments, err := t.sh.FullOptimizer(0)
	if err != nil {
		return err
	}
	// The world's buffer, in order, and truncation count, for trainer_state.
	pos := make([]float64, len(t.buffer))
	enc, err := json.Marshal(t.buffer)
	if err = t.agree(err); err != nil {
		return err
	}
	for i, g := range t.buffer {
		pos[i] = float64(g.pos)
	}
	allPos, err := dist.GatherF64(t.comm, pos)
	if err != nil {
		return err
	}
	allBuf, err := dist.GatherBytes(t.comm, enc)
	if err != nil {
		return err
	}
	tr, err := t.sumInt(t.truncated)
	if err != nil {
		return err
	}
	var serr error
	if t.comm.Rank() == 0 {
		serr = t.saveMerged(full, moments, allPos, allBuf, tr)
	}
	if err := t.agree(serr); err != nil {
		return err
	}
	if !t.cfg.SaveShards {
		return nil
	}
	dir := shardDir(t.cfg.Out, t.step)
	var merr error
	if t.comm.Rank() == 0 {
		merr = prepareShardDir(dir, t.cfg.Out, t.step)
	}
	if err := t.agree(merr); err != nil {
		return err
	}
	if err := t.agree(t.sh.SaveShards(dir)); err != nil {
		return err
	}
	if t.comm.Rank() == 0 {
		merr = finishShardDir(dir)
	}
	return t.agree(merr)
}

// saveMerged writes the merged checkpoint (rank 0): full, the moments, the
// world's buffer from every rank's positions and groups, and truncation
// count tr.
func (t *Trainer) saveMerged(full *model.Model, moments map[string][]float32, allPos [][]float64, allBuf [][]byte, tr int) error {
	type entry struct {
		pos float64
		g   *Group
	}
	var es []entry
	for r, b := range allBuf {
		var gs []*Group
		if err := json.Unmarshal(b, &gs); err != nil {
			return fmt.Errorf("rank %d's buffer: %v", r, err)
		}
		for i, g := range gs {
			es = append(es, entry{allPos[r][i], g})
		}
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].pos < es[j].pos })
	merged := []*Group{}
	for _, e := range es {
		merged = append(merged, e.g)
	}
	if len(es) == 0 {
		merged = nil
	}
	mine, myTr := t.buffer, t.truncated
	t.buffer, t.truncated = merged, tr
	_, err := t.saveFiles(full, func(i int, p model.Param) ([]float32, []float32) {
		return moments["exp_avg."+p.Name], moments["exp_avg_sq."+p.Name]
	})
	t.buffer, t.truncated = mine, myTr
	return err
}

// evaluateDist evaluates over the world: every rank samples and scores
// its share of each validation set's items (valShare) with the gathered
// model, and rank 0 computes the report from the world's results put back
// in item order. Each prompt samples from its own seed (judge.seedFor), so
// the report is world size 1's whatever the split.
func (t *Trainer) evaluateDist(ctx context.Context) error {
	start := time.Now()
	if err := t.sh.GatherAll(); err != nil {
		return err
	}
	results, err := t.evalItems(ctx, t.valShare())
	var enc bytes.Buffer
	if err == nil {
		err = gob.NewEncoder(&enc).Encode(results)
	}
	if err = t.agree(err); err != nil {
		return err
	}
	parts, err := dist.GatherBytes(t.comm, enc.Bytes())
	if err != nil {
		return err
	}
	if t.comm.Rank() == 0 {
		all := make([][]eval.ItemResult, len(t.val))
		for r, p := range parts {
			var rs [][]eval.ItemResult
			if err = gob.NewDecoder(bytes.NewReader(p)).Decode(&rs); err != nil {
				err = fmt.Errorf("step %d: eval: rank %d's results: %v", t.step, r, err)
				break
			}
			if len(rs) != len(all) {
				err = fmt.Errorf("step %d: eval: rank %d has results of %d validation sets, want %d", t.step, r, len(rs), len(all))
				break
			}
			for b := range all {
				all[b] = append(all[b], rs[b]...)
			}
		}
		if err == nil {
			err = t.evalReport(all, start)
		}
	}
	return t.agree(err)
}

// valShare is this rank's share of each validation set: the items
// [n*r/W, n*(r+1)/W) of a set of n (an even split by index; the ranks'
// shares in rank order are the set in order).
func (t *Trainer) valShare() []eval.Benchmark {
	r, w := t.comm.Rank(), t.comm.Size()
	share := make([]eval.Benchmark, len(t.val))
	for i, b := range t.val {
		n := len(b.Prompts)
		lo, hi := n*r/w, n*(r+1)/w
		share[i] = eval.Benchmark{Name: b.Name, File: b.File, Prompts: b.Prompts[lo:hi], Gold: b.Gold[lo:hi], First: lo}
	}
	return share
}
