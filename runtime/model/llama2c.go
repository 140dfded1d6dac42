package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// LoadLlama2C reads a llama2.c "legacy v0" checkpoint (karpathy/llama2.c
// run.c's format): seven little-endian int32 (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an
// untied classifier follows), then float32 tensors: token embeddings, rms_att,
// wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, the two RoPE tables (skipped)
// and, if untied, wcls.
//
// llama2.c rotates adjacent pairs (2i, 2i+1) with RoPE while this package
// rotates (i, i+hd/2) as Hugging Face does, so wq and wk rows are permuted per
// head on load, as transformers' convert_llama_weights_to_hf does. The result
// is a Llama with rms_norm_eps 1e-5, rope_theta 10000 and BOS=1, where run.c
// stops generating at BOS, so EOS is set to 1 as well.
func LoadLlama2C(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const hdrLen = 7 * 4
	if len(data) < hdrLen {
		return nil, fmt.Errorf("%s: %d bytes, too short for the llama2.c header of 7 int32", path, len(data))
	}
	if magic := binary.LittleEndian.Uint32(data); magic == 0x616b3432 {
		return nil, fmt.Errorf("%s: a llama2.c version-1/2 export (magic \"ak42\"); only the legacy v0 format is read: export with `python export.py --version 0`", path)
	}
	var h [7]int
	names := [7]string{"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"}
	for i := range h {
		h[i] = int(int32(binary.LittleEndian.Uint32(data[4*i:])))
	}
	tied := h[5] > 0
	if h[5] < 0 {
		h[5] = -h[5]
	}
	for i, v := range h {
		if v <= 0 || v > 1<<24 {
			return nil, fmt.Errorf("%s: header field %s = %d is not a plausible size (is this a llama2.c legacy checkpoint?)", path, names[i], v)
		}
	}
	dim, hidden, layers, heads, kvHeads, vocab, seqLen := h[0], h[1], h[2], h[3], h[4], h[5], h[6]
	if dim%heads != 0 {
		return nil, fmt.Errorf("%s: header dim=%d is not a multiple of n_heads=%d", path, dim, heads)
	}
	cfg := Config{Arch: Llama, Dim: dim, Hidden: hidden, Layers: layers, Heads: heads, KVHeads: kvHeads,
		HeadDim: dim / heads, Vocab: vocab, RopeTheta: 10000, NormEps: 1e-5, TiedEmbed: tied, MaxPos: seqLen,
		BOS: 1, EOS: []int{1}}
	m, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	hd := cfg.HeadDim
	kvd := cfg.KVDim()
	want := hdrLen + 4*(vocab*dim+layers*(2*dim+dim*dim+2*kvd*dim+dim*dim+3*hidden*dim)+dim+seqLen*hd)
	if !tied {
		want += 4 * vocab * dim
	}
	if len(data) != want {
		return nil, fmt.Errorf("%s: %d bytes, but the header (dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d) implies %d",
			path, len(data), dim, hidden, layers, heads, kvHeads, vocab, seqLen, want)
	}
	off := hdrLen
	read := func(dst []float32) {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off+4*i:]))
		}
		off += 4 * len(dst)
	}
	perLayer := func(get func(l *Layer) []float32) {
		for i := range m.Layers {
			read(get(&m.Layers[i]))
		}
	}
	read(m.Embed)
	perLayer(func(l *Layer) []float32 { return l.AttnNorm })
	perLayer(func(l *Layer) []float32 { return l.Wq })
	perLayer(func(l *Layer) []float32 { return l.Wk })
	perLayer(func(l *Layer) []float32 { return l.Wv })
	perLayer(func(l *Layer) []float32 { return l.Wo })
	perLayer(func(l *Layer) []float32 { return l.FFNNorm })
	perLayer(func(l *Layer) []float32 { return l.Gate })
	perLayer(func(l *Layer) []float32 { return l.Down })
	perLayer(func(l *Layer) []float32 { return l.Up })
	read(m.FinalNorm)
	off += 4 * seqLen * hd // freq_cis_real and freq_cis_imag: RoPE is recomputed
	if !tied {
		read(m.Head)
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		permuteInterleavedToHalf(l.Wq, heads, hd, dim)
		permuteInterleavedToHalf(l.Wk, kvHeads, hd, dim)
	}
	if err := m.checkFinite(path); err != nil {
		return nil, err
	}
	return m, nil
}

// permuteInterleavedToHalf reorders the rows of w [heads*hd, cols] within each
// head from the interleaved RoPE layout (row 2i+j) to the rotate_half layout
// (row j*hd/2+i).
func permuteInterleavedToHalf(w []float32, heads, hd, cols int) {
	tmp := make([]float32, hd*cols)
	half := hd / 2
	for h := 0; h < heads; h++ {
		blk := w[h*hd*cols : (h+1)*hd*cols]
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				copy(tmp[(j*half+i)*cols:(j*half+i+1)*cols], blk[(2*i+j)*cols:(2*i+j+1)*cols])
			}
		}
		copy(blk, tmp)
	}
}
