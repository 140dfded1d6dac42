package gpumodel_test

import (
	"slices"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/gpumodel/gpumodeltest"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
)

// argmax is the greedy choice, failing the test on a NaN or +Inf logit.
func argmax(t *testing.T, xs []float32) int {
	t.Helper()
	i, err := sample.Argmax(xs)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestPrefill: LM.Forward on an empty cache runs one forward pass over the
// prompt (the prefill attention kernel once per layer, no decoding step)
// where the decoder took a step per token, on the twin machine, for the
// tiny Qwen3 (q/k norms) and the Mistral model (a sliding window of 4,
// shorter than the prompt). Against a decoder fed the prompt token by
// token: the logits after the prompt and the keys and values of every
// layer within the forward's bf16 bound, and the same greedy tokens over
// the decoding steps that follow. The pass's activations are freed; a
// cache that holds tokens, or gets one token, still takes decoding steps.
func TestPrefill(t *testing.T) {
	for _, mk := range []func() *model.Model{func() *model.Model { return model.NewTinyQwen3(61, 9) }, mistral} {
		cpu := mk()
		arch, L := cpu.Cfg.Arch, cpu.Cfg.Layers
		tol := gpumodeltest.ForwardTol(L)
		prompt := []int{1, 5, 9, 2, 44, 7, 3, 12, 30, 8, 8, 19, 4}
		P := len(prompt)
		const newTokens = 10
		maxLen := P + newTokens + 8

		// The token-by-token path: a decoder's steps (what LM.Forward did).
		rm := newCounting()
		gr, err := gpumodel.Upload(rm, cpu)
		if err != nil {
			t.Fatal(err)
		}
		defer gr.Free()
		ref, err := gr.NewDecoder(1, maxLen)
		if err != nil {
			t.Fatal(err)
		}
		defer ref.Free()
		var refLogits []float32
		for _, tok := range prompt {
			l, err := ref.Step([]int{tok})
			if err != nil {
				t.Fatal(err)
			}
			refLogits = l[0]
		}
		refLaunches := total(rm.launches)
		if got := rm.launches["realc_attention_decode"]; got != P*L {
			t.Fatalf("%s: the token-by-token path made %d decoding-attention launches, want %d (a step per token and layer)", arch, got, P*L)
		}

		// The prefill path.
		m := newCounting()
		g, err := gpumodel.Upload(m, cpu)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Free()
		lm, err := g.NewLM(2, maxLen)
		if err != nil {
			t.Fatal(err)
		}
		defer lm.Free()
		held := m.inUse
		m.peak = held
		clear(m.launches)
		cache := lm.NewCache()
		out, err := lm.Forward([]sample.Cache{cache}, [][]int{prompt})
		if err != nil {
			t.Fatal(err)
		}
		if d, a := m.launches["realc_attention_decode"], m.launches["realc_attention"]; d != 0 || a != L {
			t.Errorf("%s: a %d-token prompt made %d decoding-attention and %d prefill-attention launches, want 0 and %d (one pass)", arch, P, d, a, L)
		}
		t.Logf("%s: a %d-token prompt: %d decoding steps and %d launches token by token, 1 pass and %d launches prefilled; the pass held %d bytes, freed",
			arch, P, P, refLaunches, total(m.launches), m.peak-held)
		if m.inUse != held {
			t.Errorf("%s: %d bytes of the prefill left allocated", arch, m.inUse-held)
		}
		if cache.Len() != P {
			t.Errorf("%s: cache length %d after a %d-token prompt", arch, cache.Len(), P)
		}
		if e := gpumodeltest.RelErr(out[0], refLogits); !(e <= tol) {
			t.Errorf("%s: logits after the prompt: relative error %.3g against the token-by-token path, above %.3g", arch, e, tol)
		}
		worstKV := 0.0
		for li := range L {
			kp, vp, err := lm.Decoder().CacheRows(li, 0, P)
			if err != nil {
				t.Fatal(err)
			}
			kr, vr, err := ref.CacheRows(li, 0, P)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []float64{gpumodeltest.RelErr(kp, kr), gpumodeltest.RelErr(vp, vr)} {
				if !(e <= tol) {
					t.Errorf("%s: layer %d: cached keys or values relative error %.3g against the token-by-token path, above %.3g", arch, li, e, tol)
				}
				worstKV = max(worstKV, e)
			}
		}

		// Greedy decoding after the prompt: the same tokens. A cache that
		// holds tokens takes one decoding step per token.
		clear(m.launches)
		var gotToks, refToks []int
		worst := gpumodeltest.RelErr(out[0], refLogits)
		lg, lr := out[0], refLogits
		for range newTokens {
			tg, tr := argmax(t, lg), argmax(t, lr)
			gotToks, refToks = append(gotToks, tg), append(refToks, tr)
			o, err := lm.Forward([]sample.Cache{cache}, [][]int{{tg}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := ref.Step([]int{tr})
			if err != nil {
				t.Fatal(err)
			}
			lg, lr = o[0], r[0]
			worst = max(worst, gpumodeltest.RelErr(lg, lr))
		}
		if !slices.Equal(gotToks, refToks) {
			t.Errorf("%s: greedy tokens after the prefill %v, token by token %v", arch, gotToks, refToks)
		}
		if !(worst <= tol) {
			t.Errorf("%s: decoding logits after the prefill: relative error up to %.3g, above %.3g", arch, worst, tol)
		}
		if d, a := m.launches["realc_attention_decode"], m.launches["realc_attention"]; d != newTokens*L || a != 0 {
			t.Errorf("%s: %d decoding steps made %d decoding-attention and %d prefill launches, want %d and 0", arch, newTokens, d, a, newTokens*L)
		}
		t.Logf("%s: greedy %v; logits error up to %.3g, keys and values %.3g (bound %.3g)", arch, gotToks, worst, worstKV, tol)

		// Several tokens into a cache that holds some: token by token.
		extra := []int{3, 3, 7}
		clear(m.launches)
		o, err := lm.Forward([]sample.Cache{cache}, [][]int{extra})
		if err != nil {
			t.Fatal(err)
		}
		if d, a := m.launches["realc_attention_decode"], m.launches["realc_attention"]; d != len(extra)*L || a != 0 {
			t.Errorf("%s: 3 tokens into a non-empty cache made %d decoding-attention and %d prefill launches, want %d and 0", arch, d, a, len(extra)*L)
		}
		for _, tok := range extra {
			r, err := ref.Step([]int{tok})
			if err != nil {
				t.Fatal(err)
			}
			lr = r[0]
		}
		if e := gpumodeltest.RelErr(o[0], lr); !(e <= tol) {
			t.Errorf("%s: logits after 3 more tokens: relative error %.3g, above %.3g", arch, e, tol)
		}

		// One call: a prompt into an empty cache (prefilled, the same bits
		// as above) beside two tokens into the cache that holds tokens (two
		// steps), and one token into an empty cache is a decoding step.
		fresh := lm.NewCache()
		clear(m.launches)
		o, err = lm.Forward([]sample.Cache{fresh, cache}, [][]int{prompt, {4, 4}})
		if err != nil {
			t.Fatal(err)
		}
		if d, a := m.launches["realc_attention_decode"], m.launches["realc_attention"]; d != 2*L || a != L {
			t.Errorf("%s: a prompt and 2 tokens made %d decoding-attention and %d prefill launches, want %d and %d", arch, d, a, 2*L, L)
		}
		if !slices.Equal(o[0], out[0]) || fresh.Len() != P || cache.Len() != P+newTokens+len(extra)+2 {
			t.Errorf("%s: the prompt prefilled beside a decoding cache gave other logits, or lengths %d and %d", arch, fresh.Len(), cache.Len())
		}
		fresh.(sample.Releaser).Release()

		// Prompts of 13 and 12 tokens: one pass, the shorter padded at the
		// end, each within the bound of the token-by-token path (whose first
		// 12 tokens are the shorter prompt); 13 and 2 tokens, or a pass of at
		// most 13 rows: a pass each.
		lm2, err := g.NewLM(3, maxLen)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			second []int
			rows   int
			passes int
		}{{prompt[:12], gpumodel.DefaultPrefillRows, 1}, {prompt[:2], gpumodel.DefaultPrefillRows, 2}, {prompt[:12], P, 2}} {
			lm2.PrefillRows = x.rows
			a, b := lm2.NewCache(), lm2.NewCache()
			clear(m.launches)
			o, err := lm2.Forward([]sample.Cache{a, b}, [][]int{prompt, x.second})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.launches["realc_attention"]; got != x.passes*L || m.launches["realc_attention_decode"] != 0 {
				t.Errorf("%s: prompts of %d and %d tokens, passes of %d rows: %d prefill-attention launches, want %d (%d passes)", arch, P, len(x.second), x.rows, got, x.passes*L, x.passes)
			}
			if e := gpumodeltest.RelErr(o[0], out[0]); !(e <= tol) || a.Len() != P || b.Len() != len(x.second) {
				t.Errorf("%s: batched prefill: logits relative error %.3g, lengths %d and %d", arch, e, a.Len(), b.Len())
			}
			n := len(x.second)
			for li := range L {
				kb, vb, err := lm2.Decoder().CacheRows(li, 1, n)
				if err != nil {
					t.Fatal(err)
				}
				kr, vr, err := ref.CacheRows(li, 0, n)
				if err != nil {
					t.Fatal(err)
				}
				if ek, ev := gpumodeltest.RelErr(kb, kr), gpumodeltest.RelErr(vb, vr); !(ek <= tol && ev <= tol) {
					t.Errorf("%s: batched prefill, layer %d: the shorter prompt's keys and values relative errors %.3g and %.3g", arch, li, ek, ev)
				}
			}
			a.(sample.Releaser).Release()
			b.(sample.Releaser).Release()
		}
		lm2.Free()
		one := lm.NewCache()
		clear(m.launches)
		if _, err := lm.Forward([]sample.Cache{one}, [][]int{{5}}); err != nil {
			t.Fatal(err)
		}
		if d, a := m.launches["realc_attention_decode"], m.launches["realc_attention"]; d != L || a != 0 || one.Len() != 1 {
			t.Errorf("%s: one token into an empty cache made %d decoding-attention and %d prefill launches (length %d), want a decoding step", arch, d, a, one.Len())
		}
		if _, err := lm.Forward([]sample.Cache{one, one}, [][]int{{5}, {6}}); err == nil {
			t.Errorf("%s: one cache twice in a Forward must be refused", arch)
		}
		if _, err := lm.Decoder().Prefill(1, prompt); err == nil {
			t.Errorf("%s: a prefill into a cache that holds tokens must be refused", arch)
		}
	}
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}
