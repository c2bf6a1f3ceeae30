package kconfig

import (
	"fmt"
	"sort"
	"strings"
)

// Config is a parsed .config file: symbol name (with the CONFIG_ prefix) to
// value, where "# CONFIG_FOO is not set" is stored as "n" and string
// values keep their quotes, as in Option.Value.
type Config map[string]string

// ParseConfig parses a .config file as written by Kconfig. It uses the
// fragment syntax but lets a later assignment of a symbol win.
func ParseConfig(name string, data []byte) (Config, error) {
	opts, err := parseConfigText(name, data, true)
	if err != nil {
		return nil, err
	}
	c := make(Config, len(opts))
	for _, o := range opts {
		c[o.Name] = o.Value
	}
	return c, nil
}

// Get returns the value of a symbol, "n" when it is absent.
func (c Config) Get(name string) string {
	if v, ok := c[name]; ok {
		return v
	}
	return "n"
}

// Problem is one requested option that the final configuration does not
// honour.
type Problem struct {
	// Want is the requested option, with the fragment and line asking for it.
	Want Option
	// Got is the final value ("n" when not set).
	Got string
	// Reason explains why, from the Kconfig definitions: the unmet
	// dependency and the values of its symbols, the selecting symbols, the
	// choice, or the missing definition. Empty when no Kconfig index was
	// available.
	Reason string
}

// String formats the problem as one line, e.g.
// "CONFIG_SQUASHFS=y (virt.config:82) was dropped by Kconfig: depends on
// MISC_FILESYSTEMS && BLOCK; MISC_FILESYSTEMS is not set [fs/squashfs/Kconfig:2]".
func (p Problem) String() string {
	var what string
	switch {
	case p.Want.Value == "n":
		what = fmt.Sprintf("%s (%s) is still %s=%s after olddefconfig", p.Want, p.Want.where(), p.Want.Name, p.Got)
	case p.Got == "n":
		what = fmt.Sprintf("%s (%s) was dropped by Kconfig", p.Want, p.Want.where())
	default:
		what = fmt.Sprintf("%s (%s) became %s=%s after olddefconfig", p.Want, p.Want.where(), p.Want.Name, p.Got)
	}
	if p.Reason == "" {
		return what
	}
	return what + ": " + p.Reason
}

// CheckError lists every requested option the final .config does not
// honour. Build returns it (wrapped) before compiling anything.
type CheckError struct {
	Problems []Problem
}

