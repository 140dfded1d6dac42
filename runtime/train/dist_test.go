package train_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// testProg is a hand-written recipe program (the generated ones are
// package main): loss = agg(coef * logp) with coef = -1 (supervised) or -A
// (RL: reward r = acc, advantage A = r - mean_g(r)), agg token_mean
// (sum over kept tokens / (kept tokens + 1e-8)) or mean over kept sequences
// of the sequence's token sum; mixed adds 0.5 * mean(sum_t(-logp)) to a
// token_mean, so that the loss has both normalizers (as TRACT's and REAL's
// with beta != 0). Its batch sums go through s.Total, as the generated
// code's do.
//
// Values: 0 token: d loss / d logp; 1 scalar: loss; 2 seq: r; 3 seq: A;
// 4 scalar: the normalizer; 5 scalar: the kept sequences (mixed).
type testProg struct {
	meta    *recipe.Meta
	rl      bool
	seqMean bool
	mixed   bool
	// batchAdv whitens the advantage over the batch's kept sequences
	// instead of centring it in the group: A = (r - mu) / sqrt(var + 1e-8)
	// with mu and var batch sums (s.Total), as ppo's advantage is over the
	// batch's tokens.
	batchAdv bool
}

// newTestProgBatchAdv is the RL token_mean program with a batch-whitened
// advantage (testProg.batchAdv).
func newTestProgBatchAdv() testProg {
	p := newTestProg(true, false)
	p.batchAdv = true
	p.meta.Name = "dist_batch_adv"
	p.meta.File = p.meta.Name + ".rl"
	p.meta.Source = strings.Replace(p.meta.Source, "recipe dist_rltrue_seqfalse_mixedfalse", "recipe dist_batch_adv\nlet mu = mean(r)\nadv A = (r - mu) / sqrt(mean((r - mu)^2) + 1e-8)", 1)
	return p
}

func newTestProg(rl, seqMean bool) testProg { return newTestProgMixed(rl, seqMean, false) }

func newTestProgMixed(rl, seqMean, mixed bool) testProg {
	loss := "token_mean(-A * logp)"
	if !rl {
		loss = "token_mean(-logp)"
	}
	if seqMean {
		loss = "mean(sum_t(-A * logp))"
		if !rl {
			loss = "mean(sum_t(-logp))"
		}
	}
	if mixed {
		loss += " + 0.5 * mean(sum_t(-logp))"
	}
	name := fmt.Sprintf("dist_rl%v_seq%v_mixed%v", rl, seqMean, mixed)
	m := &recipe.Meta{
		Name: name, File: name + ".rl",
		Hypers:      []recipe.Hyper{{Name: "lr", Default: 1e-3}},
		ScoreValues: []float64{1, 2, 3, 4, 5}, ScoreStrings: []string{"1", "2", "3", "4", "5"}, ScoreMarker: traintest.Marker,
		Rewards: []recipe.Named{}, Advantages: []recipe.Named{},
		Filter: -1, Loss: 1, Axes: []recipe.Axis{recipe.Token, recipe.Scalar, recipe.Seq, recipe.Seq, recipe.Scalar, recipe.Scalar},
		Regions: []string{}, LogpAdj: 0, EntropyAdj: -1, ScoreGrads: []recipe.ScoreGrad{}, OnePass: true,
		OptimKind: "adamw", StageOne: []int{},
		Source: "recipe " + name + "\nscore tokens 1=\"1\" 2=\"2\" 3=\"3\" 4=\"4\" 5=\"5\" after \"So the overall score is \"\nloss " + loss + "\n",
	}
	if rl {
		m.Rewards = []recipe.Named{{Name: "r", ID: 2}}
		m.Advantages = []recipe.Named{{Name: "A", ID: 3}}
		m.StageOne = []int{2, 3}
		m.Rollout = []recipe.Setting{{Key: "n", Num: 4}}
	}
	return testProg{meta: m, rl: rl, seqMean: seqMean, mixed: mixed}
}

func (p testProg) Meta() *recipe.Meta { return p.meta }

func (p testProg) Score(s *recipe.State) error {
	if p.rl {
		copy(s.Vals[2], s.L.Acc)
	}
	return nil
}

