package compiler

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
func autodiff(p *Program) {
	if p.Loss == NoID {
		return
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
		d.backward(v, a)
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
}

func (d *differ) backward(v *Value, a ID) {
	args := v.Args
	g := func(i int) bool { return d.val(args[i]).Grad }
	half := func(x ID) ID { return d.op(OpMul, x, d.konst(0.5)) }
	zero := func() ID { return d.konst(0) }
	switch v.Op {
	case OpAdd:
		for i := range 2 {
			if g(i) {
				d.accum(args[i], a)
			}
		}
	case OpSub:
		if g(0) {
			d.accum(args[0], a)
		}
		if g(1) {
			d.accum(args[1], d.op(OpNeg, a))
		}
	case OpMul:
		if g(0) {
			d.accum(args[0], d.op(OpMul, a, args[1]))
		}
		if g(1) {
			d.accum(args[1], d.op(OpMul, a, args[0]))
		}
	case OpDiv:
		if g(0) {
			d.accum(args[0], d.op(OpDiv, a, args[1]))
		}
		if g(1) { // d(x/y)/dy = -(x/y)/y
			d.accum(args[1], d.op(OpNeg, d.op(OpDiv, d.op(OpMul, a, v.ID), args[1])))
		}
	case OpPow:
		x, y := args[0], args[1]
		if g(0) { // y x^(y-1)
			d.accum(x, d.op(OpMul, a, d.op(OpMul, y, d.op(OpPow, x, d.op(OpSub, y, d.konst(1))))))
		}
		if g(1) { // x^y log x
			d.accum(y, d.op(OpMul, a, d.op(OpMul, v.ID, d.op(OpLog, x))))
		}
	case OpNeg:
		d.accum(args[0], d.op(OpNeg, a))
	case OpExp:
		d.accum(args[0], d.op(OpMul, a, v.ID))
	case OpLog:
		d.accum(args[0], d.op(OpDiv, a, args[0]))
	case OpSqrt: // 0.5 / sqrt(x)
		d.accum(args[0], d.op(OpDiv, half(a), v.ID))
	case OpAbs: // sign(x), 0 at 0 (torch)
		x := args[0]
		d.accum(x, d.op(OpWhere, d.op(OpGt, x, zero()), a, d.op(OpWhere, d.op(OpLt, x, zero()), d.op(OpNeg, a), zero())))
	case OpMin, OpMax:
		// torch.minimum/maximum: the chosen side gets the gradient, ties split it.
		x, y := args[0], args[1]
		win := OpLt
		if v.Op == OpMax {
			win = OpGt
		}
		tie := d.op(OpEq, x, y)
		if g(0) {
			d.accum(x, d.op(OpWhere, d.op(win, x, y), a, d.op(OpWhere, tie, half(a), zero())))
		}
		if g(1) {
			d.accum(y, d.op(OpWhere, d.op(win, y, x), a, d.op(OpWhere, tie, half(a), zero())))
		}
	case OpClip:
		// torch.clamp: gradient to x where lo <= x <= hi; to lo where x < lo,
		// to hi where x > hi (and x >= lo).
		x, lo, hi := args[0], args[1], args[2]
		if g(0) {
			in := d.op(OpAnd, d.op(OpGe, x, lo), d.op(OpLe, x, hi))
			d.accum(x, d.op(OpWhere, in, a, zero()))
		}
		if g(1) {
			d.accum(lo, d.op(OpWhere, d.op(OpAnd, d.op(OpLt, x, lo), d.op(OpLe, lo, hi)), a, zero()))
		}
		if g(2) {
			d.accum(hi, d.op(OpWhere, d.op(OpOr, d.op(OpGt, x, hi), d.op(OpGt, lo, hi)), a, zero()))
		}
	case OpWhere:
		if g(1) {
			d.accum(args[1], d.op(OpWhere, args[0], a, zero()))
		}
		if g(2) {
			d.accum(args[2], d.op(OpWhere, args[0], zero(), a))
		}
	case OpSumT, OpSumG, OpSumS:
		// The adjoint of a sum is broadcast back to each summand. A summand
		// of a smaller axis was itself broadcast into the sum, so it gets the
		// adjoint times the number of times it was counted.
		x := d.val(args[0])
		in := map[Op]Axis{OpSumT: AxisToken, OpSumG: AxisSeq, OpSumS: AxisSeq}[v.Op]
		if x.Axis == in {
			d.accum(args[0], a)
			break
		}
		var count ID
		switch v.Op {
		case OpSumT: // tokens of the sequence
			count = d.add(&Value{Op: OpSumT, Args: []ID{d.konst(1)}, Axis: AxisSeq})
		case OpSumG:
			count = d.add(&Value{Op: OpCountG, Axis: AxisGroup})
		default:
			if x.Axis == AxisScalar {
				count = d.add(&Value{Op: OpCountS, Axis: AxisScalar})
			} else { // a group value counted once per sequence of the group
				count = d.add(&Value{Op: OpCountG, Axis: AxisGroup})
			}
		}
		d.accum(args[0], d.op(OpMul, a, count))
	}
	// Leaves, readouts, stopgrad, comparisons and counts stop here.
}

// plan decides whether a fused loss kernel needs a statistics pass: some
// adjoint reads a reduction of grad values (a batch statistic of the current
// forward), which is only known after every row has been seen.
func plan(p *Program) {
	p.TwoPass, p.TwoPassWhy = false, nil
	var adj []ID
	for _, g := range p.Grads {
		adj = append(adj, g.Adjoint)
	}
	seen := map[ID]bool{}
	for _, id := range p.Deps(adj...) {
		v := p.Values[id]
		if v.Stage == StageGrad {
			continue
		}
		if (v.Op == OpSumT || v.Op == OpSumG || v.Op == OpSumS) && v.Grad && !seen[id] {
			seen[id] = true
			p.TwoPass = true
			p.TwoPassWhy = append(p.TwoPassWhy, id)
		}
	}
}
