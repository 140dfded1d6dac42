package train

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// bytesScorer scores byte-per-token text: ids are the bytes.
func bytesScorer() *scorer {
	return &scorer{marker: "is ", strs: []string{"1", "2", "3"}, values: []float64{1, 2, 3}, ids: []int{'1', '2', '3'},
		pieceOf: func(id int) ([]byte, error) { return []byte{byte(id)}, nil }}
}

func ids(s string) []int {
	out := make([]int, len(s))
	for i := range s {
		out[i] = int(s[i])
	}
	return out
}

func TestParseAndTeacherForcing(t *testing.T) {
	sc := bytesScorer()
	const eos = 0
	prompt := []int{7, 7}
	// "ab is 2" + EOS, y = 3: [cot = "ab is "; y_tok = '3'], slot at 6.
	sq, err := sc.rlSeq(prompt, append(ids("ab is 2"), eos), []int{eos}, true, false, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(ids("ab is "), '3'); !reflect.DeepEqual(sq.Resp, want) || sq.Cot != [2]int{0, 6} || sq.Answer != [2]int{6, 7} || sq.Slot != 6 {
		t.Fatalf("teacher-forced %v cot %v answer %v slot %d", sq.Resp, sq.Cot, sq.Answer, sq.Slot)
	}
	if sq.Pred == nil || *sq.Pred != 2 || sq.Acc != 0 || sq.Format != 1 {
		t.Fatalf("pred %v acc %v format %v", sq.Pred, sq.Acc, sq.Format)
	}
	// No score: REAL's blind read, the last token before EOS becomes y.
	sq, _ = sc.rlSeq(prompt, append(ids("abc"), eos), []int{eos}, true, false, 1, true)
	if want := append(ids("ab"), '1'); !reflect.DeepEqual(sq.Resp, want) || sq.Pred != nil || sq.Slot != 2 {
		t.Fatalf("blind read: %v pred %v slot %d", sq.Resp, sq.Pred, sq.Slot)
	}
	// As sampled (no score-slot readout): EOS kept, regions around the score.
	sq, _ = sc.rlSeq(prompt, append(ids("x is 1 ok"), eos), []int{eos}, true, false, 1, false)
	if !reflect.DeepEqual(sq.Resp, append(ids("x is 1 ok"), eos)) || sq.Cot != [2]int{0, 5} || sq.Answer != [2]int{5, 6} || sq.Acc != 1 || sq.Format != 0 {
		t.Fatalf("as sampled: %v cot %v answer %v acc %v format %v", sq.Resp, sq.Cot, sq.Answer, sq.Acc, sq.Format)
	}
	// A score that is not a whole token at the marker ("is 12" parses as '1'
	// followed by text; "is x" has none).
	if p, _ := sc.parse(ids("is x")); p.slot != -1 {
		t.Errorf("'is x' has no score, got slot %d", p.slot)
	}
}

func TestPlanMicros(t *testing.T) {
	var seqs []*Seq
	for _, n := range []int{10, 30, 5, 40} {
		seqs = append(seqs, &Seq{Prompt: make([]int, 1), Resp: make([]int, n)})
	}
	ms := planMicros(seqs, 64)
	var got [][]int
	for _, m := range ms {
		var ls []int
		for _, s := range m.seqs {
			ls = append(ls, inputLen(s))
		}
		if len(m.seqs) > 1 && len(m.seqs)*m.T > 64 {
			t.Errorf("micro-batch %v has %d padded tokens, over 64", ls, len(m.seqs)*m.T)
		}
		got = append(got, ls)
	}
	if want := [][]int{{10, 30}, {5}, {40}}; !reflect.DeepEqual(got, want) {
		t.Errorf("micro-batches %v, want %v", got, want)
	}
	if len(planMicros(seqs, 0)) != 1 {
		t.Errorf("max tokens 0 must give one micro-batch")
	}
}

func TestSplitArgsAndYAML(t *testing.T) {
	got := splitArgs([]string{"--train", "a", "b", "--steps", "3", "--val", "c", "--train=d"}, map[string]bool{"train": true, "val": true})
	want := []string{"--train", "a", "--train", "b", "--steps", "3", "--val", "c", "--train=d"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("splitArgs %v, want %v", got, want)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	steps := fs.Int("steps", 0, "")
	lr := fs.Float64("lr", 0, "")
	var train listFlag
	fs.Var(&train, "train", "")
	y := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(y, []byte("steps: 7\nlr: 2.5e-6\ntrain: [a.parquet, b.parquet]\n"), 0o644)
	if err := applyYAML(fs, y, map[string]bool{"steps": true}); err != nil {
		t.Fatal(err)
	}
	if *steps != 0 || *lr != 2.5e-6 || !reflect.DeepEqual([]string(train), []string{"a.parquet", "b.parquet"}) {
		t.Errorf("after YAML: steps %d (the command line wins), lr %v, train %v", *steps, *lr, train)
	}
	os.WriteFile(y, []byte("stepz: 7\n"), 0o644)
	if err := applyYAML(fs, y, nil); err == nil || !strings.Contains(err.Error(), `unknown key "stepz"`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestGoldOutput(t *testing.T) {
	e := Example{Y: 4, Target: "The answer misses two facts. [RESULT] 2", Where: "f: row 0"}
	got, err := goldOutput(e, "So the overall score is ", []string{"1", "2", "3", "4", "5"}, []float64{1, 2, 3, 4, 5})
	if err != nil || got != "The answer misses two facts. So the overall score is 4" {
		t.Fatalf("gold output %q, %v", got, err)
	}
	e.Y = 2.5
	if _, err := goldOutput(e, "So the overall score is ", []string{"1"}, []float64{1}); err == nil || !strings.Contains(err.Error(), "row 0") {
		t.Errorf("a non-score ground truth must be refused naming the row: %v", err)
	}
}
