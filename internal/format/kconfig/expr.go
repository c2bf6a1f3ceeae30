package kconfig

import (
	"fmt"
	"strings"
)

// Kconfig expressions (Documentation/kbuild/kconfig-language.rst, "Menu
// dependencies"): symbols and constants, comparisons = != < <= > >=,
// ! (not), && (and), || (or) and parentheses, evaluated in tristate logic
// where n=0, m=1, y=2, && is the minimum, || the maximum and !x is 2-x.

type tristate int

const (
	triN tristate = 0
	triM tristate = 1
	triY tristate = 2
)

func (t tristate) String() string {
	return [...]string{"n", "m", "y"}[t]
}

// expr is a node of a parsed Kconfig expression.
type expr interface{ isExpr() }

// exprSym is a symbol reference or a constant. Quoted words are always
// constants; unquoted ones are symbols unless they are y/m/n or numbers.
type exprSym struct {
	Name   string
	Quoted bool
}

type exprNot struct{ X expr }
type exprAnd struct{ L, R expr }
type exprOr struct{ L, R expr }
type exprCmp struct {
	Op   string
	L, R *exprSym
}

func (*exprSym) isExpr() {}
func (*exprNot) isExpr() {}
func (*exprAnd) isExpr() {}
func (*exprOr) isExpr()  {}
func (*exprCmp) isExpr() {}

// maxExprDepth bounds recursion when parsing untrusted expressions.
const maxExprDepth = 200

type exprParser struct {
	toks  []string
	pos   int
	depth int
}

// parseExpr parses a Kconfig expression.
func parseExpr(s string) (expr, error) {
	toks, err := tokenizeExpr(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty expression")
	}
	p := &exprParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q in expression %q", p.toks[p.pos], s)
	}
	return e, nil
}

func tokenizeExpr(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case strings.HasPrefix(s[i:], "&&"), strings.HasPrefix(s[i:], "||"),
			strings.HasPrefix(s[i:], "!="), strings.HasPrefix(s[i:], "<="), strings.HasPrefix(s[i:], ">="):
			toks = append(toks, s[i:i+2])
			i += 2
		case strings.ContainsRune("!=<>()", rune(c)):
			toks = append(toks, s[i:i+1])
			i++
		case c == '"' || c == '\'':
			end := quotedEnd(s[i:])
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in expression %q", s)
			}
			toks = append(toks, s[i:i+end+1])
			i += end + 1
		case c == '$' && strings.HasPrefix(s[i:], "$("):
			// An unexpanded macro: keep it as one opaque word.
			level, j := 0, i+1
			for ; j < len(s); j++ {
				if s[j] == '(' {
					level++
				} else if s[j] == ')' {
					level--
					if level == 0 {
						break
					}
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated macro in expression %q", s)
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q in expression %q", c, s)
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || ('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return fmt.Errorf("expression nested too deeply")
	}
	return nil
}

func (p *exprParser) or() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "||" {
		p.pos++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &exprOr{l, r}
	}
	return l, nil
}

func (p *exprParser) and() (expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "&&" {
		p.pos++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &exprAnd{l, r}
	}
	return l, nil
}

func (p *exprParser) unary() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch t := p.peek(); t {
	case "!":
		p.pos++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &exprNot{x}, nil
	case "(":
		p.pos++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing ')' in expression")
		}
		p.pos++
		return x, nil
	}
	l, err := p.symbol()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); op {
	case "=", "!=", "<", "<=", ">", ">=":
		p.pos++
		r, err := p.symbol()
		if err != nil {
			return nil, err
		}
		return &exprCmp{Op: op, L: l, R: r}, nil
	}
	return l, nil
}

func (p *exprParser) symbol() (*exprSym, error) {
	t := p.peek()
	if t == "" {
		return nil, fmt.Errorf("expression ends early")
	}
	if t[0] == '"' || t[0] == '\'' {
		p.pos++
		v, _ := parseQuoted(t)
		return &exprSym{Name: v, Quoted: true}, nil
	}
	if strings.HasPrefix(t, "$(") || isWordByte(t[0]) {
		p.pos++
		return &exprSym{Name: t}, nil
	}
	return nil, fmt.Errorf("unexpected %q in expression", t)
}

