package main

import (
	"sort"
	"strings"
)

// pathVars replaces absolute paths in displayed commands with shell
// variables ($W for the run's work directory, $C for the cache, "" for the
// repository root), so that latest.md shows commands one can paste after
// setting the variables, not this machine's temporary paths.
type pathVars struct {
	repl [][2]string // {path prefix, replacement}, longest path first
}

// newPathVars builds the replacements; empty paths are ignored.
func newPathVars(pairs ...[2]string) pathVars {
	var v pathVars
	for _, p := range pairs {
		if p[0] != "" && p[0] != "/" {
			v.repl = append(v.repl, p)
		}
	}
	sort.SliceStable(v.repl, func(i, j int) bool { return len(v.repl[i][0]) > len(v.repl[j][0]) })
	return v
}

// shellSpecial are the characters that make a word need quoting.
const shellSpecial = " \t\n'\"\\$`!*?[]{}()<>|&;#~"

// word renders one argument for a shell command line.
func (v pathVars) word(a string) string {
	if strings.Contains(a, "$") {
		return singleQuote(a) // never let an original $ expand
	}
	r := a
	for _, p := range v.repl {
		r = strings.ReplaceAll(r, p[0], p[1])
	}
	if r == "" {
		return "''"
	}
	if r == a {
		if !strings.ContainsAny(a, shellSpecial) {
			return a
		}
		return singleQuote(a)
	}
	// r holds $VARs: keep them expandable.
	rest := strings.NewReplacer("$W", "", "$C", "", "$TURBO_CACHE", "").Replace(r)
	if !strings.ContainsAny(rest, shellSpecial) {
		return r
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", "!", `"'!'"`).Replace(r) + `"`
}

// command renders argv as one shell command line.
func (v pathVars) command(argv ...string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = v.word(a)
	}
	return strings.Join(out, " ")
}

// singleQuote quotes s for a POSIX shell.
func singleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
