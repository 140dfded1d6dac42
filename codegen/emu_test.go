package codegen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/testenv"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/fused/recipe/recipetest"
)

// TestCUDAEmulated runs every recipe's generated CUDA kernels on the CPU
// (testdata/emu: g++ compiles kernels.cu as C++; each block runs as 64 OS
// threads with real barriers and warp exchanges) in
// the launch order of runtime/cuda.RunLoss, and compares rewards, kept
// groups, the loss and the bf16 gradients with the reference evaluator on
// the same bf16 logits. No GPU is needed; what it cannot check is timing,
// memory coalescing and the real device's floating point.
func TestCUDAEmulated(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every recipe's kernels with g++")
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not found")
	}
	root := testenv.RepoRoot(t)
	paths, _ := filepath.Glob(filepath.Join(root, "recipes", "*.rl"))
	more, _ := filepath.Glob(filepath.Join(root, "codegen", "testdata", "*.rl"))
	for _, p := range append(paths, more...) {
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		t.Run(rel, func(t *testing.T) {
			prog, err := CompileFile(p, rel)
			if err != nil {
				t.Fatal(err)
			}
			files, err := Generate(prog, Options{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, f := range files {
				if f.Name == "kernels.cu" {
					os.WriteFile(filepath.Join(dir, "kernels.cu"), f.Data, 0o644)
				}
			}
			bin := filepath.Join(dir, "emu")
			cmd := exec.Command(gxx, "-std=c++20", "-pthread", "-O1", "-w", "-include", filepath.Join(root, "codegen/testdata/emu/emu.h"),
				"-DPREFIX="+cIdent(prog.Name), `-DKERNELS="`+filepath.Join(dir, "kernels.cu")+`"`,
				filepath.Join(root, "codegen/testdata/emu/emu_main.cc"), "-o", bin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("g++: %v\n%s", err, out)
			}
			for _, c := range []recipetest.Case{
				{V: 37, D: 8, Groups: []int{3, 1, 4, 2}, MaxLen: 6, Seed: 11, PerturbHypers: true, LogitScale: 1.5},
				{V: 40, D: 8, Groups: []int{2, 5}, MaxLen: 4, Seed: 12, LogitScale: 2},
				// Logits shifted by 1e4 (bf16 keeps them to multiples of
				// 64 there, the same numbers for both sides): a kernel
				// without the max subtraction overflows exp. One small
				// case: each costs seconds per recipe.
				{V: 37, D: 8, Groups: []int{3, 1}, MaxLen: 3, Seed: 13, PerturbHypers: true, LogitScale: 1.5, Shift: 1e4},
			} {
				t.Run(fmt.Sprintf("V%d/seed%d/shift%g", c.V, c.Seed, c.Shift), func(t *testing.T) { emulate(t, prog, bin, c) })
			}
		})
	}
}

func bf16(x float64) float64 { return float64(cuda.FromBF16(cuda.ToBF16([]float32{float32(x)}))[0]) }

func emulate(t *testing.T, prog *compiler.Program, bin string, c recipetest.Case) {
	t.Helper()
	sch := prog.Schedule
	pr := recipetest.NewProblem(prog, c)
	for gi := range pr.Batch.Groups {
		for j := range pr.Batch.Groups[gi].Seqs {
			s := &pr.Batch.Groups[gi].Seqs[j]
			for _, row := range append(s.Logits, s.ScoreLogits) {
				for k := range row {
					row[k] = bf16(row[k])
				}
			}
		}
	}
	want, err := compiler.Eval(prog, pr.Batch, pr.Hyper)
	if err != nil {
		t.Fatal(err)
	}
	meta := &recipe.Meta{Name: prog.Name, ScoreValues: prog.Score.Values, ScoreReadouts: sch.ScoreReadouts, OldLogp: sch.OldLogp, RefLogp: sch.RefLogp, Regions: sch.Regions}
	for _, h := range prog.Hypers {
		meta.Hypers = append(meta.Hypers, recipe.Hyper{Name: h.Name, Default: h.Default})
	}
	l, tok, score, err := recipe.FromBatch(pr.Batch, meta)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := recipe.HyperValues(meta, pr.Hyper)
	if err != nil {
		t.Fatal(err)
	}
	nv := compiler.SlotOffset(sch.Counts, l.G, l.S, l.T)
	var in bytes.Buffer
	w := func(x any) { binary.Write(&in, binary.LittleEndian, x) }
	w([]int32{int32(l.G), int32(l.S), int32(l.T), int32(len(l.ScoreTokens)), int32(l.V), int32(len(hv)), int32(nv)})
	for _, a := range [][]int32{l.GroupOff, l.SeqGroup, l.TokOff, l.TokSeq, l.Tokens, l.ScoreTokens} {
		w(a)
	}
	orZero := func(x []float64, n int) []float64 {
		if x == nil {
			return make([]float64, n)
		}
		return x
	}
	for _, a := range [][]float64{l.Mask, l.Cot, l.Answer, orZero(l.OldLogp, l.T), orZero(l.RefLogp, l.T), l.Pred, l.Acc, l.Len, l.Truncated, l.FormatOK, l.Y, hv} {
		w(a)
	}
	w(cuda.ToBF16(tok))
	w(cuda.ToBF16(score))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, filepath.Join(dir, "in"), filepath.Join(dir, "out")).CombinedOutput(); err != nil {
		t.Fatalf("emulator: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(data)
	vals := make([]float64, nv)
	var errFlag int32
	dtok := make([]uint16, l.T*l.V)
	dscore := make([]uint16, l.S*l.V)
	for _, x := range []any{vals, &errFlag, dtok, dscore} {
		if err := binary.Read(r, binary.LittleEndian, x); err != nil {
			t.Fatalf("emulator output: %v", err)
		}
	}
	if errFlag != 0 {
		t.Fatalf("kernels raised err=%d", errFlag)
	}
	at := func(id compiler.ID, i int) float64 {
		return vals[compiler.SlotOffset(sch.Slots[id], l.G, l.S, l.T)+i]
	}
	// float32 rounding at the magnitude of shifted logits (the kernels' row
	// statistics are formed on them): about |Shift| * 2^-24, relative.
	shiftTol := 4 * math.Abs(c.Shift) / (1 << 24)
	near := func(what string, got, want, scale, rtol float64) {
		t.Helper()
		rtol += shiftTol
		if math.IsNaN(want) && math.IsNaN(got) {
			return
		}
		if !(math.Abs(got-want) <= rtol*(scale+math.Abs(want))) {
			t.Fatalf("%s = %.9g, want %.9g", what, got, want)
		}
	}
	seqAt := func(id compiler.ID, s int) float64 {
		switch prog.Values[id].Axis {
		case compiler.AxisScalar:
			return at(id, 0)
		case compiler.AxisGroup:
			return at(id, int(l.SeqGroup[s]))
		}
		return at(id, s)
	}
	for _, n := range prog.Rewards {
		for s, x := range want.Rewards[n.Name] {
			near("reward "+n.Name, seqAt(n.ID, s), x, 1, 1e-5)
		}
	}
	for _, n := range prog.Advantages {
		for s, x := range want.Advantages[n.Name] {
			near("advantage "+n.Name, seqAt(n.ID, s), x, 1, 1e-4)
		}
	}
	anyKept := false
	for g, k := range want.Kept {
		anyKept = anyKept || k
		if prog.Filter != compiler.NoID && (at(prog.Filter, g) != 0) != k {
			t.Fatalf("kept[%d]: kernels say %v, evaluator %v", g, !k, k)
		}
	}
	if prog.Loss != compiler.NoID && anyKept {
		near("loss", at(prog.Loss, 0), want.Loss, 1, 1e-4)
	}
	g := cuda.FromBF16(dtok)
	gs := cuda.FromBF16(dscore)
	var rows, got [][]float64
	for s := range want.GradLogits {
		rows = append(rows, want.GradLogits[s]...)
	}
	for i := 0; i < l.T; i++ {
		got = append(got, widen(g[i*l.V:(i+1)*l.V]))
	}
	rows = append(rows, want.GradScoreLogits...)
	for i := 0; i < l.S; i++ {
		got = append(got, widen(gs[i*l.V:(i+1)*l.V]))
	}
	scale := 0.0
	for _, row := range rows {
		for _, x := range row {
			scale = math.Max(scale, math.Abs(x))
		}
	}
	for i := range rows {
		for j := range rows[i] {
			// bf16 keeps 8 significant bits: relative error up to 2^-9.
			if !numtest.Within(got[i][j], rows[i][j], (1e-4+shiftTol)*scale, 4e-3) {
				t.Fatalf("%s: dlogits row %d [%d] = %.6g, want %.6g (max |grad| %.3g)", strings.TrimSpace(prog.Name), i, j, got[i][j], rows[i][j], scale)
			}
		}
	}
}

func widen(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}
