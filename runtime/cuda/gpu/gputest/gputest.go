//go:build cuda

package gputest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/runtime/cuda"
	"github.com/realc-project/realc/runtime/cuda/gpu"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/fused/recipe"
	"github.com/realc-project/realc/runtime/fused/recipe/recipetest"
)

// Recipe is a generated recipe's loss as the device code needs it.
type Recipe struct {
	Prog *compiler.Program
	Spec *cuda.Spec
	Src  string // kernels.cu
	Meta *recipe.Meta
}

// LoadRecipe reads recipes/<name>.rl and generated/<name>/{kernels.cu,
// launch_cuda.go} under the module root.
func LoadRecipe(root, name string) (*Recipe, error) {
	rl, err := os.ReadFile(filepath.Join(root, "recipes", name+".rl"))
	if err != nil {
		return nil, err
	}
	prog, err := compiler.Compile("recipes/"+name+".rl", rl)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(root, "generated", name, "kernels.cu"))
	if err != nil {
		return nil, err
	}
	launch, err := os.ReadFile(filepath.Join(root, "generated", name, "launch_cuda.go"))
	if err != nil {
		return nil, err
	}
	spec, err := cuda.ParseSpec(launch)
	if err != nil {
		return nil, err
	}
	meta := &recipe.Meta{Name: prog.Name, ScoreValues: prog.Score.Values, ScoreReadouts: len(prog.Score.Values) > 0}
	for _, h := range prog.Hypers {
		meta.Hypers = append(meta.Hypers, recipe.Hyper{Name: h.Name, Default: h.Default})
	}
	return &Recipe{Prog: prog, Spec: spec, Src: string(src), Meta: meta}, nil
}

// ModuleRoot finds go.mod above the working directory.
func ModuleRoot() (string, error) { return recipetest.ModuleRoot() }

func bf16(x float64) float64 {
	return float64(cuda.FromBF16(cuda.ToBF16([]float32{float32(x)}))[0])
}

// LossReport compares one batch's loss three ways.
type LossReport struct {
	LossRef, LossMat, LossFused float64
	DTokErr                     float64 // materialized dlogits vs the reference, relative Frobenius
	DHErr, DWErr                float64 // fused vs materialized
	bad                         []string
}

func (r *LossReport) String() string {
	return fmt.Sprintf("loss ref %.8g materialized %.8g fused %.8g; dlogits err %.3g; fused vs materialized dH %.3g dW %.3g", r.LossRef, r.LossMat, r.LossFused, r.DTokErr, r.DHErr, r.DWErr)
}

// Problems lists what is out of bounds.
func (r *LossReport) Problems() []string { return r.bad }

func upBF16(m *gpu.Machine, xs []float32) (uintptr, error) { return gpumodeltest.WriteBF16(m, xs) }

func alloc(m *gpu.Machine, bytes int) (uintptr, error) {
	p, err := m.Alloc(int64(bytes))
	if err == nil {
		err = m.Zero(p, int64(bytes))
	}
	return p, err
}

func readF32(m *gpu.Machine, p uintptr, n int) ([]float32, error) {
	b := make([]byte, 4*n)
	if err := m.Read(b, p); err != nil {
		return nil, err
	}
	return kernels.BytesF32(b), nil
}

