//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/fused/recipe"
)

// These tests run against fakecuda/fakecuda.c (see TestCUDAGlueWithFakeDriver);
// on a real driver they are skipped.

func fakeOnly(t *testing.T) string {
	t.Helper()
	if os.Getenv("REALC_FAKE_CUDA") != "1" {
		t.Skip("runs against the fake libcuda only (go test ./runtime/cuda builds it)")
	}
	log := os.Getenv("FAKE_CUDA_LOG")
	os.Remove(log)
	return log
}

type launch struct {
	name   string
	grid   int
	block  int
	params []uint64
	sizes  []int
}

var launchRE = regexp.MustCompile(`^launch (\S+) grid=(\d+),1,1 block=(\d+),1,1 shared=0 params=(.*)$`)

func readLaunches(t *testing.T, path string) []launch {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no launch log: %v", err)
	}
	var out []launch
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		m := launchRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("bad launch line %q", line)
		}
		l := launch{name: m[1]}
		l.grid, _ = strconv.Atoi(m[2])
		l.block, _ = strconv.Atoi(m[3])
		for _, p := range strings.Split(m[4], ",") {
			size, hex, _ := strings.Cut(p, ":")
			n, _ := strconv.Atoi(size)
			v, _ := strconv.ParseUint(hex, 16, 64)
			l.sizes, l.params = append(l.sizes, n), append(l.params, v)
		}
		out = append(out, l)
	}
	return out
}

// ptxEntry writes a PTX-like .entry with parameters of the given byte sizes.
func ptxEntry(name string, sizes ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".visible .entry %s(\n", name)
	for i, s := range sizes {
		sep := ","
		if i == len(sizes)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "\t.param .u%d %s_param_%d%s\n", 8*s, name, i, sep)
	}
	b.WriteString(")\n{\n\tret;\n}\n")
	return b.String()
}

