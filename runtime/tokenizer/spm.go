package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"
)

// SentencePiece piece types (sentencepiece_model.proto).
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

type spPiece struct {
	piece string
	score float32
	typ   int
}

// spModel is the part of a ModelProto realc uses; defaults are the proto's.
type spModel struct {
	pieces       []spPiece
	modelType    int // 1 unigram, 2 BPE, 3 word, 4 char
	byteFallback bool
	unkID        int
	bosID        int
	eosID        int
	normName     string
	charsmap     int // length of precompiled_charsmap
	dummyPrefix  bool
	removeExtra  bool
	escapeSpaces bool
}

// pbReader walks protobuf wire format: just enough for sentencepiece_model.proto.
type pbReader struct {
	b    []byte
	i    int
	file string
	path string
}

func (r *pbReader) errf(format string, args ...any) error {
	return fmt.Errorf("tokenizer %s: %s (byte %d): %s; is this a SentencePiece tokenizer.model?", r.file, r.path, r.i, fmt.Sprintf(format, args...))
}

func (r *pbReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		return 0, r.errf("truncated or overlong varint")
	}
	r.i += n
	return v, nil
}

// next returns the next field number, wire type and, for length-delimited
// fields, the payload; other values are returned in v.
func (r *pbReader) next() (field int, wire int, v uint64, payload []byte, err error) {
	key, err := r.varint()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	field, wire = int(key>>3), int(key&7)
	switch wire {
	case 0:
		v, err = r.varint()
	case 1:
		if r.i+8 > len(r.b) {
			return 0, 0, 0, nil, r.errf("truncated 64-bit field %d", field)
		}
		v = binary.LittleEndian.Uint64(r.b[r.i:])
		r.i += 8
	case 5:
		if r.i+4 > len(r.b) {
			return 0, 0, 0, nil, r.errf("truncated 32-bit field %d", field)
		}
		v = uint64(binary.LittleEndian.Uint32(r.b[r.i:]))
		r.i += 4
	case 2:
		var n uint64
		if n, err = r.varint(); err != nil {
			return
		}
		if n > uint64(len(r.b)-r.i) {
			return 0, 0, 0, nil, r.errf("field %d claims %d bytes, %d left", field, n, len(r.b)-r.i)
		}
		payload = r.b[r.i : r.i+int(n)]
		r.i += int(n)
	default:
		err = r.errf("unsupported wire type %d for field %d", wire, field)
	}
	return
}

func parseSPModel(file string, data []byte) (*spModel, error) {
	m := &spModel{modelType: 1, unkID: 0, bosID: 1, eosID: 2, dummyPrefix: true, removeExtra: true, escapeSpaces: true}
	r := &pbReader{b: data, file: file, path: "ModelProto"}
	for r.i < len(r.b) {
		field, wire, _, payload, err := r.next()
		if err != nil {
			return nil, err
		}
		if wire != 2 {
			continue
		}
		switch field {
		case 1:
			p, err := parseSPPiece(file, len(m.pieces), payload)
			if err != nil {
				return nil, err
			}
			m.pieces = append(m.pieces, p)
		case 2:
			if err := m.parseTrainer(file, payload); err != nil {
				return nil, err
			}
		case 3:
			if err := m.parseNormalizer(file, payload); err != nil {
				return nil, err
			}
		}
	}
	if len(m.pieces) == 0 {
		return nil, fmt.Errorf("tokenizer %s: ModelProto.pieces: no pieces; is this a SentencePiece tokenizer.model?", file)
	}
	return m, nil
}

func parseSPPiece(file string, idx int, b []byte) (spPiece, error) {
	p := spPiece{typ: spNormal}
	r := &pbReader{b: b, file: file, path: fmt.Sprintf("ModelProto.pieces[%d]", idx)}
	for r.i < len(r.b) {
		field, wire, v, payload, err := r.next()
		if err != nil {
			return p, err
		}
		switch {
		case field == 1 && wire == 2:
			if !utf8.Valid(payload) {
				return p, r.errf("piece is not UTF-8")
			}
			p.piece = string(payload)
		case field == 2 && wire == 5:
			p.score = math.Float32frombits(uint32(v))
		case field == 3 && wire == 0:
			p.typ = int(v)
		}
	}
	return p, nil
}

func (m *spModel) parseTrainer(file string, b []byte) error {
	r := &pbReader{b: b, file: file, path: "ModelProto.trainer_spec"}
	for r.i < len(r.b) {
		field, wire, v, _, err := r.next()
		if err != nil {
			return err
		}
		if wire != 0 {
			continue
		}
		switch field {
		case 3:
			m.modelType = int(v)
		case 35:
			m.byteFallback = v != 0
		case 40:
			m.unkID = int(int32(v))
		case 41:
			m.bosID = int(int32(v))
		case 42:
			m.eosID = int(int32(v))
		}
	}
	return nil
}

