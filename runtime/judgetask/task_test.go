package judgetask

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/testenv"
	"github.com/realc-project/realc/runtime/tokenizer"
)

func TestDeterministicAndPrefix(t *testing.T) {
	a, b := Generate(7, 300), Generate(7, 300)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Generate(7, 300) differs between two calls")
	}
	for _, m := range []int{0, 1, 17, 299} {
		if got := Generate(7, m); !reflect.DeepEqual(got, a[:m]) && !(m == 0 && len(got) == 0) {
			t.Fatalf("Generate(7, %d) is not Generate(7, 300)[:%d]", m, m)
		}
	}
	if reflect.DeepEqual(Generate(8, 50), a[:50]) {
		t.Fatal("seeds 7 and 8 give the same items")
	}
	distinct := map[string]bool{}
	for _, it := range a {
		distinct[it.Prompt] = true
	}
	if len(distinct) < 295 {
		t.Fatalf("only %d distinct prompts in 300 items", len(distinct))
	}
}

func TestScoreDistribution(t *testing.T) {
	const n = 5000
	var counts [6]int
	for _, it := range Generate(1, n) {
		if it.Score < 1 || it.Score > 5 {
			t.Fatalf("score %d outside 1..5", it.Score)
		}
		counts[it.Score]++
	}
	for s := 1; s <= 5; s++ {
		// Expected 1000 each, sd about 28: allow a wide 5 sd.
		if c := counts[s]; c < 860 || c > 1140 {
			t.Errorf("score %d: %d of %d items, want about %d", s, c, n, n/5)
		}
	}
	t.Logf("score counts 1..5: %v", counts[1:])
}

var lineRE = regexp.MustCompile(`^(\d)\. ([a-z]+)$`)

func TestItemsAreConsistent(t *testing.T) {
	others := map[string]bool{}
	for _, w := range Others {
		if IsFruit(w) {
			t.Fatalf("%q is both a fruit and not", w)
		}
		others[w] = true
	}
	var nearMiss int
	for w := range vegetables {
		if !others[w] {
			t.Fatalf("vegetable %q is not one of Others", w)
		}
	}
	for i, it := range Generate(3, 5000) {
		p, err := data.SplitPrompt(it.Prompt)
		if err != nil {
			t.Fatalf("item %d: SplitPrompt: %v", i, err)
		}
		if p.Render() != it.Prompt {
			t.Fatalf("item %d: the prompt does not render back", i)
		}
		if f, ok := p.Format(); !ok || f != data.FormatREAL {
			t.Fatalf("item %d: format line is not REAL's", i)
		}
		if p.Header != Header || p.Criteria != Criteria || p.ScoreDesc != ScoreDesc || p.Suffix != " " {
			t.Fatalf("item %d: fixed parts differ: %+v", i, p)
		}
		lines := strings.Split(p.Response, "\n")
		ref := strings.Split(p.ReferenceAnswer, ", ")
		if len(lines) != ListLen || len(ref) != ListLen {
			t.Fatalf("item %d: response %q / reference %q are not %d words", i, p.Response, p.ReferenceAnswer, ListLen)
		}
		seen := map[string]bool{}
		for _, w := range ref {
			if !IsFruit(w) || seen[w] {
				t.Fatalf("item %d: reference answer %q is not five different fruits", i, p.ReferenceAnswer)
			}
			seen[w] = true
		}
		// Recount from the prompt alone: the score is the number of fruits.
		fruits, want := 0, "Feedback:"
		seen = map[string]bool{}
		for j, l := range lines {
			m := lineRE.FindStringSubmatch(l)
			if m == nil || m[1] != strconv.Itoa(j+1) {
				t.Fatalf("item %d: response line %d is %q, want \"%d. word\"", i, j+1, l, j+1)
			}
			w := m[2]
			if seen[w] || (!IsFruit(w) && !others[w]) {
				t.Fatalf("item %d: word %q repeated or outside the vocabulary", i, w)
			}
			seen[w] = true
			verdict := "wrong"
			if IsFruit(w) {
				fruits++
				verdict = "ok"
			} else if vegetables[w] {
				nearMiss++
			}
			want += fmt.Sprintf("\n%d %s %s", j+1, w, verdict)
		}
		if it.Score != fruits || it.Wrong != ListLen-fruits || fruits < 1 {
			t.Fatalf("item %d: %d fruits, Score %d, Wrong %d", i, fruits, it.Score, it.Wrong)
		}
		want += fmt.Sprintf("\nFruits: %d of 5. So the overall score is %d", fruits, fruits)
		if it.Gold != want {
			t.Fatalf("item %d: gold\n%s\nwant\n%s", i, it.Gold, want)
		}
	}
	if nearMiss == 0 {
		t.Error("no vegetable (near-miss) among the wrong words")
	}
}

