package compiler

import (
	"strings"
	"testing"
)

func TestPassOrderChecked(t *testing.T) {
	if err := checkPassOrder(Passes, passOrder); err != nil {
		t.Fatalf("the real pipeline is out of order: %v", err)
	}
	swapped := append([]Pass{}, Passes...)
	i, j := passIndex("autodiff"), passIndex("simplify")
	swapped[i], swapped[j] = swapped[j], swapped[i]
	if err := checkPassOrder(swapped, passOrder); err == nil || !strings.Contains(err.Error(), "autodiff and simplify out of order") {
		t.Errorf("swapping autodiff and simplify: %v", err)
	}
	if err := checkPassOrder(Passes[1:], passOrder); err == nil {
		t.Error("a pipeline without check was accepted")
	}
}

func compileSrc(t *testing.T, src, last string) *Program {
	t.Helper()
	p, err := CompileUpTo("t.rl", []byte(src), last)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func countOps(p *Program, op Op) int {
	n := 0
	for _, v := range p.Values {
		if v.Op == op {
			n++
		}
	}
	return n
}

func TestFoldAndCSE(t *testing.T) {
	src := "recipe t\nhyper h = 2\nloss token_mean(-logp * (1 + 2) * h) + token_mean(-logp * (1 + 2) * h) + 0 * mean(len)\n"
	checked := compileSrc(t, src, "check")
	folded := compileSrc(t, src, "fold")
	if countOps(checked, OpAdd) == countOps(folded, OpAdd) {
		t.Error("fold did not fold 1 + 2")
	}
	for _, v := range folded.Values {
		if v.Op == OpConst && v.Const == 3 {
			goto found
		}
	}
	t.Error("fold did not produce the constant 3")
found:
	cse := compileSrc(t, src, "cse")
	if got := countOps(cse, OpLeaf); got != 3 { // logp, all, len
		t.Errorf("after cse %d leaves, want 3 (logp, all, len):\n%s", got, Dump(cse))
	}
	// 0 * mean(len) folded to 0: dce drops len.
	if got := countOps(compileSrc(t, src, "dce"), OpLeaf); got != 2 {
		t.Errorf("after dce %d leaves, want 2 (logp, all)", got)
	}
	if got := countOps(cse, OpHyper); got != 1 {
		t.Errorf("after cse %d hyper values, want 1", got)
	}
	full := compileSrc(t, src, "")
	if full.Grads == nil || len(full.Grads) != 1 {
		t.Fatalf("grads: %+v", full.Grads)
	}
	// The two equal token_means merge: dL/dlogp = 2 * (-3h / count) per token.
	if n := len(full.Values); n >= len(checked.Values) {
		t.Errorf("simplified program has %d values, the checked one %d", n, len(checked.Values))
	}
	if _, err := CompileUpTo("t.rl", []byte(src), "autodif"); err == nil || !strings.Contains(err.Error(), `did you mean "autodiff"`) {
		t.Errorf("unknown pass: %v", err)
	}
}
