package recipe

import (
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Error is one problem found in a recipe file.
//
// Line is 1-based. Line 0 is used only for problems that concern the whole
// file and have no position: the file is empty, or the YAML parser reported
// an error without a line number. Field is the path of the offending field,
// built from YAML key names and [i] list indexes (for example
// "services[0].health.http"); it is empty for problems that are not about a
// field (YAML syntax errors, a second YAML document, a non-mapping root).
type Error struct {
	File  string // the recipe path as given to Load or Parse
	Line  int    // 1-based line, 0 for whole-file problems
	Field string // field path like "services[0].env.PORT", or ""
	Msg   string // what is wrong
}

// Error formats the problem as "file:line: field: msg". The ":line" part is
// left out when Line is 0 and the " field:" part when Field is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// listFormat prints one problem per line, without the "N errors occurred"
// header of multierror's default format, so a CLI can print err.Error() as is.
func listFormat(errs []error) string {
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// toMultiError sorts problems by line (stable, so problems on one line keep
// the order in which they were found) and wraps them in a *multierror.Error
// whose Errors are all *Error.
func toMultiError(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	m := &multierror.Error{ErrorFormat: listFormat}
	for _, e := range errs {
		m.Errors = append(m.Errors, e)
	}
	return m
}
