package tokenizer

// mergeTable maps an adjacent id pair to its merge. It is an open-addressing
// hash table with linear probing over 16-byte entries: Go's map was half of
// the encode time, and one probe here is usually one cache line.
type mergeTable struct {
	ents []mergeEnt
	mask uint64
	n    int
}

type mergeEnt struct {
	key  uint64 // pairKey; emptyKey when free
	rank int32
	id   int32
}

// emptyKey is the pair (-1, -1), which no vocabulary has.
const emptyKey = ^uint64(0)

func newMergeTable(hint int) *mergeTable {
	size := 16
	for size < 2*hint {
		size *= 2
	}
	t := &mergeTable{ents: make([]mergeEnt, size), mask: uint64(size - 1)}
	for i := range t.ents {
		t.ents[i].key = emptyKey
	}
	return t
}

func hashPair(k uint64) uint64 {
	k ^= k >> 29
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 32
	return k
}

// set adds or replaces the merge of (a, b).
func (t *mergeTable) set(a, b int32, m merge) {
	if 2*(t.n+1) > len(t.ents) {
		t.grow()
	}
	k := pairKey(a, b)
	for i := hashPair(k) & t.mask; ; i = (i + 1) & t.mask {
		e := &t.ents[i]
		if e.key == k {
			e.rank, e.id = m.rank, m.id
			return
		}
		if e.key == emptyKey {
			*e = mergeEnt{k, m.rank, m.id}
			t.n++
			return
		}
	}
}

func (t *mergeTable) grow() {
	old := t.ents
	*t = *newMergeTable(len(old))
	for _, e := range old {
		if e.key != emptyKey {
			t.set(int32(e.key>>32), int32(uint32(e.key)), merge{e.rank, e.id})
		}
	}
}

func (t *mergeTable) get(a, b int32) (merge, bool) {
	k := pairKey(a, b)
	for i := hashPair(k) & t.mask; ; i = (i + 1) & t.mask {
		e := &t.ents[i]
		if e.key == k {
			return merge{e.rank, e.id}, true
		}
		if e.key == emptyKey {
			return merge{}, false
		}
	}
}

func (t *mergeTable) len() int {
	if t == nil {
		return 0
	}
	return t.n
}
