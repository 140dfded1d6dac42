package train

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/eval"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/judge"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
	"github.com/realc-project/realc/runtime/sample"
	"github.com/realc-project/realc/runtime/tokenizer"
)

// Trainer is one training run of a recipe.
type Trainer struct {
	cfg     Config
	meta    *recipe.Meta
	prog    recipe.Program
	rl      bool
	cfgYAML []byte

	policy, ref, grads *model.Model
	opt                *AdamW

	// The world (dist.go): comm is a world of one unless Config.Comm says
	// otherwise; sh is the sharded policy when the world is larger (nil in
	// a world of one, which trains as before), loss the recipe's program
	// with batch sums over the world (dist_loss.go).
	comm          dist.Comm
	sh            *fsdp.Sharded
	loss          *globalLoss
	resumeTensors map[string][]float32 // --resume's moments until setupDist shards them
	resumeShards  string               // --resume's sharded checkpoint of this world size (shards.go)
	tok           *tokenizer.Tokenizer
	chat          string
	sc            *scorer
	eos           []int
	enc           *judge.Model // renders prompts with the chat template (weights unused)
	ev            *Evaluator
	eng           engine // where the model work runs (--device)

	train []Example
	sft   []*Group // supervised recipes: each example's gold sequence
	val   []eval.Benchmark
	rolls map[int][]string // --rollouts: responses per example, consumed in order

	step       int // steps completed
	skipped    int // optimizer steps skipped for a non-finite gradient norm
	truncated  int // prompts cut to max_prompt
	buffer     []*Group
	totalSteps int
	totalOpt   int

	metrics, trace *jsonlFile
	stdout, stderr io.Writer
	display        *progress
	lastEval       map[string]float64
}

// savedState is trainer_state.json.
type savedState struct {
	Recipe     string             `json:"recipe"`
	RecipeHash string             `json:"recipe_sha256"`
	Hyper      map[string]float64 `json:"hyper"`
	Rollout    Rollout            `json:"rollout"`
	Optim      Optim              `json:"optim"`
	Seed       uint64             `json:"seed"`
	PPS        int                `json:"prompts_per_step"`
	Step       int                `json:"step"`
	OptStep    int                `json:"optimizer_step"`
	Skipped    int                `json:"skipped_steps"`
	Truncated  int                `json:"truncated_prompts"`
	Buffer     []*Group           `json:"buffer"`
	TrainFiles []string           `json:"train"`
	// Where the data stands, for people: the trainer derives it from Step.
	DataPass  int `json:"data_pass"`
	DataIndex int `json:"data_index"`
	// Every random stream is a function of (seed, step, ...): sampling seeds
	// of (seed, step, prompt), the data order of (seed, pass), so a step's
	// randomness needs no saved generator state.
	RNG string `json:"rng"`
}

func recipeHash(m *recipe.Meta) string {
	h := sha256.Sum256([]byte(m.Source))
	return hex.EncodeToString(h[:])
}