func (p testProg) Adv(s *recipe.State) error {
	if !p.rl {
		return nil
	}
	l := s.L
	if p.batchAdv {
		// Every rank calls Total three times whatever its batch.
		var sum, n float64
		for i := 0; i < l.S; i++ {
			if s.KeptSeq(i) {
				sum += s.Vals[2][i]
				n++
			}
		}
		sum, n = s.Total(sum), s.Total(n)
		mu := sum / math.Max(n, 1)
		var sq float64
		for i := 0; i < l.S; i++ {
			if s.KeptSeq(i) {
				sq += (s.Vals[2][i] - mu) * (s.Vals[2][i] - mu)
			}
		}
		sd := math.Sqrt(s.Total(sq)/math.Max(n, 1) + 1e-8)
		for i := 0; i < l.S; i++ {
			s.Vals[3][i] = (s.Vals[2][i] - mu) / sd
		}
		return nil
	}
	for g := 0; g < l.G; g++ {
		a, b := int(l.GroupOff[g]), int(l.GroupOff[g+1])
		var mu float64
		for i := a; i < b; i++ {
			mu += s.Vals[2][i]
		}
		mu /= float64(b - a)
		for i := a; i < b; i++ {
			s.Vals[3][i] = s.Vals[2][i] - mu
		}
	}
	return nil
}

func (p testProg) coef(s *recipe.State, seq int) float64 {
	if p.rl {
		return -s.Vals[3][seq]
	}
	return -1
}

func (p testProg) Rest(s *recipe.State) error {
	l, v := s.L, s.Vals
	var n, seqs float64
	for i := 0; i < l.S; i++ {
		if s.KeptSeq(i) {
			seqs++
			if p.seqMean {
				n++
			} else {
				n += float64(l.TokOff[i+1] - l.TokOff[i])
			}
		}
	}
	n, seqs = s.Total(n), s.Total(seqs)
	if !p.seqMean {
		n += 1e-8
	}
	v[4][0], v[5][0] = n, seqs
	for i := 0; i < l.S; i++ {
		for t := l.TokOff[i]; t < l.TokOff[i+1]; t++ {
			v[0][t] = 0
			if s.KeptSeq(i) && n > 0 {
				v[0][t] = p.coef(s, i) / n
				if p.mixed {
					v[0][t] -= 0.5 / seqs
				}
			}
		}
	}
	return nil
}

func (p testProg) Token(s *recipe.State) error {
	l, v := s.L, s.Vals
	var sum, nll float64
	for i := 0; i < l.S; i++ {
		if !s.KeptSeq(i) {
			continue
		}
		for t := l.TokOff[i]; t < l.TokOff[i+1]; t++ {
			sum += p.coef(s, i) * s.Logp[t]
			nll -= s.Logp[t]
		}
	}
	sum, nll = s.Total(sum), s.Total(nll)
	v[1][0] = 0
	if v[4][0] > 0 {
		v[1][0] = sum / v[4][0]
	}
	if p.mixed && v[5][0] > 0 {
		v[1][0] += 0.5 * nll / v[5][0]
	}
	return nil
}

func (p testProg) TokenAdjoint(s *recipe.State, t int, logp, entropy float64) (float64, float64) {
	return s.Vals[0][t], 0
}

func distConfig(s *traintest.Setup, p testProg, out string, steps int) train.Config {
	c := train.Config{Model: s.Model, Train: []string{s.Data}, Out: out, Seed: 3, PromptsPerStep: 3, Steps: steps, EvalPolicy: "blind", Quiet: true,
		Hyper: []float64{1e-2},
		// eps = 1 makes AdamW's update about lr*g, continuous in g: a
		// gradient summed in another order moves a parameter by lr times
		// that difference (see tolerance below), not by lr for an element
		// whose tiny gradient changes sign.
		Optim: train.Optim{LR: 1e-2, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1, Clip: 1, Epochs: 1, Schedule: "constant"}}
	if p.rl {
		c.Rollouts = s.Rollouts
		c.Rollout = train.Rollout{N: 4, Temperature: 1, TopP: 1, TopK: -1, MaxPrompt: 512, MaxResponse: 64}
		c.Optim.Epochs, c.Optim.MiniBatch = 2, 8 // two mini-batches of 2 and 1 groups per epoch
	}
	return c
}

