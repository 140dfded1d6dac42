package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/realc-project/realc/runtime/tokenizer"
)

// tokenizeStdin is where `realc tokenize` reads; tests replace it.
var tokenizeStdin io.Reader = os.Stdin

func init() {
	register("tokenize", "encode text on stdin to token ids like HF encode (--decode: ids to text)", runTokenize)
}

func runTokenize(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usage := ("realc tokenize --tokenizer FILE [--special] [--text STRING] < text\n" +
		"       realc tokenize --tokenizer FILE --decode [--skip-special] < ids\n\n" +
		"Encodes UTF-8 text (stdin byte for byte, or --text) as Hugging Face encode(text,\n" +
		"add_special_tokens=False) does and prints {\"ids\": [...]}. FILE is a tokenizer.json,\n" +
		"a SentencePiece tokenizer.model, or a model folder holding one. With --decode,\n" +
		"reads ids ({\"ids\": [...]}, a JSON list, or comma/space separated) and prints the text.")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n", usage)
		fs.PrintDefaults()
	}
	path := fs.String("tokenizer", "", "tokenizer.json, tokenizer.model or a folder holding one (required)")
	special := fs.Bool("special", false, "add BOS/EOS as add_special_tokens=True does")
	decode := fs.Bool("decode", false, "read ids and print the decoded text")
	skip := fs.Bool("skip-special", false, "with --decode: leave out special tokens")
	text := fs.String("text", "", "text to encode instead of stdin")
	showTokens := fs.Bool("tokens", false, "also print the token strings")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (the text comes on stdin or with --text)", fs.Arg(0))
	}
	if *path == "" {
		return usagef("--tokenizer FILE is required")
	}
	if *decode && (*special || *showTokens) {
		return usagef("--decode cannot be combined with --special or --tokens")
	}
	if *skip && !*decode {
		return usagef("--skip-special only applies with --decode")
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
		for i, r := range input {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(input[i:]); n == 1 {
					return fmt.Errorf("input is not UTF-8 (invalid byte 0x%02X at offset %d)", input[i], i)
				}
			}
		}
	}
	var ids []int
	if *special {
		ids = tok.EncodeSpecial(input)
	} else {
		ids = tok.Encode(input)
	}
	out := tokenizer.FormatIDs(ids)
	if *showTokens {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep <|im_start|> readable
		if err := enc.Encode(tok.Tokens(ids)); err != nil {
			return err
		}
		out = out[:len(out)-1] + `, "tokens": ` + strings.TrimSpace(buf.String()) + "}"
	}
	_, err = fmt.Fprintln(stdout, out)
	return err
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
