package compiler

import "fmt"

// Reverse-mode differentiation on the IR: walk the loss's dependencies from
// the loss down, accumulating for each grad value its adjoint dLoss/dValue as
// new IR values. Forward values are reused; adjoints only read them.

type differ struct {
	p   *Program
	adj map[ID]ID
}

func (d *differ) add(v *Value) ID {
	v.ID = ID(len(d.p.Values))
	v.Stage = StageGrad
	d.p.Values = append(d.p.Values, v)
	return v.ID
}

func (d *differ) val(id ID) *Value { return d.p.Values[id] }

func (d *differ) konst(x float64) ID {
	return d.add(&Value{Op: OpConst, Const: x, Axis: AxisScalar})
}

// op builds an adjoint value; adjoints are not differentiated again.
func (d *differ) op(op Op, args ...ID) ID {
	v := &Value{Op: op, Args: args}
	for _, a := range args {
		v.Axis = max(v.Axis, d.val(a).Axis)
	}
	return d.add(v)
}

// reduceTo sums a contribution c over the axes its target does not have
// (the transpose of broadcasting).
func (d *differ) reduceTo(c ID, target Axis) ID {
	for d.val(c).Axis > target {
		switch ax := d.val(c).Axis; {
		case ax == AxisToken:
			c = d.add(&Value{Op: OpSumT, Args: []ID{c}, Axis: AxisSeq})
		case ax == AxisSeq && target == AxisGroup:
			c = d.add(&Value{Op: OpSumG, Args: []ID{c}, Axis: AxisGroup})
		case ax == AxisSeq:
			c = d.add(&Value{Op: OpSumS, Args: []ID{c}, Axis: AxisScalar})
		default: // group -> scalar: sum over groups = sum over sequences of c/n
			n := d.add(&Value{Op: OpCountG, Axis: AxisGroup})
			c = d.add(&Value{Op: OpSumS, Args: []ID{d.op(OpDiv, c, n)}, Axis: AxisScalar})
		}
	}
	return c
}

func (d *differ) accum(target ID, c ID) {
	c = d.reduceTo(c, d.val(target).Axis)
	if prev, ok := d.adj[target]; ok {
		d.adj[target] = d.op(OpAdd, prev, c)
	} else {
		d.adj[target] = c
	}
}

// autodiff appends the adjoints of the loss and fills Program.Grads.
func autodiff(p *Program) error {
	if p.Loss == NoID {
		return nil
	}
	d := &differ{p: p, adj: map[ID]ID{}}
	deps := p.Deps(p.Loss)
	d.adj[p.Loss] = d.konst(1)
	for i := len(deps) - 1; i >= 0; i-- {
		id := deps[i]
		v := p.Values[id]
		a, ok := d.adj[id]
		if !ok || !v.Grad {
			continue
		}
		if err := d.backward(v, a); err != nil {
			return err
		}
	}
	p.Grads = nil
	for _, id := range deps {
		v := p.Values[id]
		if !v.Grad || !(v.Op == OpLeaf || v.Op.IsReadout()) {
			continue
		}
		a, ok := d.adj[id]
		if !ok {
			a = d.konst(0)
		}
		p.Grads = append(p.Grads, ReadoutGrad{Readout: id, Adjoint: a})
	}
	assignStages(p)
	return nil
}

// backward adds v's contribution to its arguments' adjoints (the op table's
// Deriv). An op without a derivative is an error, never a silent zero.
func (d *differ) backward(v *Value, a ID) error {
	deriv := v.Op.Info().Deriv
	if deriv == nil {
		return fmt.Errorf("compiler: autodiff: op %s has no derivative in the op table (%s)", v.Op, v.Pos)
	}
	deriv(d, v, a)
	return nil
}

// grad reports whether argument i of v carries grad.
func (d *differ) grad(v *Value, i int) bool { return d.val(v.Args[i]).Grad }

// half is x * 0.5.
func (d *differ) half(x ID) ID { return d.op(OpMul, x, d.konst(0.5)) }