// RunRecipeCheck runs problem pr: the logits H W^T by cuBLAS, the loss
// materialized and fused (chunk rows at a time), and the reference
// evaluator on the same bf16 logits.
func RunRecipeCheck(m *gpu.Machine, rl *gpu.RecipeLoss, rc *Recipe, pr *recipetest.Problem, chunk int) (*LossReport, error) {
	l, _, _, err := recipe.FromBatch(pr.Batch, rc.Meta)
	if err != nil {
		return nil, err
	}
	hv, err := recipe.HyperValues(rc.Meta, pr.Hyper)
	if err != nil {
		return nil, err
	}
	D, V, T, S := pr.D, l.V, l.T, l.S
	H, err := upBF16(m, pr.H)
	if err != nil {
		return nil, err
	}
	defer m.Free(H)
	W, err := upBF16(m, pr.W)
	if err != nil {
		return nil, err
	}
	defer m.Free(W)
	var bufs []uintptr
	defer func() {
		for _, p := range bufs {
			m.Free(p)
		}
	}()
	get := func(bytes int) uintptr {
		p, e := alloc(m, bytes)
		if e != nil && err == nil {
			err = e
		}
		bufs = append(bufs, p)
		return p
	}
	z, dz := get(2*(T+S)*V), get(2*(T+S)*V)
	dHm, dWm, dHf, dWf := get(4*(T+S)*D), get(4*V*D), get(4*(T+S)*D), get(4*V*D)
	if err != nil {
		return nil, err
	}
	r := &LossReport{}
	// Materialized: all logits, the kernels, then dH and dW.
	if err := m.Gemm(kernels.Gemm{TransB: true, M: T + S, N: V, K: D, Alpha: 1, A: H, LDA: D, B: W, LDB: D, C: z, LDC: V, AB: kernels.BF16, CT: kernels.BF16}); err != nil {
		return nil, err
	}
	if r.LossMat, err = rl.Materialized(l, hv, z, z+uintptr(2*T*V), dz, dz+uintptr(2*T*V)); err != nil {
		return nil, err
	}
	if err := m.Gemm(kernels.Gemm{M: T + S, N: D, K: V, Alpha: 1, A: dz, LDA: V, B: W, LDB: D, C: dHm, LDC: D, AB: kernels.BF16, CT: kernels.F32}); err != nil {
		return nil, err
	}
	if err := m.Gemm(kernels.Gemm{TransA: true, M: V, N: D, K: T + S, Alpha: 1, Beta: 1, A: dz, LDA: V, B: H, LDB: D, C: dWm, LDC: D, AB: kernels.BF16, CT: kernels.F32}); err != nil {
		return nil, err
	}
	// Fused.
	if r.LossFused, err = rl.Fused(l, hv, H, H+uintptr(2*T*D), W, D, chunk, dHf, dHf+uintptr(4*T*D), dWf); err != nil {
		return nil, err
	}
	// Reference on the device's bf16 logits.
	logits, err := gpumodeltest.BF16(m, z, (T+S)*V)
	if err != nil {
		return nil, err
	}
	dlog, err := gpumodeltest.BF16(m, dz, (T+S)*V)
	if err != nil {
		return nil, err
	}
	row := 0
	for gi := range pr.Batch.Groups {
		for j := range pr.Batch.Groups[gi].Seqs {
			s := &pr.Batch.Groups[gi].Seqs[j]
			for t := range s.Logits {
				for k := range s.Logits[t] {
					s.Logits[t][k] = float64(logits[row*V+k])
				}
				row++
			}
		}
	}
	srow := T
	for gi := range pr.Batch.Groups {
		for j := range pr.Batch.Groups[gi].Seqs {
			s := &pr.Batch.Groups[gi].Seqs[j]
			for k := range s.ScoreLogits {
				s.ScoreLogits[k] = float64(logits[srow*V+k])
			}
			srow++
		}
	}
	want, err := compiler.Eval(rc.Prog, pr.Batch, pr.Hyper)
	if err != nil {
		return nil, err
	}
	r.LossRef = want.Loss
	var ref []float32
	for s := range want.GradLogits {
		for _, g := range want.GradLogits[s] {
			for _, x := range g {
				ref = append(ref, float32(x))
			}
		}
	}
	for s := range want.GradScoreLogits {
		for _, x := range want.GradScoreLogits[s] {
			ref = append(ref, float32(x))
		}
	}
	r.DTokErr = gpumodeltest.RelErr(dlog, ref)
	gm, err := readF32(m, dHm, (T+S)*D)
	if err != nil {
		return nil, err
	}
	gf, err := readF32(m, dHf, (T+S)*D)
	if err != nil {
		return nil, err
	}
	r.DHErr = gpumodeltest.RelErr(gf, gm)
	wm, err := readF32(m, dWm, V*D)
	if err != nil {
		return nil, err
	}
	wf, err := readF32(m, dWf, V*D)
	if err != nil {
		return nil, err
	}
	r.DWErr = gpumodeltest.RelErr(wf, wm)
	// Bounds: the loss in float64 from the same logits (the kernels keep
	// row statistics in float32: 1e-5 relative); dlogits are rounded to
	// bf16 once (2^-9 relative at most). The fused path recomputes the
	// logits chunk by chunk: cuBLAS may pick another algorithm for the
	// chunk's shape, so a logit may differ in its last bit and its gradient
	// by one bf16 step: dH and dW within 2e-3 (relative Frobenius).
	if !(math.Abs(r.LossMat-r.LossRef) <= 1e-5*math.Max(1, math.Abs(r.LossRef))) {
		r.bad = append(r.bad, fmt.Sprintf("materialized loss %v, reference %v", r.LossMat, r.LossRef))
	}
	if !(math.Abs(r.LossFused-r.LossMat) <= 1e-5*math.Max(1, math.Abs(r.LossMat))) {
		r.bad = append(r.bad, fmt.Sprintf("fused loss %v, materialized %v", r.LossFused, r.LossMat))
	}
	if !(r.DTokErr <= 4e-3) {
		r.bad = append(r.bad, fmt.Sprintf("dlogits relative error %.3g above 4e-3", r.DTokErr))
	}
	if !(r.DHErr <= 2e-3) || !(r.DWErr <= 2e-3) {
		r.bad = append(r.bad, fmt.Sprintf("fused vs materialized: dH %.3g, dW %.3g (bound 2e-3)", r.DHErr, r.DWErr))
	}
	return r, nil
}

