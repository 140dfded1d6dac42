package data

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// judgeLikeRows builds n rows shaped like the demo's judge files: a long
// user prompt of words, a float ground truth and extra_info keys of every
// kind, so that a file of them has several pages per column.
func judgeLikeRows(n int) []Row {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the response is accurate and helpful but misses a detail of the reference answer so the score is four out of five")
	rows := make([]Row, n)
	for i := range rows {
		var b strings.Builder
		for range 80 + rng.IntN(120) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		rows[i] = Row{DataSource: "mt_bench", Prompt: []Message{{"user", b.String()}}, Ability: "judge", Style: "model",
			GroundTruth: FloatGT(float64(1 + i%5)),
			Extra:       Extra{"index": int64(i), "split": "test", "original_scores": []float64{float64(1 + i%5), 3}}}
	}
	return rows
}

// writeJudgeLike writes judgeLikeRows(n) to dir/name in row groups of 64
// and returns the path and the file's bytes.
func writeJudgeLike(t testing.TB, dir, name string, n int) (string, []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := WriteFile(path, judgeLikeRows(n), WriteOptions{GroundTruthFloat: true, RowGroupRows: 64}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// readAll reads path the three ways the commands do (ReadFile for eval and
// convert, Inspect, and Open+Next in small batches) and returns the errors.
func readAll(path string) []error {
	var errs []error
	_, _, err := ReadFile(path, ReadOptions{})
	errs = append(errs, err)
	_, err = Inspect(path)
	errs = append(errs, err)
	_, err = ConvertParquetToJSON(path, path+".json", ConvertOptions{})
	errs = append(errs, err)
	return errs
}

// A file with 200 bytes overwritten in its pages (at offset 1000 and at half
// its size, as in issue 15), truncated, or with bytes cut out gives an error
// naming the file (and, when the footer is intact, the row group and the
// column), never a panic. Before the fix the overwritten files panicked with
// "snappy: corrupt input" on a goroutine of arrow's own, killing the test.
func TestDamagedParquetIsAnError(t *testing.T) {
	dir := t.TempDir()
	_, good := writeJudgeLike(t, dir, "good.parquet", 300)
	if len(good) < 50_000 {
		t.Fatalf("the test file is %d bytes; want pages to damage", len(good))
	}
	overwrite := func(off int, fill func(i int) byte) []byte {
		b := bytes.Clone(good)
		for i := off; i < off+200; i++ {
			b[i] = fill(i)
		}
		return b
	}
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, len(good))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name   string
		data   []byte
		column bool // the error must name a row group and a column
	}{}
	for _, off := range []int{1000, len(good) / 2} {
		for _, f := range []struct {
			name string
			fill func(int) byte
		}{{"zeros", func(int) byte { return 0 }}, {"ff", func(int) byte { return 0xff }}, {"noise", func(i int) byte { return noise[i] }}} {
			cases = append(cases, struct {
				name   string
				data   []byte
				column bool
			}{fmt.Sprintf("overwrite200_%s_at%d", f.name, off), overwrite(off, f.fill), true})
		}
	}
	for _, n := range []int{0, 3, 4, 1000, len(good) / 2, len(good) - 8, len(good) - 1} {
		cases = append(cases, struct {
			name   string
			data   []byte
			column bool
		}{fmt.Sprintf("truncated_to%d", n), good[:n], false})
	}
	cut := append(bytes.Clone(good[:len(good)/2]), good[len(good)/2+200:]...)
	cases = append(cases, struct {
		name   string
		data   []byte
		column bool
	}{"200_bytes_cut_out_at_half", cut, false})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name+".parquet")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for i, err := range readAll(path) {
				switch {
				case err == nil:
					t.Errorf("read %d: no error", i)
				case !strings.Contains(err.Error(), path):
					t.Errorf("read %d: error does not name the file: %v", i, err)
				case c.column && !strings.Contains(err.Error(), ": row group ") || c.column && !strings.Contains(err.Error(), ", column "):
					t.Errorf("read %d: error does not name the row group and the column: %v", i, err)
				}
			}
		})
	}
}

