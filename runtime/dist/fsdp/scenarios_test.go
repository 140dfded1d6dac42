package fsdp_test

// Scenarios every rank runs, on goroutine ranks (dist.NewLocal) in plain
// `go test` and on MPI processes under mpirun (mpi_test.go). Each rank also
// computes the world-size-1 reference itself (the models are tiny) and
// compares its gathered parameters with it.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/train"
)

// testConfig is a tiny tied Qwen3 whose unit sizes are not multiples of 2
// or 3 (vocab 67), so that shards are uneven and padded.
func testConfig() model.Config { return model.TinyQwen3Config(67) }

// untiedConfig is a tiny Llama-style model with its own lm_head.
func untiedConfig() model.Config {
	c := model.TinyQwen3Config(61)
	c.TiedEmbed, c.QKNorm, c.Arch = false, false, model.Llama
	return c
}

var testOptim = train.Optim{LR: 1e-3, WeightDecay: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1}

func adamwOf(o train.Optim) fsdp.AdamW {
	return fsdp.AdamW{WeightDecay: o.WeightDecay, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps}
}

// sampleGrads fills g with sample i of step k: gradients whose every
// element has a fixed sign across samples and magnitude in [0.5, 1.5) x
// scale, so that sums stay away from zero. dyadic draws multiples of 1/64
// in [1/64, 1] instead: their float32 sums and float64 squares are exact.
func sampleGrads(g *model.Model, seed uint64, k, i int, dyadic bool) {
	sign := rand.New(rand.NewPCG(seed, 0))
	r := rand.New(rand.NewPCG(seed, uint64(1000*k+i+1)))
	for pi, p := range g.Params() {
		scale := math.Pow(10, -float64(pi%4)) // 1 .. 1e-3 by tensor
		for j := range p.Data {
			s := 1.0
			if sign.IntN(2) == 0 {
				s = -1
			}
			if dyadic {
				p.Data[j] = float32(s * float64(1+r.IntN(64)) / 64)
			} else {
				p.Data[j] = float32(s * scale * (0.5 + r.Float64()))
			}
		}
	}
}

// addInto adds src into dst, parameter by parameter (float32).
func addInto(dst, src *model.Model) {
	sp := src.Params()
	for pi, p := range dst.Params() {
		for j := range p.Data {
			p.Data[j] += sp[pi].Data[j]
		}
	}
}

// samplesOf is the samples rank r of w takes out of n: r, r+w, r+2w, ...
func samplesOf(r, w, n int) []int {
	var s []int
	for i := r; i < n; i += w {
		s = append(s, i)
	}
	return s
}

// compare checks every parameter of got (gathered) against want within
// tol(pi, j) (nil: bit for bit) and returns the largest |difference| and
// the largest difference over its tolerance.
func compare(got, want *model.Model, tol func(pi, j int) float64) (maxDiff, maxRatio float64, err error) {
	wp := want.Params()
	for pi, p := range got.Params() {
		if len(p.Data) != len(wp[pi].Data) {
			return 0, 0, fmt.Errorf("%s: %d elements, want %d", p.Name, len(p.Data), len(wp[pi].Data))
		}
		for j, v := range p.Data {
			w := wp[pi].Data[j]
			d := math.Abs(float64(v) - float64(w))
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			maxDiff = max(maxDiff, d)
			t := 0.0
			if tol != nil {
				t = tol(pi, j)
			}
			if t > 0 {
				maxRatio = max(maxRatio, d/t)
			}
			if !(d <= t) && err == nil {
				err = fmt.Errorf("%s[%d] = %v, want %v (|diff| %.3g > tolerance %.3g)", p.Name, j, v, w, d, t)
			}
		}
	}
	return maxDiff, maxRatio, err
}

// gatheredCopy gathers s and returns a deep copy of the whole model.
func gatheredCopy(s *fsdp.Sharded) (*model.Model, error) {
	if err := s.GatherAll(); err != nil {
		return nil, err
	}
	m := s.Model.Clone()
	s.ReleaseAll()
	return m, nil
}