func TestFakeDriver(t *testing.T) {
	log := fakeOnly(t)
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := Open(3); err == nil || !strings.Contains(err.Error(), "no device 3") {
		t.Fatalf("Open(3): %v", err)
	}
	// Memory round trip.
	xs := []float32{1, 2.5, -3}
	b, err := Upload(d, xs)
	if err != nil {
		t.Fatal(err)
	}
	back := make([]float32, 3)
	if err := Download(d, b, back); err != nil || back[1] != 2.5 || back[2] != -3 {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if err := Download(d, b, make([]float32, 4)); err == nil {
		t.Fatal("downloading more than the buffer holds must fail")
	}
	d.Free(b)
	// A launch: every argument in its slot, read back with its PTX size.
	m, err := d.LoadPTX(ptxEntry("k", 8, 4, 4, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Kernel("missing"); err == nil {
		t.Fatal("looking up a missing kernel must fail")
	}
	k, err := m.Kernel("k")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Launch(3, 64, 0, Ptr(0x1000), I32(-7), F32(0.5), I64(1<<40), F64(2)); err != nil {
		t.Fatal(err)
	}
	ls := readLaunches(t, log)
	want := []uint64{0x1000, uint64(uint32(0xfffffff9)), uint64(math.Float32bits(0.5)), 1 << 40, math.Float64bits(2)}
	if len(ls) != 1 || ls[0].name != "k" || ls[0].grid != 3 || ls[0].block != 64 || fmt.Sprint(ls[0].params) != fmt.Sprint(want) {
		t.Fatalf("launch log %+v, want k<<<3, 64>>> %v", ls, want)
	}
}

// TestFakeRunLoss runs the loss schedule of recipe real on a small layout and
// checks the launches: order, grids, and the scalars every kernel receives.
// With FAKE_CUDA_PTX (nvcc's PTX of generated/real/kernels.cu) the parameter
// lists are the real kernels'.
func TestFakeRunLoss(t *testing.T) {
	log := fakeOnly(t)
	d, err := Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const ctxN = 29
	spec := &Spec{Prefix: "real", Counts: [4]int{3, 2, 5, 4}, LossOff: [4]int{2, 0, 0, 0}, Block: 128}
	ptx := ""
	if path := os.Getenv("FAKE_CUDA_PTX"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ptx = string(data)
	} else {
		ctx := []int{8, 8, 4, 4, 4, 4}
		for len(ctx) < ctxN {
			ctx = append(ctx, 8)
		}
		row := append([]int{8, 8, 4, 4, 4, 4}, ctx...)
		grad := append([]int{8, 8, 8, 4, 4, 4}, ctx...)
		ptx = ptxEntry("real_row_stats", row...) + ptxEntry("real_stage_score", ctx...) + ptxEntry("real_stage_rest", ctx...) +
			ptxEntry("real_stage_token", ctx...) + ptxEntry("real_token_grad", grad...) + ptxEntry("real_score_grad", grad...)
	}
	m, err := d.LoadPTX(ptx)
	if err != nil {
		t.Fatal(err)
	}
	// 2 groups: 2 + 1 sequences with 3, 2, 1 tokens; V = 10.
	l := &recipe.Layout{V: 10, ScoreTokens: []int32{1, 2, 3, 4, 5}, ScoreValues: []float64{1, 2, 3, 4, 5}, G: 2, S: 3, T: 6,
		SeqGroup: []int32{0, 0, 1}, GroupOff: []int32{0, 2, 3}, TokOff: []int32{0, 3, 5, 6}, TokSeq: []int32{0, 0, 0, 1, 1, 2},
		Tokens: []int32{1, 2, 3, 4, 5, 6}, Mask: []float64{1, 1, 1, 1, 1, 1}, Cot: make([]float64, 6), Answer: make([]float64, 6),
		Pred: []float64{1, 2, 3}, Acc: []float64{1, 0, 1}, Len: []float64{3, 2, 1}, Truncated: make([]float64, 3), FormatOK: []float64{1, 1, 1},
		Y: []float64{2, 3}}
	tok := make([]uint16, l.T*l.V)
	score := make([]uint16, l.S*l.V)
	res, err := RunLoss(d, m, spec, l, []float64{1, 0, 5e-8}, tok, score)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Vals) != 3+2*2+5*3+4*6 || len(res.DTok) != 60 || len(res.DScore) != 30 {
		t.Fatalf("result sizes %d %d %d", len(res.Vals), len(res.DTok), len(res.DScore))
	}
	ls := readLaunches(t, log)
	type want struct {
		name       string
		grid, args int
		scalars    map[int]uint64 // parameter index -> value
	}
	ctxAt := func(off int) map[int]uint64 { // G, S, T, K of the context
		return map[int]uint64{off + 2: 2, off + 3: 3, off + 4: 6, off + 5: 5}
	}
	merge := func(a, b map[int]uint64) map[int]uint64 {
		for k, v := range b {
			a[k] = v
		}
		return a
	}
	wants := []want{
		{"real_row_stats", 6, 6 + ctxN, merge(map[int]uint64{1: 10, 2: 6, 3: 10, 4: 0, 5: 0}, ctxAt(6))},
		{"real_row_stats", 3, 6 + ctxN, merge(map[int]uint64{1: 10, 2: 3, 3: 10, 4: 1, 5: 0}, ctxAt(6))},
		{"real_stage_score", 1, ctxN, ctxAt(0)},
		{"real_stage_rest", 1, ctxN, ctxAt(0)},
		{"real_stage_token", 1, ctxN, ctxAt(0)},
		{"real_token_grad", 6, 6 + ctxN, merge(map[int]uint64{2: 10, 3: 6, 4: 10, 5: 0}, ctxAt(6))},
		{"real_score_grad", 3, 6 + ctxN, merge(map[int]uint64{2: 10, 3: 3, 4: 10, 5: 0}, ctxAt(6))},
	}
	if len(ls) != len(wants) {
		t.Fatalf("%d launches, want %d: %+v", len(ls), len(wants), ls)
	}
	for i, w := range wants {
		got := ls[i]
		if got.name != w.name || got.grid != w.grid || got.block != 128 || len(got.params) != w.args {
			t.Fatalf("launch %d: %s<<<%d, %d>>> with %d params, want %s<<<%d, 128>>> with %d", i, got.name, got.grid, got.block, len(got.params), w.name, w.grid, w.args)
		}
		for p, v := range w.scalars {
			if got.params[p] != v {
				t.Errorf("launch %d (%s): parameter %d = %#x, want %#x", i, w.name, p, got.params[p], v)
			}
		}
		for p, s := range got.sizes {
			if s != 4 && s != 8 {
				t.Errorf("launch %d (%s): parameter %d has %d bytes", i, w.name, p, s)
			}
		}
	}
}
