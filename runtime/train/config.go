package train

import (
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// Config is one training run's configuration: the trainer's own flags and
// the recipe's settings (hyperparameters, rollout and optim lines), each a
// flag named as in the recipe and a key of --config FILE.yaml.
type Config struct {
	Model, RefModel, Out, Chat string
	Train, Val                 []string
	Seed                       uint64
	Steps, TrainEpochs         int
	PromptsPerStep             int
	EvalEvery, SaveEvery, Keep int
	EvalLimit                  int
	EvalPolicy                 string
	MaxTokensPerMicro          int
	Resume                     string
	AllowChange                bool
	Trace, Rollouts            string
	NoThink                    bool
	EvalMaxTokens              int
	Quiet                      bool
	// SaveShards also writes every rank's FSDP shard of each checkpoint to
	// OUT/fsdp-step-N (a world of W > 1; merge with BIN merge-checkpoint).
	SaveShards bool
	// Comm is the world to train in (tests inject dist.NewLocal ranks);
	// nil: a world of one. BIN train passes dist.FromEnv's.
	Comm    dist.Comm
	RoundGT bool
	// Device is where the model work runs: cpu (default), cuda (GPU 0) or
	// cuda:N; cuda needs a trainer built with the cuda tag.
	Device string

	// Recipe settings, resolved (hyperparameter references replaced by values).
	Hyper   []float64 // in Meta.Hypers order
	Rollout Rollout
	Optim   Optim
}

// Rollout is the recipe's rollout line.
type Rollout struct {
	N                      int
	Temperature, TopP      float64
	TopK                   int // -1 or 0: no cut
	MaxPrompt, MaxResponse int
}

// Optim is the recipe's optim line (AdamW).
type Optim struct {
	LR, WeightDecay, Beta1, Beta2, Eps, Clip float64
	Epochs, Buffer, MiniBatch                int // Buffer in groups (prompts), MiniBatch in responses; 0: everything
	Schedule                                 string
	Warmup                                   float64 // a fraction of the run's optimizer steps when < 1, else steps
}

// settingDefaults are the values of settings a recipe leaves out (REAL's
// reference values, objectives.md 1.1 and 1.5).
var rolloutDefaults = map[string]float64{"n": 8, "temperature": 1, "top_p": 1, "top_k": -1, "max_prompt": 2048, "max_response": 1024}
var optimDefaults = map[string]float64{"lr": 1e-6, "weight_decay": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "clip": 1, "epochs": 1, "buffer": 0, "mini_batch": 0, "warmup": 0}

// wholeSettings are the settings that count something (flags take integers).
var wholeSettings = map[string]bool{"n": true, "top_k": true, "max_prompt": true, "max_response": true, "epochs": true, "buffer": true, "mini_batch": true}

// IsRL reports whether the recipe samples rollouts (it has a rollout line);
// otherwise it is supervised on the data's gold CoT and score.
func IsRL(m *recipe.Meta) bool { return len(m.Rollout) > 0 }

// recipeFlags registers the recipe's settings as flags and returns a
// function that resolves them into c after parsing.
func recipeFlags(fs *flag.FlagSet, m *recipe.Meta, h recipe.Hypers) func(c *Config) error {
	h.Bind(fs)
	hyperNames := map[string]bool{}
	for _, hp := range m.Hypers {
		hyperNames[hp.Name] = true
	}
	type entry struct {
		def   float64
		word  string
		hyp   string
		num   *float64
		whole *int
		str   *string
	}
	reg := func(section string, defaults map[string]float64, given []recipe.Setting, words map[string]string) map[string]*entry {
		out := map[string]*entry{}
		keys := make([]string, 0, len(defaults))
		for k := range defaults {
			keys = append(keys, k)
		}
		for _, s := range given {
			if _, ok := defaults[s.Key]; !ok {
				keys = append(keys, s.Key)
			}
		}
		for k := range words {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, dup := out[k]; dup {
				continue
			}
			e := &entry{def: defaults[k], word: words[k]}
			for _, s := range given {
				if s.Key == k {
					e.def, e.word, e.hyp = s.Num, s.Word, s.Hyper
				}
			}
			out[k] = e
			if hyperNames[k] || e.hyp != "" {
				continue // the hyperparameter's flag sets it
			}
			if _, isWord := words[k]; isWord {
				e.str = fs.String(k, e.word, fmt.Sprintf("%s setting %s of recipe %s", section, k, m.Name))
			} else if wholeSettings[k] && e.def == math.Trunc(e.def) {
				e.whole = fs.Int(k, int(e.def), fmt.Sprintf("%s setting %s of recipe %s", section, k, m.Name))
			} else {
				e.num = fs.Float64(k, e.def, fmt.Sprintf("%s setting %s of recipe %s", section, k, m.Name))
			}
		}
		return out
	}
	var roll map[string]*entry
	if IsRL(m) {
		roll = reg("rollout", rolloutDefaults, m.Rollout, nil)
	}
	opt := reg("optim", optimDefaults, m.Optim, map[string]string{"schedule": wordOf(m.Optim, "schedule", "constant")})
	return func(c *Config) error {
		c.Hyper = h.Values()
		hyper := map[string]float64{}
		for i, hp := range m.Hypers {
			hyper[hp.Name] = c.Hyper[i]
		}
		val := func(es map[string]*entry, k string) float64 {
			e := es[k]
			switch {
			case e == nil:
				return 0
			case e.hyp != "":
				return hyper[e.hyp]
			case hyperNames[k]:
				return hyper[k]
			case e.num != nil:
				return *e.num
			case e.whole != nil:
				return float64(*e.whole)
			}
			return e.def
		}
		integer := func(es map[string]*entry, k string, lo int) (int, error) {
			v := val(es, k)
			if v != math.Trunc(v) || v < float64(lo) || v > 1<<30 {
				return 0, fmt.Errorf("--%s %v: want a whole number >= %d", k, v, lo)
			}
			return int(v), nil
		}
		var err error
		if roll != nil {
			r := &c.Rollout
			if r.N, err = integer(roll, "n", 1); err != nil {
				return err
			}
			if r.TopK, err = integer(roll, "top_k", -1); err != nil {
				return err
			}
			if r.MaxPrompt, err = integer(roll, "max_prompt", 1); err != nil {
				return err
			}
			if r.MaxResponse, err = integer(roll, "max_response", 1); err != nil {
				return err
			}
			r.Temperature, r.TopP = val(roll, "temperature"), val(roll, "top_p")
			if !(r.Temperature >= 0) || !(r.TopP >= 0 && r.TopP <= 1) {
				return fmt.Errorf("--temperature %v / --top_p %v: want temperature >= 0 and 0 <= top_p <= 1", r.Temperature, r.TopP)
			}
			for k := range roll {
				if _, known := rolloutDefaults[k]; !known && k != "repetition_penalty" {
					return fmt.Errorf("recipe %s: rollout setting %s is not supported by this trainer (it knows n, temperature, top_p, top_k, max_prompt, max_response)", m.Name, k)
				}
			}
			if _, ok := roll["repetition_penalty"]; ok && val(roll, "repetition_penalty") != 1 {
				return fmt.Errorf("recipe %s: repetition_penalty %v is not supported by the sampler yet (use 1)", m.Name, val(roll, "repetition_penalty"))
			}
		}
		o := &c.Optim
		if m.OptimKind != "" && m.OptimKind != "adamw" {
			return fmt.Errorf("recipe %s: optimizer %q is not supported (adamw is)", m.Name, m.OptimKind)
		}
		o.LR, o.WeightDecay, o.Beta1, o.Beta2, o.Eps, o.Clip = val(opt, "lr"), val(opt, "weight_decay"), val(opt, "beta1"), val(opt, "beta2"), val(opt, "eps"), val(opt, "clip")
		o.Warmup = val(opt, "warmup")
		if o.Epochs, err = integer(opt, "epochs", 1); err != nil {
			return err
		}
		if o.Buffer, err = integer(opt, "buffer", 0); err != nil {
			return err
		}
		if o.MiniBatch, err = integer(opt, "mini_batch", 0); err != nil {
			return err
		}
		o.Schedule = *opt["schedule"].str
		switch o.Schedule {
		case "constant", "cosine", "linear":
		default:
			return fmt.Errorf("--schedule %q: want constant, cosine or linear", o.Schedule)
		}
		for _, x := range []struct {
			k string
			v float64
		}{{"lr", o.LR}, {"weight_decay", o.WeightDecay}, {"eps", o.Eps}, {"warmup", o.Warmup}} {
			if !(x.v >= 0) || math.IsInf(x.v, 0) {
				return fmt.Errorf("--%s %v: want a finite number >= 0", x.k, x.v)
			}
		}
		if !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) {
			return fmt.Errorf("--beta1 %v / --beta2 %v: want 0 <= beta < 1", o.Beta1, o.Beta2)
		}
		if !(o.Clip >= 0) {
			return fmt.Errorf("--clip %v: want >= 0 (0: no clipping)", o.Clip)
		}
		for k := range opt {
			if _, known := optimDefaults[k]; !known && k != "schedule" {
				return fmt.Errorf("recipe %s: optim setting %s is not supported by this trainer", m.Name, k)
			}
		}
		return nil
	}
}

