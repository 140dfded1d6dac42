// Package batch is the eval-loss batch format: what `realc eval-loss
// --batch` and a generated trainer's `loss --batch` read, the reference
// evaluator (package compiler) and the generated kernels' layout
// (runtime/fused/recipe) take. It imports nothing of the compiler, so that a
// trainer does not link it.
package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Batch is one eval-loss batch (`realc eval-loss --batch`):
//
//	{"vocab": V, "score_tokens": [ids of the score values, in the recipe's order],
//	 "hyper": {"lambda": 1.0},                    // overrides of recipe defaults
//	 "groups": [{"y": 4.0, "seqs": [{
//	     "tokens": [L ids], "regions": {"cot": [0, 37], "answer": [37, 38]},
//	     "logits": [[V floats] x L],              // logits[t] predicted tokens[t]
//	     "old_logp": [L], "ref_logp": [L],        // where the recipe uses them
//	     "mask": [L],                             // optional, default all 1
//	     "score_logits": [V],                     // logits at the score slot
//	     "acc": 1, "pred": 4,                     // pred may be null (no score)
//	     "truncated": 0, "format_ok": 1}]}]}      // optional, defaults 0 and 1
type Batch struct {
	Vocab       int
	ScoreTokens []int
	Hyper       map[string]float64
	Groups      []Group
}

// Group is one prompt's responses.
type Group struct {
	Y    float64
	Seqs []Seq
}

// Seq is one response.
type Seq struct {
	Tokens      []int
	Regions     map[string][2]int // half-open [start, end) token ranges
	Logits      [][]float64       // [L][V]
	OldLogp     []float64         // nil if absent
	RefLogp     []float64         // nil if absent
	Mask        []float64         // nil: all ones
	ScoreLogits []float64         // [V]; nil if absent
	Acc, Pred   float64           // Pred is NaN when the response has no score
	Truncated   float64
	FormatOK    float64
}

// NumSeqs is the number of sequences over all groups.
func (b *Batch) NumSeqs() int {
	n := 0
	for _, g := range b.Groups {
		n += len(g.Seqs)
	}
	return n
}

// SeqPath is the JSON path of sequence j of group g, for messages.
func SeqPath(g, j int) string { return fmt.Sprintf("groups[%d].seqs[%d]", g, j) }

// CheckLogits refuses a logit the generated kernels cannot read: NaN, an
// infinity, or a float64 whose float32 conversion overflows (the kernels
// compute in float32). The reference evaluator and the generated binary both
// call it, so the two refuse the same batch in the same words, naming the
// JSON path of the value: groups[g].seqs[j].logits[t][v] (token t, vocabulary
// entry v) or groups[g].seqs[j].score_logits[v].
func (b *Batch) CheckLogits() error {
	for g, grp := range b.Groups {
		for j, s := range grp.Seqs {
			for t, row := range s.Logits {
				for v, x := range row {
					if err := checkLogit(x); err != nil {
						return fmt.Errorf("%s.logits[%d][%d]: %v", SeqPath(g, j), t, v, err)
					}
				}
			}
			for v, x := range s.ScoreLogits {
				if err := checkLogit(x); err != nil {
					return fmt.Errorf("%s.score_logits[%d]: %v", SeqPath(g, j), v, err)
				}
			}
		}
	}
	return nil
}

func checkLogit(x float64) error {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return fmt.Errorf("logit %v is not finite", x)
	case math.IsInf(float64(float32(x)), 0):
		return fmt.Errorf("logit %v overflows float32, the precision of the generated kernels (|logit| <= %v)", x, float32(math.MaxFloat32))
	}
	return nil
}

