package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Arch names a model family.
type Arch string

const (
	Qwen3   Arch = "qwen3"
	Llama   Arch = "llama"
	Mistral Arch = "mistral"
)

// Config holds the hyperparameters of a model. The comments name the
// Hugging Face config.json fields (ParseConfig reads them, JSON writes them).
type Config struct {
	Arch          Arch    // model_type
	Dim           int     // hidden_size
	Hidden        int     // intermediate_size
	Layers        int     // num_hidden_layers
	Heads         int     // num_attention_heads
	KVHeads       int     // num_key_value_heads
	HeadDim       int     // head_dim (default hidden_size / num_attention_heads)
	Vocab         int     // vocab_size
	RopeTheta     float64 // rope_theta
	NormEps       float64 // rms_norm_eps
	TiedEmbed     bool    // tie_word_embeddings
	SlidingWindow int     // Mistral's sliding_window; 0 when none
	MaxPos        int     // max_position_embeddings (informational; 0 when absent)
	BOS           int     // bos_token_id (-1 when absent)
	EOS           []int   // eos_token_id (one id or a list)
	// QKNorm is true for Qwen3: RMSNorm over each head of q and k before RoPE.
	QKNorm bool
	// RopeScaling is Llama 3's rope_scaling (rope_type "llama3"); nil for plain RoPE.
	RopeScaling *RopeScaling
}

// RopeScaling holds the fields of a rope_scaling of rope_type "llama3".
type RopeScaling struct {
	Factor         float64 `json:"factor"`
	LowFreqFactor  float64 `json:"low_freq_factor"`
	HighFreqFactor float64 `json:"high_freq_factor"`
	OriginalMaxPos int     `json:"original_max_position_embeddings"`
}

// QDim is the width of the concatenated query heads.
func (c *Config) QDim() int { return c.Heads * c.HeadDim }

// KVDim is the width of the concatenated key (or value) heads.
func (c *Config) KVDim() int { return c.KVHeads * c.HeadDim }

// Validate checks that the shapes are consistent.
func (c *Config) Validate() error {
	switch {
	case c.Arch != Qwen3 && c.Arch != Llama && c.Arch != Mistral:
		return fmt.Errorf("model_type %q is not supported (want qwen3, llama or mistral)", c.Arch)
	case c.Dim <= 0 || c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.Vocab <= 0:
		return fmt.Errorf("sizes must be positive: hidden_size=%d intermediate_size=%d num_hidden_layers=%d num_attention_heads=%d num_key_value_heads=%d head_dim=%d vocab_size=%d",
			c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.Vocab)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("num_attention_heads=%d is not a multiple of num_key_value_heads=%d", c.Heads, c.KVHeads)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("head_dim=%d must be even for RoPE", c.HeadDim)
	case !(c.RopeTheta > 0):
		return fmt.Errorf("rope_theta=%v must be positive", c.RopeTheta)
	case !(c.NormEps > 0):
		return fmt.Errorf("rms_norm_eps=%v must be positive", c.NormEps)
	case c.SlidingWindow < 0:
		return fmt.Errorf("sliding_window=%d must not be negative", c.SlidingWindow)
	}
	return nil
}

// NumParams counts the parameters (the tied head counted once).
func (c *Config) NumParams() int {
	d, h, q, kv := c.Dim, c.Hidden, c.QDim(), c.KVDim()
	per := 2*d + d*q + 2*d*kv + q*d + 3*d*h
	if c.QKNorm {
		per += 2 * c.HeadDim
	}
	n := c.Vocab*d + c.Layers*per + d
	if !c.TiedEmbed {
		n += c.Vocab * d
	}
	return n
}

// LoadConfig reads a Hugging Face config.json. A missing required field is an
// error naming the file and the field.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path)
}

