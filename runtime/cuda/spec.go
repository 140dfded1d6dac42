package cuda

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"

	"github.com/realc-project/realc/runtime/fused/recipe"
)

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

// ContextParams names the context arguments every stage and gradient
// kernel of a generated kernels.cu ends with, in the order RunLoss and
// gpu.RecipeLoss pass them (by position: a kernel cannot check them). A
// test holds it equal to compiler.KernelParams, which the kernels are
// generated from; the runtime checks its own argument lists against it.
var ContextParams = []string{"vals", "hyper", "G", "S", "T", "K", "group_off", "seq_group", "tok_off", "tok_seq", "tokens", "score_tokens",
	"mask", "cot", "answer", "old_logp", "ref_logp", "pred", "acc", "len", "truncated", "format_ok", "y",
	"score_lse", "score_z", "tok_lse", "tok_pz", "tok_z", "err"}

// CheckContext reports a context argument list whose length is not
// ContextParams'.
func CheckContext(n int) error {
	if n != len(ContextParams) {
		return fmt.Errorf("cuda: %d context arguments for the loss kernels, which take %d (%v)", n, len(ContextParams), ContextParams)
	}
	return nil
}

// Offset evaluates an offset for a batch of G groups, S sequences, T tokens.
func Offset(o [4]int, g, s, t int) int { return o[0] + o[1]*g + o[2]*s + o[3]*t }

// Slots returns the slot of every value of a recipe in its vals buffer:
// the schedule numbers values in order within each axis (value id's slot
// counts the values of each axis before it, compiler.Schedule.Slots), so
// the recipe's Meta.Axes give them. The counts must add up to s.Counts, and
// the loss and filter must sit at LossOff and FilterOff: a Spec of another
// recipe, or of a different compiler, is refused.
func (s *Spec) Slots(m *recipe.Meta) ([][4]int, error) {
	slots := make([][4]int, len(m.Axes))
	var n [4]int
	for id, ax := range m.Axes {
		if int(ax) > 3 {
			return nil, fmt.Errorf("cuda: recipe %s: value %d has axis %d", m.Name, id, ax)
		}
		slots[id] = n
		n[ax]++
	}
	if n != s.Counts {
		return nil, fmt.Errorf("cuda: recipe %s has %v values per axis, its kernels.cu (Spec %s) %v: rebuild the trainer with this realc", m.Name, n, s.Prefix, s.Counts)
	}
	if m.Loss >= 0 && slots[m.Loss] != s.LossOff {
		return nil, fmt.Errorf("cuda: recipe %s: the loss (value %d) is at slot %v, its kernels.cu puts it at %v: rebuild the trainer with this realc", m.Name, m.Loss, slots[m.Loss], s.LossOff)
	}
	if (m.Filter >= 0) != s.HasFilter || (m.Filter >= 0 && slots[m.Filter] != s.FilterOff) {
		return nil, fmt.Errorf("cuda: recipe %s: the filter does not match its kernels.cu's (Spec %s): rebuild the trainer with this realc", m.Name, s.Prefix)
	}
	return slots, nil
}

// DeviceVals lays the values of a host evaluation (recipe.State.Vals, one
// array per value id) out as the kernels' vals buffer reads them.
func DeviceVals(slots [][4]int, st *recipe.State) ([]float64, error) {
	l := st.L
	if len(slots) != len(st.Vals) {
		return nil, fmt.Errorf("cuda: %d value slots for %d values", len(slots), len(st.Vals))
	}
	var end int
	for id, v := range st.Vals {
		end = max(end, Offset(slots[id], l.G, l.S, l.T)+len(v))
	}
	out := make([]float64, end)
	for id, v := range st.Vals {
		copy(out[Offset(slots[id], l.G, l.S, l.T):], v)
	}
	return out, nil
}

// KernelNames lists the entry points of a Spec in launch order.
func (s *Spec) KernelNames() []string {
	var out []string
	for _, n := range []string{"row_stats", "stage_score", "stage_rest", "stage_token", "token_grad", "score_grad"} {
		out = append(out, s.Prefix+"_"+n)
	}
	return out
}

// ParseSpec reads the cuda.Spec literal a generated recipe declares in its
// launch_cuda.go (var cudaSpec = &cuda.Spec{...}): tools that run a
// recipe's kernels.cu without linking its package (the device check) take
// the layout from there.
func ParseSpec(goSrc []byte) (*Spec, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "launch_cuda.go", goSrc, 0)
	if err != nil {
		return nil, err
	}
	var lit *ast.CompositeLit
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CompositeLit); ok && lit == nil {
			if sel, ok := c.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Spec" {
				lit = c
				return false
			}
		}
		return true
	})
	if lit == nil {
		return nil, fmt.Errorf("cuda: no cuda.Spec literal in the source")
	}
	s := &Spec{}
	intOf := func(e ast.Expr) (int, error) {
		neg := false
		if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
			neg, e = true, u.X
		}
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.INT {
			return 0, fmt.Errorf("cuda: Spec: %T is not an integer literal", e)
		}
		v, err := strconv.Atoi(b.Value)
		if neg {
			v = -v
		}
		return v, err
	}
	four := func(e ast.Expr) ([4]int, error) {
		var out [4]int
		c, ok := e.(*ast.CompositeLit)
		if !ok || len(c.Elts) != 4 {
			return out, fmt.Errorf("cuda: Spec: want a [4]int literal")
		}
		for i, x := range c.Elts {
			v, err := intOf(x)
			if err != nil {
				return out, err
			}
			out[i] = v
		}
		return out, nil
	}
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			return nil, fmt.Errorf("cuda: Spec literal without field names")
		}
		key := kv.Key.(*ast.Ident).Name
		var err error
		switch key {
		case "Prefix":
			b, ok := kv.Value.(*ast.BasicLit)
			if !ok || b.Kind != token.STRING {
				return nil, fmt.Errorf("cuda: Spec.Prefix is not a string literal")
			}
			s.Prefix, err = strconv.Unquote(b.Value)
		case "Counts":
			s.Counts, err = four(kv.Value)
		case "LossOff":
			s.LossOff, err = four(kv.Value)
		case "FilterOff":
			s.FilterOff, err = four(kv.Value)
		case "HasFilter":
			id, ok := kv.Value.(*ast.Ident)
			if !ok {
				return nil, fmt.Errorf("cuda: Spec.HasFilter is not true or false")
			}
			s.HasFilter = id.Name == "true"
		case "Block":
			s.Block, err = intOf(kv.Value)
		default:
			return nil, fmt.Errorf("cuda: Spec has a field %s this reader does not know", key)
		}
		if err != nil {
			return nil, fmt.Errorf("cuda: Spec.%s: %v", key, err)
		}
	}
	if s.Prefix == "" {
		return nil, fmt.Errorf("cuda: Spec without a Prefix")
	}
	return s, nil
}
