// Package judgetask generates a judge task that a tiny model trained from
// scratch on a CPU can learn: "name five fruits". The instruction asks for
// five different fruits, one per numbered line; the response to judge has k
// of its five lines replaced by a word that is not a fruit (a vegetable, an
// animal or a color; k uniform in 0..4), so the ground-truth score, the
// number of fruits, is 5 - k and follows from the text alone. Prompts are
// real Prometheus absolute-grading prompts (data.PromptParts.Render) whose
// format line is REAL's (data.REALFormatLine), with a reference answer of
// five fruits; the gold output walks the five lines, names every word that is
// not a fruit, counts, and ends with " So the overall score is N".
//
// Why this shape: a model trained from scratch for a few minutes must learn
// to fetch the j-th line of the response (by its number, or by its fixed
// distance: a gold line "3 fig ok" has as many tokens as the response line
// "3. fig", and everything between the response and the feedback is fixed
// text), to look the word up, and to count. Words are drawn with Zipf
// weights (the k-th word of a list 1/k as likely as the first), so a warm-up
// that has learned to fetch lines and judge the common words still misjudges
// rare ones: its scores are mostly right and sometimes off by one, which gives
// RL groups of mixed accuracy. Near-misses (pea, bean, olive next to plum and
// fig) make the lookup itself non-trivial.
package judgetask

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/realc-project/realc/runtime/data"
)

// ListLen is the number of lines in a response.
const ListLen = 5

// Fruits are the words that count; Others are the words that do not:
// vegetables (the near-misses), animals and colors, interleaved so that each
// kind has common and rare words. Order matters: the k-th word of a list is
// drawn 1/k as often as the first.
var (
	Fruits = []string{"pear", "peach", "plum", "lime", "lemon", "fig", "grape", "apple", "melon", "mango", "cherry", "kiwi",
		"banana", "guava", "papaya", "quince", "apricot", "lychee", "orange", "berry"}
	Others = []string{"pea", "cat", "red", "bean", "rat", "blue", "corn", "dog", "gray", "kale", "fox", "pink",
		"leek", "owl", "green", "beet", "hen", "black", "yam", "cow", "brown", "olive", "pig", "teal",
		"onion", "ant", "gold", "okra", "bat", "tan", "turnip", "radish", "carrot"}
)

// Header is the task description of the Prometheus absolute-grading
// template, with REAL's format line as rule 3.
var Header = "###Task Description:\n" +
	"An instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, and a score rubric representing a evaluation criteria are given.\n" +
	"1. Write a detailed feedback that assess the quality of the response strictly based on the given score rubric, not evaluating in general.\n" +
	"2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.\n" +
	data.REALFormatLine + "\n" +
	"4. Please do not generate any other opening, closing, and explanations."

// Criteria is the rubric's criteria (without brackets).
const Criteria = "Does the response name five fruits?"

// ScoreDesc is the rubric's "Score k:" texts.
var ScoreDesc = [5]string{
	"At most one of the five words is a fruit.",
	"Two of the five words are fruits.",
	"Three of the five words are fruits.",
	"Four of the five words are fruits.",
	"All five words are fruits.",
}

// instructions are the phrasings of the request.
var instructions = []string{
	"Name five different fruits, one per line, numbered 1 to 5.",
	"List five fruits, each on its own numbered line.",
	"Write down five different fruits as a numbered list.",
}

// Item is one generated judge example.
type Item struct {
	Prompt string
	Score  int    // 5 - Wrong
	Gold   string // the gold output: feedback + " So the overall score is N"
	Wrong  int    // lines of the response that are not fruits
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// itemRand is the random stream of item i of seed; each item has its own, so
// a prefix of a longer run is the shorter run.
func itemRand(seed uint64, i int) *rand.Rand {
	a := splitmix64(seed ^ splitmix64(uint64(i)))
	b := splitmix64(a ^ 0x5851f42d4c957f2d)
	return rand.New(rand.NewPCG(a, b))
}

// draw returns n distinct words of pool, each pick weighted 1/(k+1) for
// the pool's k-th word among those not yet picked.
func draw(r *rand.Rand, pool []string, n int) []string {
	out := make([]string, 0, n)
	taken := make([]bool, len(pool))
	for len(out) < n {
		total := 0.0
		for k := range pool {
			if !taken[k] {
				total += 1 / float64(k+1)
			}
		}
		x := r.Float64() * total
		pick := -1
		for k := range pool {
			if taken[k] {
				continue
			}
			pick = k
			if x -= 1 / float64(k+1); x < 0 {
				break
			}
		}
		taken[pick] = true
		out = append(out, pool[pick])
	}
	return out
}

// numbered renders words as the lines "1. w1" .. "5. w5".
func numbered(words []string) string {
	lines := make([]string, len(words))
	for j, w := range words {
		lines[j] = fmt.Sprintf("%d. %s", j+1, w)
	}
	return strings.Join(lines, "\n")
}

// generate makes item i of seed.
func generate(seed uint64, i int) Item {
	r := itemRand(seed, i)
	k := r.IntN(ListLen) // 0..4 words that are not fruits
	resp := draw(r, Fruits, ListLen)
	others := draw(r, Others, k)
	for j, p := range r.Perm(ListLen)[:k] {
		resp[p] = others[j]
	}
	prompt := data.PromptParts{
		Header:          Header,
		Instruction:     instructions[r.IntN(len(instructions))],
		Response:        numbered(resp),
		ReferenceAnswer: strings.Join(draw(r, Fruits, ListLen), ", "),
		Criteria:        Criteria,
		ScoreDesc:       ScoreDesc,
		Suffix:          " ",
	}.Render()
	return Item{Prompt: prompt, Score: ListLen - k, Gold: GoldOutput(resp), Wrong: k}
}

// IsFruit reports whether w is one of Fruits.
func IsFruit(w string) bool { return slices.Contains(Fruits, w) }

// GoldOutput is the gold chain of thought for a response's words: one line
// per word, "j word ok" for a fruit and "j word wrong" for anything else,
// then the count and the score. Each line is a fetch (line j of the
// response) and a lookup, which a small model can learn step by step; the
// words that are not fruits are named.
func GoldOutput(resp []string) string {
	var b strings.Builder
	b.WriteString("Feedback:")
	fruits := 0
	for j, w := range resp {
		verdict := "wrong"
		if IsFruit(w) {
			verdict = "ok"
			fruits++
		}
		fmt.Fprintf(&b, "\n%d %s %s", j+1, w, verdict)
	}
	fmt.Fprintf(&b, "\nFruits: %d of %d. So the overall score is %d", fruits, len(resp), max(fruits, 1))
	return b.String()
}

// Generate returns n items from seed; the same (seed, n) always gives the
// same items, and Generate(seed, n)[:m] == Generate(seed, m).
func Generate(seed uint64, n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = generate(seed, i)
	}
	return items
}