// ParseConfig parses config.json bytes; name is used in error messages.
func ParseConfig(data []byte, name string) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	missing := func(field string) error {
		return fmt.Errorf("%s: required field %q is missing (add it as in the model's Hugging Face config.json)", name, field)
	}
	bad := func(field string, err error) error {
		return fmt.Errorf("%s: field %q: %v", name, field, err)
	}
	str := func(field string) (string, bool, error) {
		v, ok := raw[field]
		if !ok || string(v) == "null" {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", true, bad(field, fmt.Errorf("want a string, got %s", v))
		}
		return s, true, nil
	}
	num := func(field string) (float64, bool, error) {
		v, ok := raw[field]
		if !ok || string(v) == "null" {
			return 0, false, nil
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return 0, true, bad(field, fmt.Errorf("want a number, got %s", v))
		}
		return f, true, nil
	}
	integer := func(field string, required bool, def int) (int, error) {
		f, ok, err := num(field)
		if err != nil {
			return 0, err
		}
		if !ok {
			if required {
				return 0, missing(field)
			}
			return def, nil
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<40 {
			return 0, bad(field, fmt.Errorf("want an integer, got %v", f))
		}
		return int(f), nil
	}
	boolean := func(field string, def bool) (bool, error) {
		v, ok := raw[field]
		if !ok || string(v) == "null" {
			return def, nil
		}
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return false, bad(field, fmt.Errorf("want true or false, got %s", v))
		}
		return b, nil
	}

	c := &Config{BOS: -1}
	mt, ok, err := str("model_type")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, missing("model_type")
	}
	c.Arch = Arch(mt)
	switch c.Arch {
	case Qwen3:
		c.QKNorm = true
	case Llama, Mistral:
	default:
		return nil, bad("model_type", fmt.Errorf("%q is not supported (want qwen3, llama or mistral)", mt))
	}
	for _, f := range []struct {
		dst      *int
		name     string
		required bool
		def      int
	}{
		{&c.Dim, "hidden_size", true, 0},
		{&c.Hidden, "intermediate_size", true, 0},
		{&c.Layers, "num_hidden_layers", true, 0},
		{&c.Heads, "num_attention_heads", true, 0},
		{&c.Vocab, "vocab_size", true, 0},
		{&c.MaxPos, "max_position_embeddings", false, 0},
		{&c.BOS, "bos_token_id", false, -1},
	} {
		if *f.dst, err = integer(f.name, f.required, f.def); err != nil {
			return nil, err
		}
	}
	// HF's default for num_key_value_heads is num_attention_heads (no GQA).
	if c.KVHeads, err = integer("num_key_value_heads", false, c.Heads); err != nil {
		return nil, err
	}
	if c.Arch == Qwen3 {
		// Qwen3's head_dim is not hidden_size/heads in general (e.g. Qwen3-0.6B), so require it.
		if c.HeadDim, err = integer("head_dim", true, 0); err != nil {
			return nil, err
		}
	} else if c.Heads > 0 {
		if c.HeadDim, err = integer("head_dim", false, c.Dim/c.Heads); err != nil {
			return nil, err
		}
	}
	var found bool
	if c.RopeTheta, found, err = num("rope_theta"); err != nil {
		return nil, err
	} else if !found {
		return nil, missing("rope_theta")
	}
	if c.NormEps, found, err = num("rms_norm_eps"); err != nil {
		return nil, err
	} else if !found {
		return nil, missing("rms_norm_eps")
	}
	if c.TiedEmbed, err = boolean("tie_word_embeddings", false); err != nil {
		return nil, err
	}
	if act, ok, err := str("hidden_act"); err != nil {
		return nil, err
	} else if ok && act != "silu" {
		return nil, bad("hidden_act", fmt.Errorf("%q is not supported (only silu)", act))
	}
	if v, ok := raw["rope_scaling"]; ok && string(v) != "null" {
		var rs struct {
			RopeScaling
			Type     string `json:"type"`
			RopeType string `json:"rope_type"`
		}
		if err := json.Unmarshal(v, &rs); err != nil {
			return nil, bad("rope_scaling", err)
		}
		typ := cmp.Or(rs.RopeType, rs.Type)
		switch {
		case typ != "llama3":
			return nil, bad("rope_scaling", fmt.Errorf("rope_type %q is not supported (only \"llama3\", or plain RoPE with rope_scaling null)", typ))
		case !(rs.Factor > 0) || !(rs.LowFreqFactor > 0) || !(rs.HighFreqFactor > rs.LowFreqFactor) || rs.OriginalMaxPos <= 0:
			return nil, bad("rope_scaling", fmt.Errorf("llama3 scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0, got %s", v))
		}
		c.RopeScaling = &rs.RopeScaling
	}
	if b, err := boolean("attention_bias", false); err != nil {
		return nil, err
	} else if b {
		return nil, bad("attention_bias", fmt.Errorf("true is not supported (q/k/v/o projections without bias only)"))
	}
	switch c.Arch {
	case Mistral:
		if c.SlidingWindow, err = integer("sliding_window", false, 0); err != nil {
			return nil, err
		}
	case Qwen3:
		// Qwen3 carries sliding_window but only uses it with use_sliding_window.
		if use, err := boolean("use_sliding_window", false); err != nil {
			return nil, err
		} else if use {
			return nil, bad("use_sliding_window", fmt.Errorf("true is not supported for qwen3 (set it to false)"))
		}
	}
	if c.EOS, err = eosField(raw, name); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return c, nil
}