// The footer is checked before any page is read: a column chunk the footer
// places outside the file is an error naming the row group and the column.
func TestDamagedFooterLayout(t *testing.T) {
	dir := t.TempDir()
	_, good := writeJudgeLike(t, dir, "good.parquet", 300)
	// 200 bytes cut out near the start: the footer's offsets now point 200
	// bytes past the data they meant, and the last chunk ends inside the
	// footer, which the footer check finds before reading a page.
	cut := append(bytes.Clone(good[:1000]), good[1200:]...)
	path := filepath.Join(dir, "cut.parquet")
	os.WriteFile(path, cut, 0o644)
	_, _, err := ReadFile(path, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), path+": not a readable parquet file: row group ") || !strings.Contains(err.Error(), ", column ") || !strings.Contains(err.Error(), "lie outside the file's data") {
		t.Errorf("cut file: %v", err)
	}
	// 4096 zeros inserted after the leading magic: the chunks lie within the
	// file, but where the footer places them are zeros, not page headers.
	grown := append(bytes.Clone(good[:4]), append(make([]byte, 4096), good[4:]...)...)
	path = filepath.Join(dir, "shifted.parquet")
	os.WriteFile(path, grown, 0o644)
	_, _, err = ReadFile(path, ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), path+": row group 0, column data_source: ") {
		t.Errorf("shifted chunks: %v", err)
	}
}

// FuzzReadDamaged damages a valid file (one written by this package in three
// row groups, or testdata's arrow-rs file with dictionary pages) the ways
// disks and transfers do: overwritten ranges, flipped bits, truncation, bytes
// cut out or inserted. Reading it must never panic, and an error must name
// the file.
func FuzzReadDamaged(f *testing.F) {
	dir := f.TempDir()
	rows := judgeLikeRows(40)
	for i := range rows {
		rows[i].Prompt[0].Content = rows[i].Prompt[0].Content[:min(len(rows[i].Prompt[0].Content), 60+i)]
	}
	// sampleRows' nulls and empty lists, with numbers for ground truths;
	// each set's extra_info keys are null in the other's rows.
	for _, r := range sampleRows() {
		r.GroundTruth = FloatGT(2)
		rows = append(rows, r)
	}
	own := filepath.Join(dir, "own.parquet")
	if err := WriteFile(own, rows, WriteOptions{GroundTruthFloat: true, RowGroupRows: 16}); err != nil {
		f.Fatal(err)
	}
	var bases [][]byte
	for _, p := range []string{own, filepath.Join("testdata", "arrowrs_verl.parquet")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		bases = append(bases, b)
	}
	for base := range bases {
		n := uint32(len(bases[base]))
		f.Add(uint8(base), uint8(0), uint32(1000), uint16(200), byte(0xab), []byte(nil))
		f.Add(uint8(base), uint8(0), n/2, uint16(200), byte(0), []byte(nil))
		f.Add(uint8(base), uint8(1), n/3, uint16(8), byte(0x10), []byte(nil))
		f.Add(uint8(base), uint8(2), n/2, uint16(0), byte(0), []byte(nil))
		f.Add(uint8(base), uint8(3), uint32(200), uint16(0), byte(0), []byte("\x15\x00\x15\xff\xff\xff\x0f"))
		f.Add(uint8(base), uint8(4), n/4, uint16(100), byte(0), []byte(nil))
		f.Add(uint8(base), uint8(5), n/4, uint16(0), byte(0), []byte("PAR1"))
		f.Add(uint8(base), uint8(6), n-20, uint16(0), byte(3), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, base, op uint8, off uint32, n uint16, val byte, patch []byte) {
		b := damage(bases[int(base)%len(bases)], op, off, n, val, patch)
		path := filepath.Join(t.TempDir(), "damaged.parquet")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadFile(path, ReadOptions{Require: []string{}, BatchRows: 1 + int(val)%7})
		if err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("the error does not name the file: %v", err)
		}
	})
}

// damage applies one damage to a copy of good: op picks overwriting
// [off, off+n) with val, xoring it with val, truncating at off, writing
// patch at off, cutting [off, off+n) out, inserting patch at off, or
// flipping bit val%8 of byte off. Offsets wrap around the file's length.
func damage(good []byte, op uint8, off uint32, n uint16, val byte, patch []byte) []byte {
	b := bytes.Clone(good)
	o := int(off % uint32(len(b)+1))
	end := min(o+int(n), len(b))
	switch op % 7 {
	case 0:
		for i := o; i < end; i++ {
			b[i] = val
		}
	case 1:
		for i := o; i < end; i++ {
			b[i] ^= val
		}
	case 2:
		b = b[:o]
	case 3:
		copy(b[o:], patch)
	case 4:
		b = append(b[:o], b[end:]...)
	case 5:
		b = append(b[:o], append(bytes.Clone(patch), b[o:]...)...)
	case 6:
		if o < len(b) {
			b[o] ^= 1 << (val % 8)
		}
	}
	return b
}
