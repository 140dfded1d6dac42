package data

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
)

// BenchmarkConvertJudgeSets converts both Prometheus judge sets (640 items)
// from JSON to verl parquet, as `realc data convert` does.
func BenchmarkConvertJudgeSets(b *testing.B) {
	dir := filepath.Join(sharedData(b), "prometheus")
	tmp := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range []string{"mt_bench_eval", "vicuna_eval"} {
			if _, err := ConvertJSONToParquet(filepath.Join(dir, n+".json"), filepath.Join(tmp, n+".parquet"), ConvertOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(640*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkReadJudgeJSON parses both judge JSON files.
func BenchmarkReadJudgeJSON(b *testing.B) {
	dir := filepath.Join(sharedData(b), "prometheus")
	for b.Loop() {
		for _, n := range []string{"mt_bench_eval", "vicuna_eval"} {
			if _, err := ReadJudgeJSON(filepath.Join(dir, n+".json")); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(640*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkParquetRead streams a verl parquet file of judge prompts (the
// 640 real items repeated to 6400 rows, ~7 KB each) and reports rows/s.
func BenchmarkParquetRead(b *testing.B) {
	dir := filepath.Join(sharedData(b), "prometheus")
	var rows []Row
	for _, n := range []string{"mt_bench_eval", "vicuna_eval"} {
		items, err := ReadJudgeJSON(filepath.Join(dir, n+".json"))
		if err != nil {
			b.Fatal(err)
		}
		r, _ := JudgeRows(items, n, FormatREAL, GPT4Scores)
		rows = append(rows, r...)
	}
	var big []Row
	for len(big) < 6400 {
		big = append(big, rows...)
	}
	path := filepath.Join(b.TempDir(), "big.parquet")
	if err := WriteFile(path, big, WriteOptions{GroundTruthFloat: true}); err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{256, 4096} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			n := 0
			for b.Loop() {
				r, err := Open(path, ReadOptions{BatchRows: batch})
				if err != nil {
					b.Fatal(err)
				}
				for {
					rs, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n += len(rs)
				}
				r.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
