package data

// Checking pages before arrow's column reader decodes them.
//
// Recovering panics is not enough for a damaged file: some of arrow's
// decoders stop without an error when their data runs out, and the column
// reader's batch loop then spins forever (a page whose level runs end before
// its value count, a required column's dictionary indices out of range), and
// some headers size allocations (a dictionary's value count, a delta block's
// size and total). checkedPages sits between the page reader and the column
// reader and checks, for each page, what those decoders take on trust.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/schema"
)

// checkedPages is a file.PageReader that stops at the first page that would
// make a decoder stall or allocate past what the page can hold, with an
// error the column reader reports.
type checkedPages struct {
	file.PageReader
	descr     *schema.Column
	remaining int64 // levels the chunk's metadata leaves for the pages to come
	dictLen   int   // values in the chunk's dictionary; -1 before it
	err       error
}

func newCheckedPages(pr file.PageReader, descr *schema.Column, numValues int64) *checkedPages {
	return &checkedPages{PageReader: pr, descr: descr, remaining: numValues, dictLen: -1}
}

func (p *checkedPages) Next() bool {
	if p.err != nil || !p.PageReader.Next() {
		return false
	}
	if pg := p.PageReader.Page(); pg != nil {
		if err := p.check(pg); err != nil {
			p.err = err
			return false
		}
	}
	return true
}

func (p *checkedPages) Err() error {
	if p.err != nil {
		return p.err
	}
	return p.PageReader.Err()
}

func (p *checkedPages) check(pg file.Page) error {
	maxDef, maxRep := p.descr.MaxDefinitionLevel(), p.descr.MaxRepetitionLevel()
	switch pg := pg.(type) {
	case *file.DictionaryPage:
		n := int(pg.NumValues())
		if n < 0 || n > plainCapacity(p.descr, len(pg.Data())) {
			return fmt.Errorf("damaged dictionary page: %d values in %d bytes", n, len(pg.Data()))
		}
		p.dictLen = n
		return nil
	case *file.DataPageV1:
		nv, err := p.take(pg.NumValues())
		if err != nil {
			return err
		}
		data, off := pg.Data(), 0
		present := nv // levels at maxDef: values in the page
		if maxRep > 0 {
			n, _, err := checkLevelsV1(pg.RepetitionLevelEncoding(), data, maxRep, nv)
			if err != nil {
				return fmt.Errorf("%w (repetition levels)", err)
			}
			off = n
		}
		if maxDef > 0 {
			n, eq, err := checkLevelsV1(pg.DefinitionLevelEncoding(), data[off:], maxDef, nv)
			if err != nil {
				return fmt.Errorf("%w (definition levels)", err)
			}
			off, present = off+n, eq
		}
		return p.checkValues(parquet.Encoding(pg.Encoding()), data[off:], nv, present)
	case *file.DataPageV2:
		nv, err := p.take(pg.NumValues())
		if err != nil {
			return err
		}
		data := pg.Data()
		rl, dl := int64(pg.RepetitionLevelByteLen()), int64(pg.DefinitionLevelByteLen())
		if rl < 0 || dl < 0 || rl+dl > int64(len(data)) {
			return fmt.Errorf("damaged data page: %d+%d bytes of levels in %d bytes", rl, dl, len(data))
		}
		present := nv
		if maxRep > 0 {
			if n, _ := rleScan(data[:rl], bitWidth(uint64(maxRep)), nv, -1, -1); n < nv {
				return fmt.Errorf("damaged data page: the repetition levels end before its %d values", nv)
			}
		}
		if maxDef > 0 {
			n, eq := rleScan(data[rl:rl+dl], bitWidth(uint64(maxDef)), nv, int64(maxDef), -1)
			if n < nv {
				return fmt.Errorf("damaged data page: the definition levels end before its %d values", nv)
			}
			present = eq
		}
		return p.checkValues(parquet.Encoding(pg.Encoding()), data[rl+dl:], nv, present)
	}
	return nil
}

// take counts a data page's levels against the chunk's.
func (p *checkedPages) take(n int32) (int, error) {
	if n < 0 || int64(n) > p.remaining {
		return 0, fmt.Errorf("damaged data page: %d values where the column chunk has %d left", n, p.remaining)
	}
	p.remaining -= int64(n)
	return int(n), nil
}

func bitWidth(max uint64) int {
	w := 0
	for max > 0 {
		w++
		max >>= 1
	}
	return w
}