// Error implements error; one problem per line.
func (e *CheckError) Error() string {
	if len(e.Problems) == 1 {
		return "kernel config check: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kernel config check: %d requested options were not applied:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Mismatches compares the requested options with the final configuration
// and returns the ones that are not honoured, in request order, without
// reasons. A y/m/value option must have exactly that value (numbers are
// compared numerically, strings after unquoting); an "is not set" option
// must be absent or n.
func Mismatches(want []Option, final Config) []Problem {
	var out []Problem
	for _, w := range want {
		got := final.Get(w.Name)
		if !valuesEqual(w.Value, got) {
			out = append(out, Problem{Want: w, Got: got})
		}
	}
	return out
}

func valuesEqual(want, got string) bool {
	if want == got {
		return true
	}
	if wn, ok := numericValue(want); ok {
		gn, ok := numericValue(got)
		return ok && wn == gn
	}
	if strings.HasPrefix(want, `"`) && strings.HasPrefix(got, `"`) {
		wu, err1 := unquoteKconfig(want)
		gu, err2 := unquoteKconfig(got)
		return err1 == nil && err2 == nil && wu == gu
	}
	return false
}

// CheckConfig verifies that the final configuration honours every
// requested option (see Mismatches) and, if not, returns a *CheckError
// whose problems carry an explanation drawn from kc (which may be nil).
func CheckConfig(want []Option, final Config, kc *Tree) error {
	problems := Mismatches(want, final)
	if len(problems) == 0 {
		return nil
	}
	if kc != nil {
		for i := range problems {
			problems[i].Reason = kc.explain(problems[i].Want, final)
		}
	}
	return &CheckError{Problems: problems}
}

// maxListed bounds lists (selectors, candidate symbols) in explanations.
const maxListed = 6

// explain says why the final configuration does not honour the requested
// option, using the Kconfig definitions of the symbol.
func (k *Tree) explain(want Option, final Config) string {
	name := strings.TrimPrefix(want.Name, symbolPrefix)
	env := evalEnv{cfg: final, kc: k}
	defs := k.defs[name]
	if len(defs) == 0 {
		return "no Kconfig file of this source tree defines it for this architecture (misspelled, removed in this kernel version, or specific to another architecture)"
	}
	if want.Value == "n" {
		return k.explainStillSet(name, defs, env)
	}
	if typ := env.symType(name); typ != "" && !valueFitsType(want.Value, typ) {
		return fmt.Sprintf("the value does not fit its type %s [%s:%d]", typ, defs[0].File, defs[0].Line)
	}
	need := triY
	if want.Value == "m" {
		need = triM
	} else if want.Value != "y" {
		need = triM // non-tristate symbols are visible when their dependencies are not n
	}
	// Dependencies: report the definitions whose dependencies are unmet,
	// unless one definition's dependencies hold.
	var depReasons []string
	for _, d := range defs {
		r, ok := describeDeps(d, env, need)
		if ok {
			depReasons = nil
			break
		}
		depReasons = append(depReasons, r)
	}
	if len(depReasons) > 0 {
		return strings.Join(depReasons, "; or ")
	}
	if want.Value == "m" && final.Get(symbolPrefix+"MODULES") != "y" {
		return "CONFIG_MODULES is not set, so tristate options cannot be m (set CONFIG_MODULES=y or ask for y)"
	}
	// Prompts: a symbol without a visible prompt ignores the user's value.
	var promptConds []string
	visible, hasPrompt := false, false
	for _, d := range defs {
		for _, p := range d.Prompts {
			hasPrompt = true
			if p.Cond == "" {
				visible = true
				continue
			}
			e, err := parseExpr(p.Cond)
			if err != nil || env.eval(e) >= need {
				visible = true
				continue
			}
			promptConds = append(promptConds, fmt.Sprintf("its prompt only shows if %s; %s [%s:%d]",
				p.Cond, strings.Join(describeSyms(env, env.symbolsOf(e)), ", "), d.File, d.Line))
		}
	}
	if !hasPrompt {
		r := fmt.Sprintf("it has no prompt, so only its default or a select can set it [%s:%d]", defs[0].File, defs[0].Line)
		if sel := k.selectorNames(name); len(sel) > 0 {
			r += "; selected by " + strings.Join(sel, ", ")
		}
		return r
	}
	if !visible {
		return strings.Join(promptConds, "; ")
	}
	for _, d := range defs {
		if d.Choice == nil {
			continue
		}
		var chosen []string
		for _, m := range d.Choice.Members {
			if m != name && final.Get(symbolPrefix+m) == "y" {
				chosen = append(chosen, symbolPrefix+m)
			}
		}
		if len(chosen) > 0 {
			return fmt.Sprintf("it is a member of the choice at %s:%d, in which %s is selected (another fragment line or the base config chose it)",
				d.Choice.File, d.Choice.Line, strings.Join(chosen, ", "))
		}
	}
	for _, d := range defs {
		if len(d.Ranges) > 0 {
			return fmt.Sprintf("the value must lie in range %s [%s:%d]", strings.Join(d.Ranges, " or "), d.File, d.Line)
		}
	}
	return fmt.Sprintf("Kconfig reset it although its dependencies are met [%s:%d]", defs[0].File, defs[0].Line)
}

// describeDeps checks one definition's dependencies against need. When
// they hold it returns ok=true; otherwise the text names the whole
// dependency and the values of the symbols of each failing conjunct.
func describeDeps(d *symbolDef, env evalEnv, need tristate) (string, bool) {
	var unmet []string
	seen := map[string]bool{}
	for _, dep := range d.Depends {
		e, err := parseExpr(dep)
		if err != nil {
			continue // cannot judge; do not blame it
		}
		for _, c := range conjuncts(e) {
			if env.eval(c) >= need {
				continue
			}
			for _, s := range describeSyms(env, env.symbolsOf(c)) {
				if !seen[s] {
					seen[s] = true
					unmet = append(unmet, s)
				}
			}
			if len(env.symbolsOf(c)) == 0 {
				unmet = append(unmet, "the condition is constant")
			}
		}
	}
	if len(unmet) == 0 {
		return "", true
	}
	return fmt.Sprintf("depends on %s; %s [%s:%d]", joinDeps(d.Depends), strings.Join(unmet, ", "), d.File, d.Line), false
}

func describeSyms(env evalEnv, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, env.describe(n))
	}
	return out
}

