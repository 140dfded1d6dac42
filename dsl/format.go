package dsl

import (
	"strconv"
	"strings"
)

// Format prints a parsed recipe in canonical form: one statement per line,
// single spaces, only the parentheses precedence needs, comments kept (those
// inside a statement's parentheses move above it), at most one blank line
// between statements. Format(Parse(Format(f))) == Format(f).
func Format(f *File) []byte {
	var b strings.Builder
	for _, s := range f.Stmts {
		m := s.meta()
		if m.Blank {
			b.WriteByte('\n')
		}
		for _, c := range m.Doc {
			b.WriteString("#" + c + "\n")
		}
		b.WriteString(FormatStmt(s))
		if m.Comment != "" {
			b.WriteString(" #" + m.Comment)
		}
		b.WriteByte('\n')
	}
	if len(f.Trailing) > 0 {
		if len(f.Stmts) > 0 {
			b.WriteByte('\n')
		}
		for _, c := range f.Trailing {
			b.WriteString("#" + c + "\n")
		}
	}
	return []byte(b.String())
}

// FormatStmt prints one statement without comments or newline.
func FormatStmt(s Stmt) string {
	var b strings.Builder
	switch s := s.(type) {
	case *RecipeStmt:
		b.WriteString("recipe " + s.Name.Name)
	case *ScoreStmt:
		b.WriteString("score tokens")
		for _, t := range s.Tokens {
			b.WriteString(" " + t.Value.Text + "=" + strconv.Quote(t.Str))
		}
		if s.HasMarker {
			b.WriteString(" after " + strconv.Quote(s.Marker))
		}
	case *SettingsStmt:
		b.WriteString(s.Kind)
		if s.Name != nil {
			b.WriteString(" " + s.Name.Name)
		}
		for _, st := range s.Settings {
			b.WriteString(" " + st.Key.Name + "=")
			if st.Num != nil {
				b.WriteString(st.Num.Text)
			} else if st.Ident != nil {
				b.WriteString(st.Ident.Name)
			}
		}
	case *HyperStmt:
		b.WriteString("hyper ")
		for i, it := range s.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(it.Name.Name + " = " + it.Value.Text)
		}
	case *DefStmt:
		b.WriteString(s.Kind + " " + s.Name.Name + " = " + FormatExpr(s.X))
	case *ExprStmt:
		b.WriteString(s.Kind + " " + FormatExpr(s.X))
	}
	return b.String()
}

const (
	precOr = 1 + iota
	precAnd
	precCmp
	precAdd
	precMul
	precUnary
	precPow
	precPrimary
)

func exprPrec(e Expr) int {
	switch e := Unparen(e).(type) {
	case *Binary:
		switch e.Op {
		case "||":
			return precOr
		case "&&":
			return precAnd
		case "+", "-":
			return precAdd
		case "*", "/":
			return precMul
		case "^":
			return precPow
		}
	case *Compare:
		return precCmp
	case *Unary:
		return precUnary
	}
	return precPrimary
}

// FormatExpr prints an expression in canonical form.
func FormatExpr(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

func writeSub(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	writeExpr(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func writeExpr(b *strings.Builder, e Expr) {
	switch e := Unparen(e).(type) {
	case *Num:
		b.WriteString(e.Text)
	case *Name:
		b.WriteString(e.Name)
	case *Unary:
		b.WriteString(e.Op)
		writeSub(b, e.X, exprPrec(e.X) < precUnary)
	case *Binary:
		p := exprPrec(e)
		if e.Op == "^" {
			writeSub(b, e.X, exprPrec(e.X) <= precPow)
			b.WriteString("^")
			writeSub(b, e.Y, exprPrec(e.Y) < precUnary)
			return
		}
		writeSub(b, e.X, exprPrec(e.X) < p)
		b.WriteString(" " + e.Op + " ")
		writeSub(b, e.Y, exprPrec(e.Y) <= p)
	case *Compare:
		for i, x := range e.Xs {
			if i > 0 {
				b.WriteString(" " + e.Ops[i-1] + " ")
			}
			writeSub(b, x, exprPrec(x) < precAdd)
		}
	case *Call:
		b.WriteString(e.Fun.Name + "(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			writeExpr(b, a)
		}
		b.WriteByte(')')
	}
}