func wordOf(ss []recipe.Setting, key, def string) string {
	for _, s := range ss {
		if s.Key == key && s.Word != "" {
			return s.Word
		}
	}
	return def
}

// listFlag is a repeatable flag that also takes several values after it
// (--train a.parquet b.parquet is read as two files by splitArgs).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// splitArgs rewrites "--train a b --val c" into "--train a --train b --val c"
// for the flags that take lists, so that shell globs work.
func splitArgs(args []string, lists map[string]bool) []string {
	var out []string
	cur := ""
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if i := strings.IndexByte(name, '='); i >= 0 {
				name = name[:i]
				cur = ""
			} else if lists[name] {
				cur = name
				out = append(out, a)
				continue
			} else {
				cur = ""
			}
			out = append(out, a)
			continue
		}
		if cur != "" && len(out) > 0 && strings.TrimLeft(out[len(out)-1], "-") != cur {
			out = append(out, "--"+cur)
		}
		out = append(out, a)
	}
	return out
}

// applyYAML sets every flag named by a key of the YAML file that was not
// given on the command line; an unknown key is an error naming it.
func applyYAML(fs *flag.FlagSet, path string, given map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: not a YAML mapping of flag names to values: %v", path, err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "-", "_")
		f := fs.Lookup(k)
		if f == nil {
			f = fs.Lookup(name)
		}
		if f == nil {
			f = fs.Lookup(strings.ReplaceAll(k, "_", "-"))
		}
		if f == nil {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			return fmt.Errorf("%s: unknown key %q (the keys are the flags: %s)", path, k, strings.Join(names, ", "))
		}
		if given[f.Name] {
			continue // the command line wins
		}
		vals := []any{doc[k]}
		if list, ok := doc[k].([]any); ok {
			vals = list
		}
		for _, v := range vals {
			s := fmt.Sprint(v)
			if v == nil {
				s = ""
			}
			if err := fs.Set(f.Name, s); err != nil {
				return fmt.Errorf("%s: key %s: %v", path, k, err)
			}
		}
	}
	return nil
}

// effectiveYAML renders every flag's value as the config.yaml of a run.
func effectiveYAML(fs *flag.FlagSet, skip map[string]bool) []byte {
	doc := map[string]any{}
	fs.VisitAll(func(f *flag.Flag) {
		if skip[f.Name] {
			return
		}
		switch v := f.Value.(type) {
		case *listFlag:
			doc[f.Name] = []string(*v)
		default:
			s := f.Value.String()
			if x, err := strconv.ParseFloat(s, 64); err == nil && !strings.HasPrefix(s, "0x") {
				doc[f.Name] = x
			} else if b, err := strconv.ParseBool(s); err == nil {
				doc[f.Name] = b
			} else {
				doc[f.Name] = s
			}
		}
	})
	out, _ := yaml.Marshal(doc)
	return out
}
