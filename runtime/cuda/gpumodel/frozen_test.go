package gpumodel_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/realc-project/realc/runtime/cuda/gpumodel"
	"github.com/realc-project/realc/runtime/cuda/kernels"
	"github.com/realc-project/realc/runtime/cuda/twin"
	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/sample"
)

// counting is a machine that keeps the books of its allocations (the
// bytes in use and the most there have been) and of its kernel launches
// (by kernel name).
type counting struct {
	kernels.Machine
	size        map[uintptr]int64
	inUse, peak int64
	launches    map[string]int
}

func newCounting() *counting {
	return &counting{Machine: twin.NewMachine(), size: map[uintptr]int64{}, launches: map[string]int{}}
}

func (c *counting) Launch(l kernels.Launch) error {
	c.launches[l.Kernel]++
	return c.Machine.Launch(l)
}

func (c *counting) Alloc(n int64) (uintptr, error) {
	p, err := c.Machine.Alloc(n)
	if err == nil {
		c.size[p] = n
		c.inUse += n
		c.peak = max(c.peak, c.inUse)
	}
	return p, err
}

func (c *counting) Free(p uintptr) error {
	c.inUse -= c.size[p]
	delete(c.size, p)
	return c.Machine.Free(p)
}

// TestUploadFrozen: a frozen model (the reference model, an evaluated
// judge) holds its bf16 weights and nothing else, 2 bytes a parameter
// against Upload's 18 and its scratch, and its forward (hidden states, the
// LM head's logits, the statistics a loss reads from them) and decoding are
// bit for bit the trainable model's; what needs gradients is refused.
func TestUploadFrozen(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model()
			var padded int64 // elements, every tensor padded to 8 as the flat buffers hold them
			for _, p := range m.Params() {
				padded += int64((len(p.Data) + 7) &^ 7)
			}
			mt, mf := newCounting(), newCounting()
			g, err := gpumodel.Upload(mt, m)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Free()
			f, err := gpumodel.UploadFrozen(mf, m)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Free()
			if f.DeviceBytes() != 2*padded || mf.inUse != f.DeviceBytes() {
				t.Errorf("frozen: DeviceBytes %d, machine in use %d, want the bf16 weights' %d", f.DeviceBytes(), mf.inUse, 2*padded)
			}
			if g.DeviceBytes() < 18*padded || mt.inUse != g.DeviceBytes() {
				t.Errorf("trainable: DeviceBytes %d, machine in use %d, want at least 18 x %d", g.DeviceBytes(), mt.inUse, padded)
			}
			if !f.Frozen() || g.Frozen() {
				t.Errorf("Frozen(): %v and %v", f.Frozen(), g.Frozen())
			}
			t.Logf("%d parameters: trainable %d bytes, frozen %d bytes (%.1fx less)", m.Cfg.NumParams(), g.DeviceBytes(), f.DeviceBytes(), float64(g.DeviceBytes())/float64(f.DeviceBytes()))

			b := batch(5, 3, 9, m.Cfg.Vocab, c.padded)
			mt.peak, mf.peak = mt.inUse, mf.inUse
			pg, err := g.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Release()
			pf, err := f.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Release()
			if at, af := mt.peak-g.DeviceBytes(), mf.peak-f.DeviceBytes(); at != af || af <= 0 {
				t.Errorf("a forward's activations: %d bytes on the trainable model, %d on the frozen one", at, af)
			}
			n, d, v := b.B*b.T, m.Cfg.Dim, m.Cfg.Vocab
			read := func(mach kernels.Machine, p uintptr, nb int) []byte {
				out := make([]byte, nb)
				if err := mach.Read(out, p); err != nil {
					t.Fatal(err)
				}
				return out
			}
			if !bytes.Equal(read(mt, pg.Hidden(), 2*n*d), read(mf, pf.Hidden(), 2*n*d)) {
				t.Error("the frozen model's hidden states differ from the trainable model's")
			}
			logits := func(mach kernels.Machine, g *gpumodel.Model, p *gpumodel.Pass) []byte {
				out, err := mach.Alloc(int64(2 * n * v))
				if err != nil {
					t.Fatal(err)
				}
				defer mach.Free(out)
				if err := g.Logits(p, out); err != nil {
					t.Fatal(err)
				}
				return read(mach, out, 2*n*v)
			}
			if !bytes.Equal(logits(mt, g, pg), logits(mf, f, pf)) {
				t.Error("the frozen model's logits differ from the trainable model's")
			}
			if w, dw := f.Head(); w == 0 || dw != 0 {
				t.Errorf("frozen Head: weights %#x, gradient %#x (want none)", w, dw)
			}

			decode := func(g *gpumodel.Model) [][]float32 {
				lm, err := g.NewLM(2, 8)
				if err != nil {
					t.Fatal(err)
				}
				defer lm.Free()
				out, err := lm.Forward([]sample.Cache{lm.NewCache(), lm.NewCache()}, [][]int{{1, 4, 2}, {7, 7}})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			if a, z := decode(g), decode(f); fmt.Sprint(a) != fmt.Sprint(z) {
				t.Error("the frozen model decodes other logits than the trainable model")
			}

			for what, err := range map[string]error{
				"ZeroGrads": f.ZeroGrads(), "AdamW": f.AdamW(gpumodel.Optim{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, 1),
				"BackwardHidden": f.BackwardHidden(pf, 0), "SetMoments": f.SetMoments(nil, nil, 1), "Download": f.Download(model.NewTinyQwen3(97, 3)),
			} {
				if err == nil || !strings.Contains(err.Error(), "uploaded frozen") {
					t.Errorf("%s on a frozen model: %v", what, err)
				}
			}
			if _, err := f.GradNorm(); err == nil || !strings.Contains(err.Error(), "uploaded frozen") {
				t.Errorf("GradNorm on a frozen model: %v", err)
			}
		})
	}
}