// runWorld trains cfg on w goroutine ranks (w = 1: the plain trainer, no
// communicator) and returns each rank's error.
func runWorld(t *testing.T, p testProg, w int, cfg func(r int) train.Config) []error {
	t.Helper()
	return runWorldWith(t, w, 2*time.Minute, func(int) recipe.Program { return p }, cfg)
}

// runWorldWith is runWorld with each rank's program and the collectives'
// timeout.
func runWorldWith(t *testing.T, w int, timeout time.Duration, prog func(r int) recipe.Program, cfg func(r int) train.Config) []error {
	t.Helper()
	p := prog(0)
	errs := make([]error, w)
	if w == 1 {
		c := cfg(0)
		tr, err := train.New(p, c, []byte("{}\n"), io.Discard, io.Discard)
		if err == nil {
			err = tr.Run(context.Background())
		}
		errs[0] = err
		return errs
	}
	comms := dist.NewLocal(w)
	var wg sync.WaitGroup
	for r := 0; r < w; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			c := cfg(r)
			c.Comm = comms[r]
			comms[r].SetTimeout(timeout)
			tr, err := train.New(prog(r), c, []byte("{}\n"), io.Discard, io.Discard)
			if err == nil {
				err = tr.Run(context.Background())
			}
			errs[r] = err
		}(r)
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

func loadStep(t *testing.T, out string, step int) *train.Loaded {
	t.Helper()
	ld, err := train.LoadCheckpoint(filepath.Join(out, fmt.Sprintf("step-%d", step)))
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

func readLosses(t *testing.T, out string) []float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var ls []float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if v, ok := l["loss"].(float64); ok && l["kind"] == "train" {
			ls = append(ls, v)
		}
	}
	return ls
}

// closeModels checks the parameters of got against want: per element
// |got - want| <= steps * (lr * 1e-4 + 4 ulp(want)).
//
// Why: the ranks' gradients differ from world size 1's only in float32
// summation order (the gradient sum over ranks, each rank's forward over its
// own micro-batches, the (n_r+e)/(N+e) scale's rounding): within
// 2*gamma(n)*sum|c_i| with n up to the few hundred token rows here, a relative
// 1e-5 of the clipped gradient (|g| <= 1) at most. With eps = 1 AdamW's step
// is lr * m^/(sqrt(v^)+1), whose derivative in g is at most (1-beta1)/b1 = 1
// at step 1 (and bounded after), so a parameter moves by at most lr * 1e-5
// per step more, plus its own float32 rounding (an ulp per step, and one in
// the scale); 1e-4 leaves a margin for the moments. A sharding or
// normalizer bug moves parameters by lr * |g|, and the test also requires
// the largest move to exceed 100x the tolerance.
func closeModels(t *testing.T, want, got, init *model.Model, steps int, lr float64) {
	t.Helper()
	pw, pg, pi := want.Params(), got.Params(), init.Params()
	var worst, moved float64
	where := ""
	for i := range pw {
		for k, w := range pw[i].Data {
			g := pg[i].Data[k]
			ulp := float64(math.Nextafter32(float32(math.Abs(float64(w))), float32(math.Inf(1)))) - math.Abs(float64(w))
			tol := float64(steps) * (lr*1e-4 + 4*ulp)
			d := math.Abs(float64(g) - float64(w))
			if !(d <= tol) {
				t.Fatalf("%s[%d] = %v, want %v within %.3g (world size 1)", pw[i].Name, k, g, w, tol)
			}
			if r := d / tol; r > worst {
				worst, where = r, pw[i].Name
			}
			moved = math.Max(moved, math.Abs(float64(w)-float64(pi[i].Data[k])))
		}
	}
	if moved < 100*float64(steps)*lr*1e-4 {
		t.Fatalf("the parameters moved at most %.3g: the test cannot tell a bug from rounding", moved)
	}
	t.Logf("largest difference %.2f of its tolerance (%s); largest move %.3g", worst, where, moved)
}

