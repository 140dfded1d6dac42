package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
	"github.com/realc-project/realc/runtime/tokenizer"
)

func init() {
	register("generate", "generate token ids from a model (HF folder or llama2.c .bin)", runGenerate)
	register("tiny-model", "write the project's tiny random Qwen3 as a Hugging Face folder", runTinyModel)
}

// parseIDs reads "1,2,3" (spaces allowed).
func parseIDs(s string) ([]int, error) {
	var ids []int
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--prompt-ids: item %d %q is not a non-negative integer", i+1, f)
		}
		ids = append(ids, v)
	}
	return ids, nil
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("model", "", "model: a Hugging Face folder (config.json + safetensors) or a llama2.c .bin checkpoint")
	promptIDs := fs.String("prompt-ids", "", "comma-separated prompt token ids, e.g. 1,2,3 (include BOS yourself if the model wants it)")
	greedy := fs.Bool("greedy", false, "argmax decoding (the default when no --temperature is given)")
	temp := fs.Float64("temperature", 0, "sampling temperature (> 0 samples; 0 is greedy)")
	topP := fs.Float64("top-p", 1, "nucleus sampling mass in (0, 1]")
	topK := fs.Int("top-k", 0, "keep only the k most likely tokens (0: all)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	maxNew := fs.Int("max-new", 64, "maximum number of new tokens")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: realc generate --model PATH --prompt-ids 1,2,3 [--greedy | --temperature T --top-p P --seed S] --max-new N\n\n"+
			"Prints {\"ids\": [...]}: the NEW ids only (not the prompt), ending with the EOS id when one was generated\n"+
			"(eos_token_id of config.json and generation_config.json; id 1 for llama2.c checkpoints, as run.c),\n"+
			"and never past the model's context length (max_position_embeddings, or seq_len for llama2.c).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		return usagef("--model is required")
	}
	prompt, err := parseIDs(*promptIDs)
	if err != nil {
		return usagef("%v", err)
	}
	if len(prompt) == 0 {
		return usagef("--prompt-ids is required (at least one id, e.g. 1 for BOS)")
	}
	if *maxNew < 0 {
		return usagef("--max-new must be >= 0, got %d", *maxNew)
	}
	if *greedy && *temp > 0 {
		return usagef("--greedy and --temperature %v contradict each other", *temp)
	}
	if *temp < 0 || !(*topP > 0 && *topP <= 1) || *topK < 0 {
		return usagef("need --temperature >= 0, 0 < --top-p <= 1, --top-k >= 0")
	}
	m, err := model.Load(*path)
	if err != nil {
		return err
	}
	for _, id := range prompt {
		if id >= m.Cfg.Vocab {
			return usagef("--prompt-ids: id %d is outside the model's vocabulary of %d", id, m.Cfg.Vocab)
		}
	}
	// As run.c does, stop at the model's context length.
	if mp := m.Cfg.MaxPos; mp > 0 && len(prompt)+*maxNew > mp {
		*maxNew = max(mp-len(prompt), 0)
	}
	ids := []int{}
	if *maxNew > 0 {
		opts := sample.Options{
			Params:       sample.Params{Greedy: *temp == 0, Temperature: *temp, TopP: *topP, TopK: *topK},
			Seed:         *seed,
			MaxNewTokens: *maxNew,
			EOS:          m.Cfg.EOS,
		}
		out, err := sample.Generate(model.LM{M: m}, [][]int{prompt}, opts)
		if err != nil {
			return err
		}
		ids = out[0][0].Tokens
	}
	fmt.Fprintln(stdout, tokenizer.FormatIDs(ids))
	return nil
}

func runTinyModel(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tiny-model", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vocab := fs.Int("vocab", 512, "vocabulary size (151936 pairs it with the Qwen3 tokenizer; --tokenizer sets it)")
	seed := fs.Uint64("seed", 1, "weight seed (the same seed always writes the same weights)")
	tokPath := fs.String("tokenizer", "", "a tokenizer.json: copied into the folder, its size is the vocabulary and its <|im_end|> (or EOS) ends outputs")
	dim := fs.Int("dim", 0, "hidden size (default: the tiny model's 32)")
	hidden := fs.Int("hidden", 0, "MLP size (default 2 x dim)")
	layers := fs.Int("layers", 0, "decoder blocks (default 2)")
	heads := fs.Int("heads", 0, "attention heads (default 4)")
	kvHeads := fs.Int("kv-heads", 0, "key/value heads (default heads / 2)")
	std := fs.Float64("std", 0.2, "standard deviation of the random weights (0.02 for a model to train from scratch)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: realc tiny-model [--vocab N | --tokenizer F] [--dim D --layers L ...] [--seed S] DIR\n\nWrites config.json and model.safetensors (float32) of a random Qwen3 (2 layers, dim 32 unless told).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one output folder, got %d arguments", fs.NArg())
	}
	var tok *tokenizer.Tokenizer
	if *tokPath != "" {
		var err error
		if tok, err = tokenizer.Load(*tokPath); err != nil {
			return err
		}
		*vocab = tok.VocabSize()
	}
	if *vocab < 2 {
		return usagef("--vocab must be at least 2, got %d", *vocab)
	}
	cfg := model.TinyQwen3Config(*vocab)
	if *dim > 0 {
		cfg.Dim, cfg.Hidden = *dim, 2**dim
	}
	if *hidden > 0 {
		cfg.Hidden = *hidden
	}
	if *layers > 0 {
		cfg.Layers = *layers
	}
	if *heads > 0 {
		cfg.Heads, cfg.KVHeads = *heads, max(1, *heads/2)
	}
	if *kvHeads > 0 {
		cfg.KVHeads = *kvHeads
	}
	if cfg.Dim%cfg.Heads != 0 || cfg.Heads%cfg.KVHeads != 0 {
		return usagef("--dim %d must divide into --heads %d, and --heads into --kv-heads %d", cfg.Dim, cfg.Heads, cfg.KVHeads)
	}
	cfg.HeadDim = cfg.Dim / cfg.Heads
	if tok != nil {
		if id, ok := tok.TokenID("<|im_end|>"); ok {
			cfg.EOS = []int{id}
		} else if e := tok.EOS(); e >= 0 {
			cfg.EOS = []int{e}
		}
	}
	m, err := model.New(cfg)
	if err != nil {
		return err
	}
	m.InitRandom(*seed, *std)
	if err := m.SaveHF(fs.Arg(0)); err != nil {
		return err
	}
	if tok != nil {
		raw, err := os.ReadFile(*tokPath)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(fs.Arg(0), "tokenizer.json"), raw, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote a %d-parameter Qwen3 (seed %d) to %s\n", m.Cfg.NumParams(), *seed, fs.Arg(0))
	return nil
}
