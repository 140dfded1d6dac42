// Package traintest is the trainer's test harness for generated recipes:
// every generated package's kernels_test.go calls Check, which trains a
// tiny Qwen3 judge with a byte-level tokenizer on replayed responses and
// checks the trainer's gradients against the unfused path (model logits,
// the float64 reference evaluator compiler.Eval, model.Backward) and
// central finite differences, micro-batch accumulation against the whole
// mini-batch, and a resumed run against an uninterrupted one, bit for bit.
package traintest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/realc-project/realc/runtime/data"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/tokenizer"
)

// Byte-level tokenizer ids: the 256 bytes, then the Qwen specials.
const (
	EndOfText = 256
	ImStart   = 257
	ImEnd     = 258
	Vocab     = 260 // one padding row past the tokenizer, as real checkpoints have
)

// TokenizerJSON is a Hugging Face tokenizer.json of a byte-level BPE with no
// merges (every byte one token, ids 0-255, then the Qwen specials) and the
// Qwen pre-tokenizer: every score digit is one token, as the trainer requires.
func TokenizerJSON() []byte {
	js, err := tokenizer.TrainBPE([]string{Marker + "5"}, tokenizer.BPETrainOptions{VocabSize: 259, Specials: []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}})
	if err != nil {
		panic(err) // the options are valid by construction
	}
	return js
}

// WriteJudge writes a tiny random Qwen3 (2 layers, dim 32, vocabulary
// Vocab, EOS <|im_end|>) with the byte-level tokenizer to dir.
func WriteJudge(dir string, seed uint64) error {
	cfg := model.TinyQwen3Config(Vocab)
	cfg.EOS = []int{ImEnd}
	m, err := model.New(cfg)
	if err != nil {
		return err
	}
	m.InitRandom(seed, 0.2)
	if err := m.SaveHF(dir); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tokenizer.json"), TokenizerJSON(), 0o644)
}

// Marker is REAL's score marker.
const Marker = "So the overall score is "

// WriteData writes n judge rows as verl parquet: short prompts, ground
// truths cycling 1..5, and a gold output in extra_info.answer.
func WriteData(path string, n int) ([]float64, error) {
	var rows []data.Row
	var ys []float64
	for i := 0; i < n; i++ {
		y := float64(i%5 + 1)
		ys = append(ys, y)
		rows = append(rows, data.Row{
			DataSource: "tiny_judge",
			Prompt:     []data.Message{{Role: "user", Content: fmt.Sprintf("Rate answer %d: %s", i, strings.Repeat("ab", 3+i%4))}},
			Ability:    "judge", Style: "rule", GroundTruth: data.StringGT(fmt.Sprint(int(y))),
			Extra: data.Extra{"index": int64(i), "answer": fmt.Sprintf("Feedback: it has %d flaws. %s%d", 5-int(y), Marker, int(y))},
		})
	}
	return ys, data.WriteFile(path, rows, data.WriteOptions{})
}

// WriteRollouts writes `per` responses for each of the prompts, in the
// --rollouts format: within every n of them some are right, some wrong and
// one has no score, so that groups have mixed accuracy.
func WriteRollouts(path string, ys []float64, per int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for i, y := range ys {
		for k := 0; k < per; k++ {
			var text string
			switch k % 4 {
			case 0:
				text = fmt.Sprintf("Feedback: fine. %s%d", Marker, int(y))
			case 1:
				text = fmt.Sprintf("Feedback: poor %d. %s%d", k, Marker, int(y)%5+1)
			case 2:
				text = fmt.Sprintf("Feedback: no score here %d", k)
			default:
				text = fmt.Sprintf("Feedback: ok.%s%d trailing", Marker, (int(y)+k)%5+1)
			}
			if err := enc.Encode(map[string]any{"prompt": i, "response": text}); err != nil {
				return err
			}
		}
	}
	return f.Close()
}
