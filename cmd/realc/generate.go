package main

import (
	"flag"
	"fmt"
	"io"
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
	vocab := fs.Int("vocab", 512, "vocabulary size (151936 pairs it with the Qwen3 tokenizer)")
	seed := fs.Uint64("seed", 1, "weight seed (the same seed always writes the same weights)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: realc tiny-model [--vocab N] [--seed S] DIR\n\nWrites config.json and model.safetensors (float32) of a 2-layer random Qwen3.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one output folder, got %d arguments", fs.NArg())
	}
	if *vocab < 2 {
		return usagef("--vocab must be at least 2, got %d", *vocab)
	}
	m := model.NewTinyQwen3(*vocab, *seed)
	if err := m.SaveHF(fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a %d-parameter Qwen3 (seed %d) to %s\n", m.Cfg.NumParams(), *seed, fs.Arg(0))
	return nil
}
