package data

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// SniffParquet tells a verl parquet file (it starts with "PAR1") from a
// Prometheus judge JSON or JSON Lines file (it starts with '[' or '{') by
// its first bytes, whatever its name; anything else is an error.
func SniffParquet(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, fmt.Errorf("%s: %v", path, err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte("PAR1")) {
		return true, nil
	}
	if t := bytes.TrimSpace(head); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		return false, nil
	}
	return false, fmt.Errorf("%s: neither verl parquet (PAR1) nor Prometheus judge JSON/JSONL", path)
}

// ReadJudgeRows reads a judge data file as verl rows, with the name of its
// data source: a verl parquet file as it is (the first row's data_source,
// else the file's base name), or a Prometheus judge JSON/JSONL file through
// JudgeRows (prompts rendered in format f, ground truths from src; named by
// DataSourceFor). Rows that do not fit are errors naming the file.
func ReadJudgeRows(path string, parquet bool, f Format, src ScoreSource) ([]Row, string, error) {
	if !parquet {
		items, err := ReadJudgeJSON(path)
		if err != nil {
			return nil, "", err
		}
		name := DataSourceFor(path)
		rows, mis := JudgeRows(items, name, f, src)
		if len(mis) > 0 {
			return nil, "", &MisfitError{In: path, Misfits: mis}
		}
		return rows, name, nil
	}
	rows, probs, err := ReadFile(path, ReadOptions{})
	if err != nil {
		return nil, "", err
	}
	if len(probs) > 0 {
		return nil, "", fmt.Errorf("%s: %v", path, probs[0])
	}
	for _, r := range rows {
		if r.DataSource != "" {
			return rows, r.DataSource, nil
		}
	}
	return rows, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), nil
}
