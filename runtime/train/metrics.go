package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"time"
)

// Line is one metrics.jsonl line: kind ("train" or "eval"), step, and
// numeric fields (NaN written as null).
type Line struct {
	Kind   string
	Step   int
	Fields map[string]float64
}

func (l Line) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"kind":%q,"step":%d`, l.Kind, l.Step)
	keys := make([]string, 0, len(l.Fields))
	for k := range l.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := l.Fields[k]
		kb, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// meanStd is the mean and population standard deviation of xs.
func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	mu := s / float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - mu) * (x - mu)
	}
	return mu, math.Sqrt(v / float64(len(xs)))
}

// jsonlFile appends lines to a JSON Lines file, flushed after each line.
type jsonlFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

// writeFault, when set (tests only: export_test.go), is consulted before
// each line a jsonlFile writes: an error from it is that write's, as a
// full disk or a lost mount fails a run's file in the middle of the run.
var writeFault func(path string) error

// openJSONL opens path for appending after keeping only the lines whose
// "step" is at most keepStep (a resumed run rewrites what came after its
// checkpoint); keepStep < 0 truncates the file.
func openJSONL(path string, keepStep int) (*jsonlFile, error) {
	var kept []byte
	if keepStep >= 0 {
		old, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		for _, line := range bytes.SplitAfter(old, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 || line[len(line)-1] != '\n' {
				continue // a torn last line from a killed run
			}
			var v struct {
				Step int `json:"step"`
			}
			if json.Unmarshal(line, &v) == nil && v.Step <= keepStep {
				kept = append(kept, line...)
			}
		}
	}
	if err := os.WriteFile(path, kept, 0o644); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &jsonlFile{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

func (j *jsonlFile) write(v any) error {
	if j == nil {
		return nil
	}
	if writeFault != nil {
		if err := writeFault(j.path); err != nil {
			return err
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	j.w.Write(b)
	j.w.WriteByte('\n')
	return j.w.Flush()
}

func (j *jsonlFile) close() error {
	if j == nil {
		return nil
	}
	j.w.Flush()
	return j.f.Close()
}

// progress is the terminal display: one rewritten line on a terminal,
// plain lines otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	total int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) show(step int, startStep int, msg string) {
	if p == nil || p.w == nil {
		return
	}
	done := step - startStep
	eta := ""
	if done > 0 && p.total > step {
		per := time.Since(p.start) / time.Duration(done)
		eta = " ETA " + (per * time.Duration(p.total-step)).Round(time.Second).String()
	}
	line := fmt.Sprintf("step %d/%d %s%s", step, p.total, msg, eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	if p != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}