// Parse reads the eval-loss JSON. Errors name the JSON path of the
// offending field, e.g. `groups[1].seqs[0].logits[3]: expected 32 floats
// (vocab), got 31`.
func Parse(data []byte) (*Batch, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("batch: not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("batch: extra data after the JSON object")
	}
	r := &jreader{}
	b := r.batch(root)
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

type jreader struct{ err error }

func (r *jreader) fail(path, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (r *jreader) object(v any, path string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(path, "expected an object, got %s", kind(v))
		return nil
	}
	return m
}

func (r *jreader) known(m map[string]any, path string, keys ...string) {
	var unknown []string
	for k := range m {
		found := false
		for _, kk := range keys {
			found = found || k == kk
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		r.fail(join(path, unknown[0]), "unknown field; known fields are %s", strings.Join(keys, ", "))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (r *jreader) num(v any, path string) float64 {
	n, ok := v.(json.Number)
	if !ok {
		r.fail(path, "expected a number, got %s", kind(v))
		return 0
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) {
		r.fail(path, "number %s is out of range", n)
		return 0
	}
	return f
}

func (r *jreader) integer(v any, path string, lo, hi int) int {
	f := r.num(v, path)
	if r.err != nil {
		return 0
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		r.fail(path, "expected an integer in [%d, %d], got %v", lo, hi, f)
		return 0
	}
	return int(f)
}

func (r *jreader) array(v any, path string) []any {
	a, ok := v.([]any)
	if !ok {
		r.fail(path, "expected an array, got %s", kind(v))
		return nil
	}
	return a
}

func (r *jreader) floats(v any, path string, n int, what string) []float64 {
	a := r.array(v, path)
	if r.err != nil {
		return nil
	}
	if n >= 0 && len(a) != n {
		r.fail(path, "expected %d floats (%s), got %d", n, what, len(a))
		return nil
	}
	out := make([]float64, len(a))
	for i, x := range a {
		out[i] = r.num(x, fmt.Sprintf("%s[%d]", path, i))
	}
	return out
}

func (r *jreader) batch(root any) *Batch {
	m := r.object(root, "batch")
	if r.err != nil {
		return nil
	}
	r.known(m, "", "vocab", "score_tokens", "hyper", "groups")
	b := &Batch{Hyper: map[string]float64{}}
	v, ok := m["vocab"]
	if !ok {
		r.fail("vocab", "missing: the vocabulary size V (the length of every logits row)")
		return nil
	}
	b.Vocab = r.integer(v, "vocab", 1, 1<<24)
	st, ok := m["score_tokens"]
	if !ok {
		r.fail("score_tokens", "missing: the token ids of the score values, in the recipe's order")
		return nil
	}
	for i, x := range r.array(st, "score_tokens") {
		b.ScoreTokens = append(b.ScoreTokens, r.integer(x, fmt.Sprintf("score_tokens[%d]", i), 0, b.Vocab-1))
	}
	seen := map[int]int{}
	for i, id := range b.ScoreTokens {
		if j, dup := seen[id]; dup && r.err == nil {
			r.fail(fmt.Sprintf("score_tokens[%d]", i), "token id %d repeats score_tokens[%d]", id, j)
		}
		seen[id] = i
	}
	if h, ok := m["hyper"]; ok {
		hm := r.object(h, "hyper")
		keys := make([]string, 0, len(hm))
		for k := range hm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.Hyper[k] = r.num(hm[k], "hyper."+k)
		}
	}
	gs, ok := m["groups"]
	if !ok {
		r.fail("groups", "missing: the list of groups {\"y\": ..., \"seqs\": [...]}")
		return nil
	}
	ga := r.array(gs, "groups")
	if r.err == nil && len(ga) == 0 {
		r.fail("groups", "empty: a batch needs at least one group")
	}
	for gi, gv := range ga {
		if r.err != nil {
			break
		}
		b.Groups = append(b.Groups, r.group(gv, fmt.Sprintf("groups[%d]", gi), b.Vocab))
	}
	return b
}

func (r *jreader) group(v any, path string, vocab int) Group {
	m := r.object(v, path)
	if r.err != nil {
		return Group{}
	}
	r.known(m, path, "y", "seqs")
	var g Group
	y, ok := m["y"]
	if !ok {
		r.fail(path+".y", "missing: the ground-truth score")
		return g
	}
	g.Y = r.num(y, path+".y")
	sv, ok := m["seqs"]
	if !ok {
		r.fail(path+".seqs", "missing: the group's responses")
		return g
	}
	sa := r.array(sv, path+".seqs")
	if r.err == nil && len(sa) == 0 {
		r.fail(path+".seqs", "empty: a group needs at least one response")
	}
	for j, s := range sa {
		if r.err != nil {
			break
		}
		g.Seqs = append(g.Seqs, r.seq(s, fmt.Sprintf("%s.seqs[%d]", path, j), vocab))
	}
	return g
}

func (r *jreader) seq(v any, path string, vocab int) Seq {
	m := r.object(v, path)
	s := Seq{Pred: math.NaN(), FormatOK: 1}
	if r.err != nil {
		return s
	}
	r.known(m, path, "tokens", "regions", "logits", "old_logp", "ref_logp", "mask", "score_logits", "acc", "pred", "truncated", "format_ok")
	tv, ok := m["tokens"]
	if !ok {
		r.fail(path+".tokens", "missing: the response token ids")
		return s
	}
	for i, t := range r.array(tv, path+".tokens") {
		s.Tokens = append(s.Tokens, r.integer(t, fmt.Sprintf("%s.tokens[%d]", path, i), 0, vocab-1))
	}
	L := len(s.Tokens)
	if lv, ok := m["logits"]; ok {
		la := r.array(lv, path+".logits")
		if r.err == nil && len(la) != L {
			r.fail(path+".logits", "expected %d rows (one per token), got %d", L, len(la))
		}
		for t, row := range la {
			if r.err != nil {
				break
			}
			s.Logits = append(s.Logits, r.floats(row, fmt.Sprintf("%s.logits[%d]", path, t), vocab, "vocab"))
		}
	} else if L > 0 {
		r.fail(path+".logits", "missing: the logits that predicted each token ([L][V])")
	}
	for _, f := range []struct {
		key string
		dst *[]float64
	}{{"old_logp", &s.OldLogp}, {"ref_logp", &s.RefLogp}, {"mask", &s.Mask}} {
		if fv, ok := m[f.key]; ok {
			*f.dst = r.floats(fv, path+"."+f.key, L, "one per token")
		}
	}
	if sv, ok := m["score_logits"]; ok {
		s.ScoreLogits = r.floats(sv, path+".score_logits", vocab, "vocab")
	}
	s.Regions = map[string][2]int{}
	if rv, ok := m["regions"]; ok {
		rm := r.object(rv, path+".regions")
		r.known(rm, path+".regions", "cot", "answer")
		for _, k := range []string{"cot", "answer"} {
			x, ok := rm[k]
			if !ok {
				continue
			}
			p := path + ".regions." + k
			a := r.array(x, p)
			if r.err == nil && len(a) != 2 {
				r.fail(p, "expected [start, end), got %d numbers", len(a))
			}
			if r.err != nil {
				return s
			}
			lo, hi := r.integer(a[0], p+"[0]", 0, L), r.integer(a[1], p+"[1]", 0, L)
			if r.err == nil && lo > hi {
				r.fail(p, "start %d is after end %d", lo, hi)
			}
			s.Regions[k] = [2]int{lo, hi}
		}
	}
	for _, f := range []struct {
		key string
		dst *float64
	}{{"acc", &s.Acc}, {"truncated", &s.Truncated}, {"format_ok", &s.FormatOK}} {
		if fv, ok := m[f.key]; ok {
			*f.dst = r.num(fv, path+"."+f.key)
		}
	}
	if pv, ok := m["pred"]; ok && pv != nil {
		s.Pred = r.num(pv, path+".pred")
	}
	return s
}

// MarshalJSON writes the batch in the eval-loss format Parse reads.
func (b *Batch) MarshalJSON() ([]byte, error) {
	type jseq struct {
		Tokens      []int             `json:"tokens"`
		Regions     map[string][2]int `json:"regions,omitempty"`
		Logits      [][]float64       `json:"logits"`
		OldLogp     []float64         `json:"old_logp,omitempty"`
		RefLogp     []float64         `json:"ref_logp,omitempty"`
		Mask        []float64         `json:"mask,omitempty"`
		ScoreLogits []float64         `json:"score_logits,omitempty"`
		Acc         float64           `json:"acc"`
		Pred        *float64          `json:"pred"`
		Truncated   float64           `json:"truncated"`
		FormatOK    float64           `json:"format_ok"`
	}
	type jgroup struct {
		Y    float64 `json:"y"`
		Seqs []jseq  `json:"seqs"`
	}
	out := struct {
		Vocab       int                `json:"vocab"`
		ScoreTokens []int              `json:"score_tokens"`
		Hyper       map[string]float64 `json:"hyper,omitempty"`
		Groups      []jgroup           `json:"groups"`
	}{Vocab: b.Vocab, ScoreTokens: b.ScoreTokens, Hyper: b.Hyper}
	for _, g := range b.Groups {
		jg := jgroup{Y: g.Y}
		for _, s := range g.Seqs {
			js := jseq{Tokens: s.Tokens, Regions: s.Regions, Logits: s.Logits, OldLogp: s.OldLogp, RefLogp: s.RefLogp,
				Mask: s.Mask, ScoreLogits: s.ScoreLogits, Acc: s.Acc, Truncated: s.Truncated, FormatOK: s.FormatOK}
			if !math.IsNaN(s.Pred) {
				p := s.Pred
				js.Pred = &p
			}
			jg.Seqs = append(jg.Seqs, js)
		}
		out.Groups = append(out.Groups, jg)
	}
	return json.Marshal(out)
}
