package recipetest

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/internal/numtest"
	"github.com/realc-project/realc/runtime/fused/recipe"
)

// The harness's own tests: every generated package trusts MatchEvaluator to
// fail on a wrong kernel, so a wrong value, a NaN and an infinity are
// planted here, first into its comparisons, then into a generated package's
// gradient, and the harness must fail on each (and pass on the unplanted
// code and on an error well inside its tolerance).

// record runs check on a numtest.Recorder on its own goroutine (the harness
// calls Fatalf, which ends it) and returns what was reported.
func record(check func(tb testing.TB)) []string {
	r := &numtest.Recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.Msgs
}

var nan, inf = math.NaN(), math.Inf(1)

func TestCompareFlat(t *testing.T) {
	want := []float64{1, -2, 0.5, 0, 3}
	tol := Tol{Atol, Rtol}
	for _, c := range []struct {
		name string
		got  []float32
		pass bool
	}{
		{"exact", []float32{1, -2, 0.5, 0, 3}, true},
		{"float32 rounding", []float32{1.0000001, -2, 0.5, 1e-8, 3}, true},
		{"one entry 1% off", []float32{1, -2, 0.505, 0, 3}, false},
		{"a zero gradient made nonzero", []float32{1, -2, 0.5, 1e-3, 3}, false},
		{"NaN", []float32{1, -2, float32(nan), 0, 3}, false},
		{"+Inf", []float32{1, -2, 0.5, float32(inf), 3}, false},
		{"-Inf", []float32{float32(-inf), -2, 0.5, 0, 3}, false},
		{"short", []float32{1, -2, 0.5, 0}, false},
	} {
		msgs := record(func(tb testing.TB) { compareFlat(tb, "dz", c.got, nil, want, tol) })
		if pass := len(msgs) == 0; pass != c.pass {
			t.Errorf("%s: harness passes %v, want %v (%q)", c.name, pass, c.pass, msgs)
		}
	}
	// With a base (dW accumulates into it), got - base is compared.
	base := []float32{100, 100, 100, 100, 100}
	got := make([]float32, len(want))
	for i := range got {
		got[i] = base[i] + float32(want[i])
	}
	if msgs := record(func(tb testing.TB) { compareFlat(tb, "dW", got, base, want, tol) }); len(msgs) != 0 {
		t.Errorf("base + want: %q", msgs)
	}
	got[1] = float32(nan)
	if msgs := record(func(tb testing.TB) { compareFlat(tb, "dW", got, base, want, tol) }); len(msgs) == 0 {
		t.Error("base + want with a NaN passed")
	}
	// A NaN in the reference is met only by a NaN.
	wantNaN := []float64{1, nan}
	if msgs := record(func(tb testing.TB) { compareFlat(tb, "x", []float32{1, float32(nan)}, nil, wantNaN, tol) }); len(msgs) != 0 {
		t.Errorf("NaN against NaN: %q", msgs)
	}
	if msgs := record(func(tb testing.TB) { compareFlat(tb, "x", []float32{1, 0}, nil, wantNaN, tol) }); len(msgs) == 0 {
		t.Error("0 against a NaN reference passed")
	}
}

func TestCompareStages(t *testing.T) {
	m := &recipe.Meta{Rewards: []recipe.Named{{Name: "r"}}, Advantages: []recipe.Named{{Name: "A"}}}
	want := &compiler.Result{
		Rewards:    map[string][]float64{"r": {1, 0, 0.5}},
		Advantages: map[string][]float64{"A": {0.5, -0.5, nan}}, // NaN: a response without a score, say
		Kept:       []bool{true, false},
		Loss:       -0.25,
	}
	good := func() *recipe.Output {
		return &recipe.Output{Rewards: [][]float64{{1, 0, 0.5}}, Advantages: [][]float64{{0.5, -0.5, nan}}, Kept: []bool{true, false}, Loss: -0.25}
	}
	tol := Tol{Atol, Rtol}
	if msgs := record(func(tb testing.TB) { compareStages(tb, "x", m, good(), want, tol) }); len(msgs) != 0 {
		t.Fatalf("the reference's own values: %q", msgs)
	}
	for name, plant := range map[string]func(o *recipe.Output){
		"loss NaN":                   func(o *recipe.Output) { o.Loss = nan },
		"loss +Inf":                  func(o *recipe.Output) { o.Loss = inf },
		"loss off by 1e-3":           func(o *recipe.Output) { o.Loss += 1e-3 },
		"reward NaN":                 func(o *recipe.Output) { o.Rewards[0][1] = nan },
		"reward off":                 func(o *recipe.Output) { o.Rewards[0][2] = 0.51 },
		"advantage finite where NaN": func(o *recipe.Output) { o.Advantages[0][2] = 0 },
		"advantage -Inf":             func(o *recipe.Output) { o.Advantages[0][0] = -inf },
		"kept flipped":               func(o *recipe.Output) { o.Kept[1] = true },
		"a reward missing":           func(o *recipe.Output) { o.Rewards[0] = o.Rewards[0][:2] },
	} {
		o := good()
		plant(o)
		if msgs := record(func(tb testing.TB) { compareStages(tb, "x", m, o, want, tol) }); len(msgs) == 0 {
			t.Errorf("%s: the harness passed it", name)
		}
	}
}

