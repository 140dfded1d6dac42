package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readLlamaCpp reads llama.cpp's vocab test pair: strings separated by
// "\n__ggml_vocab_test__\n" and one line of space-separated ids per string.
func readLlamaCpp(t *testing.T, name string) ([]string, [][]int) {
	inp, err := os.ReadFile(tokPath(t, "llamacpp-vocab-tests/"+name+".inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(tokPath(t, "llamacpp-vocab-tests/"+name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	// The file ends with a separator: the last piece is empty and has no ids.
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d strings but %d id lines", name, len(texts), len(lines))
	}
	ids := make([][]int, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", name, i+1, err)
			}
			ids[i] = append(ids[i], v)
		}
	}
	return texts, ids
}

func checkLlamaCpp(t *testing.T, tk *Tokenizer, name string) {
	texts, want := readLlamaCpp(t, name)
	if len(texts) != 46 {
		t.Fatalf("%s: %d strings, want 46", name, len(texts))
	}
	for i, s := range texts {
		if got := tk.Encode(s); !slices.Equal(got, want[i]) && !(len(got) == 0 && len(want[i]) == 0) {
			t.Errorf("%s #%d %q: %s", name, i, s, firstDiff(tk, got, want[i]))
		}
	}
}

// Qwen3's vocabulary extends Qwen2's: the same ids for all 46 strings.
func TestLlamaCppQwen2(t *testing.T) { checkLlamaCpp(t, load(t, qwen3JSON), "ggml-vocab-qwen2.gguf") }

func TestLlamaCppLlamaSPM(t *testing.T) {
	checkLlamaCpp(t, load(t, llama2Model), "ggml-vocab-llama-spm.gguf")
}

func TestLlama2cVectors(t *testing.T) {
	data, err := os.ReadFile(tokPath(t, "llama2/llama2c_test_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids_with_bos"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) != 5 {
		t.Fatalf("%d cases, want 5", len(v.Cases))
	}
	tk := load(t, llama2Model)
	for i, c := range v.Cases {
		if got := tk.EncodeSpecial(c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("case %d %q: %s", i, c.Text, firstDiff(tk, got, c.IDs))
		}
	}
}