// scenarioExact: K steps with dyadic gradients and clipping on. Every sum
// is exact, so the sharded run must equal train.AdamW at world size 1 bit
// for bit, grad norm and clip factor included.
func scenarioExact(c dist.Comm, cfg model.Config) error {
	const steps, samples = 3, 6
	init, err := model.New(cfg)
	if err != nil {
		return err
	}
	init.InitRandom(7, 0.2)
	// Reference: one process, train's optimizer.
	ref := init.Clone()
	opt := train.NewAdamW(ref)
	gsum, tmp := ref.NewGrads(), ref.NewGrads()
	var refNorms []float64
	for k := 0; k < steps; k++ {
		gsum.Zero()
		for i := 0; i < samples; i++ {
			sampleGrads(tmp, 11, k, i, true)
			addInto(gsum, tmp)
		}
		norm := train.GradNorm(gsum)
		refNorms = append(refNorms, norm)
		opt.Update(ref, gsum, train.ClipScale(norm, testOptim.Clip), testOptim.LR, testOptim)
	}
	// Sharded.
	s, err := fsdp.New(c, init.Clone())
	if err != nil {
		return err
	}
	for k := 0; k < steps; k++ {
		g := s.NewGrads()
		for _, i := range samplesOf(c.Rank(), c.Size(), samples) {
			sampleGrads(tmp, 11, k, i, true)
			addInto(g, tmp)
		}
		if err := s.ReduceGrads(g); err != nil {
			return err
		}
		norm, err := s.GradNorm()
		if err != nil {
			return err
		}
		if norm != refNorms[k] {
			return fmt.Errorf("step %d: grad norm %v, world size 1 has %v", k, norm, refNorms[k])
		}
		s.Update(testOptim.LR, fsdp.ClipScale(norm, testOptim.Clip), adamwOf(testOptim))
	}
	got, err := gatheredCopy(s)
	if err != nil {
		return err
	}
	if _, _, err := compare(got, ref, nil); err != nil {
		return fmt.Errorf("exact scenario, world size %d: %v", c.Size(), err)
	}
	// The moments too, against train's.
	full, err := s.FullOptimizer(0)
	if err != nil {
		return err
	}
	if c.Rank() == 0 {
		for pi, p := range ref.Params() {
			for name, want := range map[string][]float32{"exp_avg." + p.Name: opt.M[pi], "exp_avg_sq." + p.Name: opt.V[pi]} {
				got := full[name]
				if len(got) != len(want) {
					return fmt.Errorf("%s: %d elements, want %d", name, len(got), len(want))
				}
				for j := range got {
					if got[j] != want[j] {
						return fmt.Errorf("%s[%d] = %v, train.AdamW has %v", name, j, got[j], want[j])
					}
				}
			}
		}
	}
	return nil
}

// u32 is float32's unit roundoff.
const u32 = 1.0 / (1 << 24)

func gamma(n int) float64 { return float64(n) * u32 / (1 - float64(n)*u32) }

// adamwBound follows one element through K AdamW steps and bounds how far
// two runs can drift apart when their step-k gradients differ by at most
// delta[k] (different float32 summation orders). ref holds the reference
// run's gradients g[k] and its initial value x0. See README.md ("Tolerance")
// for the derivation; the result is a bound on |x'_K - x_K|.
func adamwBound(x0 float64, g, delta []float64, lr float64, o fsdp.AdamW) float64 {
	var m, v, x = 0.0, 0.0, x0
	var em, ev, ex float64 // bounds on the stored moments' and parameter's differences
	for k := range g {
		t := float64(k + 1)
		bc1, bc2 := 1-math.Pow(o.Beta1, t), 1-math.Pow(o.Beta2, t)
		gk, dk := g[k], delta[k]
		mNew := o.Beta1*m + (1-o.Beta1)*gk
		vNew := o.Beta2*v + (1-o.Beta2)*gk*gk
		// Differences of the unrounded new moments.
		emU := o.Beta1*em + (1-o.Beta1)*dk
		evU := o.Beta2*ev + (1-o.Beta2)*(2*math.Abs(gk)*dk+dk*dk)
		// The update q = (m/bc1) / (sqrt(v/bc2) + eps): a Lipschitz bound
		// over the box |m' - m| <= emU, |v' - v| <= evU.
		vLo := vNew - evU
		var dq float64
		if vLo <= 0 {
			dq = math.Inf(1)
		} else {
			sLo := math.Sqrt(vLo / bc2)
			dq = emU/(bc1*(sLo+o.Eps)) + (math.Abs(mNew)+emU)/bc1*evU/(2*bc2*sLo*(sLo+o.Eps)*(sLo+o.Eps))
		}
		q := (mNew / bc1) / (math.Sqrt(vNew/bc2) + o.Eps)
		xNew := x*(1-lr*o.WeightDecay) - lr*q
		// Storing in float32 rounds each run by at most u|value|.
		m, v = float64(float32(mNew)), float64(float32(vNew))
		em = emU + u32*(2*math.Abs(mNew)+emU)
		ev = evU + u32*(2*vNew+evU)
		ex = ex*(1-lr*o.WeightDecay) + lr*dq
		ex += u32 * (2*math.Abs(xNew) + ex)
		x = float64(float32(xNew))
	}
	return ex * (1 + 1e-6) // the float64 arithmetic of the bound itself
}

