package dist

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// onRanks runs f on every communicator of cs, each in its own goroutine,
// and returns their errors by rank.
func onRanks(cs []Comm, f func(c Comm) error) []error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(c)
		}()
	}
	wg.Wait()
	return errs
}

func TestSingleSelfTest(t *testing.T) {
	c := Single()
	if c.Rank() != 0 || c.Size() != 1 || c.LocalRank() != 0 || c.Backend() != "single" {
		t.Fatalf("single: rank %d size %d local %d backend %s", c.Rank(), c.Size(), c.LocalRank(), c.Backend())
	}
	if err := SelfTest(c); err != nil {
		t.Fatal(err)
	}
}

func TestLocalSelfTest(t *testing.T) {
	for _, w := range []int{1, 2, 3, 4} {
		cs := NewLocal(w)
		for _, c := range cs {
			c.SetTimeout(20 * time.Second)
		}
		for r, err := range onRanks(cs, SelfTest) {
			if err != nil {
				t.Errorf("world %d rank %d: %v", w, r, err)
			}
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	cs := NewLocal(2)
	c := cs[0]
	if err := c.AllGather(make([]float32, 3), make([]float32, 2)); err == nil || !strings.Contains(err.Error(), "len(dst) = 3, want world size 2 x len(src) 2") {
		t.Errorf("all-gather with a short dst: %v", err)
	}
	if err := c.ReduceScatter(make([]float32, 2), make([]float32, 5), Sum); err == nil || !strings.Contains(err.Error(), "len(src) = 5") {
		t.Errorf("reduce-scatter with a bad src: %v", err)
	}
	buf := make([]float32, 4)
	if err := c.AllGather(buf, buf[1:3]); err == nil || !strings.Contains(err.Error(), "in place") {
		t.Errorf("all-gather with a misplaced in-place src: %v", err)
	}
	if err := c.Broadcast(buf, 2); err == nil || !strings.Contains(err.Error(), "root 2 outside world size 2") {
		t.Errorf("broadcast from a bad root: %v", err)
	}
	// A misuse sends nothing and leaves the communicator usable.
	for r, err := range onRanks(cs, func(c Comm) error { return c.Barrier() }) {
		if err != nil {
			t.Errorf("rank %d: barrier after argument errors: %v", r, err)
		}
	}
}

// TestLocalTimeoutNamesMissingRank: rank 1 of 3 never arrives; ranks 0 and
// 2 get a TimeoutError naming it within the timeout, and the communicator
// stays broken.
func TestLocalTimeoutNamesMissingRank(t *testing.T) {
	cs := NewLocal(3)
	const timeout = 300 * time.Millisecond
	for _, c := range cs {
		c.SetTimeout(timeout)
	}
	start := time.Now()
	errs := onRanks(cs, func(c Comm) error {
		if err := c.Barrier(); err != nil {
			return err
		}
		if c.Rank() == 1 {
			return nil // dies
		}
		return c.AllReduce(make([]float32, 10), Sum)
	})
	took := time.Since(start)
	if took > timeout+time.Second {
		t.Errorf("took %v with a timeout of %v", took, timeout)
	}
	for _, r := range []int{0, 2} {
		var te *TimeoutError
		if !errors.As(errs[r], &te) || !errors.Is(errs[r], ErrTimeout) {
			t.Fatalf("rank %d: %v, want a *TimeoutError", r, errs[r])
		}
		want := "dist(local): rank " + string(rune('0'+r)) + ": all-reduce #2 (10 x float32, sum) timed out after 300ms: rank 1 did not arrive"
		if errs[r].Error() != want {
			t.Errorf("rank %d:\n got %s\nwant %s", r, errs[r], want)
		}
		if err := cs[r].Barrier(); err == nil || !strings.Contains(err.Error(), "broken") {
			t.Errorf("rank %d: after a timeout: %v, want broken", r, err)
		}
	}
}

func TestLocalMismatch(t *testing.T) {
	cs := NewLocal(2)
	errs := onRanks(cs, func(c Comm) error {
		if c.Rank() == 0 {
			return c.AllReduce(make([]float32, 3), Sum)
		}
		return c.AllReduce(make([]float32, 4), Sum)
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("rank %d: %v, want a mismatch error", r, err)
		}
	}
}

func TestEnvWorld(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		env  func(string) string
		want World
		err  string
	}{
		{env(), World{0, 1, 0, ""}, ""},
		{env("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_LOCAL_RANK", "0", "RANK", "9", "WORLD_SIZE", "10"), World{2, 4, 0, "OMPI_COMM_WORLD_*"}, ""},
		{env("PMI_RANK", "1", "PMI_SIZE", "2", "MPI_LOCALRANKID", "1"), World{1, 2, 1, "PMI_*"}, ""},
		{env("SLURM_PROCID", "5", "SLURM_NTASKS", "8", "SLURM_LOCALID", "1"), World{5, 8, 1, "SLURM_*"}, ""},
		{env("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "3"), World{3, 4, 3, "RANK/WORLD_SIZE"}, ""},
		{env("RANK", "3", "WORLD_SIZE", "4"), World{3, 4, 3, "RANK/WORLD_SIZE"}, ""},
		{env("RANK", "3"), World{}, `RANK="3" but WORLD_SIZE=""`},
		{env("RANK", "4", "WORLD_SIZE", "4"), World{}, "RANK=4 is not a rank of WORLD_SIZE=4"},
		{env("SLURM_PROCID", "x", "SLURM_NTASKS", "2"), World{}, `SLURM_PROCID="x" is not a non-negative integer`},
	}
	for i, c := range cases {
		got, err := worldFrom(c.env)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("case %d: %v, want an error with %q", i, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("case %d: %+v, %v, want %+v", i, got, err, c.want)
		}
	}
}

func TestOpenWithoutTags(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_RANK", "")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "")
	t.Setenv("RANK", "0")
	t.Setenv("WORLD_SIZE", "1")
	t.Setenv("REALC_DIST_BACKEND", "")
	t.Setenv("REALC_DIST_TIMEOUT", "2s")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != "single" || c.Timeout() != 2*time.Second {
		t.Errorf("FromEnv in a world of 1: backend %s timeout %v", c.Backend(), c.Timeout())
	}
	if !MPIEnabled {
		t.Setenv("WORLD_SIZE", "2")
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "built without -tags mpi") {
			t.Errorf("world of 2 without mpi: %v", err)
		}
	}
	if _, err := Open(Options{Backend: "tcp"}); err == nil || !strings.Contains(err.Error(), `unknown backend "tcp"`) {
		t.Errorf("unknown backend: %v", err)
	}
}

func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want uint16
	}{{1, 0x3f80}, {1 + 1.0/256, 0x3f80}, {1 + 3.0/256, 0x3f82}, {-2, 0xc000}, {65504, 0x4780}} {
		if got := Float32ToBF16(c.f); got != c.want {
			t.Errorf("Float32ToBF16(%v) = %#x, want %#x", c.f, got, c.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	for _, w := range []int{1, 3} {
		cs := NewLocal(w)
		errs := onRanks(cs, func(c Comm) error {
			r := c.Rank()
			n, err := GlobalNormalizers(c, 10+r, 1+r)
			if err != nil {
				return err
			}
			if want := (Normalizers{Tokens: 10*w + w*(w-1)/2, Seqs: w + w*(w-1)/2}); n != want {
				return fmt.Errorf("normalizers %+v, want %+v", n, want)
			}
			mx, err := MaxF64(c, float64(r), -float64(r))
			if err != nil {
				return err
			}
			if mx[0] != float64(w-1) || mx[1] != 0 {
				return fmt.Errorf("max %v", mx)
			}
			xs := make([]float64, r)
			for i := range xs {
				xs[i] = float64(10*r + i)
			}
			all, err := GatherF64(c, xs)
			if err != nil {
				return err
			}
			for q, part := range all {
				if len(part) != q {
					return fmt.Errorf("rank %d's part has %d values", q, len(part))
				}
				for i, v := range part {
					if v != float64(10*q+i) {
						return fmt.Errorf("rank %d's value %d = %v", q, i, v)
					}
				}
			}
			bs, err := GatherBytes(c, []byte(strings.Repeat("x", r)))
			if err != nil {
				return err
			}
			for q, b := range bs {
				if string(b) != strings.Repeat("x", q) {
					return fmt.Errorf("rank %d's bytes %q", q, b)
				}
			}
			return nil
		})
		for r, err := range errs {
			if err != nil {
				t.Errorf("world %d rank %d: %v", w, r, err)
			}
		}
	}
}