func (m *spModel) parseNormalizer(file string, b []byte) error {
	r := &pbReader{b: b, file: file, path: "ModelProto.normalizer_spec"}
	for r.i < len(r.b) {
		field, wire, v, payload, err := r.next()
		if err != nil {
			return err
		}
		switch {
		case field == 1 && wire == 2:
			m.normName = string(payload)
		case field == 2 && wire == 2:
			m.charsmap = len(payload)
		case field == 3 && wire == 0:
			m.dummyPrefix = v != 0
		case field == 4 && wire == 0:
			m.removeExtra = v != 0
		case field == 5 && wire == 0:
			m.escapeSpaces = v != 0
		}
	}
	return nil
}

// ParseSentencePiece builds a Tokenizer from a SentencePiece tokenizer.model of
// type BPE. Merges follow SentencePiece: at each step the adjacent pair whose
// concatenation is the highest-scoring piece merges (leftmost among equals).
// Control and unknown pieces (<s>, </s>, <unk>) written in the text are
// recognized as Hugging Face's LlamaTokenizer does; EncodeSpecial adds BOS.
func ParseSentencePiece(file string, data []byte) (*Tokenizer, error) {
	m, err := parseSPModel(file, data)
	if err != nil {
		return nil, err
	}
	if m.modelType != 2 {
		names := map[int]string{1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}
		return nil, fmt.Errorf("tokenizer %s: ModelProto.trainer_spec.model_type: %s (%d) is not supported (supported: BPE)", file, names[m.modelType], m.modelType)
	}
	if m.charsmap > 0 && m.normName != "identity" {
		return nil, fmt.Errorf("tokenizer %s: ModelProto.normalizer_spec.name: %q uses a precompiled character map, which is not supported (only identity)", file, m.normName)
	}
	if !m.escapeSpaces {
		return nil, fmt.Errorf("tokenizer %s: ModelProto.normalizer_spec.escape_whitespaces: false is not supported", file)
	}
	n := len(m.pieces)
	t := &Tokenizer{source: file, unkID: -1, bos: -1, eos: -1, byteFallback: m.byteFallback,
		tokens: make([]string, n), assigned: make([]bool, n), special: make([]bool, n),
		vocab: make(map[string]int32, n)}
	var added []addedTok
	var normal []int32
	for i, p := range m.pieces {
		t.tokens[i] = p.piece
		t.assigned[i] = true
		switch p.typ {
		case spNormal:
			normal = append(normal, int32(i))
		case spControl, spUnknown:
			t.special[i] = true
			added = append(added, addedTok{p.piece, int32(i)})
		case spUserDefined:
			added = append(added, addedTok{p.piece, int32(i)})
		}
		if _, dup := t.vocab[p.piece]; !dup {
			t.vocab[p.piece] = int32(i)
		}
	}
	t.added = newAddedMatcher(added)
	if m.unkID >= 0 && m.unkID < n {
		t.unkID = int32(m.unkID)
	}
	for b := 0; b < 256; b++ {
		t.byteID[b] = -1
		if id, ok := t.vocab[fmt.Sprintf("<0x%02X>", b)]; ok && m.pieces[id].typ == spByte {
			t.byteID[b] = id
		}
	}

	// Rank normal pieces by score, highest first; equal scores share a rank so
	// that position alone breaks the tie, as in SentencePiece.
	sort.SliceStable(normal, func(a, b int) bool { return m.pieces[normal[a]].score > m.pieces[normal[b]].score })
	rank := make(map[int32]int32, len(normal))
	r := int32(0)
	for i, id := range normal {
		if i > 0 && m.pieces[id].score != m.pieces[normal[i-1]].score {
			r = int32(i)
		}
		rank[id] = r
	}
	isNormal := func(s string) (int32, bool) {
		id, ok := t.vocab[s]
		return id, ok && m.pieces[id].typ == spNormal
	}
	t.merges = newMergeTable(2 * len(normal))
	for _, id := range normal {
		s := m.pieces[id].piece
		for k := range s {
			if k == 0 {
				continue
			}
			a, ok1 := isNormal(s[:k])
			b, ok2 := isNormal(s[k:])
			if ok1 && ok2 {
				t.merges.set(a, b, merge{rank[id], id})
			}
		}
	}

	t.normalizers = []normalizer{spaceNorm{dummyPrefix: m.dummyPrefix, removeExtra: m.removeExtra}}
	t.decoders = []decoder{replaceDec{"▁", " "}, byteFallbackDec{}, fuseDec{}}
	if m.dummyPrefix {
		t.decoders = append(t.decoders, stripDec{' ', 1, 0})
	}
	if m.bosID >= 0 && m.bosID < n {
		t.bos = m.bosID
		t.postPrefix = []int{m.bosID}
	}
	if m.eosID >= 0 && m.eosID < n {
		t.eos = m.eosID
	}
	t.finish()
	return t, nil
}
