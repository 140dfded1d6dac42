package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
)

// tokenizerPath is ../shared/data/tokenizers/rel beside the module root, or
// skips (fails under REALC_REQUIRE_DATA=1; see testenv.SharedData).
func tokenizerPath(t *testing.T, rel string) string {
	t.Helper()
	return testenv.SharedData(t, "tokenizers", rel)
}

func runTokenizeCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	old := tokenizeStdin
	tokenizeStdin = strings.NewReader(stdin)
	defer func() { tokenizeStdin = old }()
	var out, errb bytes.Buffer
	code := run(append([]string{"tokenize"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestTokenizeCLI(t *testing.T) {
	qwen := tokenizerPath(t, "qwen3/tokenizer.json")
	mistral := tokenizerPath(t, "mistral-7b-v0.1-v0.2/tokenizer.json")
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		// Golden row 0 of qwen3.goldens.jsonl and mistral_v1.goldens.jsonl.
		{"So the overall score is 4", []string{"--tokenizer", qwen}, `{"ids": [4416, 279, 8084, 5456, 374, 220, 19]}` + "\n"},
		{"So the overall score is 4", []string{"--tokenizer", mistral, "--special"}, `{"ids": [1, 1537, 272, 7544, 7420, 349, 28705, 28781]}` + "\n"},
		{"", []string{"--tokenizer", qwen, "--text", "<|im_start|>user", "--tokens"}, `{"ids": [151644, 872], "tokens": ["<|im_start|>","user"]}` + "\n"},
		{"", []string{"--tokenizer", qwen}, `{"ids": []}` + "\n"},
		{`{"ids": [4416, 279, 8084]}`, []string{"--tokenizer", qwen, "--decode"}, "So the overall"},
		{"1 1537, 272", []string{"--tokenizer", mistral, "--decode"}, "<s> So the"},
		{"[1, 1537, 272]", []string{"--tokenizer", mistral, "--decode", "--skip-special"}, "So the"},
	} {
		out, errs, code := runTokenizeCLI(t, c.stdin, c.args...)
		if code != 0 || out != c.want {
			t.Errorf("%v < %q: code %d, stdout %q, stderr %q; want %q", c.args, c.stdin, code, out, errs, c.want)
		}
	}
}

func TestTokenizeCLIHelp(t *testing.T) {
	_, errs, code := runTokenizeCLI(t, "", "-h")
	if code != 0 || !strings.Contains(errs, "usage: realc tokenize --tokenizer FILE") {
		t.Errorf("-h: code %d, stderr %q", code, errs)
	}
}

func TestTokenizeCLIErrors(t *testing.T) {
	qwen := tokenizerPath(t, "qwen3/tokenizer.json")
	for _, c := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"x", nil, 2, "--tokenizer FILE is required"},
		{"x", []string{"--tokenizer", qwen, "extra"}, 2, `unexpected argument "extra"`},
		{"x", []string{"--tokenizer", qwen, "--decode", "--special"}, 2, "cannot be combined"},
		{"x", []string{"--tokenizer", qwen, "--chat", "llama"}, 2, `--chat "llama": want qwen3 or mistral-v1`},
		{"x", []string{"--tokenizer", qwen, "--no-thinking"}, 2, "apply with --chat qwen3"},
		{"{}", []string{"--tokenizer", qwen, "--chat", "qwen3"}, 1, "no messages"},
		{"{", []string{"--tokenizer", qwen, "--chat", "qwen3"}, 1, `expected {"messages"`},
		{"x", []string{"--tokenizer", qwen, "--bogus"}, 2, "flag provided but not defined"},
		{"a\xffb", []string{"--tokenizer", qwen}, 1, "invalid byte 0xFF at offset 1"},
		{"1, two", []string{"--tokenizer", qwen, "--decode"}, 1, `item 2 "two" is not an integer`},
		{"[1, 99999999]", []string{"--tokenizer", qwen, "--decode"}, 1, "id 99999999 (position 1) is not in the vocabulary"},
		{"x", []string{"--tokenizer", filepath.Join(t.TempDir(), "none.json")}, 1, "no such file"},
	} {
		_, errs, code := runTokenizeCLI(t, c.stdin, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v < %q: code %d, stderr %q; want code %d and %q", c.args, c.stdin, code, errs, c.code, c.want)
		}
	}
}

func TestTokenizeCLIChat(t *testing.T) {
	qwen := tokenizerPath(t, "qwen3/tokenizer.json")
	dir := tokenizerPath(t, "mistral-7b-v0.1-v0.2")
	out, errs, code := runTokenizeCLI(t, `[{"role": "user", "content": "Hi"}]`, "--tokenizer", qwen, "--chat", "qwen3", "--generation-prompt", "--no-thinking")
	want := `{"ids": [151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 151667, 271, 151668, 271], "text": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"}` + "\n"
	if code != 0 || out != want {
		t.Errorf("qwen3 chat: code %d, stderr %q\n got  %s want %s", code, errs, out, want)
	}
	sample, err := os.ReadFile(filepath.Join(dir, "mistral-common-tests-no_tools", "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := os.ReadFile(filepath.Join(dir, "mistral-common-tests-no_tools", "tokens_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs struct {
		Tokens []int `json:"tokens"`
	}
	if err := json.Unmarshal(tokens, &wantIDs); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runTokenizeCLI(t, string(sample), "--tokenizer", filepath.Join(dir, "tokenizer.model"), "--chat", "mistral-v1")
	var got struct {
		IDs  []int  `json:"ids"`
		Text string `json:"text"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || !slices.Equal(got.IDs, wantIDs.Tokens) || !strings.HasPrefix(got.Text, "<s> [INST] What's") {
		t.Errorf("mistral-v1 chat: code %d, stderr %q, stdout %s", code, errs, out)
	}
}
