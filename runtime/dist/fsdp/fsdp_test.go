package fsdp_test

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/realc-project/realc/runtime/dist"
	"github.com/realc-project/realc/runtime/dist/fsdp"
	"github.com/realc-project/realc/runtime/model"
)

// onLocal runs f on every rank of a goroutine world of w and fails t with
// each rank's error.
func onLocal(t *testing.T, w int, f func(c dist.Comm) error) {
	t.Helper()
	cs := dist.NewLocal(w)
	errs := make([]error, w)
	var wg sync.WaitGroup
	for r, c := range cs {
		c.SetTimeout(time.Minute)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(c)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Errorf("world %d, rank %d: %v", w, r, err)
		}
	}
}

func TestLayout(t *testing.T) {
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		for _, w := range []int{1, 2, 3, 5} {
			units, err := fsdp.Layout(cfg, w)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			total := 0
			padded := false
			for _, u := range units {
				names = append(names, u.Name)
				owned := 0
				for r := 0; r < w; r++ {
					owned += u.Owned(r)
					padded = padded || u.Owned(r) < u.ShardLen
				}
				if owned != u.Numel || u.ShardLen*w < u.Numel || (u.ShardLen-1)*w >= u.Numel {
					t.Errorf("%s at world %d: numel %d, shard %d, owned %d", u.Name, w, u.Numel, u.ShardLen, owned)
				}
				total += u.Numel
			}
			if total != cfg.NumParams() {
				t.Errorf("units hold %d parameters, the config %d", total, cfg.NumParams())
			}
			if got := strings.Join(names, " "); got != "embed layers.0 layers.1 head" {
				t.Errorf("units %q", got)
			}
			if w == 3 && !padded {
				t.Errorf("world 3: no unit is padded; the test config should make shards uneven")
			}
		}
	}
}

// TestGatherRoundTrip: sharding then gathering gives the model back bit for
// bit, with q/k/v and gate/up adjacent (one fused matrix), a tied head that
// is the embedding, and the same logits.
func TestGatherRoundTrip(t *testing.T) {
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		orig, _ := model.New(cfg)
		orig.InitRandom(3, 0.2)
		b := &model.Batch{B: 1, T: 6, Tokens: []int{1, 5, 9, 2, 40, 7}}
		p, err := orig.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		want := orig.Logits(p)
		for _, w := range []int{1, 2, 3} {
			onLocal(t, w, func(c dist.Comm) error {
				s, err := fsdp.New(c, orig.Clone())
				if err != nil {
					return err
				}
				if s.Model.Embed != nil {
					t.Errorf("released model has weights")
				}
				if err := s.GatherAll(); err != nil {
					return err
				}
				if _, _, err := compare(s.Model, orig, nil); err != nil {
					return err
				}
				l := &s.Model.Layers[0]
				if unsafe.SliceData(l.Wk) != &l.Wq[:len(l.Wq)+1][len(l.Wq)] || unsafe.SliceData(l.Up) != &l.Gate[:len(l.Gate)+1][len(l.Gate)] {
					t.Errorf("q/k/v or gate/up are not adjacent")
				}
				if cfg.TiedEmbed != (unsafe.SliceData(s.Model.Head) == unsafe.SliceData(s.Model.Embed)) {
					t.Errorf("tied %v, but head and embedding shared: %v", cfg.TiedEmbed, !cfg.TiedEmbed)
				}
				p, err := s.Model.Forward(b)
				if err != nil {
					return err
				}
				for i, v := range s.Model.Logits(p) {
					if v != want[i] {
						t.Errorf("logit %d = %v, want %v", i, v, want[i])
						break
					}
				}
				s.ReleaseAll()
				if s.Model.Embed != nil || s.Model.Layers[1].Down != nil || s.Model.Head != nil {
					t.Errorf("ReleaseAll left weights")
				}
				return nil
			})
		}
	}
}

func TestShardedAdamWExact(t *testing.T) {
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		for _, w := range []int{1, 2, 3} {
			onLocal(t, w, func(c dist.Comm) error { return scenarioExact(c, cfg) })
		}
	}
}

func TestShardedAdamWTolerance(t *testing.T) {
	for _, w := range []int{1, 2, 3} {
		var mu sync.Mutex
		var worst, ratio float64
		onLocal(t, w, func(c dist.Comm) error {
			d, r, err := scenarioTolerance(c, testConfig())
			mu.Lock()
			worst, ratio = max(worst, d), max(ratio, r)
			mu.Unlock()
			return err
		})
		t.Logf("world %d: largest |parameter difference| from world size 1 after 4 steps %.3g, at most %.2f of its bound", w, worst, ratio)
	}
}

func TestShardedModelTraining(t *testing.T) {
	for _, cfg := range []model.Config{testConfig(), untiedConfig()} {
		for _, w := range []int{1, 2, 3} {
			onLocal(t, w, func(c dist.Comm) error {
				_, err := scenarioModel(c, cfg)
				return err
			})
		}
	}
}