// plantedTokenAdjoint replaces a generated package's TokenAdjoint (the
// generated one renamed tokenAdjointGenerated) by one that plants the bug
// RECIPETEST_PLANT names into the gradient of every token row.
const plantedTokenAdjoint = `package main

import (
	"math"
	"os"

	"github.com/realc-project/realc/runtime/fused/recipe"
)

func (p program) TokenAdjoint(s *recipe.State, i int, logp, entropy float64) (float64, float64) {
	g, e := p.tokenAdjointGenerated(s, i, logp, entropy)
	switch os.Getenv("RECIPETEST_PLANT") {
	case "tiny": // far inside the tolerance: must pass
		g *= 1 + 1e-7
	case "scale": // every token's gradient 1% off
		g *= 1.01
	case "nan": // a NaN wherever the gradient is not zero
		if g != 0 {
			g = math.NaN()
		}
	case "inf":
		if g != 0 {
			g = math.Inf(1)
		}
	}
	return g, e
}
`

// TestMatchEvaluatorCatchesPlantedGradients builds generated/grpo's tests
// with TokenAdjoint wrapped (go test -overlay: the tree is not touched) and
// runs TestKernelsMatchEvaluator with each plant: the unplanted and the tiny
// error must pass, a 1% error, a NaN and an infinity in the gradient must
// fail. (Before the harness compared with numtest, the NaN passed.)
func TestMatchEvaluatorCatchesPlantedGradients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a generated package's test binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(root, "generated", "grpo")
	src, err := os.ReadFile(filepath.Join(pkg, "kernels_cpu.go"))
	if err != nil {
		t.Fatal(err)
	}
	const decl = "func (program) TokenAdjoint("
	if strings.Count(string(src), decl) != 1 {
		t.Fatalf("generated/grpo/kernels_cpu.go does not declare %q once: update this test's plant", decl)
	}
	tmp := t.TempDir()
	kernels := filepath.Join(tmp, "kernels_cpu.go")
	if err := os.WriteFile(kernels, []byte(strings.Replace(string(src), decl, "func (program) tokenAdjointGenerated(", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	plant := filepath.Join(tmp, "plant.go")
	if err := os.WriteFile(plant, []byte(plantedTokenAdjoint), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(pkg, "kernels_cpu.go"): kernels,
		filepath.Join(pkg, "zz_plant.go"):    plant,
	}})
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "grpo.test")
	build := exec.Command(goTool, "test", "-c", "-o", bin, "-overlay", overlayFile, "./generated/grpo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c with the plant: %v\n%s", err, out)
	}
	for _, c := range []struct {
		plant string
		pass  bool
		says  string
	}{
		{"", true, ""},
		{"tiny", true, ""},
		{"scale", false, "dlogits"},
		{"nan", false, "NaN"},
		{"inf", false, "Inf"},
	} {
		run := exec.Command(bin, "-test.run", "^TestKernelsMatchEvaluator$", "-test.short", "-test.count=1")
		run.Dir = pkg
		run.Env = append(os.Environ(), "RECIPETEST_PLANT="+c.plant)
		out, err := run.CombinedOutput()
		if pass := err == nil; pass != c.pass {
			t.Errorf("plant %q: harness passes %v, want %v\n%s", c.plant, pass, c.pass, out)
			continue
		}
		if !strings.Contains(string(out), c.says) {
			t.Errorf("plant %q: the failure does not say %q:\n%s", c.plant, c.says, out)
		}
	}
}
