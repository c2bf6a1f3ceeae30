package kconfig

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Tree is an index of the symbol definitions of a kernel source tree,
// read from its Kconfig files. It holds just enough to explain why
// olddefconfig changed a requested option: where each symbol is defined,
// its type, prompts, dependencies (its own "depends on" plus those of the
// enclosing if/menu/choice blocks), ranges, choice membership, and who
// selects it. It is not a full Kconfig implementation: defaults are not
// evaluated (the final .config already holds every computed value).
type Tree struct {
	defs    map[string][]*symbolDef
	selects map[string][]selectRef
	files   int
}

// symbolDef is one "config NAME" / "menuconfig NAME" entry.
type symbolDef struct {
	Name    string // without CONFIG_
	File    string
	Line    int
	Type    string // bool, tristate, string, int, hex ("" if not declared here)
	Prompts []promptDef
	Depends []string // expressions, all of which must hold (enclosing blocks first)
	Ranges  []string // "LOW HIGH [if EXPR]"
	Choice  *choiceDef
}

type promptDef struct {
	Text string
	Cond string // "" when unconditional
}

// choiceDef is a "choice ... endchoice" block.
type choiceDef struct {
	File    string
	Line    int
	Members []string
}

// selectRef records "select TARGET [if COND]" inside the entry of By.
type selectRef struct {
	By   string
	Cond string
	File string
	Line int
}

// blockKind is the kind of an open Kconfig block.
type blockKind int

const (
	blockIf blockKind = iota
	blockMenu
	blockChoice
)

type block struct {
	kind   blockKind
	deps   []string
	choice *choiceDef
	file   string
	line   int
}

// kconfigParser walks the source tree's Kconfig files.
type kconfigParser struct {
	fsys  fs.FS
	vars  map[string]string
	k     *Tree
	stack []*block
	// The entry receiving attribute lines: at most one of these is set.
	sym      *symbolDef
	blk      *block // menu or choice header
	other    bool   // comment/mainmenu/if: attributes are ignored
	depth    int
	maxDepth int
	maxFiles int
	visited  map[string]bool
}

// Load reads the Kconfig files of a kernel source tree, starting at
// the top-level "Kconfig" and following "source" statements
// (Documentation/kbuild/kconfig-language.rst). srcArch is the kernel's
// SRCARCH ("x86", "arm64") and arch its ARCH ("x86_64", "arm64"); they
// replace $(SRCARCH) and $(ARCH) in source paths and strings. Source
// statements naming other macros, and "osource"/"orsource" of missing
// files, are skipped.
func Load(fsys fs.FS, srcArch, arch string) (*Tree, error) {
	p := &kconfigParser{
		fsys: fsys,
		vars: map[string]string{"SRCARCH": srcArch, "ARCH": arch, "HEADER_ARCH": srcArch},
		k: &Tree{
			defs:    map[string][]*symbolDef{},
			selects: map[string][]selectRef{},
		},
		maxDepth: 64,
		maxFiles: 20000,
		visited:  map[string]bool{},
	}
	if err := p.parseFile("Kconfig", false); err != nil {
		return nil, err
	}
	if len(p.stack) != 0 {
		b := p.stack[len(p.stack)-1]
		return nil, fmt.Errorf("%s:%d: block is never closed", b.file, b.line)
	}
	return p.k, nil
}

