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

var diffRE = regexp.MustCompile(`Word (\d) "([a-z]+)" is not "([a-z]+)"`)

func TestItemsAreConsistent(t *testing.T) {
	vocabSet := map[string]bool{}
	for _, w := range Vocabulary() {
		vocabSet[w] = true
	}
	var swaps, nearDup, repeats int
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
		resp, ref := strings.Fields(p.Response), strings.Fields(p.ReferenceAnswer)
		if len(resp) != ListLen || len(ref) != ListLen {
			t.Fatalf("item %d: response %q / reference %q are not %d words", i, p.Response, p.ReferenceAnswer, ListLen)
		}
		if !strings.Contains(p.Instruction, strings.Join(ref, " ")+".") {
			t.Fatalf("item %d: instruction %q does not hold the reference list", i, p.Instruction)
		}
		want := map[int][2]string{}
		for j := range ref {
			if !vocabSet[ref[j]] || !vocabSet[resp[j]] {
				t.Fatalf("item %d: a word outside the vocabulary: %q / %q", i, p.Response, p.ReferenceAnswer)
			}
			if resp[j] != ref[j] {
				want[j+1] = [2]string{resp[j], ref[j]}
				if category[resp[j]] == category[ref[j]] && (resp[j][0] == ref[j][0] || strings.HasSuffix(resp[j], ref[j][len(ref[j])-2:])) {
					nearDup++
				}
				for _, r := range ref {
					if r == resp[j] {
						repeats++
					}
				}
			}
		}
		if len(want) != it.Diffs || it.Score != 5-it.Diffs {
			t.Fatalf("item %d: %d positions differ, Diffs %d, Score %d", i, len(want), it.Diffs, it.Score)
		}
		suffix := fmt.Sprintf(" So the overall score is %d", it.Score)
		if !strings.HasSuffix(it.Gold, suffix) || !strings.HasPrefix(it.Gold, "Feedback: ") {
			t.Fatalf("item %d: gold %q does not end with %q", i, it.Gold, suffix)
		}
		named := diffRE.FindAllStringSubmatch(it.Gold, -1)
		if len(named) != it.Diffs {
			t.Fatalf("item %d: gold names %d differences, want %d: %q", i, len(named), it.Diffs, it.Gold)
		}
		for _, m := range named {
			j, _ := strconv.Atoi(m[1])
			if want[j] != [2]string{m[2], m[3]} {
				t.Fatalf("item %d: gold says word %d is %q instead of %q; the prompt has %q instead of %q", i, j, m[2], m[3], want[j][0], want[j][1])
			}
		}
		if it.Diffs == 0 && !strings.HasSuffix(it.Gold, "matches. The response matches the reference answer word for word. So the overall score is 5") {
			t.Fatalf("item %d: gold %q", i, it.Gold)
		}
		if it.Diffs >= 2 {
			for a := range ref {
				for b := a + 1; b < len(ref); b++ {
					if resp[a] == ref[b] && resp[b] == ref[a] {
						swaps++
					}
				}
			}
		}
	}
	if swaps == 0 || nearDup == 0 || repeats == 0 {
		t.Errorf("variants missing: %d swaps, %d near-duplicates, %d repeated words", swaps, nearDup, repeats)
	}
	t.Logf("%d swaps, %d near-duplicate replacements, %d replacements repeating a list word", swaps, nearDup, repeats)
}

func TestGoldOutput(t *testing.T) {
	ref := strings.Fields("red fox blue owl green")
	for _, c := range []struct{ resp, want string }{
		{"red cat blue owl pear", `Feedback: Word 1 "red" matches. Word 2 "cat" is not "fox". Word 3 "blue" matches. Word 4 "owl" matches. Word 5 "pear" is not "green". The response differs from the reference answer in 2 places. So the overall score is 3`},
		{"red fox blue hen green", `Feedback: Word 1 "red" matches. Word 2 "fox" matches. Word 3 "blue" matches. Word 4 "hen" is not "owl". Word 5 "green" matches. The response differs from the reference answer in 1 place. So the overall score is 4`},
		{"red fox blue owl green", `Feedback: Word 1 "red" matches. Word 2 "fox" matches. Word 3 "blue" matches. Word 4 "owl" matches. Word 5 "green" matches. The response matches the reference answer word for word. So the overall score is 5`},
	} {
		if got := GoldOutput(strings.Fields(c.resp), ref); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
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
			if r.DataSource != "copy_list" || r.Ability != "judge" || r.Style != "rule" || r.GroundTruth.Float {
				t.Fatalf("%s row %d: %+v", name, j, r)
			}
			split, _ := r.Extra.String("split")
			idx, _ := r.Extra.Int("index")
			diffs, _ := r.Extra.Int("diffs")
			q, _ := r.Extra.String("question")
			a, _ := r.Extra.String("answer")
			if split != name || idx != int64(j) || q != u || r.GroundTruth.Text != strconv.Itoa(5-int(diffs)) ||
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
// take their places. (Real overlaps are rare: about 17 million lists times
// the variants, so the skip is forced here.)
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
		if it.Diffs == 2 {
			t.Logf("Score %d, Diffs %d\n--- prompt ---\n%s\n--- gold ---\n%s", it.Score, it.Diffs, it.Prompt, it.Gold)
			return
		}
	}
}
