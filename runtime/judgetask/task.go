// Package judgetask generates a judge task that a tiny model trained from
// scratch on a CPU can learn: "copy the list". The instruction asks for five
// words, drawn with a seeded random generator from a fixed vocabulary of
// colors, animals and fruits, to be repeated exactly and in order; the
// response to judge is the list with k of its five positions changed (k
// uniform in 0..4), so the ground-truth score is 5 - k and follows from the
// text alone. Prompts are real Prometheus absolute-grading prompts
// (data.PromptParts.Render) whose format line is REAL's
// (data.REALFormatLine); the gold output names every difference and ends with
// " So the overall score is N".
//
// The changes are meant to make a model really compare: a changed word is
// often a near-duplicate from the same category (cat for rat, lemon for
// lime), may repeat a word from elsewhere in the list, and two differences
// are sometimes two words swapped, so order matters too.
package judgetask

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/realc-project/realc/runtime/data"
)

// ListLen is the number of words in a list.
const ListLen = 5

// categories is the fixed vocabulary: short common words in three groups.
var categories = [][]string{
	{"red", "rose", "blue", "teal", "gray", "green", "gold", "pink", "black", "brown"},
	{"cat", "rat", "bat", "dog", "hog", "fox", "owl", "cow", "hen", "ant"},
	{"pear", "peach", "plum", "lime", "lemon", "fig", "date", "grape", "apple", "melon"},
}

var (
	vocab    []string       // every word, category by category
	category map[string]int // word -> index into categories
	similar  map[string][]string
)

func init() {
	category = map[string]int{}
	for c, ws := range categories {
		for _, w := range ws {
			vocab = append(vocab, w)
			category[w] = c
		}
	}
	// Near-duplicates: same category and the same first letter or the same
	// last two letters (rat/cat/bat, dog/hog, pear/peach/plum, lime/lemon).
	similar = map[string][]string{}
	for _, ws := range categories {
		for _, a := range ws {
			for _, b := range ws {
				if a != b && (a[0] == b[0] || a[len(a)-2:] == b[len(b)-2:]) {
					similar[a] = append(similar[a], b)
				}
			}
		}
	}
}

// Vocabulary returns the words lists are drawn from.
func Vocabulary() []string { return append([]string(nil), vocab...) }

// Header is the task description of the Prometheus absolute-grading
// template, with REAL's format line as rule 3.
var Header = "###Task Description:\n" +
	"An instruction (might include an Input inside it), a response to evaluate, a reference answer that gets a score of 5, and a score rubric representing a evaluation criteria are given.\n" +
	"1. Write a detailed feedback that assess the quality of the response strictly based on the given score rubric, not evaluating in general.\n" +
	"2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.\n" +
	data.REALFormatLine + "\n" +
	"4. Please do not generate any other opening, closing, and explanations."

// Criteria is the rubric's criteria (without brackets).
const Criteria = "Does the response repeat the list exactly, word for word and in order?"

// ScoreDesc is the rubric's "Score k:" texts.
var ScoreDesc = [5]string{
	"Four or more words differ from the list.",
	"Three words differ from the list.",
	"Two words differ from the list.",
	"One word differs from the list.",
	"The response matches the list exactly.",
}

// instructions are the phrasings of the request; %s is the list.
var instructions = []string{
	"Repeat this list of five words exactly, in order: %s.",
	"Copy these five words exactly, in the same order: %s.",
	"Write out the following five words exactly as given, in order: %s.",
}

// Item is one generated judge example.
type Item struct {
	Prompt string
	Score  int    // 5 - Diffs
	Gold   string // the gold output: feedback + " So the overall score is N"
	Diffs  int    // positions where the response differs from the reference
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

// replacement picks a word other than w: a near-duplicate, a word of the
// same category, or any word, a third of the time each.
func replacement(r *rand.Rand, w string) string {
	var pool []string
	switch r.IntN(3) {
	case 0:
		pool = similar[w]
	case 1:
		pool = categories[category[w]]
	}
	if len(pool) == 0 {
		pool = vocab
	}
	for {
		if c := pool[r.IntN(len(pool))]; c != w {
			return c
		}
	}
}

// generate makes item i of seed.
func generate(seed uint64, i int) Item {
	r := itemRand(seed, i)
	ref := make([]string, ListLen)
	for j, p := range r.Perm(len(vocab))[:ListLen] {
		ref[j] = vocab[p]
	}
	k := r.IntN(ListLen) // 0..4 differences
	resp := append([]string(nil), ref...)
	pos := r.Perm(ListLen)[:k]
	rest := pos
	if k >= 2 && r.IntN(4) == 0 {
		// Swap two positions: both differ since the list's words are distinct.
		a, b := pos[0], pos[1]
		resp[a], resp[b] = ref[b], ref[a]
		rest = pos[2:]
	}
	for _, p := range rest {
		resp[p] = replacement(r, ref[p])
	}
	instr := fmt.Sprintf(instructions[r.IntN(len(instructions))], strings.Join(ref, " "))
	prompt := data.PromptParts{
		Header:          Header,
		Instruction:     instr,
		Response:        strings.Join(resp, " "),
		ReferenceAnswer: strings.Join(ref, " "),
		Criteria:        Criteria,
		ScoreDesc:       ScoreDesc,
		Suffix:          " ",
	}.Render()
	return Item{Prompt: prompt, Score: ListLen - k, Gold: GoldOutput(resp, ref), Diffs: k}
}

// GoldOutput is the gold chain of thought for a response against a
// reference (same length): every position in turn, the response's word and,
// where it differs, the reference's, then the count and the score. Walking
// the positions one by one makes each step a local copy-and-compare, which a
// small model can learn; the differences are named in the text.
func GoldOutput(resp, ref []string) string {
	var b strings.Builder
	b.WriteString("Feedback:")
	n := 0
	for j := range ref {
		if resp[j] == ref[j] {
			fmt.Fprintf(&b, " Word %d %q matches.", j+1, resp[j])
		} else {
			fmt.Fprintf(&b, " Word %d %q is not %q.", j+1, resp[j], ref[j])
			n++
		}
	}
	switch n {
	case 0:
		b.WriteString(" The response matches the reference answer word for word.")
	case 1:
		b.WriteString(" The response differs from the reference answer in 1 place.")
	default:
		fmt.Fprintf(&b, " The response differs from the reference answer in %d places.", n)
	}
	fmt.Fprintf(&b, " So the overall score is %d", ListLen-n)
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

// Rows turns items into verl rows: data_source "copy_list", the prompt as one
// user message, ability "judge", reward_model style "rule" with the score as
// a string ground truth ("3"), and extra_info {split, index, answer (the
// gold output), question (the prompt), diffs}.
func Rows(items []Item, split string) []data.Row {
	rows := make([]data.Row, len(items))
	for i, it := range items {
		rows[i] = data.Row{
			DataSource:  "copy_list",
			Prompt:      []data.Message{{Role: "user", Content: it.Prompt}},
			Ability:     "judge",
			Style:       "rule",
			GroundTruth: data.StringGT(strconv.Itoa(it.Score)),
			Extra: data.Extra{
				"split":    split,
				"index":    int64(i),
				"answer":   it.Gold,
				"question": it.Prompt,
				"diffs":    int64(it.Diffs),
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
