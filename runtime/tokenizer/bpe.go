package tokenizer

import "math"

// wordScratch is reused across the words of one Encode call.
type wordScratch struct {
	syms  []int32
	ranks []int32
	next  []int32
	prev  []int32
	heap  []cand
}

// cand is a possible merge of the symbol at pos with the one after it.
type cand struct {
	rank, pos, id int32
}

func (a cand) less(b cand) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

const noMerge = math.MaxInt32

// smallWord is the length up to which the quadratic scan beats the heap.
const smallWord = 48

// bpe applies merges to syms (lowest rank first, leftmost first among equal
// ranks, as HF's Word::merge_all and SentencePiece do) and appends the result.
func (t *Tokenizer) bpe(syms []int32, out []int32, ws *wordScratch) []int32 {
	if len(syms) < 2 || t.merges.len() == 0 {
		return append(out, syms...)
	}
	if len(syms) <= smallWord {
		return append(out, t.bpeSmall(syms, ws)...)
	}
	return t.bpeHeap(syms, out, ws)
}

// bpeSmall keeps the rank of every adjacent pair and rescans for the minimum;
// only the two pairs next to a merge are looked up again.
func (t *Tokenizer) bpeSmall(syms []int32, ws *wordScratch) []int32 {
	n := len(syms)
	ranks := ws.ranks[:0]
	ids := ws.next[:0] // merged id of each pair
	for i := 0; i+1 < n; i++ {
		m, ok := t.merges.get(syms[i], syms[i+1])
		if !ok {
			m.rank = noMerge
		}
		ranks = append(ranks, m.rank)
		ids = append(ids, m.id)
	}
	for {
		best, bi := int32(noMerge), -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		syms[bi] = ids[bi]
		copy(syms[bi+1:], syms[bi+2:])
		syms = syms[:len(syms)-1]
		copy(ranks[bi:], ranks[bi+1:])
		ranks = ranks[:len(ranks)-1]
		copy(ids[bi:], ids[bi+1:])
		ids = ids[:len(ids)-1]
		for _, j := range [2]int{bi - 1, bi} {
			if j < 0 || j >= len(ranks) {
				continue
			}
			m, ok := t.merges.get(syms[j], syms[j+1])
			if !ok {
				m.rank = noMerge
			}
			ranks[j], ids[j] = m.rank, m.id
		}
	}
	ws.ranks, ws.next = ranks, ids
	return syms
}

// bpeHeap is the O(n log n) merge loop for long words (a whole SentencePiece
// segment is one word): a doubly linked list of symbols and a min-heap of
// candidate merges, re-validated when popped.
func (t *Tokenizer) bpeHeap(syms []int32, out []int32, ws *wordScratch) []int32 {
	n := len(syms)
	next := grow(ws.next, n)
	prev := grow(ws.prev, n)
	for i := range n {
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
	}
	next[n-1] = -1
	h := ws.heap[:0]
	for i := 0; i+1 < n; i++ {
		if m, ok := t.merges.get(syms[i], syms[i+1]); ok {
			h = heapPush(h, cand{m.rank, int32(i), m.id})
		}
	}
	const dead = -2
	for len(h) > 0 {
		var c cand
		c, h = heapPop(h)
		p := c.pos
		if syms[p] == dead || next[p] < 0 {
			continue
		}
		q := next[p]
		if m, ok := t.merges.get(syms[p], syms[q]); !ok || m.id != c.id {
			continue // stale: one side changed since the candidate was pushed
		}
		syms[p] = c.id
		syms[q] = dead
		next[p] = next[q]
		if next[q] >= 0 {
			prev[next[q]] = p
		}
		if pp := prev[p]; pp >= 0 {
			if m, ok := t.merges.get(syms[pp], syms[p]); ok {
				h = heapPush(h, cand{m.rank, pp, m.id})
			}
		}
		if nq := next[p]; nq >= 0 {
			if m, ok := t.merges.get(syms[p], syms[nq]); ok {
				h = heapPush(h, cand{m.rank, p, m.id})
			}
		}
	}
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	ws.next, ws.prev, ws.heap = next, prev, h
	return out
}

func grow(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func heapPush(h []cand, c cand) []cand {
	h = append(h, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []cand) (cand, []cand) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top, h
}
