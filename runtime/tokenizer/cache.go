package tokenizer

import (
	"strings"
	"sync"
)

// Words repeat (" the", " response"), so their ids are cached, as HF's BPE
// does. The cache is bounded: once full, new words are encoded but not kept.
const (
	maxCachedWord  = 64
	maxCachedWords = 1 << 17
)

type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func newWordCache() *wordCache { return &wordCache{m: make(map[string][]int32, 1024)} }

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if len(c.m) < maxCachedWords {
		// Copies: w may point into a large input, ids into the caller's slice.
		c.m[strings.Clone(w)] = append([]int32(nil), ids...)
	}
	c.mu.Unlock()
}

// withoutCache returns a copy of t that encodes every word afresh (for
// benchmarks and for checking the cache).
func (t *Tokenizer) withoutCache() *Tokenizer {
	u := *t
	u.cache = nil
	return &u
}
