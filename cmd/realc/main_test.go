package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestUnknownSubcommandSuggests(t *testing.T) {
	commands["frobnicate"] = &command{name: "frobnicate", run: nil}
	defer delete(commands, "frobnicate")
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicat"}, &out, &errb); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `did you mean "frobnicate"`) {
		t.Fatalf("no suggestion in %q", errb.String())
	}
}

func TestExitCodes(t *testing.T) {
	commands["test-usage"] = &command{name: "test-usage", run: func(args []string, stdout, stderr io.Writer) error { return usagef("bad flag %q", "-x") }}
	commands["test-fail"] = &command{name: "test-fail", run: func(args []string, stdout, stderr io.Writer) error { return errors.New("boom") }}
	defer delete(commands, "test-usage")
	defer delete(commands, "test-fail")
	var out, errb bytes.Buffer
	if code := run([]string{"test-usage"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `realc test-usage: bad flag "-x"`) {
		t.Fatalf("usage error: code %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"test-fail"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "realc test-fail: boom") {
		t.Fatalf("failure: code %d, stderr %q", code, errb.String())
	}
	if code := run([]string{"help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "test-usage") {
		t.Fatalf("help: code %d, stdout %q", code, out.String())
	}
}