// vegetables are the near-misses among Others.
var vegetables = map[string]bool{"pea": true, "bean": true, "corn": true, "kale": true, "leek": true, "beet": true,
	"yam": true, "olive": true, "onion": true, "okra": true, "turnip": true, "radish": true, "carrot": true}

func TestGoldOutput(t *testing.T) {
	for _, c := range []struct{ resp, want string }{
		{"pear kale fig red lime", "Feedback:\n1 pear ok\n2 kale wrong\n3 fig ok\n4 red wrong\n5 lime ok\nFruits: 3 of 5. So the overall score is 3"},
		{"apple plum melon kiwi grape", "Feedback:\n1 apple ok\n2 plum ok\n3 melon ok\n4 kiwi ok\n5 grape ok\nFruits: 5 of 5. So the overall score is 5"},
		{"cat olive pea bean lemon", "Feedback:\n1 cat wrong\n2 olive wrong\n3 pea wrong\n4 bean wrong\n5 lemon ok\nFruits: 1 of 5. So the overall score is 1"},
		// Not generated (a response has at least one fruit), but the rubric's score 1 is "at most one".
		{"cat olive pea bean red", "Feedback:\n1 cat wrong\n2 olive wrong\n3 pea wrong\n4 bean wrong\n5 red wrong\nFruits: 0 of 5. So the overall score is 1"},
	} {
		if got := GoldOutput(strings.Fields(c.resp)); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// The text between the response and the feedback has the same shape in
// every item (only the reference answer's words change), and under a BPE
// trained on the task the gold line "j word verdict" has as many tokens as
// the response line "j. word": so line j of the response is at a fixed
// distance from line j of the feedback, which a small model can learn.
func TestFixedLayoutAfterResponse(t *testing.T) {
	items := Generate(4, 200)
	js, err := tokenizer.TrainBPE(Texts(items), tokenizer.BPETrainOptions{VocabSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.ParseHF("tokenizer.json", js)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items[:20] {
		p, _ := data.SplitPrompt(it.Prompt)
		resp := strings.Split(p.Response, "\n")
		gold := strings.Split(it.Gold, "\n")[1 : ListLen+1]
		for j := range resp {
			if r, g := len(tk.Encode("\n"+resp[j])), len(tk.Encode("\n"+gold[j])); r != g {
				t.Fatalf("response line %q is %d tokens, gold line %q %d", resp[j], r, gold[j], g)
			}
		}
	}
	var tail string
	for i, it := range items {
		p, _ := data.SplitPrompt(it.Prompt)
		p.Header, p.Instruction, p.Response = "", "", ""
		// Reference answers differ in their words only: mask them.
		ref := strings.Split(p.ReferenceAnswer, ", ")
		for j := range ref {
			ref[j] = "W"
		}
		p.ReferenceAnswer = strings.Join(ref, ", ")
		if r := p.Render(); i == 0 {
			tail = r
		} else if r != tail {
			t.Fatalf("item %d: the text after the response differs in shape:\n%s\nvs\n%s", i, r, tail)
		}
	}
}

// The header is Prometheus' own, with REAL's format line as rule 3.
func TestHeaderMatchesPrometheus(t *testing.T) {
	path := testenv.SharedData(t, "prometheus", "mt_bench_eval.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []struct {
		Instruction string `json:"instruction"`
	}
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 {
		t.Fatal("no items")
	}
	p, err := data.SplitPrompt(items[0].Instruction)
	if err != nil {
		t.Fatal(err)
	}
	p, err = p.WithFormat(data.FormatREAL)
	if err != nil {
		t.Fatal(err)
	}
	if p.Header != Header {
		t.Errorf("header differs from Prometheus' with REAL's format line:\ngot  %q\nwant %q", Header, p.Header)
	}
}

func TestWriteSplits(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int{"train": 2000, "val": 200, "test": 300}
	paths, err := WriteSplits(dir, 42, sizes["train"], sizes["val"], sizes["test"])
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("%d paths, want 3", len(paths))
	}
	prompts := map[string]map[string]bool{}
	for i, name := range []string{"train", "val", "test"} {
		if want := filepath.Join(dir, name+".parquet"); paths[i] != want {
			t.Fatalf("path %d is %s, want %s", i, paths[i], want)
		}
		rows, probs, err := data.ReadFile(paths[i], data.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) > 0 {
			t.Fatalf("%s: decoding problems: %v", name, probs)
		}
		if len(rows) != sizes[name] {
			t.Fatalf("%s: %d rows, want %d", name, len(rows), sizes[name])
		}
		prompts[name] = map[string]bool{}
		for j, r := range rows {
			if ps := data.ValidateJudgeRow(j, r); len(ps) > 0 {
				t.Fatalf("%s: %v", name, ps)
			}
			u, _ := r.UserPrompt()
			prompts[name][u] = true
			if r.DataSource != "name_fruits" || r.Ability != "judge" || r.Style != "rule" || r.GroundTruth.Float {
				t.Fatalf("%s row %d: %+v", name, j, r)
			}
			split, _ := r.Extra.String("split")
			idx, _ := r.Extra.Int("index")
			wrong, _ := r.Extra.Int("wrong")
			q, _ := r.Extra.String("question")
			a, _ := r.Extra.String("answer")
			if split != name || idx != int64(j) || q != u || r.GroundTruth.Text != strconv.Itoa(5-int(wrong)) ||
				!strings.HasSuffix(a, " So the overall score is "+r.GroundTruth.Text) {
				t.Fatalf("%s row %d: extra_info %v, ground truth %q", name, j, r.Extra, r.GroundTruth.Text)
			}
		}
	}
	for _, name := range []string{"val", "test"} {
		for p := range prompts[name] {
			if prompts["train"][p] {
				t.Fatalf("a %s prompt is a train prompt", name)
			}
		}
	}
	// Same call, same files' rows.
	dir2 := t.TempDir()
	paths2, err := WriteSplits(dir2, 42, sizes["train"], sizes["val"], sizes["test"])
	if err != nil {
		t.Fatal(err)
	}
	for i := range paths {
		r1, _, _ := data.ReadFile(paths[i], data.ReadOptions{})
		r2, _, _ := data.ReadFile(paths2[i], data.ReadOptions{})
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("%s differs between two runs with the same seed", paths[i])
		}
	}
}

func TestSplitItemsDisjoint(t *testing.T) {
	train, val, test, err := SplitItems(5, 500, 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(train, Generate(splitSeed(5, 0), 500)) {
		t.Fatal("train is not the train seed's stream")
	}
	seen := map[string]bool{}
	for _, it := range train {
		seen[it.Prompt] = true
	}
	for _, it := range val {
		if seen[it.Prompt] {
			t.Fatal("val item in train")
		}
	}
	for _, it := range val {
		seen[it.Prompt] = true
	}
	for _, it := range test {
		if seen[it.Prompt] {
			t.Fatal("test item in train or val")
		}
	}
}

// Items whose prompts were seen are skipped and the next ones of the stream
// take their places. (Real overlaps are rare: about 150 million responses
// times the reference answers and phrasings, so the skip is forced here.)
func TestPickSkipsSeenPrompts(t *testing.T) {
	stream := Generate(11, 10)
	seen := map[string]bool{stream[0].Prompt: true, stream[2].Prompt: true, stream[3].Prompt: true}
	got, err := pick(11, 5, seen)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{stream[1], stream[4], stream[5], stream[6], stream[7]}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("pick did not skip exactly the seen prompts")
	}
	all := map[string]bool{}
	for _, it := range Generate(11, pickLimit(1)) {
		all[it.Prompt] = true
	}
	if _, err := pick(11, 1, all); err == nil {
		t.Fatal("pick with every reachable prompt seen: no error")
	}
}

func TestEmptySplits(t *testing.T) {
	paths, err := WriteSplits(t.TempDir(), 1, 10, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := data.ReadFile(paths[1], data.ReadOptions{})
	if err != nil || len(rows) != 0 {
		t.Fatalf("empty val: %d rows, %v", len(rows), err)
	}
}

func TestTexts(t *testing.T) {
	items := Generate(9, 4)
	txt := Texts(items)
	if len(txt) != 8 || txt[0] != items[0].Prompt || txt[1] != items[0].Gold || txt[7] != items[3].Gold {
		t.Fatalf("Texts: %q", txt)
	}
}

func TestPrintExample(t *testing.T) {
	for _, it := range Generate(2024, 6) {
		if it.Wrong == 2 {
			t.Logf("Score %d, Wrong %d\n--- prompt ---\n%s\n--- gold ---\n%s", it.Score, it.Wrong, it.Prompt, it.Gold)
			return
		}
	}
}

// Words are drawn with Zipf weights: the first of a list far more often than
// the last, and every word at least sometimes.
func TestZipfWords(t *testing.T) {
	count := map[string]int{}
	for _, it := range Generate(6, 5000) {
		p, _ := data.SplitPrompt(it.Prompt)
		for _, l := range strings.Split(p.Response, "\n") {
			count[strings.SplitN(l, " ", 2)[1]]++
		}
	}
	for _, pool := range [][]string{Fruits, Others} {
		first, last := count[pool[0]], count[pool[len(pool)-1]]
		if first < 3*last {
			t.Errorf("%s drawn %d times, %s %d: want the first at least 3x the last", pool[0], first, pool[len(pool)-1], last)
		}
		for _, w := range pool {
			if count[w] == 0 {
				t.Errorf("%s never drawn in 5000 items", w)
			}
		}
		t.Logf("%s %d ... %s %d", pool[0], first, pool[len(pool)-1], last)
	}
}
