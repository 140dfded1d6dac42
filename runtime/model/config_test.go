package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/internal/numtest"
)

// The config.json files of two models REAL trains, as published on Hugging Face.
const qwen3_8B = `{"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
 "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
 "initializer_range": 0.02, "intermediate_size": 12288, "max_position_embeddings": 40960, "max_window_layers": 36,
 "model_type": "qwen3", "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8,
 "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
 "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": true,
 "use_sliding_window": false, "vocab_size": 151936}`

const mistral7BInstructV02 = `{"architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
 "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
 "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
 "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null,
 "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.36.0", "use_cache": true,
 "vocab_size": 32000}`

func TestParseRealConfigs(t *testing.T) {
	q, err := ParseConfig([]byte(qwen3_8B), "qwen3-8b/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if q.Arch != Qwen3 || !q.QKNorm || q.HeadDim != 128 || q.KVHeads != 8 || q.RopeTheta != 1e6 || q.NormEps != 1e-6 ||
		q.TiedEmbed || q.SlidingWindow != 0 || !slices.Equal(q.EOS, []int{151645}) || q.BOS != 151643 {
		t.Fatalf("Qwen3-8B: %+v", q)
	}
	// Qwen3-8B has 8.19 billion parameters (model card: 8.2B).
	if n := q.NumParams(); n < 8_190_000_000 || n > 8_191_000_000 {
		t.Fatalf("Qwen3-8B NumParams = %d", n)
	}
	mi, err := ParseConfig([]byte(mistral7BInstructV02), "mistral/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if mi.Arch != Mistral || mi.QKNorm || mi.HeadDim != 128 || mi.Hidden != 14336 || mi.SlidingWindow != 0 || mi.NormEps != 1e-5 {
		t.Fatalf("Mistral-7B-Instruct-v0.2: %+v", mi)
	}
	// 7.24 billion parameters.
	if n := mi.NumParams(); n < 7_241_000_000 || n > 7_242_000_000 {
		t.Fatalf("Mistral NumParams = %d", n)
	}
	// What this package writes reads back the same.
	data, err := q.JSON()
	if err != nil {
		t.Fatal(err)
	}
	q2, err := ParseConfig(data, "written")
	if err != nil {
		t.Fatal(err)
	}
	if !reflectEqualConfig(*q, *q2) {
		t.Fatalf("round trip:\n%+v\n%+v", q, q2)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct{ edit, want string }{
		{`"rope_scaling": null`, `"rope_scaling": {"type": "linear", "factor": 2}` + "\x00" + `"rope_scaling"`},
		{`"hidden_act": "silu"`, `"hidden_act": "gelu"` + "\x00" + `"hidden_act"`},
		{`"use_sliding_window": false`, `"use_sliding_window": true` + "\x00" + `"use_sliding_window"`},
		{`"num_key_value_heads": 8`, `"num_key_value_heads": 5` + "\x00" + "not a multiple"},
		{`"hidden_size": 4096`, `"hidden_size": 40.5` + "\x00" + `"hidden_size": want an integer`},
		{`"eos_token_id": 151645`, `"eos_token_id": "<eos>"` + "\x00" + `"eos_token_id"`},
		{`"vocab_size": 151936}`, `"vocab_size": 151936` + "\x00" + "not a JSON object"},
	} {
		parts := strings.SplitN(c.want, "\x00", 2)
		src := strings.Replace(qwen3_8B, c.edit, parts[0], 1)
		if src == qwen3_8B {
			t.Fatalf("edit %q did not apply", c.edit)
		}
		_, err := ParseConfig([]byte(src), "cfg/config.json")
		if err == nil || !strings.Contains(err.Error(), parts[1]) || !strings.HasPrefix(err.Error(), "cfg/config.json") {
			t.Errorf("edit %s: err = %v, want one starting with the file and mentioning %q", parts[0], err, parts[1])
		}
	}
}

const llama31_8B = `{"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
 "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
 "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
 "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0,
 "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
 "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}`

func TestLlama3RopeScaling(t *testing.T) {
	c, err := ParseConfig([]byte(llama31_8B), "llama/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.RopeScaling == nil || c.RopeScaling.Factor != 8 || c.RopeScaling.OriginalMaxPos != 8192 || !slices.Equal(c.EOS, []int{128001, 128008, 128009}) {
		t.Fatalf("Llama 3.1: %+v %+v", c, c.RopeScaling)
	}
	// By hand: theta 10000, hd 8 gives frequencies 1, 0.1, 0.01, 0.001 with
	// wavelengths 6.28, 62.8, 628, 6283. With factor 4, low 1, high 4 and
	// 1000 original positions, wavelengths under 250 keep their frequency,
	// over 1000 are divided by 4, and 628 is interpolated with smooth =
	// (1000/628.3 - 1)/3 = 0.197183: 0.802817*0.01/4 + 0.197183*0.01 = 0.00397887.
	small := Config{HeadDim: 8, RopeTheta: 10000, RopeScaling: &RopeScaling{Factor: 4, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPos: 1000}}
	want := []float64{1, 0.1, 0.00397887, 0.00025}
	for i, f := range small.ropeInvFreq() {
		if !numtest.Within(f, want[i], 1e-8, 0) {
			t.Fatalf("inv freq %d = %.9g, want %.9g", i, f, want[i])
		}
	}
	data, _ := c.JSON()
	back, err := ParseConfig(data, "written")
	if err != nil || *back.RopeScaling != *c.RopeScaling {
		t.Fatalf("rope_scaling round trip: %v %+v", err, back)
	}
	bad := strings.Replace(llama31_8B, `"rope_type": "llama3"`, `"rope_type": "yarn"`, 1)
	if _, err := ParseConfig([]byte(bad), "llama/config.json"); err == nil || !strings.Contains(err.Error(), `"rope_scaling"`) || !strings.Contains(err.Error(), "yarn") {
		t.Fatalf("yarn scaling: err = %v", err)
	}
}