// joinDeps joins dependency expressions with &&, parenthesizing those
// with a top-level ||.
func joinDeps(deps []string) string {
	if len(deps) == 1 {
		return deps[0]
	}
	parts := make([]string, len(deps))
	for i, d := range deps {
		parts[i] = d
		if e, err := parseExpr(d); err == nil {
			if _, isOr := e.(*exprOr); isOr {
				parts[i] = "(" + d + ")"
			}
		}
	}
	return strings.Join(parts, " && ")
}

// explainStillSet explains why a symbol asked to be "not set" is y or m.
func (k *Tree) explainStillSet(name string, defs []*symbolDef, env evalEnv) string {
	var active []string
	for _, s := range k.selects[name] {
		v := env.cfg.Get(symbolPrefix + s.By)
		if v != "y" && v != "m" {
			continue
		}
		if s.Cond != "" {
			if e, err := parseExpr(s.Cond); err == nil && env.eval(e) == triN {
				continue
			}
		}
		active = append(active, fmt.Sprintf("%s%s=%s [%s:%d]", symbolPrefix, s.By, v, s.File, s.Line))
	}
	sort.Strings(active)
	if len(active) > 0 {
		return "selected by " + strings.Join(limit(active), ", ")
	}
	for _, d := range defs {
		if d.Choice != nil {
			return fmt.Sprintf("it is the selected member of the choice at %s:%d; ask for another member instead", d.Choice.File, d.Choice.Line)
		}
	}
	hasPrompt := false
	for _, d := range defs {
		hasPrompt = hasPrompt || len(d.Prompts) > 0
	}
	if !hasPrompt {
		return fmt.Sprintf("it has no prompt and its default is on [%s:%d]", defs[0].File, defs[0].Line)
	}
	return fmt.Sprintf("Kconfig kept it set (a default or select) [%s:%d]", defs[0].File, defs[0].Line)
}

// selectorNames lists the symbols that select name, sorted, bounded.
func (k *Tree) selectorNames(name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range k.selects[name] {
		if !seen[s.By] {
			seen[s.By] = true
			out = append(out, symbolPrefix+s.By)
		}
	}
	sort.Strings(out)
	return limit(out)
}

func limit(list []string) []string {
	if len(list) <= maxListed {
		return list
	}
	return append(list[:maxListed:maxListed], fmt.Sprintf("and %d more", len(list)-maxListed))
}

// valueFitsType reports whether a requested value has the syntax of type.
func valueFitsType(v, typ string) bool {
	switch typ {
	case "bool":
		return v == "y" || v == "n"
	case "tristate":
		return v == "y" || v == "m" || v == "n"
	case "string":
		return strings.HasPrefix(v, `"`)
	case "int":
		_, ok := numericValue(v)
		return ok && !strings.HasPrefix(strings.ToLower(v), "0x")
	case "hex":
		return strings.HasPrefix(strings.ToLower(v), "0x")
	}
	return true
}
