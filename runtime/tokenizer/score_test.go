package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

func TestScoreTokenIDs(t *testing.T) {
	digits := []string{"1", "2", "3", "4", "5"}
	for _, c := range []struct {
		file string
		want []int
	}{
		{qwen3JSON, []int{16, 17, 18, 19, 20}},
		{mistralJSON, []int{28740, 28750, 28770, 28781, 28782}},
		{mistralModel, []int{28740, 28750, 28770, 28781, 28782}},
	} {
		tk := load(t, c.file)
		got, err := tk.ScoreTokenIDs(digits)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v want %v", c.file, got, c.want)
		}
	}
	// Qwen3 splits numbers into digits, so "10" is two tokens.
	if _, err := load(t, qwen3JSON).ScoreTokenIDs([]string{"1", "10"}); err == nil || !strings.Contains(err.Error(), `"10"`) {
		t.Errorf("want an error naming \"10\", got %v", err)
	}
	if _, err := load(t, qwen3JSON).ScoreTokenIDs([]string{""}); err == nil {
		t.Error("empty score: want an error")
	}
}

func TestSpecialIDs(t *testing.T) {
	q := load(t, qwen3JSON)
	if q.BOS() != -1 || q.EOS() != 151645 || !q.IsSpecial(151645) || q.IsSpecial(151667) || q.VocabSize() != 151669 {
		t.Errorf("qwen3: bos %d eos %d vocab %d", q.BOS(), q.EOS(), q.VocabSize())
	}
	for _, f := range []string{mistralJSON, mistralModel, llama2Model} {
		m := load(t, f)
		if m.BOS() != 1 || m.EOS() != 2 || !m.IsSpecial(1) || m.VocabSize() != 32000 {
			t.Errorf("%s: bos %d eos %d vocab %d", f, m.BOS(), m.EOS(), m.VocabSize())
		}
		if id, ok := m.TokenID("<0x0A>"); !ok || id != 13 {
			t.Errorf("%s: <0x0A> is %d, %v", f, id, ok)
		}
	}
}
