package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
	"github.com/realc-project/realc/runtime/tokenizer"
)

func str(s string) *string { return &s }

// The expected strings were derived from the chat_template in
// qwen3/tokenizer_config.json (rendered with jinja2 as transformers does,
// trim_blocks and lstrip_blocks) and checked by hand against its branches.
func TestQwen3Template(t *testing.T) {
	u := func(c string) Message { return Message{Role: "user", Content: c} }
	a := func(c string) Message { return Message{Role: "assistant", Content: c} }
	s := func(c string) Message { return Message{Role: "system", Content: c} }
	for _, c := range []struct {
		name string
		msgs []Message
		opt  QwenOptions
		want string
	}{
		{"user, generation prompt", []Message{u("Rate this answer.")}, QwenOptions{AddGenerationPrompt: true},
			"<|im_start|>user\nRate this answer.<|im_end|>\n<|im_start|>assistant\n"},
		{"enable_thinking=false", []Message{u("Rate this answer.")}, QwenOptions{AddGenerationPrompt: true, DisableThinking: true},
			"<|im_start|>user\nRate this answer.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"system, user, final assistant gets an empty think block",
			[]Message{s("You are a fair judge."), u("Score it."), a("Feedback: good. [RESULT] 4")}, QwenOptions{},
			"<|im_start|>system\nYou are a fair judge.<|im_end|>\n<|im_start|>user\nScore it.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nFeedback: good. [RESULT] 4<|im_end|>\n"},
		{"earlier assistant loses its thinking",
			[]Message{u("Q1"), a("<think>\nfirst thoughts\n</think>\n\nA1"), u("Q2"), a("A2")}, QwenOptions{},
			"<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nA2<|im_end|>\n"},
		{"final thinking is trimmed of newlines",
			[]Message{u("Q1"), a("<think>\nweigh it\n\n</think>\n\n\nThe score is 5")}, QwenOptions{},
			"<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n<think>\nweigh it\n</think>\n\nThe score is 5<|im_end|>\n"},
		{"reasoning_content field",
			[]Message{u("Q"), {Role: "assistant", Content: "\nAnswer", ReasoningContent: str("\nstep 1\nstep 2\n")}}, QwenOptions{},
			"<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nstep 1\nstep 2\n</think>\n\nAnswer<|im_end|>\n"},
		{"history then generation without thinking",
			[]Message{s("S"), u("Q1"), a("<think>r</think>A1"), u("Q2")}, QwenOptions{AddGenerationPrompt: true, DisableThinking: true},
			"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"tool responses and a later system turn",
			[]Message{u("Q"), a("calling"), {Role: "tool", Content: "r1"}, {Role: "tool", Content: "r2"}, s("note"), a("<think>t</think>done")},
			QwenOptions{AddGenerationPrompt: true},
			"<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\ncalling<|im_end|>\n<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n</tool_response><|im_end|>\n<|im_start|>system\nnote<|im_end|>\n<|im_start|>assistant\n<think>\nt\n</think>\n\ndone<|im_end|>\n<|im_start|>assistant\n"},
	} {
		got, err := Qwen3(c.msgs, c.opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s:\n got  %q\n want %q", c.name, got, c.want)
		}
	}
	if _, err := Qwen3([]Message{{Role: "judge", Content: "x"}}, QwenOptions{}); err == nil || !strings.Contains(err.Error(), `role "judge"`) {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := Qwen3(nil, QwenOptions{}); err == nil {
		t.Error("no messages: want an error")
	}
}

// Encoding the rendered text splits out the ChatML and think tokens.
func TestQwen3ChatIDs(t *testing.T) {
	tok, err := tokenizer.Load(filepath.Join(testenv.SharedData(t, "tokenizers"), "qwen3", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := Qwen3([]Message{{Role: "user", Content: "Hi"}}, QwenOptions{AddGenerationPrompt: true, DisableThinking: true})
	ids := tok.Encode(text)
	// <|im_start|> user \n Hi <|im_end|> \n <|im_start|> assistant \n <think> \n\n </think> \n\n
	want := []string{"<|im_start|>", "user", "Ċ", "Hi", "<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ", "<think>", "ĊĊ", "</think>", "ĊĊ"}
	if got := tok.Tokens(ids); !slices.Equal(got, want) {
		t.Errorf("tokens %q, want %q", got, want)
	}
	if ids[0] != 151644 || ids[4] != 151645 || ids[9] != 151667 || ids[11] != 151668 {
		t.Errorf("special ids %v", ids)
	}
}

// mistral-common's v1 sample: text and all 118 ids, with the HF
// tokenizer.json and with the SentencePiece model of the same vocabulary.
func TestMistralV1MistralCommon(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t, "tokenizers"), "mistral-7b-v0.1-v0.2")
	sample, err := os.ReadFile(filepath.Join(dir, "mistral-common-tests-no_tools", "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Messages []Message `json:"messages"`
	}
	if err := json.Unmarshal(sample, &req); err != nil {
		t.Fatal(err)
	}
	wantText, err := os.ReadFile(filepath.Join(dir, "mistral-common-tests-no_tools", "text_v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "mistral-common-tests-no_tools", "tokens_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Tokens []int `json:"tokens"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Tokens) != 118 {
		t.Fatalf("%d expected ids, want 118", len(want.Tokens))
	}
	for _, file := range []string{"tokenizer.json", "tokenizer.model"} {
		tok, err := tokenizer.Load(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		ids, spans, text, err := MistralV1(tok, req.Messages)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, want.Tokens) {
			t.Errorf("%s: ids\n got  %v\n want %v", file, ids, want.Tokens)
		}
		// mistral-common writes the text with ▁ for spaces.
		if got := strings.ReplaceAll(text, " ", "▁"); got != string(wantText) {
			t.Errorf("%s: text\n got  %q\n want %q", file, got, wantText)
		}
		if len(spans) != 7 || spans[0] != (Span{"user", 1, 20}) || spans[1].Role != "assistant" || ids[spans[1].End-1] != 2 || spans[6].End != 118 {
			t.Errorf("%s: spans %v", file, spans)
		}
	}
}

func TestMistralV1SystemAndErrors(t *testing.T) {
	tok, err := tokenizer.Load(filepath.Join(testenv.SharedData(t, "tokenizers"), "mistral-7b-v0.1-v0.2", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids, _, text, err := MistralV1(tok, []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if text != "<s> [INST] Be brief.\n\nHi [/INST]" {
		t.Errorf("text %q", text)
	}
	if want := append([]int{1}, tok.Encode("[INST] Be brief.\n\nHi [/INST]")...); !slices.Equal(ids, want) {
		t.Errorf("ids %v want %v", ids, want)
	}
	_, _, _, err = MistralV1(tok, []Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}})
	if err == nil || !strings.Contains(err.Error(), `message 1 has role "user", want "assistant"`) {
		t.Errorf("two user turns: %v", err)
	}
	if _, _, _, err = MistralV1(tok, []Message{{Role: "system", Content: "x"}}); err == nil {
		t.Error("system only: want an error")
	}
}

func TestQwen3EncodeSpans(t *testing.T) {
	tok, err := tokenizer.Load(filepath.Join(testenv.SharedData(t, "tokenizers"), "qwen3", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{Role: "system", Content: "Judge fairly."},
		{Role: "user", Content: "Rate: 2+2=4"},
		{Role: "assistant", Content: "<think>\neasy\n</think>\n\nFeedback: correct. [RESULT] 5"},
		{Role: "user", Content: "  And 3+3=7?\n"},
	}
	ids, spans, text, err := Qwen3Encode(tok, msgs, QwenOptions{AddGenerationPrompt: true, DisableThinking: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, tok.Encode(text)) {
		t.Fatal("ids differ from encoding the whole text")
	}
	roles := []string{"system", "user", "assistant", "user", "generation"}
	if len(spans) != len(roles) || spans[0].Start != 0 || spans[len(spans)-1].End != len(ids) {
		t.Fatalf("spans %v", spans)
	}
	for i, sp := range spans {
		if sp.Role != roles[i] || (i > 0 && sp.Start != spans[i-1].End) {
			t.Fatalf("span %d: %v (all %v)", i, sp, spans)
		}
		// Every message opens with <|im_start|>.
		if ids[sp.Start] != 151644 {
			t.Errorf("span %d starts with %q", i, tok.Token(ids[sp.Start]))
		}
		// Each span decodes to its message's rendering.
		part, _ := tok.Decode(ids[sp.Start:sp.End])
		if i == 2 && part != "<|im_start|>assistant\nFeedback: correct. [RESULT] 5<|im_end|>\n" {
			t.Errorf("assistant span decodes to %q", part)
		}
	}
	// Without a generation prompt there is no generation span.
	_, spans, _, err = Qwen3Encode(tok, msgs[:3], QwenOptions{})
	if err != nil || len(spans) != 3 || spans[2].Role != "assistant" {
		t.Errorf("spans %v, %v", spans, err)
	}
}
