package traintest

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

// withMeta is a program whose Meta is replaced (score strings under test).
type withMeta struct {
	recipe.Program
	m *recipe.Meta
}

func (w withMeta) Meta() *recipe.Meta { return w.m }

// checkBadInput: every bad input is refused before any work, with a
// message that names the place.
func checkBadInput(t *testing.T, p recipe.Program, s *Setup) {
	m := p.Meta()
	dir := t.TempDir()
	refuse := func(name string, c train.Config, prog recipe.Program, want ...string) {
		t.Helper()
		_, err := train.New(prog, c, nil, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("%s: accepted", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
	writeRows := func(name string, edit func(r *data.Row)) string {
		path := filepath.Join(dir, name+".parquet")
		rows, _, err := data.ReadFile(s.Data, data.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(&rows[2])
		if err := data.WriteFile(path, rows, data.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c := s.Config(m, filepath.Join(dir, "out"))
	c.Train = []string{writeRows("nogt", func(r *data.Row) { r.GroundTruth = data.GroundTruth{} })}
	refuse("a row without a ground truth", c, p, "row 2", "ground truth")
	c.Train = []string{writeRows("gt7", func(r *data.Row) { r.GroundTruth = data.StringGT("7") })}
	refuse("a ground truth outside the score values", c, p, "row 2", "7", "score values")

	c = s.Config(m, filepath.Join(dir, "out"))
	mm := *m
	mm.ScoreStrings = append([]string{"10"}, m.ScoreStrings[1:]...)
	refuse("a score string of two tokens", c, withMeta{p, &mm}, `"10"`, "one token")

	small := filepath.Join(dir, "small")
	cfg := model.TinyQwen3Config(128)
	sm, _ := model.New(cfg)
	if err := sm.SaveHF(small); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(small, "tokenizer.json"), TokenizerJSON(), 0o644)
	c.Model = small
	refuse("a tokenizer larger than the model's vocabulary", c, p, "vocab_size", "do not belong together")

	c = s.Config(m, filepath.Join(dir, "other"))
	os.MkdirAll(c.Out, 0o755)
	run, _ := json.Marshal(map[string]string{"recipe": "some_other_recipe"})
	os.WriteFile(filepath.Join(c.Out, "run.json"), run, 0o644)
	refuse("an --out holding another recipe's run", c, p, "some_other_recipe", "another --out")

	if train.IsRL(m) {
		// A prompt longer than max_prompt is cut on the left and counted.
		c = s.Config(m, filepath.Join(dir, "trunc"))
		c.Rollout.MaxPrompt, c.Steps = 16, 1
		tr, err := train.New(p, c, nil, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, filepath.Join(c.Out, "metrics.jsonl"))
		var v map[string]any
		json.Unmarshal(lines[0], &v)
		if v["truncated_prompts"] != float64(3) {
			t.Errorf("3 prompts past max_prompt=16: truncated_prompts = %v", v["truncated_prompts"])
		}
	}
}
