package judge

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/testenv"
)

// sharedData is ../shared/data beside the module root, or skips (fails
// under REALC_REQUIRE_DATA=1; see testenv.SharedData).
func sharedData(t testing.TB) string { return testenv.SharedData(t) }

func qwenTokenizer(t testing.TB) string {
	return testenv.SharedData(t, "tokenizers", "qwen3", "tokenizer.json")
}

var tinyOnce struct {
	sync.Once
	dir string
	err error
}

// tinyQwenDir writes the project's tiny random Qwen3 at the Qwen3
// vocabulary (151,936 rows, 267 past the tokenizer) once per test binary.
func tinyQwenDir(t testing.TB) string {
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "judge-tiny-qwen3-")
		if err != nil {
			tinyOnce.err = err
			return
		}
		tinyOnce.dir = dir
		tinyOnce.err = model.NewTinyQwen3(151936, 7).SaveHF(dir)
	})
	if tinyOnce.err != nil {
		t.Fatal(tinyOnce.err)
	}
	return tinyOnce.dir
}

var qwenJudgeOnce struct {
	sync.Once
	j   *Model
	err error
}

// tinyQwenJudge is one judge over the tiny Qwen3 and the real tokenizer,
// shared by the tests (a Model is safe for concurrent use).
func tinyQwenJudge(t testing.TB) *Model {
	tok := qwenTokenizer(t)
	dir := tinyQwenDir(t)
	qwenJudgeOnce.Do(func() {
		qwenJudgeOnce.j, qwenJudgeOnce.err = Open(Options{Model: dir, Tokenizer: tok})
	})
	if qwenJudgeOnce.err != nil {
		t.Fatal(qwenJudgeOnce.err)
	}
	return qwenJudgeOnce.j
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyOnce.dir != "" {
		os.RemoveAll(tinyOnce.dir)
	}
	os.Exit(code)
}

// byteTok is a test double for stories260K's missing 512-token vocabulary:
// ids 0..2 are <unk>, <s>, </s>; 3+b is byte b (as Llama 2's <0xXX> byte
// fallback); ids 259..511 stand for "<id>".
type byteTok struct{}

func (byteTok) Encode(text string) []int {
	ids := make([]int, len(text))
	for i := 0; i < len(text); i++ {
		ids[i] = 3 + int(text[i])
	}
	return ids
}

func (byteTok) PieceBytes(id int) ([]byte, error) {
	switch {
	case id < 0 || id >= 512:
		return nil, fmt.Errorf("id %d outside the 512 ids", id)
	case id < 3:
		return []byte([]string{"<unk>", "<s>", "</s>"}[id]), nil
	case id < 259:
		return []byte{byte(id - 3)}, nil
	}
	return []byte(fmt.Sprintf("<%d>", id)), nil
}

func (byteTok) VocabSize() int { return 512 }
func (byteTok) BOS() int       { return 1 }
func (byteTok) EOS() int       { return 2 }

func storiesModel(t testing.TB) *model.Model {
	p := filepath.Join(sharedData(t), "models", "stories260K", "stories260K.bin")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no stories260K: %v", err)
	}
	m, err := model.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// softmaxAt is the reference: the float64 softmax of one row of logits,
// computed as log-sum-exp, at ids.
func softmaxAt(row []float32, ids []int) []float64 {
	mx := math.Inf(-1)
	for _, z := range row {
		mx = math.Max(mx, float64(z))
	}
	var s float64
	for _, z := range row {
		s += math.Exp(float64(z) - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(ids))
	for k, id := range ids {
		out[k] = math.Exp(float64(row[id]) - lse)
	}
	return out
}

// fullForwardLast runs the whole sequence through Forward (no KV cache) and
// returns the logits of its last position.
func fullForwardLast(t testing.TB, m *model.Model, seq []int) []float32 {
	t.Helper()
	p, err := m.Forward(&model.Batch{B: 1, T: len(seq), Tokens: seq})
	if err != nil {
		t.Fatal(err)
	}
	all := m.Logits(p)
	v := m.Cfg.Vocab
	return all[(len(seq)-1)*v : len(seq)*v]
}

func closeRel(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}