// BigLossReport is the full-size fused loss against the materialized one.
type BigLossReport struct {
	N, V, D, Chunk       int
	LossMat, LossFused   float64
	DHErr, DWErr         float64
	TimeMat, TimeFused   time.Duration
	FLOPsMat, FLOPsFused float64
	PeakMat, PeakFused   int64 // device bytes in use at the peak (cuMemGetInfo)
	bad                  []string
}

// Problems lists what is out of bounds.
func (r *BigLossReport) Problems() []string { return r.bad }

func (r *BigLossReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fused loss N=%d V=%d d=%d (chunk %d)\n", r.N, r.V, r.D, r.Chunk)
	fmt.Fprintf(&b, "  materialized: loss %.8g, %v, %.1f TFLOP/s, peak %.2f GiB\n", r.LossMat, r.TimeMat, r.FLOPsMat/r.TimeMat.Seconds()/1e12, float64(r.PeakMat)/(1<<30))
	fmt.Fprintf(&b, "  fused:        loss %.8g, %v, %.1f TFLOP/s, peak %.2f GiB\n", r.LossFused, r.TimeFused, r.FLOPsFused/r.TimeFused.Seconds()/1e12, float64(r.PeakFused)/(1<<30))
	fmt.Fprintf(&b, "  fused vs materialized: dH %.3g, dW %.3g (relative)", r.DHErr, r.DWErr)
	return b.String()
}

// BigLayout is N token rows in G groups of 4 sequences (REAL-style mixed
// accuracy, CoT then one answer token), as recipetest.BenchLayout.
func BigLayout(meta *recipe.Meta, N, V int) *recipe.Layout {
	r := rand.New(rand.NewPCG(5, 5))
	const per = 4
	G := 8
	S := G * per
	L := N / S
	l := &recipe.Layout{V: V, ScoreValues: meta.ScoreValues, G: G, S: S, T: S * L}
	for k := range meta.ScoreValues {
		l.ScoreTokens = append(l.ScoreTokens, int32(16+k))
	}
	for g := 0; g <= G; g++ {
		l.GroupOff = append(l.GroupOff, int32(g*per))
	}
	for i := 0; i < S; i++ {
		l.SeqGroup = append(l.SeqGroup, int32(i/per))
		l.TokOff = append(l.TokOff, int32(i*L))
		l.Pred = append(l.Pred, meta.ScoreValues[r.IntN(len(meta.ScoreValues))])
		l.Acc = append(l.Acc, float64(i%2))
		l.Len = append(l.Len, float64(L))
		l.Truncated = append(l.Truncated, 0)
		l.FormatOK = append(l.FormatOK, 1)
		for t := 0; t < L; t++ {
			l.TokSeq = append(l.TokSeq, int32(i))
			l.Tokens = append(l.Tokens, int32(r.IntN(V)))
			l.Mask = append(l.Mask, 1)
			l.Cot = append(l.Cot, recipe.B2F(t < L-1))
			l.Answer = append(l.Answer, recipe.B2F(t == L-1))
		}
	}
	l.TokOff = append(l.TokOff, int32(S*L))
	for g := 0; g < G; g++ {
		l.Y = append(l.Y, meta.ScoreValues[g%len(meta.ScoreValues)])
	}
	return l
}

