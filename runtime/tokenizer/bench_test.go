package tokenizer

import (
	"os"
	"strings"
	"testing"
	"time"
)

// reportCPU adds MB per CPU-second, steadier than MB/s on a shared machine.
func reportCPU(b *testing.B, c0 time.Duration, bytesPerOp int) {
	if d := cpuTime() - c0; d > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/1e6/d.Seconds(), "MB/cpu-s")
	}
}

// judgePrompts are the 40 full MT-Bench and Vicuna judge prompts of a golden file.
func judgePrompts(b *testing.B, file string) []string {
	var out []string
	for _, g := range readGoldens(b, file) {
		if strings.HasPrefix(g.Source, "mt_bench_eval.json") || strings.HasPrefix(g.Source, "vicuna_eval.json") {
			out = append(out, g.Text)
		}
	}
	return out
}

// BenchmarkEncode reports MB/s of judge-prompt text encoded on one goroutine:
// "cold" runs BPE on every word, "cached" is the steady state with the word
// cache warm (every word of these prompts seen before).
func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct{ name, file, goldens string }{
		{"qwen3-json", qwen3JSON, "qwen3.goldens.jsonl"},
		{"mistral-json", mistralJSON, "mistral_v1.goldens.jsonl"},
		{"mistral-spm", mistralModel, "mistral_v1.goldens.jsonl"},
	} {
		for _, cached := range []bool{false, true} {
			name := c.name + "/cold"
			if cached {
				name = c.name + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				tk := load(b, c.file)
				if !cached {
					tk = tk.withoutCache()
				}
				texts := judgePrompts(b, c.goldens)
				n := 0
				for _, s := range texts {
					n += len(s)
					tk.Encode(s)
				}
				b.SetBytes(int64(n))
				b.ResetTimer()
				c0 := cpuTime()
				for range b.N {
					for _, s := range texts {
						tk.Encode(s)
					}
				}
				reportCPU(b, c0, n)
			})
		}
	}
}

// BenchmarkDecode reports MB/s of decoded text.
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct{ name, file, goldens string }{
		{"qwen3-json", qwen3JSON, "qwen3.goldens.jsonl"},
		{"mistral-json", mistralJSON, "mistral_v1.goldens.jsonl"},
	} {
		b.Run(c.name, func(b *testing.B) {
			tk := load(b, c.file)
			var ids [][]int
			n := 0
			for _, s := range judgePrompts(b, c.goldens) {
				ids = append(ids, tk.Encode(s))
				n += len(s)
			}
			b.SetBytes(int64(n))
			b.ResetTimer()
			c0 := cpuTime()
			for range b.N {
				for _, v := range ids {
					if _, err := tk.Decode(v); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, c0, n)
		})
	}
}

// BenchmarkLoad measures reading and indexing each file from memory.
func BenchmarkLoad(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"qwen3-json", qwen3JSON},
		{"mistral-json", mistralJSON},
		{"mistral-spm", mistralModel},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := tokPath(b, c.file)
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			c0 := cpuTime()
			defer func() {
				if d := cpuTime() - c0; d > 0 {
					b.ReportMetric(float64(d.Milliseconds())/float64(b.N), "cpu-ms/op")
				}
			}()
			for range b.N {
				var err error
				if strings.HasSuffix(p, ".json") {
					_, err = ParseHF(p, data)
				} else {
					_, err = ParseSentencePiece(p, data)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