// scenarioTolerance: K steps with general float32 gradients, no clipping.
// World size 1 accumulates the samples 0..n-1 one after another; rank r
// accumulates its own, and the reduce-scatter adds the ranks' partial sums
// in the backend's order. Both are float32 sums of the same n numbers, so
// each gradient element differs by at most delta = 2 gamma(n-1) sum|c_i|,
// and every parameter must stay within adamwBound of world size 1.
func scenarioTolerance(c dist.Comm, cfg model.Config) (maxDiff, maxRatio float64, err error) {
	const steps, samples = 4, 7
	o := testOptim
	o.Clip = 0
	init, err := model.New(cfg)
	if err != nil {
		return 0, 0, err
	}
	init.InitRandom(9, 0.2)
	ref := init.Clone()
	opt := train.NewAdamW(ref)
	gsum, abs, tmp := ref.NewGrads(), ref.NewGrads(), ref.NewGrads()
	np := len(ref.Params())
	// Per parameter element: the reference gradient and delta of each step.
	gk := make([][][]float64, np)
	dk := make([][][]float64, np)
	for pi, p := range ref.Params() {
		gk[pi] = make([][]float64, len(p.Data))
		dk[pi] = make([][]float64, len(p.Data))
	}
	for k := 0; k < steps; k++ {
		gsum.Zero()
		abs.Zero()
		for i := 0; i < samples; i++ {
			sampleGrads(tmp, 13, k, i, false)
			addInto(gsum, tmp)
			ap, tp := abs.Params(), tmp.Params()
			for pi := range ap {
				for j, v := range tp[pi].Data {
					ap[pi].Data[j] += float32(math.Abs(float64(v)))
				}
			}
		}
		ap, gp := abs.Params(), gsum.Params()
		for pi := range gp {
			for j := range gp[pi].Data {
				// sum|c| itself is a float32 sum: inflate by (1+gamma(n)).
				a := float64(ap[pi].Data[j]) * (1 + gamma(samples))
				gk[pi][j] = append(gk[pi][j], float64(gp[pi].Data[j]))
				dk[pi][j] = append(dk[pi][j], 2*gamma(samples-1)*a)
			}
		}
		opt.Update(ref, gsum, 1, o.LR, o)
	}
	ip := init.Params()
	tol := func(pi, j int) float64 {
		return adamwBound(float64(ip[pi].Data[j]), gk[pi][j], dk[pi][j], o.LR, adamwOf(o))
	}
	s, err := fsdp.New(c, init.Clone())
	if err != nil {
		return 0, 0, err
	}
	for k := 0; k < steps; k++ {
		g := s.NewGrads()
		for _, i := range samplesOf(c.Rank(), c.Size(), samples) {
			sampleGrads(tmp, 13, k, i, false)
			addInto(g, tmp)
		}
		if err := s.ReduceGrads(g); err != nil {
			return 0, 0, err
		}
		s.Update(o.LR, 1, adamwOf(o))
	}
	got, err := gatheredCopy(s)
	if err != nil {
		return 0, 0, err
	}
	maxDiff, maxRatio, err = compare(got, ref, tol)
	if err != nil {
		err = fmt.Errorf("tolerance scenario, world size %d: %v", c.Size(), err)
	}
	return maxDiff, maxRatio, err
}

// tinyBatch is sequence i of the model scenario: 5 to 9 tokens.
func tinyBatch(i, vocab int) []int {
	r := rand.New(rand.NewPCG(99, uint64(i)))
	toks := make([]int, 5+r.IntN(5))
	for j := range toks {
		toks[j] = r.IntN(vocab)
	}
	return toks
}

