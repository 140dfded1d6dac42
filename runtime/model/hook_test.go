package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// justInTime is a Hooks that keeps every weight and gradient away from the
// model and puts back only the part about to run, as a sharded model does:
// a pass that read a part outside its hook would find nil slices (and
// panic), and one that wrote a gradient after AfterBackward would be lost.
type justInTime struct {
	m, store *Model // the model the passes use, and where the weights live
	gstore   *Model // where gradients accumulate
	events   []string
	failAt   string
}

func (h *justInTime) record(kind string, p Part, layer int) error {
	e := fmt.Sprintf("%s %s %d", kind, p, layer)
	h.events = append(h.events, e)
	if e == h.failAt {
		return errors.New("hook failed at " + e)
	}
	return nil
}

// weights returns pointers to the slices of part (p, layer) in m.
func weights(m *Model, p Part, layer int) []*[]float32 {
	switch p {
	case PartEmbed:
		return []*[]float32{&m.Embed}
	case PartHead:
		if m.Cfg.TiedEmbed {
			return []*[]float32{&m.FinalNorm, &m.Head, &m.Embed}
		}
		return []*[]float32{&m.FinalNorm, &m.Head}
	}
	l := &m.Layers[layer]
	return []*[]float32{&l.AttnNorm, &l.Wq, &l.Wk, &l.Wv, &l.Wo, &l.QNorm, &l.KNorm, &l.FFNNorm, &l.Gate, &l.Up, &l.Down}
}

func clearAll(m *Model) {
	m.Embed, m.FinalNorm, m.Head = nil, nil, nil
	for i := range m.Layers {
		m.Layers[i] = Layer{}
	}
}

func (h *justInTime) show(dst, src *Model, p Part, layer int) {
	clearAll(dst)
	d, s := weights(dst, p, layer), weights(src, p, layer)
	for i := range d {
		*d[i] = *s[i]
	}
}

func (h *justInTime) BeforeForward(p Part, layer int) error {
	h.show(h.m, h.store, p, layer)
	return h.record("fwd", p, layer)
}

func (h *justInTime) BeforeBackward(p Part, layer int, g *Model) error {
	if p == PartEmbed {
		clearAll(h.m) // the embedding's backward reads no weights
	} else {
		h.show(h.m, h.store, p, layer)
	}
	h.show(g, h.gstore, p, layer)
	return h.record("bwd", p, layer)
}

func (h *justInTime) AfterBackward(p Part, layer int, g *Model) error {
	clearAll(g)
	return h.record("after", p, layer)
}

func bitsEqual(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d values, want %d", what, len(b), len(a))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s[%d] = %v with hooks, %v without", what, i, b[i], a[i])
		}
	}
}

// Forward, Logits and Backward with a hook that shows the model one part at
// a time give the logits and gradients of the plain model bit for bit, and
// call the hooks in the documented order; a hook's error stops the pass.
func TestHooksOnePartAtATime(t *testing.T) {
	for _, tied := range []bool{true, false} {
		t.Run(fmt.Sprint("tied=", tied), func(t *testing.T) {
			cfg := TinyQwen3Config(64)
			cfg.TiedEmbed = tied
			ref, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref.InitRandom(3, 0.2)
			b := gradBatch(cfg.Vocab)
			w := lossWeights(b, cfg.Vocab)
			p, err := ref.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			wantLogits := slices.Clone(ref.Logits(p))
			// Two passes into one gradient, as the hooked model runs below.
			wantG := ref.NewGrads()
			for pass := 0; pass < 2; pass++ {
				if pass > 0 {
					if p, err = ref.Forward(b); err != nil {
						t.Fatal(err)
					}
				}
				if err := ref.Backward(p, w, wantG); err != nil {
					t.Fatal(err)
				}
			}

			m := ref.Clone()
			h := &justInTime{m: m, store: ref.Clone(), gstore: ref.NewGrads()}
			m.Hooks = h
			clearAll(m)
			g := &Model{Cfg: cfg, Layers: make([]Layer, cfg.Layers)}
			// Twice: the gradient accumulates across passes as without hooks.
			for pass := 0; pass < 2; pass++ {
				h.events = nil
				p, err := m.Forward(b)
				if err != nil {
					t.Fatal(err)
				}
				bitsEqual(t, "logits", wantLogits, m.Logits(p))
				if err := m.Backward(p, w, g); err != nil {
					t.Fatal(err)
				}
			}
			var want []string
			want = append(want, "fwd embed 0", "fwd layer 0", "fwd layer 1", "fwd head 0")
			want = append(want, "bwd head 0", "after head 0", "bwd layer 1", "after layer 1", "bwd layer 0", "after layer 0", "bwd embed 0", "after embed 0")
			if got := strings.Join(h.events, ", "); got != strings.Join(want, ", ") {
				t.Fatalf("hook calls:\n%s\nwant\n%s", got, strings.Join(want, ", "))
			}
			for i, pw := range wantG.Params() {
				bitsEqual(t, pw.Name, pw.Data, h.gstore.Params()[i].Data)
			}

			// BackwardHidden calls the head's BeforeBackward once.
			h.events = nil
			p, err = m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.BackwardHidden(p, make([]float32, len(p.Hidden())), g); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(strings.Join(h.events, ","), "bwd head"); n != 1 {
				t.Fatalf("BackwardHidden: %d head hooks: %v", n, h.events)
			}

			for _, at := range []string{"fwd layer 1", "bwd layer 0", "after embed 0"} {
				h.failAt = at
				p, err := m.Forward(b)
				if err == nil {
					err = m.Backward(p, w, g)
				}
				if err == nil || !strings.Contains(err.Error(), "hook failed at "+at) {
					t.Fatalf("failing at %s: %v", at, err)
				}
			}
		})
	}
}
