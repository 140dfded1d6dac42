// Package chat renders conversations in the prompt formats of the model
// families REAL trains: Qwen3's ChatML with <think> blocks, written by hand
// from the chat_template in Qwen3's tokenizer_config.json, and Mistral's v1
// [INST] format, tokenized piece by piece as mistral-common does.
package chat

import (
	"fmt"
	"slices"
	"strings"

	"github.com/realc-project/realc/runtime/tokenizer"
)

// Message is one turn. Role is system, user, assistant or tool.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ReasoningContent, when set, is an assistant's thinking; otherwise Qwen3
	// takes it from a <think>...</think> block at the start of Content.
	ReasoningContent *string `json:"reasoning_content,omitempty"`
}

// QwenOptions are the template variables of Qwen3's chat_template.
type QwenOptions struct {
	// AddGenerationPrompt ends the text with the opening of an assistant turn.
	AddGenerationPrompt bool
	// DisableThinking is enable_thinking=false: the generation prompt gets an
	// empty <think></think> block so that the model answers directly.
	DisableThinking bool
}

// Qwen3 renders messages as Qwen3's chat_template does (without tools):
// ChatML turns; assistant turns after the last user query keep their thinking
// in a <think> block, earlier ones lose it.
func Qwen3(msgs []Message, opt QwenOptions) (string, error) {
	text, _, err := qwen3Render(msgs, opt)
	return text, err
}

// qwen3Render also returns where each message's text starts, and (last) where
// the generation prompt starts.
func qwen3Render(msgs []Message, opt QwenOptions) (string, []int, error) {
	if len(msgs) == 0 {
		return "", nil, fmt.Errorf("chat: no messages")
	}
	starts := make([]int, 0, len(msgs)+1)
	var b strings.Builder
	if msgs[0].Role == "system" {
		b.WriteString("<|im_start|>system\n" + msgs[0].Content + "<|im_end|>\n")
	}
	// The last user message that is not a wrapped tool response.
	lastQuery := len(msgs) - 1
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Role == "user" && !(strings.HasPrefix(m.Content, "<tool_response>") && strings.HasSuffix(m.Content, "</tool_response>")) {
			lastQuery = i
			break
		}
	}
	for i, m := range msgs {
		if i > 0 {
			starts = append(starts, b.Len())
		} else {
			starts = append(starts, 0)
		}
		switch m.Role {
		case "user", "system":
			if m.Role == "system" && i == 0 {
				continue
			}
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		case "assistant":
			content, reasoning := m.Content, ""
			if m.ReasoningContent != nil {
				reasoning = *m.ReasoningContent
			} else if strings.Contains(m.Content, "</think>") {
				parts := strings.Split(m.Content, "</think>")
				content = strings.TrimLeft(parts[len(parts)-1], "\n")
				before := strings.TrimRight(parts[0], "\n")
				th := strings.Split(before, "<think>")
				reasoning = strings.TrimLeft(th[len(th)-1], "\n")
			}
			if i > lastQuery && (i == len(msgs)-1 || reasoning != "") {
				b.WriteString("<|im_start|>assistant\n<think>\n" + strings.Trim(reasoning, "\n") + "\n</think>\n\n" + strings.TrimLeft(content, "\n"))
			} else {
				b.WriteString("<|im_start|>assistant\n" + content)
			}
			b.WriteString("<|im_end|>\n")
		case "tool":
			if i == 0 || msgs[i-1].Role != "tool" {
				b.WriteString("<|im_start|>user")
			}
			b.WriteString("\n<tool_response>\n" + m.Content + "\n</tool_response>")
			if i == len(msgs)-1 || msgs[i+1].Role != "tool" {
				b.WriteString("<|im_end|>\n")
			}
		default:
			return "", nil, fmt.Errorf("chat: message %d: role %q is not one of system, user, assistant, tool", i, m.Role)
		}
	}
	starts = append(starts, b.Len())
	if opt.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
		if opt.DisableThinking {
			b.WriteString("<think>\n\n</think>\n\n")
		}
	}
	return b.String(), starts, nil
}

// Qwen3Encode renders messages with Qwen3 and encodes the text, returning the
// token span of each message (and, with AddGenerationPrompt, a last span with
// role "generation" for the assistant opening). ChatML puts an added token
// (<|im_start|>) at the start of every message, so the text of each message
// encodes on its own exactly as within the whole, which is checked.
func Qwen3Encode(tok *tokenizer.Tokenizer, msgs []Message, opt QwenOptions) (ids []int, spans []Span, text string, err error) {
	text, starts, err := qwen3Render(msgs, opt)
	if err != nil {
		return nil, nil, "", err
	}
	bounds := append(starts, len(text))
	for i := 0; i+1 < len(bounds); i++ {
		role := "generation"
		if i < len(msgs) {
			role = msgs[i].Role
		}
		if i == len(msgs) && !opt.AddGenerationPrompt {
			break
		}
		start := len(ids)
		ids = append(ids, tok.Encode(text[bounds[i]:bounds[i+1]])...)
		spans = append(spans, Span{role, start, len(ids)})
	}
	if whole := tok.Encode(text); !slices.Equal(whole, ids) {
		return nil, nil, "", fmt.Errorf("chat: tokenizer %s does not split the Qwen3 text at message boundaries (is it a Qwen tokenizer?)", tok.Source())
	}
	return ids, spans, text, nil
}

// Span is the token range [Start, End) of one message in an encoding.
type Span struct {
	Role       string
	Start, End int
}

// MistralV1 encodes messages as mistral-common's v1 instruct tokenizer
// (Mistral-7B-Instruct v0.1/v0.2, Mixtral-8x7B-Instruct): BOS, then for each
// user turn encode("[INST] {content} [/INST]"), for each assistant turn
// encode("{content}") and EOS, every piece encoded separately (so each starts
// with SentencePiece's "▁"). A system message is put before the first user
// message as "{system}\n\n{user}". Turns must alternate user/assistant,
// starting with user. The text is the same, decoded (" [INST] ... [/INST]").
func MistralV1(tok *tokenizer.Tokenizer, msgs []Message) (ids []int, spans []Span, text string, err error) {
	if tok.BOS() < 0 || tok.EOS() < 0 {
		return nil, nil, "", fmt.Errorf("chat: tokenizer %s has no BOS or EOS token", tok.Source())
	}
	system := ""
	if len(msgs) > 0 && msgs[0].Role == "system" {
		system = msgs[0].Content
		msgs = msgs[1:]
	}
	if len(msgs) == 0 {
		return nil, nil, "", fmt.Errorf("chat: no user message")
	}
	var tb strings.Builder
	ids = []int{tok.BOS()}
	tb.WriteString(tok.Token(tok.BOS()))
	for i, m := range msgs {
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		if m.Role != want {
			return nil, nil, "", fmt.Errorf("chat: message %d has role %q, want %q (after an optional system message, turns alternate user, assistant, ...)", i, m.Role, want)
		}
		start := len(ids)
		var piece string
		if m.Role == "user" {
			content := m.Content
			if i == 0 && system != "" {
				content = system + "\n\n" + content
			}
			piece = "[INST] " + content + " [/INST]"
			ids = append(ids, tok.Encode(piece)...)
		} else {
			piece = m.Content
			ids = append(ids, tok.Encode(piece)...)
			ids = append(ids, tok.EOS())
		}
		tb.WriteString(" " + piece)
		if m.Role == "assistant" {
			tb.WriteString(tok.Token(tok.EOS()))
		}
		spans = append(spans, Span{m.Role, start, len(ids)})
	}
	return ids, spans, tb.String(), nil
}
