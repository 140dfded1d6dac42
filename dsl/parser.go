package dsl

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
)

// The lexer is participle's; "Bad" catches any other character so that the
// parser reports it with a position instead of the lexer giving up.
var recipeLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `#[^\n]*`},
	{Name: "Newline", Pattern: `\r?\n`},
	{Name: "Space", Pattern: `[ \t\r]+`},
	{Name: "String", Pattern: `"(\\.|[^"\\\n])*"`},
	{Name: "BadString", Pattern: `"(\\.|[^"\\\n])*`},
	{Name: "Number", Pattern: `(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Op", Pattern: `<=|>=|==|!=|&&|\|\||[-+*/^(),=<>!]`},
	{Name: "Bad", Pattern: `.`},
})

type tokKind int

const (
	tEOF tokKind = iota
	tNewline
	tComment
	tString
	tNumber
	tIdent
	tOp
	tBad
)

type token struct {
	kind tokKind
	text string
	pos  Pos
}

// Keywords lists the statement keywords.
var Keywords = []string{"recipe", "score", "rollout", "hyper", "let", "reward", "adv", "filter", "loss", "optim"}

type parser struct {
	src   *Source
	toks  []token
	i     int
	errs  ErrorList
	depth int // parenthesis depth: newlines inside parentheses are skipped
	// depthNest counts expression nesting (parentheses, calls, unary, ^).
	depthNest int
	// inner collects comments inside parentheses; the formatter moves them
	// above their statement.
	inner []string
	// broken lists the statements that failed to parse.
	broken []Broken
}

// maxNesting bounds expression nesting so that no input can exhaust the stack.
const maxNesting = 200

type bailout struct{}

// Parse parses a recipe. On errors it returns what it could parse and an
// ErrorList with every error found (each statement is parsed on its own, so one
// bad line does not hide the others).
func Parse(filename string, src []byte) (*File, error) {
	p := &parser{src: &Source{File: filename, Text: src}}
	if !utf8.Valid(src) {
		off := 0
		for off < len(src) {
			r, n := utf8.DecodeRune(src[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		p.errs = append(p.errs, p.src.Errorf(posAt(filename, src, off), "the file is not valid UTF-8 (byte 0x%02x)", src[off]))
		return &File{Name: filename}, p.errs.Err()
	}
	p.lex(filename, string(src))
	f := p.file(filename)
	f.Broken = p.broken
	return f, p.errs.Err()
}

func posAt(file string, src []byte, off int) Pos {
	line, col := 1, 1
	for _, r := range string(src[:off]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return Pos{File: file, Offset: off, Line: line, Col: col}
}

func (p *parser) lex(filename, src string) {
	sym := recipeLexer.Symbols()
	kinds := map[lexer.TokenType]tokKind{
		sym["Comment"]: tComment, sym["Newline"]: tNewline, sym["String"]: tString, sym["Number"]: tNumber,
		sym["Ident"]: tIdent, sym["Op"]: tOp, sym["Bad"]: tBad, sym["BadString"]: tBad,
	}
	lx, err := recipeLexer.LexString(filename, src)
	if err != nil {
		p.errs = append(p.errs, &Diagnostic{Pos: Pos{File: filename}, Msg: err.Error()})
		return
	}
	for {
		t, err := lx.Next()
		if err != nil {
			p.errs = append(p.errs, &Diagnostic{Pos: Pos{File: filename}, Msg: err.Error()})
			p.toks = append(p.toks, token{kind: tEOF})
			return
		}
		pos := Pos{File: filename, Offset: t.Pos.Offset, Line: t.Pos.Line, Col: t.Pos.Column}
		if t.EOF() {
			p.toks = append(p.toks, token{kind: tEOF, pos: pos})
			return
		}
		k, ok := kinds[t.Type]
		if !ok { // Space
			continue
		}
		if k == tBad {
			if strings.HasPrefix(t.Value, `"`) {
				p.errs = append(p.errs, p.src.Errorf(pos, "string not terminated: add the closing \" on the same line"))
			} else {
				p.errs = append(p.errs, p.src.Errorf(pos, "unexpected character %q", t.Value))
			}
			continue
		}
		p.toks = append(p.toks, token{kind: k, text: t.Value, pos: pos})
	}
}

