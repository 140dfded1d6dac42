package judge

import (
	"fmt"
	"os"
	"slices"

	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/tokenizer"
)

// Options are what Open needs to load a judge from files (the flags of
// `realc eval --model`).
type Options struct {
	// Model is a Hugging Face folder (config.json + safetensors; its
	// generation_config.json's eos_token_id is read too) or a llama2.c .bin.
	Model string
	// Tokenizer is a tokenizer.json, a SentencePiece tokenizer.model, or a
	// folder holding one; empty means the model's folder.
	Tokenizer string
	// Chat is the prompt format: "qwen3", "mistral-v1", "none", or empty
	// for the model's family (qwen3 for Qwen3, mistral-v1 for Mistral; a
	// Llama must say which).
	Chat string
	// NoThink is Qwen3's enable_thinking=false.
	NoThink bool
	// Scores are the score strings in value order (empty: "1".."5"); each
	// must be one token after "So the overall score is ".
	Scores []string
	// EOS adds ids that end an output to the model's (config.json and
	// generation_config.json eos_token_id) and the tokenizer's EOS.
	EOS []int
}

// Open loads the model and tokenizer that o names and makes a judge of
// them. Errors name the file or option at fault.
func Open(o Options) (*Model, error) {
	if o.Model == "" {
		return nil, fmt.Errorf("judge: no model path (a Hugging Face folder or a llama2.c .bin)")
	}
	st, err := os.Stat(o.Model)
	if err != nil {
		return nil, fmt.Errorf("judge: model: %v", err)
	}
	tokPath := o.Tokenizer
	if tokPath == "" {
		if !st.IsDir() {
			return nil, fmt.Errorf("judge: %s is a llama2.c checkpoint, which carries no tokenizer: give a tokenizer path", o.Model)
		}
		tokPath = o.Model
	}
	m, err := model.Load(o.Model)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return nil, err
	}
	if tv := tok.VocabSize(); tv > m.Cfg.Vocab {
		return nil, fmt.Errorf("judge: tokenizer %s has %d tokens but model %s has vocab_size %d: they do not belong together", tok.Source(), tv, o.Model, m.Cfg.Vocab)
	}
	c := Config{NoThink: o.NoThink}
	if c.Chat, err = ChatFor(o.Chat, m.Cfg.Arch); err != nil {
		return nil, fmt.Errorf("judge: %s: %v", o.Model, err)
	}
	scores := o.Scores
	if len(scores) == 0 {
		scores = DefaultScores
	}
	if c.ScoreIDs, err = tok.ScoreTokenIDs(scores); err != nil {
		return nil, fmt.Errorf("judge: %v", err)
	}
	c.EOS = EOSIDs(m.Cfg.EOS, tok.EOS(), o.EOS)
	j, err := New(m, tok, c)
	if err != nil {
		return nil, fmt.Errorf("%v (model %s, tokenizer %s)", err, o.Model, tok.Source())
	}
	return j, nil
}

// ChatFor resolves the chat family: the one asked for, or the model
// architecture's (qwen3 for Qwen3, mistral-v1 for Mistral; a Llama must say).
func ChatFor(asked string, arch model.Arch) (string, error) {
	if asked != "" {
		if !slices.Contains(Chats, asked) {
			return "", fmt.Errorf("chat %q: want one of %v", asked, Chats)
		}
		return asked, nil
	}
	switch arch {
	case model.Qwen3:
		return ChatQwen3, nil
	case model.Mistral:
		return ChatMistralV1, nil
	}
	return "", fmt.Errorf("a %s model's chat format cannot be told from its config: choose one of %v", arch, Chats)
}

// EOSIDs is the union of the ids that end an output (the model's, the
// tokenizer's, extra ones), in first-seen order.
func EOSIDs(fromModel []int, fromTok int, extra []int) []int {
	var ids []int
	add := func(id int) {
		if id >= 0 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range fromModel {
		add(id)
	}
	add(fromTok)
	for _, id := range extra {
		add(id)
	}
	return ids
}