func TestDistributedMatchesWorldOne(t *testing.T) {
	s := traintest.NewSetup(t)
	init, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	const steps = 3
	for _, tc := range []struct {
		name               string
		rl, seqMean, mixed bool
	}{{"sft", false, false, false}, {"rl", true, false, false}, {"sft-seqmean", false, true, false}, {"rl-seqmean", true, true, false},
		{"sft-mixed", false, false, true}, {"rl-mixed", true, false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProgMixed(tc.rl, tc.seqMean, tc.mixed)
			base := t.TempDir()
			ref := filepath.Join(base, "w1")
			noErrors(t, runWorld(t, p, 1, func(int) train.Config { return distConfig(s, p, ref, steps) }))
			want := loadStep(t, ref, steps)
			wantLoss := readLosses(t, ref)
			for _, w := range []int{2, 3} {
				out := filepath.Join(base, fmt.Sprint("w", w))
				noErrors(t, runWorld(t, p, w, func(int) train.Config { return distConfig(s, p, out, steps) }))
				got := loadStep(t, out, steps)
				closeModels(t, want.Model, got.Model, init, steps, 1e-2)
				loss := readLosses(t, out)
				if len(loss) != len(wantLoss) || len(loss) != steps {
					t.Fatalf("world %d: %d loss lines, want %d", w, len(loss), len(wantLoss))
				}
				for i := range loss {
					if d := math.Abs(loss[i] - wantLoss[i]); !(d <= 1e-5*math.Max(1, math.Abs(wantLoss[i]))) {
						t.Fatalf("world %d: step %d loss %v, want %v", w, i+1, loss[i], wantLoss[i])
					}
				}
				for _, k := range []string{"exp_avg.model.embed_tokens.weight", "exp_avg_sq.model.embed_tokens.weight"} {
					a, b := want.Tensors[k], got.Tensors[k]
					if len(a) == 0 || len(a) != len(b) {
						t.Fatalf("world %d: %s has %d values, want %d", w, k, len(b), len(a))
					}
				}
				var st, wst struct {
					OptStep int `json:"optimizer_step"`
				}
				json.Unmarshal(got.State, &st)
				json.Unmarshal(want.State, &wst)
				if st.OptStep != wst.OptStep {
					t.Fatalf("world %d: optimizer step %d, want %d", w, st.OptStep, wst.OptStep)
				}
			}
		})
	}
}