// lmGrads adds into g the gradient of sum over the sequences' next-token
// cross-entropy / total (the global token count), one sequence at a time.
func lmGrads(m, g *model.Model, seqs []int, total int) error {
	V := m.Cfg.Vocab
	for _, i := range seqs {
		toks := tinyBatch(i, V)
		T := len(toks)
		p, err := m.Forward(&model.Batch{B: 1, T: T, Tokens: toks})
		if err != nil {
			return err
		}
		logits := m.Logits(p)
		d := make([]float32, len(logits))
		for t := 0; t+1 < T; t++ {
			row := logits[t*V : (t+1)*V]
			mx := row[0]
			for _, x := range row {
				mx = max(mx, x)
			}
			var sum float64
			for _, x := range row {
				sum += math.Exp(float64(x - mx))
			}
			for v, x := range row {
				pr := math.Exp(float64(x-mx)) / sum
				if v == toks[t+1] {
					pr--
				}
				d[t*V+v] = float32(pr / float64(total))
			}
		}
		if err := m.Backward(p, d, g); err != nil {
			return err
		}
	}
	return nil
}

// scenarioModel: two training steps of the real model (forward and backward
// through the gathered units, tied or untied head), the loss normalized by
// the global token count from dist.SumInts. The reference at world size 1
// computes each rank's partial gradient the same way and adds them in rank
// order, which is what NewLocal's reduce-scatter does: bit for bit there.
// Under MPI the backend may add in another order; each gradient element
// then differs by at most 2 gamma(W-1) sum_r |partial_r|, and after one step
// the parameters by adamwBound; the second step is compared with 8 times
// the first step's bound (the gradient then depends on parameters that
// differ by that much).
func scenarioModel(c dist.Comm, cfg model.Config) (maxDiff float64, err error) {
	const seqs = 5
	o := testOptim
	w := c.Size()
	init, err := model.New(cfg)
	if err != nil {
		return 0, err
	}
	init.InitRandom(21, 0.2)
	tokens := func(list []int) int {
		n := 0
		for _, i := range list {
			n += len(tinyBatch(i, cfg.Vocab)) - 1
		}
		return n
	}
	total := tokens(samplesOf(0, 1, seqs))
	// Reference.
	ref := init.Clone()
	opt := train.NewAdamW(ref)
	var ref1 *model.Model
	var bound func(pi, j int) float64
	for k := 0; k < 2; k++ {
		parts := make([]*model.Model, w)
		gsum := ref.NewGrads()
		for r := 0; r < w; r++ {
			parts[r] = ref.NewGrads()
			if err := lmGrads(ref, parts[r], samplesOf(r, w, seqs), total); err != nil {
				return 0, err
			}
			addInto(gsum, parts[r])
		}
		if k == 0 {
			x0, gp := ref.Clone().Params(), gsum.Params()
			pp := make([][]model.Param, w)
			for r := range parts {
				pp[r] = parts[r].Params()
			}
			bound = func(pi, j int) float64 {
				var a float64
				for r := range pp {
					a += math.Abs(float64(pp[r][pi].Data[j]))
				}
				delta := 2 * gamma(max(w-1, 0)) * a * (1 + gamma(w))
				return adamwBound(float64(x0[pi].Data[j]), []float64{float64(gp[pi].Data[j])}, []float64{delta}, o.LR, adamwOf(o))
			}
		}
		opt.Update(ref, gsum, 1, o.LR, o)
		if k == 0 {
			ref1 = ref.Clone()
		}
	}
	// Sharded.
	s, err := fsdp.New(c, init.Clone())
	if err != nil {
		return 0, err
	}
	mine := samplesOf(c.Rank(), w, seqs)
	for k := 0; k < 2; k++ {
		n, err := dist.SumInts(c, tokens(mine))
		if err != nil {
			return 0, err
		}
		if n[0] != total {
			return 0, fmt.Errorf("global token count %d, want %d", n[0], total)
		}
		if err := s.GatherAll(); err != nil {
			return 0, err
		}
		g := s.NewGrads()
		if err := lmGrads(s.Model, g, mine, n[0]); err != nil {
			return 0, err
		}
		s.ReleaseAll()
		if err := s.ReduceGrads(g); err != nil {
			return 0, err
		}
		s.Update(o.LR, 1, adamwOf(o))
		got, err := gatheredCopy(s)
		if err != nil {
			return 0, err
		}
		want, tol := ref1, bound
		if k == 1 {
			want, tol = ref, func(pi, j int) float64 { return 8 * bound(pi, j) }
		}
		if c.Backend() == "local" || c.Backend() == "single" {
			tol = nil // rank-order sums: bit for bit
		}
		d, _, err := compare(got, want, tol)
		if err != nil {
			return 0, fmt.Errorf("model scenario (%s), world size %d, step %d: %v", cfg.Arch, w, k+1, err)
		}
		maxDiff = max(maxDiff, d)
	}
	return maxDiff, nil
}