// Rows turns items into verl rows: data_source "name_fruits", the prompt as one
// user message, ability "judge", reward_model style "rule" with the score as
// a string ground truth ("3"), and extra_info {split, index, answer (the
// gold output), question (the prompt), wrong}.
func Rows(items []Item, split string) []data.Row {
	rows := make([]data.Row, len(items))
	for i, it := range items {
		rows[i] = data.Row{
			DataSource:  "name_fruits",
			Prompt:      []data.Message{{Role: "user", Content: it.Prompt}},
			Ability:     "judge",
			Style:       "rule",
			GroundTruth: data.StringGT(strconv.Itoa(it.Score)),
			Extra: data.Extra{
				"split":    split,
				"index":    int64(i),
				"answer":   it.Gold,
				"question": it.Prompt,
				"wrong":    int64(it.Wrong),
			},
		}
	}
	return rows
}

// splitSeed derives the seed of split s (0 train, 1 val, 2 test).
func splitSeed(seed uint64, s int) uint64 {
	return splitmix64(seed ^ splitmix64(0x6a09e667f3bcc908+uint64(s)))
}

// SplitItems returns the items of the three splits that WriteSplits writes:
// train from one derived seed, val and test from two others, with any item
// whose prompt is a training prompt (or, for test, a val prompt) skipped and
// replaced by the next one of its stream.
func SplitItems(seed uint64, nTrain, nVal, nTest int) (train, val, test []Item, err error) {
	if nTrain < 0 || nVal < 0 || nTest < 0 {
		return nil, nil, nil, fmt.Errorf("split sizes %d/%d/%d: must not be negative", nTrain, nVal, nTest)
	}
	train = Generate(splitSeed(seed, 0), nTrain)
	seen := make(map[string]bool, nTrain+nVal+nTest)
	for _, it := range train {
		seen[it.Prompt] = true
	}
	if val, err = pick(splitSeed(seed, 1), nVal, seen); err != nil {
		return nil, nil, nil, fmt.Errorf("val: %v", err)
	}
	for _, it := range val {
		seen[it.Prompt] = true
	}
	if test, err = pick(splitSeed(seed, 2), nTest, seen); err != nil {
		return nil, nil, nil, fmt.Errorf("test: %v", err)
	}
	return train, val, test, nil
}

// pickLimit is how far pick reads a stream for n items before giving up.
func pickLimit(n int) int { return 100*n + 10000 }

// pick returns the first n items of seed's stream whose prompts are not in
// seen.
func pick(seed uint64, n int, seen map[string]bool) ([]Item, error) {
	out := make([]Item, 0, n)
	limit := pickLimit(n)
	for i := 0; len(out) < n; i++ {
		if i >= limit {
			return nil, fmt.Errorf("only %d of %d items are not in earlier splits after %d tries", len(out), n, limit)
		}
		if it := generate(seed, i); !seen[it.Prompt] {
			out = append(out, it)
		}
	}
	return out, nil
}

// WriteSplits writes train.parquet, val.parquet and test.parquet to dir
// through data.WriteFile, from disjoint seeds derived from seed, with the
// given sizes, and returns the paths. No val or test prompt is a training
// prompt, and no test prompt is a val prompt: such items are skipped and
// regenerated.
func WriteSplits(dir string, seed uint64, nTrain, nVal, nTest int) ([]string, error) {
	train, val, test, err := SplitItems(seed, nTrain, nVal, nTest)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, s := range []struct {
		name  string
		items []Item
	}{{"train", train}, {"val", val}, {"test", test}} {
		p := filepath.Join(dir, s.name+".parquet")
		if err := data.WriteFile(p, Rows(s.items, s.name), data.WriteOptions{}); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// Texts returns the text a tokenizer should be trained on: every prompt and
// gold output of items.
func Texts(items []Item) []string {
	out := make([]string, 0, 2*len(items))
	for _, it := range items {
		out = append(out, it.Prompt, it.Gold)
	}
	return out
}