// A recipe whose advantage is whitened over the batch (batch sums in the
// advantage stage, as ppo's) trains world size 1's parameters at world size
// 2 and 3: the step's scoring and the buffer's score pass all-reduce the
// advantage stage's sums, as the loss's are. With a buffer of one step's
// groups (every update's batch is the step's) and of two steps' (the
// buffer's score pass sums over groups of two steps that the step's
// scoring never saw together), and with fewer prompts a step than ranks.
func TestDistributedBatchAdvantage(t *testing.T) {
	s := traintest.NewSetup(t)
	init, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	// Rollouts whose groups differ in accuracy (traintest's have one right
	// response in every four, so that every group's rewards, and every
	// rank's batch statistics, would be the same): response k of prompt i
	// is right when (k + i) % 3 == 0 or k % 5 == 1.
	var rolls strings.Builder
	for i, y := range s.Y {
		for k := 0; k < 16; k++ {
			score := int(y)%5 + 1
			if (k+i)%3 == 0 || k%5 == 1 {
				score = int(y)
			}
			fmt.Fprintf(&rolls, "{\"prompt\":%d,\"response\":\"Feedback: %d. %s%d\"}\n", i, k, traintest.Marker, score)
		}
	}
	s.Rollouts = filepath.Join(t.TempDir(), "rollouts.jsonl")
	if err := os.WriteFile(s.Rollouts, []byte(rolls.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newTestProgBatchAdv()
	for _, tc := range []struct{ pps, buffer int }{{3, 3}, {3, 6}, {2, 4}} {
		// Two prompts a step: at world size 3 rank 2 has no group in any
		// step's scoring or buffer, and makes the sums of an empty batch.
		buffer := tc.buffer
		t.Run(fmt.Sprintf("prompts%d-buffer%d", tc.pps, buffer), func(t *testing.T) {
			const steps = 4
			cfg := func(out string) train.Config {
				c := distConfig(s, p, out, steps)
				c.Optim.Buffer, c.PromptsPerStep = buffer, tc.pps
				return c
			}
			base := t.TempDir()
			ref := filepath.Join(base, "w1")
			noErrors(t, runWorld(t, p, 1, func(int) train.Config { return cfg(ref) }))
			want, wantLoss := loadStep(t, ref, steps), readLosses(t, ref)
			for _, w := range []int{2, 3} {
				out := filepath.Join(base, fmt.Sprint("w", w))
				noErrors(t, runWorld(t, p, w, func(int) train.Config { return cfg(out) }))
				closeModels(t, want.Model, loadStep(t, out, steps).Model, init, steps, 1e-2)
				loss := readLosses(t, out)
				if len(loss) != len(wantLoss) || len(loss) != steps*tc.pps/buffer {
					t.Fatalf("world %d: %d loss lines, want %d and world size 1's %d", w, len(loss), steps*tc.pps/buffer, len(wantLoss))
				}
				for i := range loss {
					if d := math.Abs(loss[i] - wantLoss[i]); !(d <= 1e-5*math.Max(1, math.Abs(wantLoss[i]))) {
						t.Fatalf("world %d: update %d loss %v, want %v", w, i+1, loss[i], wantLoss[i])
					}
				}
			}
		})
	}
}

// A run resumed at another world size through the merged checkpoint, at
// the same world size from its shards and at another from the shards
// merged on the fly, and the sharded checkpoint merged by merge-checkpoint.
func TestDistributedResumeAndMerge(t *testing.T) {
	s := traintest.NewSetup(t)
	init, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	p := newTestProg(true, false)
	base := t.TempDir()
	ref := filepath.Join(base, "w1")
	noErrors(t, runWorld(t, p, 1, func(int) train.Config { return distConfig(s, p, ref, 3) }))
	want := loadStep(t, ref, 3)

	// Two steps at world size 3 with shards, the third at world size 2.
	out := filepath.Join(base, "w3")
	noErrors(t, runWorld(t, p, 3, func(int) train.Config {
		c := distConfig(s, p, out, 2)
		c.SaveShards = true
		return c
	}))
	merged := filepath.Join(base, "merged")
	dir, err := train.MergeShardCheckpoint(filepath.Join(out, "fsdp-step-2"), merged)
	if err != nil {
		t.Fatal(err)
	}
	a, b := loadStep(t, out, 2), loadStep(t, merged, 2)
	if dir != filepath.Join(merged, "step-2") {
		t.Fatalf("merged into %s", dir)
	}
	for i, pa := range a.Model.Params() {
		pb := b.Model.Params()[i]
		for k := range pa.Data {
			if math.Float32bits(pa.Data[k]) != math.Float32bits(pb.Data[k]) {
				t.Fatalf("merged shards: %s[%d] = %v, the merged checkpoint has %v", pa.Name, k, pb.Data[k], pa.Data[k])
			}
		}
	}
	for k, v := range a.Tensors {
		w := b.Tensors[k]
		for i := range v {
			if math.Float32bits(v[i]) != math.Float32bits(w[i]) {
				t.Fatalf("merged shards: %s[%d] differs", k, i)
			}
		}
	}
	if string(a.State) != string(b.State) {
		t.Fatalf("merged trainer_state.json differs:\n%s\n%s", a.State, b.State)
	}
	// From the shards: at world size 3 each rank reads its own shard file
	// (parameters and moments); at 2 every rank merges them first.
	shards := filepath.Join(out, "fsdp-step-2")
	for _, w := range []int{3, 2} {
		again := filepath.Join(base, fmt.Sprint("from-shards-w", w))
		noErrors(t, runWorld(t, p, w, func(int) train.Config {
			c := distConfig(s, p, again, 3)
			c.Resume = shards
			return c
		}))
		closeModels(t, want.Model, loadStep(t, again, 3).Model, init, 3, 1e-2)
	}
	noErrors(t, runWorld(t, p, 2, func(int) train.Config {
		c := distConfig(s, p, out, 3)
		c.Resume = out
		return c
	}))
	closeModels(t, want.Model, loadStep(t, out, 3).Model, init, 3, 1e-2)
}

// A rank that fails makes every rank return an error naming it.
func TestDistributedRankError(t *testing.T) {
	s := traintest.NewSetup(t)
	p := newTestProg(true, false)
	short := filepath.Join(t.TempDir(), "short.jsonl")
	b, err := os.ReadFile(s.Rollouts)
	if err != nil {
		t.Fatal(err)
	}
	// Rank 1 replays a file with 4 responses per prompt: step 1 and 2 use
	// prompts again (6 rows, 3 a step) in the second pass, which runs dry.
	var keep []string
	per := map[int]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct{ Prompt int }
		json.Unmarshal([]byte(line), &e)
		if per[e.Prompt] < 4 {
			keep = append(keep, line)
		}
		per[e.Prompt]++
	}
	if err := os.WriteFile(short, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	errs := runWorld(t, p, 2, func(r int) train.Config {
		c := distConfig(s, p, out, 4)
		if r == 1 {
			c.Rollouts = short
		}
		return c
	})
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "--rollouts") {
		t.Fatalf("rank 1: %v, want its --rollouts error", errs[1])
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "rank 1 failed") || !strings.Contains(errs[0].Error(), "--rollouts") {
		t.Fatalf("rank 0: %v, want an error naming rank 1 and its message", errs[0])
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("took %v", d)
	}
	var te *dist.TimeoutError
	if errors.As(errs[0], &te) {
		t.Fatalf("rank 0 timed out instead of hearing rank 1: %v", errs[0])
	}
}

// failProg is a testProg whose stage fails with an ordinary error in the
// middle of a distributed pass (s.Global set: the pass's batch sums have
// begun, not all made): "adv" stage one's advantage, after Score; "token"
// the loss's Token, after Rest's sums.
type failProg struct {
	testProg
	stage string
}

func (p failProg) Adv(s *recipe.State) error {
	if p.stage == "adv" && s.Global != nil {
		return errors.New("injected failure in the advantage stage")
	}
	return p.testProg.Adv(s)
}

func (p failProg) Token(s *recipe.State) error {
	if p.stage == "token" && s.Global != nil {
		return errors.New("injected failure in the loss")
	}
	return p.testProg.Token(s)
}

// A rank whose run fails with an ordinary error, wherever it fails, makes
// every other rank return promptly (well within the collectives' timeout
// and agree's wait, 30 s here) with an error naming it and carrying its
// message: a bad row in its --train (New), a failure in the middle of the
// loss's or stage one's batch sums (the others wait in a sum), and rank 0's
// own files (--trace in a supervised step and in an RL update,
// metrics.jsonl) failing in the middle of the run while the others go on to
// the next collective.
func TestDistributedRankFailsPromptly(t *testing.T) {
	s := traintest.NewSetup(t)
	rows, _, err := data.ReadFile(s.Data, data.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows[2].GroundTruth = data.StringGT("7")
	badTrain := filepath.Join(t.TempDir(), "bad.parquet")
	if err := data.WriteFile(badTrain, rows, data.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	const wait = 30 * time.Second
	t.Setenv("REALC_DIST_WAIT", wait.String())
	rl, batchAdv, sft := newTestProg(true, false), newTestProgBatchAdv(), newTestProg(false, false)
	for _, tc := range []struct {
		name    string
		prog    testProg
		failing int                          // the rank that fails
		fail    func(r int) recipe.Program   // nil: prog on every rank
		cfg     func(r int, c *train.Config) // nil: none
		fault   string                       // the JSON Lines file whose writes fail (train.SetWriteFault)
		want    string                       // in the failing rank's error
	}{
		{name: "bad row in one rank's --train", prog: rl, failing: 1,
			cfg: func(r int, c *train.Config) {
				c.Train = []string{map[bool]string{true: badTrain, false: s.Data}[r == 1]}
			},
			want: "ground truth 7 is not one of the recipe's score values"},
		{name: "loss", prog: rl, failing: 1, fail: func(r int) recipe.Program {
			if r == 1 {
				return failProg{rl, "token"}
			}
			return rl
		}, want: "injected failure in the loss"},
		{name: "stage one", prog: batchAdv, failing: 1, fail: func(r int) recipe.Program {
			if r == 1 {
				return failProg{batchAdv, "adv"}
			}
			return batchAdv
		}, want: "injected failure in the advantage stage"},
		{name: "rank 0's --trace", prog: sft, failing: 0,
			cfg:   func(r int, c *train.Config) { c.Trace = filepath.Join(filepath.Dir(c.Out), "trace.jsonl") },
			fault: "trace.jsonl", want: "trace.jsonl: no space left on device"},
		{name: "rank 0's --trace in an update", prog: rl, failing: 0,
			cfg:   func(r int, c *train.Config) { c.Trace = filepath.Join(filepath.Dir(c.Out), "trace.jsonl") },
			fault: "trace.jsonl", want: "trace.jsonl: no space left on device"},
		{name: "rank 0's metrics.jsonl", prog: rl, failing: 0,
			fault: "metrics.jsonl", want: "metrics.jsonl: no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			prog := tc.fail
			if prog == nil {
				prog = func(int) recipe.Program { return tc.prog }
			}
			if tc.fault != "" {
				defer train.SetWriteFault(func(path string) error {
					if filepath.Base(path) == tc.fault {
						return fmt.Errorf("write %s: no space left on device", path)
					}
					return nil
				})()
			}
			start := time.Now()
			errs := runWorldWith(t, 2, wait, prog, func(r int) train.Config {
				c := distConfig(s, tc.prog, out, 3)
				if tc.cfg != nil {
					tc.cfg(r, &c)
				}
				return c
			})
			took := time.Since(start)
			other := 1 - tc.failing
			if errs[tc.failing] == nil || !strings.Contains(errs[tc.failing].Error(), tc.want) {
				t.Fatalf("rank %d: %v, want its own error (%s)", tc.failing, errs[tc.failing], tc.want)
			}
			if e := errs[other]; e == nil || !strings.Contains(e.Error(), fmt.Sprintf("rank %d failed", tc.failing)) || !strings.Contains(e.Error(), tc.want) {
				t.Fatalf("rank %d: %v, want an error naming rank %d and its message", other, e, tc.failing)
			}
			var te *dist.TimeoutError
			if errors.As(errs[other], &te) {
				t.Fatalf("rank %d timed out instead of hearing rank %d: %v", other, tc.failing, errs[other])
			}
			if took > wait/3 {
				t.Fatalf("the ranks returned after %v (timeout %v)", took, wait)
			}
			t.Logf("rank %d, after %v: %v", other, took.Round(time.Millisecond), errs[other])
		})
	}
}

// Evaluation in a world of W: every rank samples and scores its share of
// the validation items, rank 0 reports on all of them. With lr = 0 the
// policy is the initial one at every world size, so every eval field
// (correlations, RMSE, parse failures, items) equals world size 1's bit for
// bit: each prompt samples from its own seed whatever rank and batch it is
// sampled in. 11 items split 5/6 and 3/4/4, across the harness's batches of 8.
func TestDistributedEval(t *testing.T) {
	s := traintest.NewSetup(t)
	val := filepath.Join(t.TempDir(), "val.parquet")
	if _, err := traintest.WriteData(val, 11); err != nil {
		t.Fatal(err)
	}
	p := newTestProg(true, false)
	cfg := func(out string) train.Config {
		c := distConfig(s, p, out, 2)
		c.Optim.LR = 0
		c.Val, c.EvalMaxTokens, c.EvalEvery = []string{val}, 12, 1
		return c
	}
	base := t.TempDir()
	ref := filepath.Join(base, "w1")
	noErrors(t, runWorld(t, p, 1, func(int) train.Config { return cfg(ref) }))
	want := readEvals(t, ref)
	if len(want) != 2 {
		t.Fatalf("world 1: %d eval lines, want 2", len(want))
	}
	if n := want[0]["eval/tiny_judge/n"]; n != 11.0 {
		t.Fatalf("world 1: eval of %v items, want 11", n)
	}
	if pr, ok := want[0]["eval/pearson"].(float64); !ok || pr == 0 {
		t.Fatalf("world 1: eval/pearson %v: the test needs a defined, non-zero correlation", want[0]["eval/pearson"])
	}
	t.Logf("world 1's eval at step 1: pearson %v, spearman %v, rmse %v", want[0]["eval/pearson"], want[0]["eval/spearman"], want[0]["eval/tiny_judge/rmse"])
	for _, w := range []int{2, 3} {
		out := filepath.Join(base, fmt.Sprint("w", w))
		noErrors(t, runWorld(t, p, w, func(int) train.Config { return cfg(out) }))
		got := readEvals(t, out)
		if len(got) != len(want) {
			t.Fatalf("world %d: %d eval lines, want %d", w, len(got), len(want))
		}
		for i := range want {
			delete(want[i], "time/eval")
			delete(got[i], "time/eval")
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				t.Fatalf("world %d: eval line %d\n%v\nworld 1:\n%v", w, i, got[i], want[i])
			}
		}
	}
}

// An evaluation that fails on one rank's share (here the last item, on the
// last rank, is too long for the model) ends every rank with an error
// naming that rank, promptly.
func TestDistributedEvalRankError(t *testing.T) {
	s := traintest.NewSetup(t)
	rows, _, err := data.ReadFile(s.Data, data.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows[len(rows)-1].Prompt[0].Content = strings.Repeat("x", 2100) // past max_position_embeddings 2048
	val := filepath.Join(t.TempDir(), "val.parquet")
	if err := data.WriteFile(val, rows, data.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := newTestProg(false, false)
	start := time.Now()
	errs := runWorld(t, p, 2, func(int) train.Config {
		c := distConfig(s, p, filepath.Join(t.TempDir(), "out"), 1)
		c.Val, c.EvalMaxTokens = []string{val}, 4
		return c
	})
	// Rank 1 holds items 3..5 of 6 and names them by their index in the set.
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "items 3..5") || !strings.Contains(errs[1].Error(), "max_position_embeddings") || strings.Contains(errs[1].Error(), "rank 0") {
		t.Fatalf("rank 1: %v, want its own error on the long item", errs[1])
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "rank 1 failed") || !strings.Contains(errs[0].Error(), "max_position_embeddings") {
		t.Fatalf("rank 0: %v, want an error naming rank 1 and its message", errs[0])
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("took %v", d)
	}
}

// readEvals returns the fields of the eval lines of out's metrics.
func readEvals(t *testing.T, out string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var evals []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l["kind"] == "eval" {
			evals = append(evals, l)
		}
	}
	return evals
}

// An RL buffer that spans steps (buffer = 6 groups, 3 prompts a step),
// checkpointed with groups in it at world size 3 and resumed at 2: the
// merged trainer_state holds the world's buffer in order, and the run ends
// where world size 1 does.
func TestDistributedResumeBuffer(t *testing.T) {
	s := traintest.NewSetup(t)
	init, err := model.Load(s.Model)
	if err != nil {
		t.Fatal(err)
	}
	p := newTestProg(true, false)
	cfg := func(out string, steps int) train.Config {
		c := distConfig(s, p, out, steps)
		c.Optim.Buffer = 6
		return c
	}
	base := t.TempDir()
	ref := filepath.Join(base, "w1")
	noErrors(t, runWorld(t, p, 1, func(int) train.Config {
		c := cfg(ref, 4)
		c.SaveEvery = 1
		return c
	}))
	want := loadStep(t, ref, 4)
	out := filepath.Join(base, "w3")
	noErrors(t, runWorld(t, p, 3, func(int) train.Config { return cfg(out, 3) }))
	var st struct {
		Buffer []struct {
			Example int `json:"example"`
		} `json:"buffer"`
	}
	if err := json.Unmarshal(loadStep(t, out, 3).State, &st); err != nil {
		t.Fatal(err)
	}
	var wst struct {
		Buffer []struct {
			Example int `json:"example"`
		} `json:"buffer"`
	}
	if err := json.Unmarshal(loadStep(t, ref, 3).State, &wst); err != nil {
		t.Fatal(err)
	}
	if len(st.Buffer) != 3 || fmt.Sprint(st.Buffer) != fmt.Sprint(wst.Buffer) {
		t.Fatalf("the step-3 checkpoint's buffer holds examples %v, world size 1's %v", st.Buffer, wst.Buffer)
	}
	noErrors(t, runWorld(t, p, 2, func(int) train.Config {
		c := cfg(out, 4)
		c.Resume = out
		return c
	}))
	closeModels(t, want.Model, loadStep(t, out, 4).Model, init, 4, 1e-2)
}