// plainCapacity is the most PLAIN values n bytes can hold.
func plainCapacity(d *schema.Column, n int) int {
	switch d.PhysicalType() {
	case parquet.Types.Boolean:
		return n * 8
	case parquet.Types.Int32, parquet.Types.Float, parquet.Types.ByteArray: // a BYTE_ARRAY has a 4-byte length
		return n / 4
	case parquet.Types.Int64, parquet.Types.Double:
		return n / 8
	case parquet.Types.Int96:
		return n / 12
	case parquet.Types.FixedLenByteArray:
		return n / max(d.TypeLength(), 1)
	}
	return 0
}

// checkLevelsV1 checks a version 1 page's levels and returns their length
// in bytes and how many of the first nv are maxLevel.
func checkLevelsV1(enc parquet.Encoding, data []byte, maxLevel int16, nv int) (int, int, error) {
	w := bitWidth(uint64(maxLevel))
	switch enc {
	case parquet.Encodings.RLE:
		if len(data) < 4 {
			return 0, 0, errors.New("damaged data page: no room for its levels")
		}
		n := int64(int32(binary.LittleEndian.Uint32(data)))
		if n < 0 || n > int64(len(data)-4) {
			return 0, 0, fmt.Errorf("damaged data page: %d bytes of levels in %d", n, len(data)-4)
		}
		got, eq := rleScan(data[4:4+n], w, nv, int64(maxLevel), -1)
		if got < nv {
			return 0, 0, fmt.Errorf("damaged data page: the levels end before its %d values", nv)
		}
		return 4 + int(n), eq, nil
	case parquet.Encodings.BitPacked:
		n := (int64(nv)*int64(w) + 7) / 8
		if n > int64(len(data)) {
			return 0, 0, fmt.Errorf("damaged data page: %d bytes of levels in %d", n, len(data))
		}
		eq := 0
		for i := range nv {
			if unpack(data, i*w, w) == uint64(maxLevel) {
				eq++
			}
		}
		return int(n), eq, nil
	}
	return 0, 0, fmt.Errorf("damaged data page: levels in encoding %s", enc)
}

// rleScan walks the RLE/bit-packed hybrid runs in data (bit width w) as
// arrow's decoder does, for up to need values. It returns how many values
// decode, stopping early at the first value not below limit when limit >=
// 0 (dictionary indices), and how many of them equal eq.
func rleScan(data []byte, w, need int, eq, limit int64) (n, neq int) {
	pos := 0
	for n < need {
		ind, k := binary.Uvarint(data[pos:])
		if k <= 0 {
			return n, neq
		}
		pos += k
		count := uint32(ind >> 1)
		if ind&1 == 1 { // bit-packed: count groups of 8 values, w bytes a group
			if count == 0 || count > math.MaxInt32/8 {
				return n, neq
			}
			vals, nbytes := int(count)*8, int(count)*w
			short := nbytes > len(data)-pos
			if short {
				nbytes = len(data) - pos
				vals = nbytes * 8 / max(w, 1)
			}
			run := data[pos : pos+nbytes]
			for i := range min(vals, need-n) {
				v := unpack(run, i*w, w)
				if limit >= 0 && v >= uint64(limit) {
					return n + i, neq
				}
				if v == uint64(eq) {
					neq++
				}
			}
			n += vals
			pos += nbytes
			if short {
				return min(n, need), neq
			}
		} else { // a run of one value in ceil(w/8) bytes
			if count == 0 || count > math.MaxInt32 {
				return n, neq
			}
			vb := (w + 7) / 8
			if vb > len(data)-pos {
				return n, neq
			}
			var v uint64
			for i := vb - 1; i >= 0; i-- {
				v = v<<8 | uint64(data[pos+i])
			}
			if limit >= 0 && v >= uint64(limit) {
				return n, neq
			}
			pos += vb
			c := min(int(count), need-n)
			if v == uint64(eq) {
				neq += c
			}
			n += c
		}
	}
	return n, neq
}

// unpack returns the w-bit (w <= 32) little-endian value at bit off.
func unpack(data []byte, off, w int) uint64 {
	if w == 0 {
		return 0
	}
	if b := off >> 3; b+8 <= len(data) {
		return binary.LittleEndian.Uint64(data[b:]) >> (off & 7) & (1<<w - 1)
	}
	var v uint64
	for b := 0; b < w; b++ {
		bit := off + b
		if data[bit>>3]>>(bit&7)&1 != 0 {
			v |= 1 << b
		}
	}
	return v
}

