// Package dsl parses recipes: the lexer (participle's), a hand-written parser
// (statements by keyword, expressions by precedence climbing, for exact error
// positions), the AST with positions, diagnostics and the canonical formatter.
//
// A recipe is a list of line statements:
//
//	recipe NAME
//	score tokens VALUE="STRING" ... after "MARKER"
//	rollout KEY=VALUE ...
//	hyper NAME = NUMBER, NAME = NUMBER ...
//	let NAME = EXPR           # a named intermediate
//	reward NAME = EXPR        # score stage (no grad), one value per sequence
//	filter EXPR               # group stage: nonzero keeps the group
//	adv NAME = EXPR           # advantage stage (no grad), one value per sequence
//	loss EXPR                 # the scalar loss (grad)
//	optim KIND KEY=VALUE ...
//
// Comments start with # and run to the end of the line. A newline ends a
// statement except inside parentheses.
package dsl

// File is a parsed recipe.
type File struct {
	Name     string // file name as given
	Stmts    []Stmt
	Trailing []string // comments after the last statement
	// Broken lists the statements that failed to parse (keyword and, for
	// definitions, the name), so that a checker run on the rest can stay
	// quiet about what they would have defined.
	Broken []Broken
}

// Broken is a statement that failed to parse.
type Broken struct {
	Kind string // its first word
	Name string // the word after it (a definition's name), may be empty
}

// Stmt is one statement. Doc holds the comment lines above it (without their
// leading '#'), Comment a comment at the end of its line; Blank says a blank
// line preceded it (the formatter keeps one).
type Stmt interface {
	Start() Pos
	meta() *StmtMeta
}

// StmtMeta is what every statement carries.
type StmtMeta struct {
	Pos     Pos
	Doc     []string
	Comment string
	Blank   bool
}

func (m *StmtMeta) Start() Pos      { return m.Pos }
func (m *StmtMeta) meta() *StmtMeta { return m }

// Meta returns the statement's position and comments.
func Meta(s Stmt) *StmtMeta { return s.meta() }

// Ident is a name with its position.
type Ident struct {
	Pos  Pos
	Name string
}

// RecipeStmt is `recipe NAME`.
type RecipeStmt struct {
	StmtMeta
	Name Ident
}

// ScoreToken is one `VALUE="STRING"` of a score line.
type ScoreToken struct {
	Pos   Pos
	Value *Num
	Str   string // unquoted
}

// ScoreStmt is `score tokens V="S" ... after "MARKER"`.
type ScoreStmt struct {
	StmtMeta
	Tokens    []ScoreToken
	Marker    string
	MarkerPos Pos
	HasMarker bool
}

// Setting is `KEY=VALUE`, VALUE a number or a name.
type Setting struct {
	Key   Ident
	Num   *Num   // set for numbers
	Ident *Ident // set for names
}

// SettingsStmt is `rollout KEY=VALUE ...` (Kind "rollout", no Name) or
// `optim KIND KEY=VALUE ...` (Kind "optim", Name = the optimizer).
type SettingsStmt struct {
	StmtMeta
	Kind     string
	Name     *Ident
	Settings []Setting
}

// HyperItem is `NAME = NUMBER` (the number may be negative).
type HyperItem struct {
	Name  Ident
	Value *Num
}

// HyperStmt is `hyper NAME = NUMBER, ...`.
type HyperStmt struct {
	StmtMeta
	Items []HyperItem
}

// DefStmt is `let|reward|adv NAME = EXPR`.
type DefStmt struct {
	StmtMeta
	Kind string // "let", "reward" or "adv"
	Name Ident
	X    Expr
}

// ExprStmt is `filter EXPR` or `loss EXPR`.
type ExprStmt struct {
	StmtMeta
	Kind string // "filter" or "loss"
	X    Expr
}

// Expr is an expression node.
type Expr interface{ Start() Pos }

// Num is a number literal; Text is kept as written.
type Num struct {
	Pos  Pos
	Text string
	Val  float64
}

// Name is a reference to a leaf, hyperparameter, let, reward or advantage.
type Name struct {
	Pos  Pos
	Name string
}

// Unary is `-X` or `!X`.
type Unary struct {
	Pos Pos
	Op  string
	X   Expr
}

// Binary is `X op Y` for + - * / ^ && ||; Pos is the operator's.
type Binary struct {
	Pos  Pos
	Op   string
	X, Y Expr
}

// Compare is a comparison chain `X0 op0 X1 op1 X2 ...` meaning
// `X0 op0 X1 && X1 op1 X2`; OpPos are the operators' positions.
type Compare struct {
	Ops   []string
	OpPos []Pos
	Xs    []Expr
}

// Call is `F(ARGS)`.
type Call struct {
	Fun  Ident
	Args []Expr
}

// Paren is a parenthesized expression; the formatter prints only the
// parentheses precedence needs, so it never keeps Paren nodes.
type Paren struct {
	Pos Pos
	X   Expr
}

func (n *Num) Start() Pos     { return n.Pos }
func (n *Name) Start() Pos    { return n.Pos }
func (u *Unary) Start() Pos   { return u.Pos }
func (b *Binary) Start() Pos  { return b.X.Start() }
func (c *Compare) Start() Pos { return c.Xs[0].Start() }
func (c *Call) Start() Pos    { return c.Fun.Pos }
func (p *Paren) Start() Pos   { return p.Pos }

// Unparen strips parentheses.
func Unparen(e Expr) Expr {
	for {
		p, ok := e.(*Paren)
		if !ok {
			return e
		}
		e = p.X
	}
}