// JSON renders the config as a Hugging Face config.json that transformers
// loads, for weights stored in float32.
func (c *Config) JSON() ([]byte, error) { return c.jsonFor("float32") }

// jsonFor renders config.json with the given torch_dtype ("float32", "bfloat16", "float16").
func (c *Config) jsonFor(torchDType string) ([]byte, error) {
	m := map[string]any{
		"model_type":              string(c.Arch),
		"hidden_size":             c.Dim,
		"intermediate_size":       c.Hidden,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.KVHeads,
		"head_dim":                c.HeadDim,
		"vocab_size":              c.Vocab,
		"rope_theta":              c.RopeTheta,
		"rms_norm_eps":            c.NormEps,
		"tie_word_embeddings":     c.TiedEmbed,
		"hidden_act":              "silu",
		"attention_bias":          false,
		"torch_dtype":             torchDType,
		"max_position_embeddings": max(c.MaxPos, 0),
	}
	switch c.Arch {
	case Qwen3:
		m["architectures"] = []string{"Qwen3ForCausalLM"}
		m["use_sliding_window"] = false
		m["sliding_window"] = nil
		m["attention_dropout"] = 0.0
	case Llama:
		m["architectures"] = []string{"LlamaForCausalLM"}
		m["mlp_bias"] = false
	case Mistral:
		m["architectures"] = []string{"MistralForCausalLM"}
		if c.SlidingWindow > 0 {
			m["sliding_window"] = c.SlidingWindow
		} else {
			m["sliding_window"] = nil
		}
	}
	if c.MaxPos <= 0 {
		m["max_position_embeddings"] = 4096
	}
	if s := c.RopeScaling; s != nil {
		m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": s.Factor, "low_freq_factor": s.LowFreqFactor,
			"high_freq_factor": s.HighFreqFactor, "original_max_position_embeddings": s.OriginalMaxPos}
	}
	if c.BOS >= 0 {
		m["bos_token_id"] = c.BOS
	}
	switch len(c.EOS) {
	case 0:
	case 1:
		m["eos_token_id"] = c.EOS[0]
	default:
		m["eos_token_id"] = c.EOS
	}
	return json.MarshalIndent(m, "", "  ")
}

// eosField reads eos_token_id: absent or null, one id, or a list of ids.
func eosField(raw map[string]json.RawMessage, name string) ([]int, error) {
	v, ok := raw["eos_token_id"]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var one int
	var many []int
	if json.Unmarshal(v, &one) == nil {
		return []int{one}, nil
	}
	if json.Unmarshal(v, &many) == nil {
		return many, nil
	}
	return nil, fmt.Errorf("%s: field \"eos_token_id\": want an integer or a list of integers, got %s", name, v)
}

// parseEOS reads eos_token_id from a generation_config.json.
func parseEOS(data []byte, name string) ([]int, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	return eosField(raw, name)
}
