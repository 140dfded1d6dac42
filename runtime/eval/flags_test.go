package eval

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/data"
)

// TestFlags: the shared eval flags parse into the harness's configuration and
// the load options, and each bad value is refused naming its flag.
func TestFlags(t *testing.T) {
	parse := func(args ...string) (Config, LoadOptions, error) {
		var f Flags
		fs := flag.NewFlagSet("eval", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs, "blind", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f.Resolve()
	}
	cfg, opts, err := parse("--n", "3", "--batch", "2", "--temperature", "0.5", "--top-p", "0.9", "--max-tokens", "7",
		"--seed", "11", "--mode", "decode", "--renorm", "--format", "prometheus", "--source", "human", "--limit", "4")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{NCoT: 3, Batch: 2, Sampling: Sampling{Temperature: 0.5, TopP: 0.9, MaxTokens: 7, Seed: 11}, Policy: PolicyBlind, Mode: ModeDecode, Renorm: true}
	if cfg.NCoT != want.NCoT || cfg.Batch != want.Batch || cfg.Sampling != want.Sampling || cfg.Policy != want.Policy || cfg.Mode != want.Mode || !cfg.Renorm {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
	if opts.Limit != 4 || opts.Format != data.FormatPrometheus || opts.Source != data.HumanScores {
		t.Errorf("load options %+v", opts)
	}
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--n", "0"}, "--n"},
		{[]string{"--top-p", "1.5"}, "--top-p"},
		{[]string{"--limit", "-1"}, "--limit"},
		{[]string{"--policy", "vote"}, "--policy"},
		{[]string{"--mode", "argmax"}, "--mode"},
		{[]string{"--format", "csv"}, "--format"},
		{[]string{"--source", "crowd"}, "--source"},
	} {
		if _, _, err := parse(c.args...); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%v: error %v, want one naming %s", c.args, err, c.flag)
		}
	}
}