func (p *kconfigParser) parseFile(name string, optional bool) error {
	if p.depth >= p.maxDepth {
		return fmt.Errorf("%s: Kconfig source nesting deeper than %d", name, p.maxDepth)
	}
	if p.k.files >= p.maxFiles {
		return fmt.Errorf("%s: more than %d Kconfig files", name, p.maxFiles)
	}
	data, err := fs.ReadFile(p.fsys, name)
	if err != nil {
		if optional {
			return nil
		}
		return fmt.Errorf("reading Kconfig file: %w", err)
	}
	p.k.files++
	p.depth++
	defer func() { p.depth-- }()
	p.endEntry()
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := lines[i]
		// Backslash-newline continues a statement.
		for strings.HasSuffix(strings.TrimRight(line, " \t\r"), "\\") && i+1 < len(lines) {
			line = strings.TrimSuffix(strings.TrimRight(line, " \t\r"), "\\") + " " + lines[i+1]
			i++
		}
		text := strings.TrimSpace(stripComment(line))
		if text == "" {
			continue
		}
		kw, rest := splitWord(text)
		switch kw {
		case "config", "menuconfig":
			p.startSymbol(strings.TrimSpace(rest), name, lineNo)
		case "choice":
			c := &choiceDef{File: name, Line: lineNo}
			b := &block{kind: blockChoice, choice: c, file: name, line: lineNo}
			p.push(b)
			p.endEntry()
			p.blk = b
		case "endchoice":
			if err := p.pop(blockChoice, name, lineNo, kw); err != nil {
				return err
			}
		case "menu":
			b := &block{kind: blockMenu, file: name, line: lineNo}
			p.push(b)
			p.endEntry()
			p.blk = b
		case "endmenu":
			if err := p.pop(blockMenu, name, lineNo, kw); err != nil {
				return err
			}
		case "if":
			p.endEntry()
			p.push(&block{kind: blockIf, deps: []string{p.expand(rest)}, file: name, line: lineNo})
			p.other = true
		case "endif":
			if err := p.pop(blockIf, name, lineNo, kw); err != nil {
				return err
			}
		case "comment", "mainmenu":
			p.endEntry()
			p.other = true
		case "source", "osource", "rsource", "orsource":
			target, ok := p.sourcePath(rest, kw, name)
			p.endEntry()
			if !ok {
				continue
			}
			if p.visited[target] {
				return fmt.Errorf("%s:%d: %s is sourced recursively", name, lineNo, target)
			}
			p.visited[target] = true
			err := p.parseFile(target, kw == "osource" || kw == "orsource")
			delete(p.visited, target)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", name, lineNo, err)
			}
			p.endEntry()
		case "help", "---help---":
			i = skipHelp(lines, i)
		default:
			if isAssignment(text) {
				p.endEntry()
				continue
			}
			p.attribute(kw, rest, name, lineNo)
		}
	}
	p.endEntry()
	return nil
}

func (p *kconfigParser) push(b *block) { p.stack = append(p.stack, b) }

func (p *kconfigParser) pop(kind blockKind, file string, line int, kw string) error {
	p.endEntry()
	if len(p.stack) == 0 || p.stack[len(p.stack)-1].kind != kind {
		return fmt.Errorf("%s:%d: %s without matching opening statement", file, line, kw)
	}
	p.stack = p.stack[:len(p.stack)-1]
	return nil
}

func (p *kconfigParser) endEntry() {
	p.sym, p.blk, p.other = nil, nil, false
}

func (p *kconfigParser) startSymbol(name, file string, line int) {
	p.endEntry()
	d := &symbolDef{Name: name, File: file, Line: line}
	for _, b := range p.stack {
		d.Depends = append(d.Depends, b.deps...)
	}
	d.Choice = nil
	// A symbol belongs to the innermost choice when only "if" blocks lie
	// between them.
	for i := len(p.stack) - 1; i >= 0; i-- {
		if b := p.stack[i]; b.kind == blockChoice {
			d.Choice = b.choice
			b.choice.Members = append(b.choice.Members, name)
			break
		} else if b.kind != blockIf {
			break
		}
	}
	p.k.defs[name] = append(p.k.defs[name], d)
	p.sym = d
}

// attribute handles a property line of the current entry.
func (p *kconfigParser) attribute(kw, rest, file string, line int) {
	switch {
	case p.sym != nil:
		d := p.sym
		switch kw {
		case "bool", "tristate", "string", "int", "hex":
			d.Type = kw
			if text, cond, ok := parsePrompt(rest); ok {
				d.Prompts = append(d.Prompts, promptDef{Text: text, Cond: p.expand(cond)})
			}
		case "def_bool", "def_tristate":
			d.Type = strings.TrimPrefix(kw, "def_")
		case "prompt":
			if text, cond, ok := parsePrompt(rest); ok {
				d.Prompts = append(d.Prompts, promptDef{Text: text, Cond: p.expand(cond)})
			}
		case "depends":
			if e, ok := strings.CutPrefix(strings.TrimSpace(rest), "on"); ok {
				d.Depends = append(d.Depends, p.expand(strings.TrimSpace(e)))
			}
		case "select":
			target, cond := splitIf(rest)
			target = strings.TrimSpace(target)
			p.k.selects[target] = append(p.k.selects[target], selectRef{By: d.Name, Cond: p.expand(cond), File: file, Line: line})
		case "range":
			d.Ranges = append(d.Ranges, strings.Join(strings.Fields(rest), " "))
		}
	case p.blk != nil:
		switch kw {
		case "depends":
			if e, ok := strings.CutPrefix(strings.TrimSpace(rest), "on"); ok {
				p.blk.deps = append(p.blk.deps, p.expand(strings.TrimSpace(e)))
			}
		case "visible":
			if e, ok := strings.CutPrefix(strings.TrimSpace(rest), "if"); ok {
				p.blk.deps = append(p.blk.deps, p.expand(strings.TrimSpace(e)))
			}
		}
	}
}