func (p *parser) peek() token {
	for p.depth > 0 && (p.toks[p.i].kind == tNewline || p.toks[p.i].kind == tComment) {
		if p.toks[p.i].kind == tNewline && p.keywordLineAfter(p.i) {
			// An unclosed parenthesis: the next line starts a statement, so
			// report the error at this line's end, not inside the next one.
			break
		}
		if p.toks[p.i].kind == tComment {
			p.inner = append(p.inner, commentText(p.toks[p.i].text))
		}
		p.i++
	}
	return p.toks[p.i]
}

// keywordLineAfter reports whether the first token after the newline at i
// (skipping comments and blank lines) is a statement keyword in column 1.
func (p *parser) keywordLineAfter(i int) bool {
	for j := i; j < len(p.toks); j++ {
		switch t := p.toks[j]; t.kind {
		case tNewline, tComment:
			continue
		case tIdent:
			if t.pos.Col != 1 {
				return false
			}
			for _, k := range Keywords {
				if k == t.text {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

func (p *parser) next() token {
	t := p.peek()
	// The end of the file and the end of a statement's line are never
	// consumed here: skipLine moves past them.
	if t.kind != tEOF && t.kind != tNewline {
		p.i++
	}
	return t
}

func (p *parser) fail(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, p.src.Errorf(pos, format, args...))
	panic(bailout{})
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tNewline:
		return "end of line"
	case tComment:
		return "comment"
	case tString:
		return "string " + t.text
	case tNumber:
		return "number " + t.text
	case tIdent:
		return "name " + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) expectOp(op, context string) token {
	t := p.next()
	if t.kind != tOp || t.text != op {
		p.fail(t.pos, "expected %q %s, found %s", op, context, describe(t))
	}
	return t
}

func (p *parser) ident(context string) Ident {
	t := p.next()
	if t.kind != tIdent {
		p.fail(t.pos, "expected a name %s, found %s", context, describe(t))
	}
	return Ident{Pos: t.pos, Name: t.text}
}

func (p *parser) file(name string) *File {
	f := &File{Name: name}
	var doc []string
	blank := false
	prevLine := 0 // line of the last comment or statement seen
	for {
		t := p.toks[p.i]
		switch t.kind {
		case tEOF:
			f.Trailing = doc
			return f
		case tNewline:
			p.i++
			continue
		}
		if prevLine > 0 && t.pos.Line > prevLine+1 && len(doc) == 0 {
			blank = true
		}
		if t.kind == tComment {
			doc = append(doc, commentText(t.text))
			prevLine = t.pos.Line
			p.i++
			continue
		}
		p.inner = nil
		s := p.stmt()
		if s != nil {
			m := s.meta()
			m.Doc, m.Blank = append(doc, p.inner...), blank && len(f.Stmts) > 0
			if t := p.toks[p.i]; t.kind == tComment {
				m.Comment = commentText(t.text)
				p.i++
			}
			f.Stmts = append(f.Stmts, s)
		}
		doc, blank = nil, false
		p.skipLine()
		prevLine = p.toks[p.i-1].pos.Line
	}
}

func commentText(s string) string { return strings.TrimRight(strings.TrimPrefix(s, "#"), " \t\r") }

// skipLine drops the rest of the current line: after an error, or trailing
// tokens the statement did not use (reported by stmt).
func (p *parser) skipLine() {
	p.depth, p.depthNest = 0, 0
	for {
		switch p.toks[p.i].kind {
		case tEOF:
			return
		case tNewline:
			p.i++
			return
		}
		p.i++
	}
}

// stmt parses one statement; on an error it records it and returns nil.
func (p *parser) stmt() (s Stmt) {
	var kw, name string
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			s = nil
			if kw != "" {
				p.broken = append(p.broken, Broken{Kind: kw, Name: name})
			}
		}
	}()
	t := p.next()
	if t.kind == tIdent {
		kw = t.text
		if n := p.toks[p.i]; n.kind == tIdent {
			name = n.text
		}
	}
	if t.kind != tIdent {
		p.fail(t.pos, "expected a statement (%s), found %s", strings.Join(Keywords, ", "), describe(t))
	}
	meta := StmtMeta{Pos: t.pos}
	switch t.text {
	case "recipe":
		s = &RecipeStmt{StmtMeta: meta, Name: p.ident("after recipe")}
	case "score":
		s = p.scoreStmt(meta)
	case "rollout":
		s = &SettingsStmt{StmtMeta: meta, Kind: "rollout", Settings: p.settings("rollout")}
	case "optim":
		name := p.ident("after optim (the optimizer, e.g. adamw)")
		s = &SettingsStmt{StmtMeta: meta, Kind: "optim", Name: &name, Settings: p.settings("optim")}
	case "hyper":
		s = p.hyperStmt(meta)
	case "let", "reward", "adv":
		name := p.ident("after " + t.text)
		p.expectOp("=", "after "+t.text+" "+name.Name)
		s = &DefStmt{StmtMeta: meta, Kind: t.text, Name: name, X: p.expr()}
	case "filter", "loss":
		s = &ExprStmt{StmtMeta: meta, Kind: t.text, X: p.expr()}
	default:
		p.fail(t.pos, "unknown statement %q%s; statements are %s", t.text, Suggest(t.text, Keywords), strings.Join(Keywords, ", "))
	}
	if t := p.peek(); t.kind != tNewline && t.kind != tEOF && t.kind != tComment {
		p.fail(t.pos, "unexpected %s at the end of the %s statement", describe(t), keywordOf(s))
	}
	return s
}

func keywordOf(s Stmt) string {
	switch s := s.(type) {
	case *RecipeStmt:
		return "recipe"
	case *ScoreStmt:
		return "score"
	case *SettingsStmt:
		return s.Kind
	case *HyperStmt:
		return "hyper"
	case *DefStmt:
		return s.Kind
	case *ExprStmt:
		return s.Kind
	}
	return "?"
}

func (p *parser) scoreStmt(meta StmtMeta) *ScoreStmt {
	s := &ScoreStmt{StmtMeta: meta}
	if t := p.next(); t.kind != tIdent || t.text != "tokens" {
		p.fail(t.pos, "expected \"tokens\" after score (score tokens 1=\"1\" 2=\"2\" ... after \"MARKER\"), found %s", describe(t))
	}
	for {
		t := p.peek()
		if t.kind == tIdent && t.text == "after" {
			p.next()
			m := p.next()
			if m.kind != tString {
				p.fail(m.pos, "expected the answer marker as a string after \"after\", found %s", describe(m))
			}
			s.Marker, s.MarkerPos, s.HasMarker = p.unquote(m), m.pos, true
			return s
		}
		if t.kind != tNumber && !(t.kind == tOp && t.text == "-") {
			if t.kind == tString {
				p.fail(t.pos, "a score token needs its value: write VALUE=%s, e.g. 1=\"1\"", t.text)
			}
			if len(s.Tokens) == 0 {
				p.fail(t.pos, "expected score tokens VALUE=\"STRING\", found %s", describe(t))
			}
			return s
		}
		v := p.signedNumber("as a score value")
		p.expectOp("=", "between the score value and its string")
		st := p.next()
		if st.kind != tString {
			p.fail(st.pos, "expected the score token's string (e.g. \"1\"), found %s", describe(st))
		}
		s.Tokens = append(s.Tokens, ScoreToken{Pos: v.Pos, Value: v, Str: p.unquote(st)})
	}
}

func (p *parser) unquote(t token) string {
	s, err := strconv.Unquote(t.text)
	if err != nil {
		p.fail(t.pos, "bad string %s: %v", t.text, err)
	}
	return s
}

func (p *parser) signedNumber(context string) *Num {
	t := p.next()
	neg := false
	start := t.pos
	if t.kind == tOp && t.text == "-" {
		neg = true
		t = p.next()
	}
	if t.kind != tNumber {
		p.fail(t.pos, "expected a number %s, found %s", context, describe(t))
	}
	n := p.number(t)
	if neg {
		n.Val, n.Text, n.Pos = -n.Val, "-"+n.Text, start
	}
	return n
}

func (p *parser) number(t token) *Num {
	v, err := strconv.ParseFloat(t.text, 64)
	if err != nil || math.IsInf(v, 0) {
		p.fail(t.pos, "number %s is out of range", t.text)
	}
	return &Num{Pos: t.pos, Text: t.text, Val: v}
}

func (p *parser) settings(kind string) []Setting {
	var out []Setting
	for {
		t := p.peek()
		if t.kind == tNewline || t.kind == tEOF || t.kind == tComment {
			if len(out) == 0 && kind == "rollout" {
				p.fail(t.pos, "rollout needs settings, e.g. rollout n=8 temperature=1.0")
			}
			return out
		}
		key := p.ident("(a setting KEY=VALUE) in " + kind)
		p.expectOp("=", "after "+key.Name)
		v := p.peek()
		s := Setting{Key: key}
		switch {
		case v.kind == tIdent:
			p.next()
			s.Ident = &Ident{Pos: v.pos, Name: v.text}
		case v.kind == tNumber || v.kind == tOp && v.text == "-":
			s.Num = p.signedNumber("for " + key.Name)
		default:
			p.fail(v.pos, "expected a number or a name for %s, found %s", key.Name, describe(v))
		}
		out = append(out, s)
	}
}

func (p *parser) hyperStmt(meta StmtMeta) *HyperStmt {
	s := &HyperStmt{StmtMeta: meta}
	for {
		name := p.ident("(hyper NAME = NUMBER)")
		p.expectOp("=", "after "+name.Name)
		s.Items = append(s.Items, HyperItem{Name: name, Value: p.signedNumber("as the default of " + name.Name)})
		t := p.peek()
		if t.kind != tOp || t.text != "," {
			return s
		}
		p.next()
	}
}

// Precedence, low to high: || && comparisons + - * / unary ^.
func binaryPrec(t token) int {
	if t.kind != tOp {
		return 0
	}
	switch t.text {
	case "||":
		return 1
	case "&&":
		return 2
	case "<", "<=", ">", ">=", "==", "!=":
		return 3
	case "+", "-":
		return 4
	case "*", "/":
		return 5
	}
	return 0
}

func (p *parser) expr() Expr { return p.binary(1) }

func (p *parser) binary(minPrec int) Expr {
	x := p.unary()
	for {
		t := p.peek()
		prec := binaryPrec(t)
		if prec == 0 || prec < minPrec {
			return x
		}
		p.next()
		if prec == 3 {
			c := &Compare{Ops: []string{t.text}, OpPos: []Pos{t.pos}, Xs: []Expr{x, p.binary(4)}}
			for {
				t := p.peek()
				if binaryPrec(t) != 3 {
					break
				}
				p.next()
				c.Ops, c.OpPos, c.Xs = append(c.Ops, t.text), append(c.OpPos, t.pos), append(c.Xs, p.binary(4))
			}
			x = c
			continue
		}
		x = &Binary{Pos: t.pos, Op: t.text, X: x, Y: p.binary(prec + 1)}
	}
}

func (p *parser) enter(pos Pos) {
	p.depthNest++
	if p.depthNest > maxNesting {
		p.fail(pos, "expression nested more than %d deep", maxNesting)
	}
}

func (p *parser) unary() Expr {
	t := p.peek()
	if t.kind == tOp && (t.text == "-" || t.text == "!") {
		p.next()
		p.enter(t.pos)
		defer func() { p.depthNest-- }()
		return &Unary{Pos: t.pos, Op: t.text, X: p.unary()}
	}
	return p.power()
}

// power: primary [^ unary], right-associative, binding tighter than unary
// minus: -x^2 is -(x^2), 2^-1 is 2^(-1).
func (p *parser) power() Expr {
	x := p.primary()
	if t := p.peek(); t.kind == tOp && t.text == "^" {
		p.next()
		p.enter(t.pos)
		defer func() { p.depthNest-- }()
		return &Binary{Pos: t.pos, Op: "^", X: x, Y: p.unary()}
	}
	return x
}

func (p *parser) primary() Expr {
	t := p.next()
	switch t.kind {
	case tNumber:
		return p.number(t)
	case tIdent:
		if k := p.peek(); k.kind == tOp && k.text == "(" {
			p.next()
			p.enter(k.pos)
			p.depth++
			c := &Call{Fun: Ident{Pos: t.pos, Name: t.text}}
			if r := p.peek(); r.kind == tOp && r.text == ")" {
				p.next()
			} else {
				for {
					c.Args = append(c.Args, p.expr())
					r := p.next()
					if r.kind == tOp && r.text == ")" {
						break
					}
					if r.kind != tOp || r.text != "," {
						p.fail(r.pos, "expected \",\" or \")\" in the arguments of %s, found %s", t.text, describe(r))
					}
				}
			}
			p.depth--
			p.depthNest--
			return c
		}
		return &Name{Pos: t.pos, Name: t.text}
	case tOp:
		if t.text == "(" {
			p.enter(t.pos)
			p.depth++
			x := p.expr()
			r := p.next()
			if r.kind != tOp || r.text != ")" {
				p.fail(r.pos, "expected \")\" to close the \"(\" at %d:%d, found %s", t.pos.Line, t.pos.Col, describe(r))
			}
			p.depth--
			p.depthNest--
			return &Paren{Pos: t.pos, X: x}
		}
	}
	p.fail(t.pos, "expected an expression, found %s", describe(t))
	return nil
}