// BigFusedLoss runs the fused loss at N x V x D (random bf16 hidden states
// and head, generated on the host) against the materialized path on the
// same device, timing both (after one warm-up run each).
func BigFusedLoss(m *gpu.Machine, rl *gpu.RecipeLoss, rc *Recipe, N, V, D, chunk int) (*BigLossReport, error) {
	l := BigLayout(rc.Meta, N, V)
	hv, err := recipe.HyperValues(rc.Meta, nil)
	if err != nil {
		return nil, err
	}
	T, S := l.T, l.S
	r := &BigLossReport{N: T, V: V, D: D, Chunk: chunk}
	rng := rand.New(rand.NewPCG(9, 9))
	hs := make([]float32, (T+S)*D)
	for i := range hs {
		hs[i] = float32(rng.NormFloat64())
	}
	ws := make([]float32, V*D)
	sc := 2 / math.Sqrt(float64(D))
	for i := range ws {
		ws[i] = float32(rng.NormFloat64() * sc)
	}
	base := m.InUse()
	H, err := upBF16(m, hs)
	if err != nil {
		return nil, err
	}
	defer m.Free(H)
	W, err := upBF16(m, ws)
	if err != nil {
		return nil, err
	}
	defer m.Free(W)
	hs, ws = nil, nil
	dH, err := alloc(m, 4*(T+S)*D)
	if err != nil {
		return nil, err
	}
	defer m.Free(dH)
	dW, err := alloc(m, 4*V*D)
	if err != nil {
		return nil, err
	}
	defer m.Free(dW)
	// FLOPs: the logits, dH and dW products (2*rows*V*D each); the fused
	// path computes the logits twice.
	rows := float64(T + S)
	r.FLOPsMat = 3 * 2 * rows * float64(V) * float64(D)
	r.FLOPsFused = 4 * 2 * rows * float64(V) * float64(D)
	// Materialized: the whole [T+S x V] logits and their gradient.
	mat := func() (float64, error) {
		z, err := alloc(m, 2*(T+S)*V)
		if err != nil {
			return 0, fmt.Errorf("materialized logits (%.1f GiB): %v", float64(2*(T+S)*V)/(1<<30), err)
		}
		defer m.Free(z)
		dz, err := alloc(m, 2*(T+S)*V)
		if err != nil {
			return 0, err
		}
		defer m.Free(dz)
		if err := m.Gemm(kernels.Gemm{TransB: true, M: T + S, N: V, K: D, Alpha: 1, A: H, LDA: D, B: W, LDB: D, C: z, LDC: V, AB: kernels.BF16, CT: kernels.BF16}); err != nil {
			return 0, err
		}
		loss, err := rl.Materialized(l, hv, z, z+uintptr(2*T*V), dz, dz+uintptr(2*T*V))
		if err != nil {
			return 0, err
		}
		if err := m.Gemm(kernels.Gemm{M: T + S, N: D, K: V, Alpha: 1, A: dz, LDA: V, B: W, LDB: D, C: dH, LDC: D, AB: kernels.BF16, CT: kernels.F32}); err != nil {
			return 0, err
		}
		if err := m.Gemm(kernels.Gemm{TransA: true, M: V, N: D, K: T + S, Alpha: 1, Beta: 1, A: dz, LDA: V, B: H, LDB: D, C: dW, LDC: D, AB: kernels.BF16, CT: kernels.F32}); err != nil {
			return 0, err
		}
		return loss, m.Sync()
	}
	fused := func() (float64, error) {
		loss, err := rl.Fused(l, hv, H, H+uintptr(2*T*D), W, D, chunk, dH, dH+uintptr(4*T*D), dW)
		if err != nil {
			return 0, err
		}
		return loss, m.Sync()
	}
	timed := func(f func() (float64, error), peak *int64) (float64, time.Duration, error) {
		if err := m.Zero(dW, int64(4*V*D)); err != nil {
			return 0, 0, err
		}
		if err := m.Sync(); err != nil {
			return 0, 0, err
		}
		m.ResetPeak()
		start := time.Now()
		loss, err := f()
		d := time.Since(start)
		*peak = max(*peak, m.Peak()-base)
		return loss, d, err
	}
	// Warm-up, then the timed runs; dW is cleared before each.
	if _, _, err := timed(mat, &r.PeakMat); err != nil {
		return nil, err
	}
	if r.LossMat, r.TimeMat, err = timed(mat, &r.PeakMat); err != nil {
		return nil, err
	}
	dHm, err := readF32(m, dH, (T+S)*D)
	if err != nil {
		return nil, err
	}
	dWm, err := readF32(m, dW, V*D)
	if err != nil {
		return nil, err
	}
	if _, _, err := timed(fused, &r.PeakFused); err != nil {
		return nil, err
	}
	if r.LossFused, r.TimeFused, err = timed(fused, &r.PeakFused); err != nil {
		return nil, err
	}
	dHf, err := readF32(m, dH, (T+S)*D)
	if err != nil {
		return nil, err
	}
	dWf, err := readF32(m, dW, V*D)
	if err != nil {
		return nil, err
	}
	r.DHErr, r.DWErr = gpumodeltest.RelErr(dHf, dHm), gpumodeltest.RelErr(dWf, dWm)
	if !(math.Abs(r.LossFused-r.LossMat) <= 1e-5*math.Max(1, math.Abs(r.LossMat))) {
		r.bad = append(r.bad, fmt.Sprintf("fused loss %v, materialized %v", r.LossFused, r.LossMat))
	}
	if !(r.DHErr <= 2e-3) || !(r.DWErr <= 2e-3) {
		r.bad = append(r.bad, fmt.Sprintf("fused vs materialized: dH %.3g, dW %.3g (bound 2e-3)", r.DHErr, r.DWErr))
	}
	if math.IsNaN(r.LossMat) || r.LossMat == 0 {
		r.bad = append(r.bad, fmt.Sprintf("materialized loss %v (no group kept?)", r.LossMat))
	}
	return r, nil
}
