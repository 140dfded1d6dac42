package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"
)

// tokPath is rel under ../shared/data/tokenizers; the test skips when that
// folder is absent.
func tokPath(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(testenv.SharedData(t, "tokenizers"), rel)
}

// Loaded tokenizers are shared by the tests of one run: Qwen3's takes a
// noticeable fraction of a second to load.
var (
	loadMu sync.Mutex
	loaded = map[string]*Tokenizer{}
)

func load(t testing.TB, rel string) *Tokenizer {
	t.Helper()
	p := tokPath(t, rel)
	loadMu.Lock()
	defer loadMu.Unlock()
	if tk, ok := loaded[p]; ok {
		return tk
	}
	tk, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	loaded[p] = tk
	return tk
}

const (
	qwen3JSON    = "qwen3/tokenizer.json"
	mistralJSON  = "mistral-7b-v0.1-v0.2/tokenizer.json"
	mistralModel = "mistral-7b-v0.1-v0.2/tokenizer.model"
	llama2Model  = "llama2/tokenizer.model"
)

type golden struct {
	Source         string   `json:"source"`
	Idx            int      `json:"idx"`
	Text           string   `json:"text"`
	IDs            []int    `json:"ids"`
	Tokens         []string `json:"tokens"`
	IDsWithSpecial []int    `json:"ids_with_special"`
	RoundTrip      bool     `json:"decode_roundtrip_equal"`
}

func readGoldens(t testing.TB, name string) []golden {
	t.Helper()
	f, err := os.Open(tokPath(t, "goldens/"+name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []golden
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var g golden
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatalf("%s line %d: %v", name, len(out)+1, err)
		}
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
