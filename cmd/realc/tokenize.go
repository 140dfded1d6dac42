package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/realc-project/realc/runtime/chat"
	"github.com/realc-project/realc/runtime/tokenizer"
)

// tokenizeStdin is where `realc tokenize` reads; tests replace it.
var tokenizeStdin io.Reader = os.Stdin

func init() {
	register("tokenize", "encode text on stdin to token ids like HF encode (--decode: ids to text; --chat: a conversation)", runTokenize)
}

const tokenizeUsage = `realc tokenize --tokenizer FILE [--special] [--tokens] [--text STRING] < text
       realc tokenize --tokenizer FILE --decode [--skip-special] < ids
       realc tokenize --tokenizer FILE --chat qwen3|mistral-v1 [--generation-prompt] [--no-thinking] < chat.json

Encodes UTF-8 text (stdin byte for byte, or --text) as Hugging Face encode(text,
add_special_tokens=False) does and prints {"ids": [...]}. FILE is a tokenizer.json,
a SentencePiece tokenizer.model, or a model folder holding one.
--decode reads ids ({"ids": [...]}, a JSON list, or comma/space separated) and
prints the text. --chat reads {"messages": [{"role": ..., "content": ...}]} (or the
list alone), renders it in the model's chat format and prints {"ids": [...], "text": "..."}.`

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n", tokenizeUsage)
		fs.PrintDefaults()
	}
	path := fs.String("tokenizer", "", "tokenizer.json, tokenizer.model or a folder holding one (required)")
	special := fs.Bool("special", false, "add BOS/EOS as add_special_tokens=True does")
	decode := fs.Bool("decode", false, "read ids and print the decoded text")
	skip := fs.Bool("skip-special", false, "with --decode: leave out special tokens")
	text := fs.String("text", "", "text to encode instead of stdin")
	showTokens := fs.Bool("tokens", false, "also print the token strings")
	chatFormat := fs.String("chat", "", "read a conversation and render it: qwen3 or mistral-v1")
	genPrompt := fs.Bool("generation-prompt", false, "with --chat qwen3: end with the assistant turn's opening")
	noThinking := fs.Bool("no-thinking", false, "with --chat qwen3: enable_thinking=false (an empty <think> block)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage already printed
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (the text comes on stdin or with --text)", fs.Arg(0))
	}
	if *path == "" {
		return usagef("--tokenizer FILE is required")
	}
	if *decode && (*special || *showTokens || *chatFormat != "") {
		return usagef("--decode cannot be combined with --special, --tokens or --chat")
	}
	if *skip && !*decode {
		return usagef("--skip-special only applies with --decode")
	}
	switch *chatFormat {
	case "", "qwen3", "mistral-v1":
	default:
		return usagef("--chat %q: want qwen3 or mistral-v1", *chatFormat)
	}
	if (*genPrompt || *noThinking) && *chatFormat != "qwen3" {
		return usagef("--generation-prompt and --no-thinking apply with --chat qwen3")
	}
	if *chatFormat != "" && *special {
		return usagef("--special does not apply with --chat (the format decides the special tokens)")
	}
	tok, err := tokenizer.Load(*path)
	if err != nil {
		return err
	}
	input := *text
	if !isFlagSet(fs, "text") {
		b, err := io.ReadAll(tokenizeStdin)
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		input = string(b)
	}
	if *decode {
		ids, err := tokenizer.ParseIDs(input)
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		var s string
		if *skip {
			s, err = tok.DecodeSkipSpecial(ids)
		} else {
			s, err = tok.Decode(ids)
		}
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, s)
		return err
	}
	if !utf8.ValidString(input) {
		for i := 0; i < len(input); {
			r, n := utf8.DecodeRuneInString(input[i:])
			if r == utf8.RuneError && n == 1 {
				return fmt.Errorf("input is not UTF-8 (invalid byte 0x%02X at offset %d)", input[i], i)
			}
			i += n
		}
	}
	fields := []string{}
	var ids []int
	switch {
	case *chatFormat != "":
		msgs, err := readChat(input)
		if err != nil {
			return err
		}
		var rendered string
		if *chatFormat == "qwen3" {
			ids, _, rendered, err = chat.Qwen3Encode(tok, msgs, chat.QwenOptions{AddGenerationPrompt: *genPrompt, DisableThinking: *noThinking})
		} else {
			ids, _, rendered, err = chat.MistralV1(tok, msgs)
		}
		if err != nil {
			return err
		}
		fields = append(fields, `"text": `+jsonString(rendered))
	case *special:
		ids = tok.EncodeSpecial(input)
	default:
		ids = tok.Encode(input)
	}
	if *showTokens {
		fields = append(fields, `"tokens": `+jsonString(tok.Tokens(ids)))
	}
	out := tokenizer.FormatIDs(ids)
	if len(fields) > 0 {
		out = out[:len(out)-1] + ", " + strings.Join(fields, ", ") + "}"
	}
	_, err = fmt.Fprintln(stdout, out)
	return err
}

// readChat accepts {"messages": [...]} or the list of messages alone.
func readChat(input string) ([]chat.Message, error) {
	var msgs []chat.Message
	s := strings.TrimSpace(input)
	var err error
	if strings.HasPrefix(s, "[") {
		err = json.Unmarshal([]byte(s), &msgs)
	} else {
		var req struct {
			Messages []chat.Message `json:"messages"`
		}
		err = json.Unmarshal([]byte(s), &req)
		msgs = req.Messages
	}
	if err != nil {
		return nil, fmt.Errorf(`stdin: %v (expected {"messages": [{"role": "user", "content": "..."}]})`, err)
	}
	return msgs, nil
}

// jsonString encodes v without escaping <, > and & (keeps <|im_start|> readable).
func jsonString(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // strings and string slices always encode
	}
	return strings.TrimSpace(buf.String())
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
