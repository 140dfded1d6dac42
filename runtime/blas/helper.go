package blas

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// A product split over two goroutines runs one half on the caller and hands
// the other to a helper goroutine that, after each job, keeps polling for
// the next one for a while before it parks. Decoding makes a few dozen
// short products per token (tens of microseconds each): with a goroutine
// started per product, the other processor was often still asleep (a
// futex wake-up takes several microseconds) when the caller had finished
// its half and taken the second one itself, so the split ran serially.
// OpenMP's threads spin at their barriers for the same reason.
type helper struct {
	mu       sync.Mutex    // one caller at a time; others start a goroutine
	job      func()        // the posted job, written before seq
	seq      atomic.Uint64 // jobs posted
	done     atomic.Uint64 // jobs finished
	sleeping atomic.Bool
	wake     chan struct{}
}

// helperPolls is how many times an idle helper polls (yielding its
// processor in between, so that other goroutines run) before it parks:
// about 500-600 µs. It must outlast what a decoding loop does between two
// steps on one goroutine (sampling a 32K-token row takes about 60 µs, a
// greedy argmax 30 µs): at 50 µs the helper had parked by then, and every
// step's first product waited for it to wake (paired runs of 255-token
// rollouts on the stories15M shape: one sequence 15% and eight 14% faster
// at 2000 polls than at 200).
const helperPolls = 2000

// helperSpins is how many times a poll reads the counter before it yields.
// Every runtime.Gosched takes the scheduler's lock, and with the caller
// and the helper both polling the lock itself took 4.6% of the CPU of
// eight rollouts decoded together; reading the counter 64 times between
// yields made them 3-5% faster (paired runs of 255 tokens, medians 0.947,
// 0.955, 0.965 and 0.982 of the time) and changed neither one sequence
// nor a training step. Never yielding was 7-9% slower: other goroutines
// then wait for a processor.
const helperSpins = 64

var (
	theHelper  *helper
	helperOnce sync.Once
)

func getHelper() *helper {
	helperOnce.Do(func() {
		theHelper = &helper{wake: make(chan struct{}, 1)}
		go theHelper.loop()
	})
	return theHelper
}

func (h *helper) loop() {
	var last uint64
	for {
		for i := 0; h.seq.Load() == last; i++ {
			if i < helperPolls {
				for j := 0; j < helperSpins && h.seq.Load() == last; j++ {
				}
				runtime.Gosched()
				continue
			}
			h.sleeping.Store(true)
			if h.seq.Load() == last {
				<-h.wake
			}
			h.sleeping.Store(false)
			i = 0
		}
		last = h.seq.Load()
		h.job()
		h.done.Store(last)
	}
}

// both runs a on the caller and b on the helper (or on a new goroutine when
// the helper is busy with another caller's job) and returns when both are
// done.
func both(a, b func()) {
	h := getHelper()
	if !h.mu.TryLock() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			b()
		}()
		a()
		wg.Wait()
		return
	}
	h.job = b
	n := h.seq.Add(1)
	if h.sleeping.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	a()
	for h.done.Load() != n {
		for j := 0; j < helperSpins && h.done.Load() != n; j++ {
		}
		runtime.Gosched()
	}
	h.job = nil
	h.mu.Unlock()
}

// Both runs a and b concurrently, a on the caller and b on a helper
// goroutine that polls for work between jobs (see helper), and returns when
// both are done: a two-way split for work too short to wait for a parked
// processor to wake up.
func Both(a, b func()) { both(a, b) }