// New prepares a run: it loads the model, tokenizer and data and checks
// every input before any work starts.
//
// In a world of W ranks each phase ends in agree: a rank whose input fails
// (a bad row in its copy of --train, a file missing on its machine) stops
// every rank with its error, naming it, instead of leaving the others in
// the next phase's collectives (fsdp.LoadHF, setupDist) or in Run's.
func New(p recipe.Program, cfg Config, cfgYAML []byte, stdout, stderr io.Writer) (*Trainer, error) {
	m := p.Meta()
	t := &Trainer{cfg: cfg, meta: m, prog: p, rl: IsRL(m), cfgYAML: cfgYAML, stdout: stdout, stderr: stderr, comm: cfg.Comm}
	if t.comm == nil {
		t.comm = dist.Single()
	}
	for _, phase := range []func() error{t.checkRun, t.loadPolicy, t.loadInputs, t.setupWorld} {
		if err := t.agree(phase()); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// checkRun checks the command line and --out.
func (t *Trainer) checkRun() error {
	cfg, m := t.cfg, t.meta
	if cfg.Model == "" || len(cfg.Train) == 0 || cfg.Out == "" {
		return usageError{fmt.Errorf("train needs --model DIR, --train FILE... and --out DIR")}
	}
	if len(m.ScoreStrings) != len(m.ScoreValues) || m.ScoreMarker == "" {
		return fmt.Errorf("recipe %s: this binary carries no score strings or marker (rebuild it with this realc)", m.Name)
	}
	return t.checkOut()
}

// loadPolicy loads the model (in a world of W ranks from an HF folder: each
// rank its shards only).
func (t *Trainer) loadPolicy() error {
	cfg := t.cfg
	var err error
	if st, serr := os.Stat(cfg.Model); t.comm.Size() > 1 && serr == nil && st.IsDir() {
		// Each rank decodes only its shards of the weights: no rank holds
		// the whole model (setupDist keeps this sharding).
		if t.sh, err = fsdp.LoadHF(t.comm, cfg.Model); err != nil {
			return fmt.Errorf("--model: %v", err)
		}
		t.policy = t.sh.Model
	} else if t.policy, err = model.Load(cfg.Model); err != nil {
		return fmt.Errorf("--model: %v", err)
	}
	return nil
}

// loadInputs loads the tokenizer, the data and a --resume checkpoint and
// checks them against the model and the recipe.
func (t *Trainer) loadInputs() error {
	cfg, m := t.cfg, t.meta
	var err error
	if t.tok, err = tokenizer.Load(cfg.Model); err != nil {
		return fmt.Errorf("--model %s: tokenizer: %v", cfg.Model, err)
	}
	if tv, v := t.tok.VocabSize(), t.policy.Cfg.Vocab; tv > v {
		return fmt.Errorf("--model %s: the tokenizer has %d tokens but the model's vocab_size is %d: they do not belong together", cfg.Model, tv, v)
	}
	if t.chat, err = judge.ChatFor(cfg.Chat, t.policy.Cfg.Arch); err != nil {
		if cfg.Chat != "" {
			return usageError{fmt.Errorf("--%v", err)}
		}
		return fmt.Errorf("--model %s: %v; pass --chat", cfg.Model, err)
	}
	ids, err := t.tok.ScoreTokenIDs(m.ScoreStrings)
	if err != nil {
		return fmt.Errorf("recipe %s: %v; choose score strings that are one token each in this tokenizer", m.Name, err)
	}
	t.eos = judge.EOSIDs(t.policy.Cfg.EOS, t.tok.EOS(), nil)
	if len(t.eos) == 0 {
		return fmt.Errorf("--model %s: no EOS id in config.json, generation_config.json or the tokenizer", cfg.Model)
	}
	if t.enc, err = judge.New(t.policy, t.tok, judge.Config{Chat: t.chat, NoThink: cfg.NoThink, ScoreIDs: ids, EOS: t.eos}); err != nil {
		return fmt.Errorf("--model %s: %v", cfg.Model, err)
	}
	t.sc = &scorer{marker: m.ScoreMarker, strs: m.ScoreStrings, values: m.ScoreValues, ids: ids, pieceOf: t.tok.PieceBytes}
	t.ev = &Evaluator{Prog: t.prog, Hyper: cfg.Hyper, ScoreIDs: ids, MaxTokens: cfg.MaxTokensPerMicro}
	if t.train, err = loadExamples(cfg.Train); err != nil {
		return err
	}
	if len(t.train) == 0 {
		return fmt.Errorf("--train: no rows in %v", cfg.Train)
	}
	if err := checkScores(t.train, m.ScoreValues, cfg.RoundGT); err != nil {
		return err
	}
	if len(cfg.Val) > 0 {
		if t.val, err = benchmarks(cfg.Val, cfg.EvalLimit); err != nil {
			return err
		}
	}
	if cfg.Rollouts != "" {
		if !t.rl {
			return usageError{fmt.Errorf("--rollouts: recipe %s is supervised and samples no rollouts", m.Name)}
		}
		if t.rolls, err = readRollouts(cfg.Rollouts, len(t.train)); err != nil {
			return err
		}
	}
	if !t.rl {
		// Every gold output is tokenized once, here: a bad one is reported
		// now, not at step 900, and the steps reuse the sequences.
		t.sft = make([]*Group, len(t.train))
		for i, e := range t.train {
			if t.sft[i], err = t.sftGroup(i, e); err != nil {
				return err
			}
		}
	}
	pps := cfg.PromptsPerStep
	if pps <= 0 {
		return usageError{fmt.Errorf("--prompts-per-step %d: want at least 1", pps)}
	}
	stepsPerEpoch := (len(t.train) + pps - 1) / pps
	t.totalSteps = cfg.Steps
	if t.totalSteps <= 0 {
		epochs := cfg.TrainEpochs
		if !t.rl {
			epochs = cfg.Optim.Epochs
		}
		t.totalSteps = max(1, epochs) * stepsPerEpoch
	}
	t.totalOpt = t.plannedOptSteps()
	if t.comm.Size() > 1 {
		// FSDP keeps gradients and moments per shard (setupDist).
		t.opt = &AdamW{}
	} else {
		t.grads = t.policy.NewGrads()
		t.opt = NewAdamW(t.policy)
	}
	if cfg.Resume != "" {
		if err := t.resume(cfg.Resume); err != nil {
			return err
		}
	}
	return nil
}

// setupWorld shards the policy over the ranks and loads the reference model
// and the engine.
func (t *Trainer) setupWorld() error {
	cfg, m := t.cfg, t.meta
	var err error
	if t.comm.Size() > 1 {
		if err := t.setupDist(); err != nil {
			return err
		}
	}
	if m.RefLogp {
		src := cfg.RefModel
		if src == "" {
			src = cfg.Model // the initial policy, also on resume
		}
		if t.ref, err = model.Load(src); err != nil {
			return fmt.Errorf("--ref-model: %v", err)
		}
	}
	t.eng, err = newEngine(t)
	return err
}

// Close releases the engine (a GPU's memory and context).
func (t *Trainer) Close() {
	if t.eng != nil {
		t.eng.close()
	}
}

// plannedOptSteps is the number of optimizer steps the run will take (for
// the learning-rate schedule): for RL an estimate from the buffer and
// mini-batch sizes, assuming every group is kept.
func (t *Trainer) plannedOptSteps() int {
	c := t.cfg
	if !t.rl {
		return t.totalSteps
	}
	buf := t.bufferGroups()
	updates := max(1, t.totalSteps*c.PromptsPerStep/buf)
	return updates * c.Optim.Epochs * t.miniBatches(buf)
}

func (t *Trainer) bufferGroups() int {
	if b := t.cfg.Optim.Buffer; b > 0 {
		return b
	}
	return t.cfg.PromptsPerStep
}

func (t *Trainer) groupsPerMini() int {
	mb := t.cfg.Optim.MiniBatch
	if mb <= 0 || !t.rl {
		return 1 << 30
	}
	return max(1, mb/t.cfg.Rollout.N)
}

func (t *Trainer) miniBatches(groups int) int {
	g := t.groupsPerMini()
	return (groups + g - 1) / g
}

// checkOut refuses an --out that holds another recipe's run, or a run of
// this recipe when not resuming.
func (t *Trainer) checkOut() error {
	b, err := os.ReadFile(filepath.Join(t.cfg.Out, "run.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var run struct{ Recipe string }
	if json.Unmarshal(b, &run) != nil {
		return fmt.Errorf("--out %s: run.json is damaged; choose another --out", t.cfg.Out)
	}
	if run.Recipe != t.meta.Name {
		return fmt.Errorf("--out %s holds a run of recipe %s, not %s: choose another --out", t.cfg.Out, run.Recipe, t.meta.Name)
	}
	if t.cfg.Resume == "" {
		if _, step, _ := LatestCheckpoint(t.cfg.Out); step > 0 {
			return fmt.Errorf("--out %s already holds a run of %s (checkpoint step %d): continue it with --resume %s, or choose another --out", t.cfg.Out, t.meta.Name, step, t.cfg.Out)
		}
	}
	return nil
}

// resume loads the newest complete checkpoint of dir (an OUT folder or a
// step-N folder) and checks that the recipe and settings are the same.
func (t *Trainer) resume(dir string) error {
	ck := dir
	if _, err := os.Stat(filepath.Join(dir, "trainer_state.json")); err != nil {
		d, _, err := LatestCheckpoint(dir)
		if err != nil {
			return fmt.Errorf("--resume: %v", err)
		}
		if d == "" {
			return fmt.Errorf("--resume %s: no complete checkpoint there", dir)
		}
		ck = d
	}
	ld, err := t.loadResume(ck) // shards.go: also a sharded checkpoint
	if err != nil {
		return fmt.Errorf("--resume: %v", err)
	}
	var st savedState
	if err := json.Unmarshal(ld.State, &st); err != nil {
		return fmt.Errorf("--resume %s: trainer_state.json: %v", ck, err)
	}
	now := t.state()
	diffs := []struct {
		what      string
		was, is   any
		different bool
	}{
		{"recipe", st.Recipe, now.Recipe, st.Recipe != now.Recipe},
		{"recipe source (sha256)", st.RecipeHash, now.RecipeHash, st.RecipeHash != now.RecipeHash},
		{"hyperparameters", st.Hyper, now.Hyper, fmt.Sprint(st.Hyper) != fmt.Sprint(now.Hyper)},
		{"rollout settings", st.Rollout, now.Rollout, st.Rollout != now.Rollout},
		{"optim settings", st.Optim, now.Optim, st.Optim != now.Optim},
		{"seed", st.Seed, now.Seed, st.Seed != now.Seed},
		{"prompts per step", st.PPS, now.PPS, st.PPS != now.PPS},
	}
	for _, d := range diffs {
		if d.different && (!t.cfg.AllowChange || d.what == "recipe") {
			return fmt.Errorf("--resume %s: the %s differ: checkpoint %+v, now %+v (pass --allow-change to continue anyway)", ck, d.what, d.was, d.is)
		}
	}
	if ld.Model.Cfg.NumParams() != t.policy.Cfg.NumParams() {
		return fmt.Errorf("--resume %s: the checkpoint's model has %d parameters, --model %s has %d", ck, ld.Model.Cfg.NumParams(), t.cfg.Model, t.policy.Cfg.NumParams())
	}
	ld.Model.Cfg.EOS = t.policy.Cfg.EOS
	t.policy = ld.Model
	t.opt.Step, t.step, t.skipped, t.truncated, t.buffer = st.OptStep, st.Step, st.Skipped, st.Truncated, st.Buffer
	if t.comm.Size() > 1 {
		// setupDist takes each rank's part of the moments from here.
		t.resumeTensors = ld.Tensors
		return nil
	}
	t.grads = t.policy.NewGrads()
	t.opt = NewAdamW(t.policy)
	for i, p := range t.policy.Params() {
		for k, dst := range map[string][]float32{"exp_avg.": t.opt.M[i], "exp_avg_sq.": t.opt.V[i]} {
			src, ok := ld.Tensors[k+p.Name]
			if !ok || len(src) != len(dst) {
				return fmt.Errorf("--resume %s: trainer_state.safetensors lacks %s%s or has the wrong size", ck, k, p.Name)
			}
			copy(dst, src)
		}
	}
	t.opt.Step = st.OptStep
	return nil
}

func (t *Trainer) state() savedState {
	h := map[string]float64{}
	for i, hp := range t.meta.Hypers {
		h[hp.Name] = t.cfg.Hyper[i]
	}
	return savedState{Recipe: t.meta.Name, RecipeHash: recipeHash(t.meta), Hyper: h, Rollout: t.cfg.Rollout, Optim: t.cfg.Optim,
		Seed: t.cfg.Seed, PPS: t.cfg.PromptsPerStep, Step: t.step, OptStep: t.opt.Step, Skipped: t.skipped,
		Truncated: t.truncated, Buffer: t.buffer, TrainFiles: t.cfg.Train,
		DataPass: t.step * t.cfg.PromptsPerStep / max(1, len(t.train)), DataIndex: t.step * t.cfg.PromptsPerStep % max(1, len(t.train)),
		RNG: "stateless: sampling seeds of (seed, step, prompt), data order of (seed, pass)"}
}

func (t *Trainer) save() (string, error) {
	if t.distributed() {
		return "", t.saveDist()
	}
	if err := t.eng.sync(true); err != nil {
		return "", err
	}
	return t.saveFiles(t.policy, func(i int, _ model.Param) ([]float32, []float32) { return t.opt.M[i], t.opt.V[i] })
}

// saveFiles writes the checkpoint of policy m with the moments of each
// parameter.
func (t *Trainer) saveFiles(m *model.Model, moments func(i int, p model.Param) (expAvg, expAvgSq []float32)) (string, error) {
	st, err := json.MarshalIndent(t.state(), "", " ")
	if err != nil {
		return "", err
	}
	var ts []safetensors.Tensor
	for i, p := range m.Params() {
		ea, eas := moments(i, p)
		for k, src := range map[string][]float32{"exp_avg.": ea, "exp_avg_sq.": eas} {
			x, err := safetensors.FromFloat32(k+p.Name, p.Shape, src, safetensors.F32)
			if err != nil {
				return "", err
			}
			ts = append(ts, x)
		}
	}
	slices.SortFunc(ts, func(a, b safetensors.Tensor) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return SaveCheckpoint(t.cfg.Out, t.step, CheckpointFiles{Model: m, CopyFrom: t.cfg.Model, Tensors: ts, State: st}, t.cfg.Keep)
}

// examplesAt returns the example indices of step s: a seeded shuffle per
// pass over the file, so that any step's prompts follow from (seed, step).
func (t *Trainer) examplesAt(s int) []int {
	n, pps := len(t.train), t.cfg.PromptsPerStep
	out := make([]int, 0, pps)
	var perm []int
	epoch := -1
	for c := s * pps; c < (s+1)*pps; c++ {
		if e := c / n; e != epoch {
			epoch = e
			perm = rand.New(rand.NewPCG(t.cfg.Seed, uint64(e)+0x9e3779b9)).Perm(n)
		}
		out = append(out, perm[c%n])
	}
	return out
}

func mix(a, b, c uint64) uint64 {
	x := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	x ^= x >> 31
	x *= 0xd6e8feb86cd9eb81
	return x ^ x>>29
}

// encode renders an example's prompt with the chat template, cut on the
// left to max_prompt tokens (as REAL's truncation='left').
func (t *Trainer) encode(e Example) ([]int, bool, error) {
	ids, err := t.enc.Encode(e.Prompt)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %v", e.Where, err)
	}
	if mp := t.cfg.Rollout.MaxPrompt; t.rl && mp > 0 && len(ids) > mp {
		return ids[len(ids)-mp:], true, nil
	}
	return ids, false, nil
}

func (t *Trainer) sftGroup(i int, e Example) (*Group, error) {
	prompt, _, err := t.encode(e)
	if err != nil {
		return nil, err
	}
	text, err := goldOutput(e, t.meta.ScoreMarker, t.meta.ScoreStrings, t.meta.ScoreValues)
	if err != nil {
		return nil, err
	}
	sq, err := t.sc.sftSeq(prompt, t.tok.Encode(text), t.eos[0], e.Y)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", e.Where, err)
	}
	if mp := t.policy.Cfg.MaxPos; mp > 0 && len(prompt)+len(sq.Resp) > mp {
		return nil, fmt.Errorf("%s: prompt and gold output have %d tokens, past the model's max_position_embeddings %d", e.Where, len(prompt)+len(sq.Resp), mp)
	}
	return &Group{Example: i, Y: e.Y, Seqs: []*Seq{sq}}, nil
}

// rollout samples (or replays) n responses for each example.
func (t *Trainer) rollout(step int, exs []int) ([]*Group, int, error) {
	texts, err := t.replayTexts(step, exs)
	if err != nil {
		return nil, 0, err
	}
	ks := make([]int, len(exs))
	for k := range ks {
		ks[k] = k
	}
	return t.rolloutAt(step, exs, ks, texts)
}

// replayTexts takes the next n --rollouts responses of each of a step's
// examples, in order (nil without --rollouts). Every rank takes them for
// the whole step, so that the file is consumed as in a world of one.
func (t *Trainer) replayTexts(step int, exs []int) ([][]string, error) {
	if t.rolls == nil {
		return nil, nil
	}
	n := t.cfg.Rollout.N
	out := make([][]string, len(exs))
	for k, i := range exs {
		q := t.rolls[i]
		if len(q) < n {
			return nil, fmt.Errorf("--rollouts %s: step %d needs %d more responses for prompt %d, the file has %d left", t.cfg.Rollouts, step, n, i, len(q))
		}
		out[k] = q[:n]
		t.rolls[i] = q[n:]
	}
	return out, nil
}

// rolloutAt rolls out the step's prompts at positions ks (exs[ks[j]]):
// sampled with the seeds of their positions, or replayed from texts.
func (t *Trainer) rolloutAt(step int, allExs []int, ks []int, texts [][]string) ([]*Group, int, error) {
	r := t.cfg.Rollout
	exs := make([]int, len(ks))
	for j, k := range ks {
		exs[j] = allExs[k]
	}
	prompts := make([][]int, len(exs))
	for k, i := range exs {
		ids, cut, err := t.encode(t.train[i])
		if err != nil {
			return nil, 0, err
		}
		if cut {
			t.truncated++
		}
		prompts[k] = ids
	}
	resps := make([][]sample.Response, len(exs))
	if t.rolls != nil {
		for k := range exs {
			for _, text := range texts[ks[k]] {
				toks := t.tok.Encode(text)
				res := sample.Response{Tokens: toks, StopReason: sample.StopEOS}
				if len(toks) >= r.MaxResponse {
					res.Tokens, res.StopReason, res.Truncated = toks[:r.MaxResponse], sample.StopLength, true
				} else {
					res.Tokens = append(res.Tokens, t.eos[0])
				}
				resps[k] = append(resps[k], res)
			}
		}
	} else {
		byLen := map[int][]int{}
		var order []int
		for k, p := range prompts {
			maxNew := r.MaxResponse
			if mp := t.policy.Cfg.MaxPos; mp > 0 {
				if len(p) >= mp {
					return nil, 0, fmt.Errorf("%s: the prompt has %d tokens, at or past max_position_embeddings %d (lower --max_prompt)", t.train[exs[k]].Where, len(p), mp)
				}
				maxNew = min(maxNew, mp-len(p))
			}
			if _, ok := byLen[maxNew]; !ok {
				order = append(order, maxNew)
			}
			byLen[maxNew] = append(byLen[maxNew], k)
		}
		for _, maxNew := range order {
			ks := byLen[maxNew]
			ps, seeds := make([][]int, len(ks)), make([]uint64, len(ks))
			longest := 0
			for j, k := range ks {
				ps[j], seeds[j] = prompts[k], mix(t.cfg.Seed, uint64(step), uint64(ks[k]))
				longest = max(longest, len(ps[j]))
			}
			lm, done, err := t.eng.sampler(len(ps)*r.N, longest+maxNew)
			if err != nil {
				return nil, 0, fmt.Errorf("step %d: sampling: %v", step, err)
			}
			if tv := t.tok.VocabSize(); tv < t.policy.Cfg.Vocab {
				lm = sample.Restrict(lm, tv)
			}
			out, err := sample.Generate(lm, ps, sample.Options{
				Params: sample.Params{Temperature: r.Temperature, TopK: max(r.TopK, 0), TopP: r.TopP},
				Seeds:  seeds, N: r.N, MaxNewTokens: maxNew, EOS: t.eos})
			done()
			if err != nil {
				return nil, 0, fmt.Errorf("step %d: sampling: %v", step, err)
			}
			for j, k := range ks {
				resps[k] = out[j]
			}
		}
	}
	groups := make([]*Group, len(exs))
	gen := 0
	for k, i := range exs {
		y := t.train[i].Y
		g := &Group{Example: i, Y: y}
		for _, res := range resps[k] {
			sq, err := t.sc.rlSeq(prompts[k], res.Tokens, t.eos, res.StopReason == sample.StopEOS, res.Truncated, y, t.meta.ScoreReadouts)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %v", t.train[i].Where, err)
			}
			gen += sq.Gen
			g.Seqs = append(g.Seqs, sq)
		}
		groups[k] = g
	}
	return groups, gen, nil
}

// readRollouts reads --rollouts: {"prompt": index, "response": text} lines.
func readRollouts(path string, n int) (map[int][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rollouts: %v", err)
	}
	out := map[int][]string{}
	dec := json.NewDecoder(bytes.NewReader(b))
	for line := 1; dec.More(); line++ {
		var r struct {
			Prompt   *int    `json:"prompt"`
			Response *string `json:"response"`
		}
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %v", path, line, err)
		}
		if r.Prompt == nil || r.Response == nil {
			return nil, fmt.Errorf("%s: entry %d: want {\"prompt\": index into the train file, \"response\": text}", path, line)
		}
		if *r.Prompt < 0 || *r.Prompt >= n {
			return nil, fmt.Errorf("%s: entry %d: prompt %d is outside the train file's %d rows", path, line, *r.Prompt, n)
		}
		out[*r.Prompt] = append(out[*r.Prompt], *r.Response)
	}
	return out, nil
}

// stage1 scores groups under the current policy (no gradient): old_logp and
// ref_logp where the recipe reads them, rewards, advantages, kept groups.
func (t *Trainer) stage1(groups []*Group, f map[string]float64) (*recipe.Output, error) {
	var seqs []*Seq
	for _, g := range groups {
		seqs = append(seqs, g.Seqs...)
	}
	out, ent, err := t.score(groups, seqs)
	if err = t.agree(err); err != nil {
		return nil, err
	}
	// In a world of W ranks every statistic is of the world's sequences:
	// gatherF concatenates the ranks' values (a no-op in a world of one).
	var gerr error
	gather := func(xs []float64) []float64 {
		all, err := t.gatherF(xs)
		if err != nil && gerr == nil {
			gerr = err
		}
		return all
	}
	f["entropy"], _ = meanStd(gather(ent))
	for i, n := range t.meta.Rewards {
		f["reward/"+n.Name+"/mean"], f["reward/"+n.Name+"/std"] = meanStd(gather(out.Rewards[i]))
	}
	for i, n := range t.meta.Advantages {
		f["adv/"+n.Name+"/mean"], f["adv/"+n.Name+"/std"] = meanStd(gather(out.Advantages[i]))
	}
	var keptF []float64
	for _, k := range out.Kept {
		keptF = append(keptF, recipe.B2F(k))
	}
	keptF = gather(keptF)
	f["kept_frac"] = sum(keptF) / float64(max(1, len(keptF)))
	var lens, acc, fail, trunc, fmtOK []float64
	for _, s := range seqs {
		lens = append(lens, float64(s.Gen))
		acc = append(acc, s.Acc)
		fail = append(fail, recipe.B2F(s.Pred == nil))
		trunc = append(trunc, s.Trunc)
		fmtOK = append(fmtOK, s.Format)
	}
	f["response_len"], _ = meanStd(gather(lens))
	f["acc"], _ = meanStd(gather(acc))
	f["parse_fail"] = sum(gather(fail))
	f["truncated_frac"], _ = meanStd(gather(trunc))
	f["format_ok_frac"], _ = meanStd(gather(fmtOK))
	return out, gerr
}

// score is stage 1's forwards: ref_logp under the reference model where the
// recipe reads it, then one forward under the policy for old_logp, the
// entropy, rewards, advantages and kept. No groups (a rank without prompts
// this step) give an empty output. In a world of W ranks the recipe's batch
// sums are the world's (stageOneDist).
func (t *Trainer) score(groups []*Group, seqs []*Seq) (*recipe.Output, []float64, error) {
	if t.distributed() {
		return t.stageOneDist(len(groups), func() (*recipe.Output, []float64, error) { return t.scoreOwn(groups, seqs) })
	}
	return t.scoreOwn(groups, seqs)
}

// scoreOwn is score of this rank's groups alone.
func (t *Trainer) scoreOwn(groups []*Group, seqs []*Seq) (*recipe.Output, []float64, error) {
	if len(groups) == 0 {
		o := &recipe.Output{Rewards: make([][]float64, len(t.meta.Rewards)), Advantages: make([][]float64, len(t.meta.Advantages))}
		return o, nil, nil
	}
	if t.meta.RefLogp {
		lp, err := t.eng.refLogp(seqs)
		if err != nil {
			return nil, nil, err
		}
		for i, s := range seqs {
			s.Ref = lp[i]
		}
	}
	return t.eng.score(groups)
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// optimize runs the recipe with gradients on groups (its stage-one values
// from frozen when given) and takes one AdamW step; a non-finite gradient
// norm skips the step.
func (t *Trainer) optimize(groups []*Group, frozen *recipe.Frozen) (out *recipe.Output, norm, lr float64, skipped bool, err error) {
	if out, norm, err = t.eng.gradients(groups, frozen); err != nil {
		return nil, 0, 0, false, err
	}
	lr = LR(t.cfg.Optim, t.opt.Step, t.totalOpt)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		t.skipped++
		return out, norm, lr, true, nil
	}
	if err := t.eng.adamw(ClipScale(norm, t.cfg.Optim.Clip), lr); err != nil {
		return nil, 0, 0, false, err
	}
	return out, norm, lr, false, nil
}

// update runs the recipe's epochs over the buffer's groups, mini-batch by
// mini-batch (group-aligned: a group's statistics never straddle two).
//
// The score, filter and advantage stages run once, on the whole buffer under
// the policy about to be updated (REAL's stage 1, objectives.md 1.4; verl's
// old_log_prob), and are frozen over the epochs; the loss's own readouts
// stay live.
// scored, when not nil, is the step's own scoring of exactly these groups
// under the current policy, which is then reused.
func (t *Trainer) update(groups []*Group, scored *recipe.Output, f map[string]float64) error {
	buf := scored
	if buf == nil {
		start := time.Now()
		var err error
		if buf, _, err = t.eng.score(groups); err != nil {
			return fmt.Errorf("step %d: scoring the buffer: %v", t.step, err)
		}
		f["time/score_buffer"] = time.Since(start).Seconds()
	}
	per := t.groupsPerMini()
	var losses, norms []float64
	toks := 0
	for ep := 0; ep < t.cfg.Optim.Epochs; ep++ {
		for mb, lo := 0, 0; lo < len(groups); mb, lo = mb+1, lo+per {
			hi := min(lo+per, len(groups))
			part := groups[lo:hi]
			out, norm, lr, skipped, err := t.optimize(part, buf.State.Freeze(t.meta, lo, hi))
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
			if err := t.traceUpdate(ep, mb, part, out); err != nil {
				return err
			}
		}
	}
	f["loss"], _ = meanStd(losses)
	f["grad_norm"], _ = meanStd(norms)
	f["optimizer_steps"] = float64(len(losses))
	f["update_tokens"] = float64(toks)
	return nil
}

// traceUpdate writes one --trace line per sequence of a mini-batch.
func (t *Trainer) traceUpdate(epoch, mb int, groups []*Group, out *recipe.Output) error {
	if t.trace == nil {
		return nil
	}
	s := 0
	for gi, g := range groups {
		for j, sq := range g.Seqs {
			p := len(sq.Prompt)
			rw, ad := map[string]*float64{}, map[string]*float64{}
			for i, n := range t.meta.Rewards {
				rw[n.Name] = finite(out.Rewards[i][s])
			}
			for i, n := range t.meta.Advantages {
				ad[n.Name] = finite(out.Advantages[i][s])
			}
			slot := -1
			if sq.Slot >= 0 && (t.meta.ScoreReadouts || !t.rl) {
				slot = p + sq.Slot
			}
			line := map[string]any{
				"step": t.step, "epoch": epoch, "mini_batch": mb, "group": gi, "example": g.Example, "seq": j,
				"tokens": append(append([]int(nil), sq.Prompt...), sq.Resp...),
				"cot":    [2]int{p + sq.Cot[0], p + sq.Cot[1]}, "answer": [2]int{p + sq.Answer[0], p + sq.Answer[1]},
				"score_slot": slot, "y": g.Y, "pred": sq.Pred, "acc": sq.Acc,
				"rewards": rw, "advantages": ad, "kept": out.Kept[gi],
			}
			if err := t.trace.write(line); err != nil {
				return err
			}
			s++
		}
	}
	return nil
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// Run trains until the planned number of steps, evaluating and saving on
// schedule, and returns the last evaluation's fields.
func (t *Trainer) Run(ctx context.Context) error {
	// In a world of W ranks rank 0 writes the run's files, metrics and
	// display; the others train beside it.
	lead := t.comm.Rank() == 0
	defer func() { t.metrics.close(); t.trace.close() }()
	if err := t.agree(t.openRun(lead)); err != nil {
		return err
	}
	if t.cfg.Rollouts != "" && t.step > 0 {
		// Replay consumes responses in order: skip what the resumed steps used.
		for s := 0; s < t.step; s++ {
			for _, i := range t.examplesAt(s) {
				t.rolls[i] = t.rolls[i][min(t.cfg.Rollout.N, len(t.rolls[i])):]
			}
		}
	}
	if !t.cfg.Quiet && lead {
		t.display = &progress{w: t.stderr, tty: isTerminal(t.stderr), start: time.Now(), total: t.totalSteps}
	}
	startStep := t.step
	if lead && t.rl && t.bufferGroups() > (t.totalSteps-t.step)*t.cfg.PromptsPerStep {
		fmt.Fprintf(t.stderr, "%s: warning: the buffer takes %d kept groups but %d steps of %d prompts roll out %d: no update will run (lower --buffer or raise --steps)\n",
			t.meta.Name, t.bufferGroups(), t.totalSteps-t.step, t.cfg.PromptsPerStep, (t.totalSteps-t.step)*t.cfg.PromptsPerStep)
	}
	for t.step < t.totalSteps {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := map[string]float64{}
		if err := t.trainStep(f); err != nil {
			return err
		}
		t.step++
		f["skipped_total"] = float64(t.skipped)
		if rss, ok := peakRSSMiB(); ok {
			f["mem/peak_rss_mib"] = rss
			if t.distributed() {
				// Every rank's own peak: rank 0's above, the largest here.
				m, err := dist.MaxF64(t.comm, rss)
				if err != nil {
					return err
				}
				f["mem/peak_rss_mib_max_rank"] = m[0]
			}
		}
		// metrics.jsonl is rank 0's file: its error stops every rank.
		if err := t.agree(t.metrics.write(Line{Kind: "train", Step: t.step, Fields: f})); err != nil {
			return err
		}
		msg := fmt.Sprintf("loss %.4g", f["loss"])
		if _, ok := f["loss"]; !ok {
			msg = fmt.Sprintf("buffer %d/%d groups", len(t.buffer), t.bufferGroups())
		}
		if t.rl {
			msg += fmt.Sprintf(" acc %.2f kept %.2f", f["acc"], f["kept_frac"])
		}
		if v, ok := t.lastEval["pearson"]; ok {
			msg += fmt.Sprintf(" pearson %.1f", v)
		}
		if v, ok := f["tokens_per_s/rollout"]; ok {
			msg += fmt.Sprintf(" %.0f tok/s", v)
		}
		t.display.show(t.step, startStep, msg)
		last := t.step == t.totalSteps
		if len(t.val) > 0 && ((t.cfg.EvalEvery > 0 && t.step%t.cfg.EvalEvery == 0) || last) {
			if err := t.evaluateAll(ctx); err != nil {
				return err
			}
		}
		if (t.cfg.SaveEvery > 0 && t.step%t.cfg.SaveEvery == 0) || last {
			if _, err := t.save(); err != nil {
				return err
			}
		}
	}
	t.display.done()
	if !lead {
		return nil
	}
	if _, err := PlotRun(t.cfg.Out); err != nil {
		fmt.Fprintf(t.stderr, "%s: plots: %v\n", t.meta.Name, err)
	}
	return nil
}

// openRun creates OUT and its run files (lead: rank 0; the others open
// nothing).
func (t *Trainer) openRun(lead bool) error {
	if !lead {
		return nil
	}
	if err := os.MkdirAll(t.cfg.Out, 0o755); err != nil {
		return err
	}
	run, _ := json.Marshal(map[string]string{"recipe": t.meta.Name, "recipe_file": t.meta.File, "recipe_sha256": recipeHash(t.meta)})
	if err := os.WriteFile(filepath.Join(t.cfg.Out, "run.json"), append(run, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(t.cfg.Out, "config.yaml"), t.cfgYAML, 0o644); err != nil {
		return err
	}
	keep := -1
	if t.cfg.Resume != "" {
		keep = t.step
	}
	var err error
	if t.metrics, err = openJSONL(filepath.Join(t.cfg.Out, "metrics.jsonl"), keep); err != nil {
		return err
	}
	if t.cfg.Trace != "" {
		if t.trace, err = openJSONL(t.cfg.Trace, keep); err != nil {
			return err
		}
	}
	return nil
}

// evaluateAll evaluates (in a world of W ranks: each rank its share of
// the items with the gathered model, rank 0 the report).
func (t *Trainer) evaluateAll(ctx context.Context) error {
	if !t.distributed() {
		return t.evaluate(ctx)
	}
	return t.evaluateDist(ctx)
}

func (t *Trainer) trainStep(f map[string]float64) error {
	if t.distributed() {
		if t.rl {
			return t.trainStepRLDist(f)
		}
		return t.trainStepSFTDist(f)
	}
	exs := t.examplesAt(t.step)
	if !t.rl {
		start := time.Now()
		groups := make([]*Group, len(exs))
		toks := 0
		for k, i := range exs {
			groups[k] = t.sft[i]
			toks += inputLen(t.sft[i].Seqs[0])
		}
		out, norm, lr, skipped, err := t.optimize(groups, nil)
		if err != nil {
			return fmt.Errorf("step %d: %v", t.step, err)
		}
		if err := t.traceUpdate(0, 0, groups, out); err != nil {
			return err
		}
		sec := time.Since(start).Seconds()
		f["loss"], f["grad_norm"], f["lr"], f["skipped_steps"] = out.Loss, norm, lr, recipe.B2F(skipped)
		f["time/update"], f["tokens_per_s/update"] = sec, float64(toks)/sec
		return nil
	}
	t0 := time.Now()
	groups, gen, err := t.rollout(t.step, exs)
	if err != nil {
		return err
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
	f["time/rollout"], f["time/score"] = t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds()
	f["tokens_per_s/rollout"] = float64(gen) / t1.Sub(t0).Seconds()
	f["buffer_groups"] = float64(len(t.buffer))
	f["truncated_prompts"] = float64(t.truncated)
	if len(t.buffer) >= t.bufferGroups() {
		batch := t.buffer[:t.bufferGroups()]
		// The step's scoring already covers the buffer when the buffer is
		// exactly this step's groups (every one kept): no second forward.
		var scored *recipe.Output
		if len(batch) == len(groups) && batch[0] == groups[0] && batch[len(batch)-1] == groups[len(groups)-1] {
			scored = out
		}
		t.buffer = nil // REAL clears the buffer after an update (objectives.md 1.1.3)
		if err := t.update(batch, scored, f); err != nil {
			return err
		}
		sec := time.Since(t2).Seconds()
		f["time/update"], f["tokens_per_s/update"] = sec, f["update_tokens"]/sec
	}
	return nil
}

// evaluate runs the validation benchmarks with the in-memory policy.
func (t *Trainer) evaluate(ctx context.Context) error {
	start := time.Now()
	results, err := t.evalItems(ctx, t.val)
	if err != nil {
		return err
	}
	return t.evalReport(results, start)
}

// evalConfig is the harness's configuration for the validation sets: the
// rollout's sampling for an RL recipe, one output per item, the expected
// score (RAIL).
func (t *Trainer) evalConfig() (eval.Config, error) {
	s := eval.DefaultSampling
	s.Seed = t.cfg.Seed
	if t.rl {
		s.Temperature, s.TopP, s.MaxTokens = t.cfg.Rollout.Temperature, t.cfg.Rollout.TopP, t.cfg.Rollout.MaxResponse
	}
	if t.cfg.EvalMaxTokens > 0 {
		s.MaxTokens = t.cfg.EvalMaxTokens
	}
	pol, err := eval.ParsePolicy(t.cfg.EvalPolicy)
	if err != nil {
		return eval.Config{}, err
	}
	return eval.Config{NCoT: 1, Sampling: s, Policy: pol, Mode: eval.ModeRAIL, Values: t.meta.ScoreValues, Batch: 8}, nil
}

// evalItems samples and scores the items of benches (all of t.val, or a
// rank's share of each) with the in-memory policy.
func (t *Trainer) evalItems(ctx context.Context, benches []eval.Benchmark) ([][]eval.ItemResult, error) {
	jc := judge.Config{Chat: t.chat, NoThink: t.cfg.NoThink, ScoreIDs: t.sc.ids, EOS: t.eos}
	if _, host := t.eng.(cpuEngine); host {
		if err := t.eng.sync(false); err != nil {
			return nil, err
		}
	} else {
		// Decoding and the score slots' forward run where the weights
		// are (the GPU's decoder): the host copy is not brought up to date.
		jc.LM = t.eng.sampler
	}
	j, err := judge.New(t.policy, t.tok, jc)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	cfg, err := t.evalConfig()
	if err != nil {
		return nil, err
	}
	results, err := eval.Items(ctx, j, benches, cfg)
	if err != nil {
		return nil, fmt.Errorf("step %d: eval: %v", t.step, err)
	}
	return results, nil
}

// evalReport computes the metrics of every validation item's results and
// writes the eval metrics line (rank 0's work in a world of W ranks).
func (t *Trainer) evalReport(results [][]eval.ItemResult, start time.Time) error {
	cfg, err := t.evalConfig()
	if err != nil {
		return err
	}
	rep, err := eval.NewReport(cfg, t.val, results)
	if err != nil {
		return fmt.Errorf("step %d: eval: %v", t.step, err)
	}
	f := map[string]float64{"time/eval": time.Since(start).Seconds()}
	for _, b := range rep.Benchmarks {
		k := "eval/" + b.Name + "/"
		f[k+"pearson"], f[k+"spearman"], f[k+"kendall"] = 100*b.Metrics.Pearson, 100*b.Metrics.Spearman, 100*b.Metrics.Kendall
		f[k+"rmse"], f[k+"parse_failures"], f[k+"n"] = b.Metrics.RMSE, float64(b.ParseFailures), float64(b.Used)
	}
	p, sp, kd := rep.Average()
	f["eval/pearson"], f["eval/spearman"], f["eval/kendall"] = 100*p, 100*sp, 100*kd
	t.lastEval = map[string]float64{"pearson": 100 * p}
	if t.display != nil && !t.display.tty {
		fmt.Fprintf(t.stderr, "eval at step %d:\n%s", t.step, rep.Table())
	}
	return t.metrics.write(Line{Kind: "eval", Step: t.step, Fields: f})
}

type usageError struct{ error }

// StepGroups returns the groups step s trains on, before any update: for an
// RL recipe its rollouts (sampled or replayed) scored under the current
// policy (old_logp, ref_logp filled), every group; for a supervised recipe
// its examples. Tests and tools use it to look at a step.
func (t *Trainer) StepGroups(s int) ([]*Group, error) {
	exs := t.examplesAt(s)
	if !t.rl {
		out := make([]*Group, len(exs))
		for k, i := range exs {
			out[k] = t.sft[i]
		}
		return out, nil
	}
	groups, _, err := t.rollout(s, exs)
	if err != nil {
		return nil, err
	}
	if _, err := t.stage1(groups, map[string]float64{}); err != nil {
		return nil, err
	}
	return groups, nil
}

// Policy is the model being trained.
func (t *Trainer) Policy() *model.Model { return t.policy }

// Evaluator is the recipe's loss and gradient on groups.
func (t *Trainer) Evaluator() *Evaluator { return t.ev }

// Steps is the number of steps completed.
func (t *Trainer) Steps() int { return t.step }
