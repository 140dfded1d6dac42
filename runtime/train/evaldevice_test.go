package train_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/train"
	"github.com/realc-project/realc/runtime/train/traintest"
)

// The evaluation of a trainer whose engine runs elsewhere (a GPU's)
// samples and scores through the engine's sampler, not the host model; with
// the host's sampler standing in (the same model as a sample.LM) its
// metrics are the host path's exactly, and every sampler it took is
// released.
func TestEvaluateThroughEngineSampler(t *testing.T) {
	s := traintest.NewSetup(t)
	p := newTestProg(false, false)
	evalLine := func(out string, onDevice bool) (map[string]any, [][2]int) {
		c := distConfig(s, p, out, 1)
		c.Val, c.EvalLimit, c.EvalMaxTokens = []string{s.Data}, 3, 6
		tr, err := train.New(p, c, []byte("{}\n"), io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var calls *[][2]int
		var live *int
		if onDevice {
			calls, live = train.UseSamplerEngine(tr)
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if onDevice && *live != 0 {
			t.Errorf("%d samplers not released", *live)
		}
		b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["kind"] == "eval" {
				delete(m, "time/eval")
				if fs, ok := m["fields"].(map[string]any); ok {
					delete(fs, "time/eval")
				}
				if onDevice {
					return m, *calls
				}
				return m, nil
			}
		}
		t.Fatalf("no eval line in %s", b)
		return nil, nil
	}
	dir := t.TempDir()
	want, _ := evalLine(filepath.Join(dir, "host"), false)
	got, calls := evalLine(filepath.Join(dir, "device"), true)
	if len(calls) == 0 {
		t.Fatal("the evaluation never asked the engine for a sampler")
	}
	for _, c := range calls {
		if c[0] < 1 || c[1] < 6 {
			t.Errorf("sampler asked for %d caches of %d tokens", c[0], c[1])
		}
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("the evaluation through the engine's sampler\n%s\nthe host path's\n%s", gj, wj)
	}
	t.Logf("sampler calls (caches, max length): %v; eval line %s", calls, gj)
}