// sourcePath resolves the argument of a source statement.
func (p *kconfigParser) sourcePath(rest, kw, current string) (string, bool) {
	arg, ok := parseQuoted(strings.TrimSpace(rest))
	if !ok {
		return "", false
	}
	arg = p.expand(arg)
	if strings.Contains(arg, "$(") || strings.ContainsAny(arg, "*?[") {
		return "", false
	}
	if kw == "rsource" || kw == "orsource" {
		arg = path.Join(path.Dir(current), arg)
	}
	arg = path.Clean(arg)
	if !fs.ValidPath(arg) {
		return "", false
	}
	return arg, true
}

// expand replaces the known $(VAR) references and collapses white space
// outside quotes (continuation lines leave runs of tabs).
func (p *kconfigParser) expand(s string) string {
	s = collapseSpace(s)
	if !strings.Contains(s, "$(") {
		return s
	}
	keys := make([]string, 0, len(p.vars))
	for k := range p.vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s = strings.ReplaceAll(s, "$("+k+")", p.vars[k])
	}
	return s
}

// collapseSpace trims s and replaces each run of spaces and tabs outside
// quotes by one space.
func collapseSpace(s string) string {
	var b strings.Builder
	var quote byte
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
		switch {
		case quote != 0 && c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		}
	}
	return b.String()
}

// skipHelp returns the index of the last line of the help text that starts
// after lines[i], following the rule of scripts/kconfig/lexer.l: the first
// non-blank line sets the indentation; the text ends at the first non-blank
// line indented less, or at a line starting in column 0.
func skipHelp(lines []string, i int) int {
	first := -1
	j := i + 1
	for ; j < len(lines); j++ {
		l := strings.TrimRight(lines[j], "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := indentWidth(l)
		if ind == 0 || (first >= 0 && ind < first) {
			break
		}
		if first < 0 {
			first = ind
		}
	}
	return j - 1
}

// indentWidth measures leading white space with tabs to multiples of 8.
func indentWidth(l string) int {
	w := 0
	for _, c := range l {
		switch c {
		case ' ':
			w++
		case '\t':
			w = (w &^ 7) + 8
		default:
			return w
		}
	}
	return w
}

// stripComment removes a '#' comment that is outside quotes.
func stripComment(l string) string {
	var quote rune
	for i, c := range l {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return l[:i]
		}
	}
	return l
}

func splitWord(s string) (word, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

// isAssignment recognizes Kconfig macro assignments ("x := y", "x = y",
// "x += y") as used by scripts/Kconfig.include.
func isAssignment(s string) bool {
	w, rest := splitWord(s)
	if strings.ContainsAny(w, "=:+") {
		return true
	}
	return strings.HasPrefix(rest, ":=") || strings.HasPrefix(rest, "+=") || strings.HasPrefix(rest, "=")
}

// parsePrompt parses `"text" [if expr]`.
func parsePrompt(rest string) (text, cond string, ok bool) {
	rest = strings.TrimSpace(rest)
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return "", "", false
	}
	end := quotedEnd(rest)
	if end < 0 {
		return "", "", false
	}
	text, _ = parseQuoted(rest[:end+1])
	after := strings.TrimSpace(rest[end+1:])
	if c, found := strings.CutPrefix(after, "if"); found && (c == "" || c[0] == ' ' || c[0] == '\t' || c[0] == '(' || c[0] == '!') {
		cond = strings.TrimSpace(c)
	}
	return text, cond, true
}

// splitIf splits "X if COND" at a top-level "if" word outside quotes.
func splitIf(s string) (head, cond string) {
	fields := strings.Fields(s)
	for i, f := range fields {
		if f == "if" {
			return strings.Join(fields[:i], " "), strings.Join(fields[i+1:], " ")
		}
	}
	return s, ""
}

// quotedEnd returns the index of the closing quote of the string starting
// at s[0], or -1.
func quotedEnd(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i
		}
	}
	return -1
}

// parseQuoted decodes a single- or double-quoted Kconfig string.
func parseQuoted(s string) (string, bool) {
	if s == "" || (s[0] != '"' && s[0] != '\'') {
		return "", false
	}
	end := quotedEnd(s)
	if end < 0 {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < end; i++ {
		if s[i] == '\\' && i+1 < end {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), true
}
