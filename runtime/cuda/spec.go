package cuda

// Spec describes a generated recipe's CUDA kernels (kernels.cu) to RunLoss.
type Spec struct {
	// Prefix of the kernel names: <Prefix>_row_stats, _stage_score,
	// _stage_rest, _stage_token, _token_grad, _score_grad.
	Prefix string
	// Counts of values per axis (scalar, group, seq, token): vals holds
	// Counts[0] + Counts[1]*G + Counts[2]*S + Counts[3]*T doubles.
	Counts [4]int
	// LossOff is the offset of the loss in vals, in the same units.
	LossOff [4]int
	// FilterOff is the offset of the filter's per-group values (HasFilter).
	FilterOff [4]int
	HasFilter bool
	// Block is the thread count of every launch (a multiple of 32).
	Block int
}

// Offset evaluates an offset for a batch of G groups, S sequences, T tokens.
func Offset(o [4]int, g, s, t int) int { return o[0] + o[1]*g + o[2]*s + o[3]*t }

// KernelNames lists the entry points of a Spec in launch order.
func (s *Spec) KernelNames() []string {
	var out []string
	for _, n := range []string{"row_stats", "stage_score", "stage_rest", "stage_token", "token_grad", "score_grad"} {
		out = append(out, s.Prefix+"_"+n)
	}
	return out
}