// maxDeltaPageValues bounds the levels of a page in the delta encodings of
// byte arrays, whose decoders allocate 4 bytes a level (writers cut pages at
// about 1 MB; a page of 16M levels is damage).
const maxDeltaPageValues = 1 << 24

// checkValues checks the values of a page of nv levels, present of them
// at maxDef. Dictionary indices are checked against the dictionary: arrow
// sizes a slice by an index before it checks it, and for a required
// column a decoder that stops short stalls the column reader (its progress
// is the values decoded; with levels it is the levels). The delta
// encodings' headers size allocations and are checked too.
func (p *checkedPages) checkValues(enc parquet.Encoding, data []byte, nv, present int) error {
	required := p.descr.MaxDefinitionLevel() == 0
	switch enc {
	case parquet.Encodings.PlainDict, parquet.Encodings.RLEDict:
		if present == 0 {
			return nil
		}
		if p.dictLen < 0 {
			return errors.New("damaged data page: dictionary indices without a dictionary")
		}
		if len(data) == 0 || data[0] > 32 {
			return errors.New("damaged data page: no bit width for its dictionary indices")
		}
		if n, _ := rleScan(data[1:], int(data[0]), present, -1, int64(p.dictLen)); n < present {
			return fmt.Errorf("damaged data page: its dictionary indices end or leave the dictionary's %d values before its %d values", p.dictLen, present)
		}
	case parquet.Encodings.DeltaBinaryPacked:
		if _, err := checkDeltaHeader(data, nv, required); err != nil {
			return err
		}
	case parquet.Encodings.DeltaLengthByteArray:
		if nv > maxDeltaPageValues {
			return fmt.Errorf("damaged data page: %d values in a delta-encoded page", nv)
		}
		if _, err := checkDeltaHeader(data, nv, required); err != nil {
			return fmt.Errorf("%w (value lengths)", err)
		}
	case parquet.Encodings.DeltaByteArray:
		if nv > maxDeltaPageValues {
			return fmt.Errorf("damaged data page: %d values in a delta-encoded page", nv)
		}
		end, err := checkDeltaHeader(data, nv, required)
		if err != nil {
			return fmt.Errorf("%w (prefix lengths)", err)
		}
		if _, err := checkDeltaHeader(data[end:], nv, required); err != nil {
			return fmt.Errorf("%w (suffix lengths)", err)
		}
	}
	return nil
}

// checkDeltaHeader checks a DELTA_BINARY_PACKED stream's header (block size,
// miniblocks, total, first value) for a page of nv levels, and returns where
// the stream ends once arrow's decoder has read its values (it reads whole
// miniblocks, and only those it needs).
func checkDeltaHeader(data []byte, nv int, required bool) (int, error) {
	var hdr [4]uint64
	pos := 0
	for i := range hdr {
		v, k := binary.Uvarint(data[pos:])
		if k <= 0 {
			return 0, errors.New("damaged data page: a delta header ends early")
		}
		hdr[i], pos = v, pos+k
	}
	block, minis, total := hdr[0], hdr[1], hdr[2]
	if block == 0 || block > 1<<20 || block%128 != 0 || minis == 0 || block%minis != 0 || (block/minis)%8 != 0 {
		return 0, fmt.Errorf("damaged data page: delta blocks of %d values in %d miniblocks", block, minis)
	}
	if total > uint64(nv) || required && total < uint64(nv) {
		return 0, fmt.Errorf("damaged data page: a delta header promises %d values for %d", total, nv)
	}
	perMini := int(block / minis)
	for left := int(total) - 1; left > 0; {
		if _, k := binary.Uvarint(data[pos:]); k <= 0 { // the block's min delta
			return 0, errors.New("damaged data page: a delta block ends early")
		} else {
			pos += k
		}
		if int(minis) > len(data)-pos {
			return 0, errors.New("damaged data page: a delta block ends early")
		}
		widths := data[pos : pos+int(minis)]
		pos += int(minis)
		for _, w := range widths {
			if left <= 0 {
				break
			}
			if w > 64 {
				return 0, fmt.Errorf("damaged data page: delta miniblock of width %d", w)
			}
			pos += perMini * int(w) / 8
			left -= perMini
		}
		if pos > len(data) {
			return 0, errors.New("damaged data page: a delta block ends early")
		}
	}
	return pos, nil
}
