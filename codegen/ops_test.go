package codegen

import (
	"strings"
	"testing"

	"github.com/dave/jennifer/jen"
	"github.com/realc-project/realc/compiler"
)

// TestOpForms renders every element-wise op's Go form (the op table's
// template) into a file that must format, with its packages imported.
func TestOpForms(t *testing.T) {
	f := jen.NewFile("main")
	for _, op := range compiler.Ops() {
		if !op.IsElementwise() {
			continue
		}
		args := []jen.Code{jen.Id("a"), jen.Id("b"), jen.Id("c")}[:op.Arity()]
		f.Func().Id("f_" + op.String()).Params(jen.List(jen.Id("a"), jen.Id("b"), jen.Id("c")).Float64()).Float64().Block(jen.Return(opExpr(op, args)))
	}
	out, err := render(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"math.Min(math.Max(a, b), c)", "recipe.Where(a, b, c)", "recipe.B2F(a != 0 && b != 0)", "return -a", "return (a + b)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rendered forms lack %q:\n%s", want, out)
		}
	}
}