// evalEnv gives symbol values to the evaluator: the final .config plus the
// Kconfig index for symbol types.
type evalEnv struct {
	cfg Config
	kc  *Tree
}

// isConstant reports whether a word is a constant rather than a symbol:
// quoted strings, y, m, n, unexpanded macros, and numbers that are neither
// defined by the tree nor mentioned in the configuration. Other unknown
// words are symbols that are not set (e.g. another architecture's).
func (env evalEnv) isConstant(s *exprSym) bool {
	if s.Quoted || s.Name == "y" || s.Name == "m" || s.Name == "n" || strings.HasPrefix(s.Name, "$(") {
		return true
	}
	if _, ok := env.cfg[symbolPrefix+s.Name]; ok {
		return false
	}
	if env.kc != nil && len(env.kc.defs[s.Name]) > 0 {
		return false
	}
	return isNumber(s.Name)
}

// symType returns the declared type of a symbol, or "".
func (env evalEnv) symType(name string) string {
	if env.kc == nil {
		return ""
	}
	for _, d := range env.kc.defs[name] {
		if d.Type != "" {
			return d.Type
		}
	}
	return ""
}

// stringValue is the value of a symbol or constant as a string: the
// unquoted text for string symbols, "y"/"m"/"n" for tristates, "" for an
// unset non-tristate symbol.
func (env evalEnv) stringValue(s *exprSym) string {
	if env.isConstant(s) {
		return s.Name
	}
	v, ok := env.cfg[symbolPrefix+s.Name]
	if !ok || v == "n" {
		switch env.symType(s.Name) {
		case "string", "int", "hex":
			return ""
		}
		return "n"
	}
	if strings.HasPrefix(v, `"`) {
		u, err := unquoteKconfig(v)
		if err == nil {
			return u
		}
	}
	return v
}

func (env evalEnv) eval(e expr) tristate {
	switch e := e.(type) {
	case *exprSym:
		switch env.stringValue(e) {
		case "y":
			return triY
		case "m":
			return triM
		}
		return triN
	case *exprNot:
		return triY - env.eval(e.X)
	case *exprAnd:
		return min(env.eval(e.L), env.eval(e.R))
	case *exprOr:
		return max(env.eval(e.L), env.eval(e.R))
	case *exprCmp:
		l, r := env.stringValue(e.L), env.stringValue(e.R)
		c := strings.Compare(l, r)
		if ln, ok := numericValue(l); ok {
			if rn, ok := numericValue(r); ok {
				c = 0
				if ln < rn {
					c = -1
				} else if ln > rn {
					c = 1
				}
			}
		}
		var ok bool
		switch e.Op {
		case "=":
			ok = c == 0
		case "!=":
			ok = c != 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		}
		if ok {
			return triY
		}
		return triN
	}
	return triN
}

// conjuncts splits an expression at its top-level && operators.
func conjuncts(e expr) []expr {
	if a, ok := e.(*exprAnd); ok {
		return append(conjuncts(a.L), conjuncts(a.R)...)
	}
	return []expr{e}
}

// symbolsOf lists the symbols (not constants) referenced by e, in order,
// without duplicates.
func (env evalEnv) symbolsOf(e expr) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(expr)
	add := func(s *exprSym) {
		if !env.isConstant(s) && !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s.Name)
		}
	}
	walk = func(e expr) {
		switch e := e.(type) {
		case *exprSym:
			add(e)
		case *exprNot:
			walk(e.X)
		case *exprAnd:
			walk(e.L)
			walk(e.R)
		case *exprOr:
			walk(e.L)
			walk(e.R)
		case *exprCmp:
			add(e.L)
			add(e.R)
		}
	}
	walk(e)
	return out
}

// describe formats a symbol's current value: "FOO is not set", "FOO=m",
// `FOO="text"`.
func (env evalEnv) describe(name string) string {
	v, ok := env.cfg[symbolPrefix+name]
	if !ok || v == "n" {
		return name + " is not set"
	}
	return name + "=" + v
}
