package model

import "sync"

// scratch recycles the float32 buffers of forward and backward passes and of
// decoding steps. A training step on a 16M-parameter model at 4 x 128 tokens
// allocates over 100 MB of activations; made afresh every step they cost more
// than their arithmetic in page faults and clearing (and the collector
// returns them to the OS between steps), so Backward's temporaries, Step's
// and, once released (Pass.Release), a pass's activations come back here.
// A nil *scratch allocates and forgets.
type scratch struct {
	mu   sync.Mutex
	free map[int][][]float32
	held int // floats in free
}

// scratchMax bounds what a scratch keeps (in floats: 1 GiB); buffers put
// beyond it are left to the collector.
const scratchMax = 1 << 28

func newScratch() *scratch { return &scratch{free: make(map[int][][]float32)} }

// get returns a buffer of n floats whose contents are undefined.
func (s *scratch) get(n int) []float32 {
	if s == nil || n == 0 {
		return make([]float32, n)
	}
	s.mu.Lock()
	l := s.free[n]
	if k := len(l); k > 0 {
		b := l[k-1]
		l[k-1] = nil
		s.free[n] = l[:k-1]
		s.held -= n
		s.mu.Unlock()
		return b
	}
	s.mu.Unlock()
	return make([]float32, n)
}

// zeros returns a buffer of n zeros.
func (s *scratch) zeros(n int) []float32 {
	b := s.get(n)
	clear(b)
	return b
}

// put gives buffers back; nil ones are skipped. The caller must not use them
// afterwards.
func (s *scratch) put(bufs ...[]float32) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bufs {
		n := len(b)
		if n == 0 || cap(b) != n || s.held+n > scratchMax {
			continue
		}
		s.free[n] = append(s.free[n], b)
		s.held += n
	}
}

// arena hands out buffers from a scratch and remembers them, to give them
// all back at once.
type arena struct {
	sc   *scratch
	bufs [][]float32
}

func (a *arena) get(n int) []float32 {
	b := a.sc.get(n)
	a.bufs = append(a.bufs, b)
	return b
}

func (a *arena) zeros(n int) []float32 {
	b := a.get(n)
	clear(b)
	return b
}

// release gives every buffer back.
func (a *arena) release() {
	a.sc.put(a.bufs...)
	clear(a.bufs)
	a.bufs = a.bufs[:0]
}
