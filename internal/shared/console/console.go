// Package console is the one-line protocol the init speaks to the host on
// the serial console. The init formats records with the functions here and
// the host (turbo-image run, the acceptance tests, the benchmarks) parses
// them with Parse, so both sides share one definition.
//
// Records are single lines "TURBO_<KIND> key=value ...", where the last
// key of a record may hold spaces (reason=...). Kernel panics are
// recognised too, since a panicking kernel cannot print a record.
package console

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the kind of a console record.
type Kind string

// Record kinds.
const (
	Ready     Kind = "TURBO_READY"
	Unhealthy Kind = "TURBO_UNHEALTHY"
	Rollback  Kind = "TURBO_ROLLBACK"
	Poweroff  Kind = "TURBO_POWEROFF"
	Reboot    Kind = "TURBO_REBOOT"
	Fatal     Kind = "TURBO_FATAL"
	Blessed   Kind = "TURBO_BLESSED"
	Trial     Kind = "TURBO_TRIAL"
	// Panic is a kernel panic ("Kernel panic - not syncing: ...").
	Panic Kind = "PANIC"
)

// Record is a parsed console record.
type Record struct {
	Kind   Kind
	Fields map[string]string
}

// Get returns a field's value.
func (r Record) Get(k string) string { return r.Fields[k] }

// Int returns a numeric field, or -1.
func (r Record) Int(k string) int64 {
	v, err := strconv.ParseInt(r.Fields[k], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// freeText are the keys whose value runs to the end of the line.
var freeText = map[string]bool{"reason": true}

// Parse recognises a record in a console line (leading kernel timestamps
// or other text before the record are skipped). ok is false for ordinary
// output.
func Parse(line string) (Record, bool) {
	if i := strings.Index(line, "Kernel panic - not syncing"); i >= 0 {
		return Record{Kind: Panic, Fields: map[string]string{"reason": strings.TrimSpace(line[i+len("Kernel panic - not syncing"):])}}, true
	}
	i := strings.Index(line, "TURBO_")
	if i < 0 {
		return Record{}, false
	}
	line = strings.TrimRight(line[i:], "\r\n ")
	head, rest, _ := strings.Cut(line, " ")
	k := Kind(head)
	switch k {
	case Ready, Unhealthy, Rollback, Poweroff, Reboot, Fatal, Blessed, Trial:
	default:
		return Record{}, false
	}
	r := Record{Kind: k, Fields: map[string]string{}}
	for rest != "" {
		var word string
		word, rest, _ = strings.Cut(rest, " ")
		key, val, ok := strings.Cut(word, "=")
		if !ok {
			continue
		}
		if freeText[key] {
			val = strings.TrimSpace(val + " " + rest)
			rest = ""
		}
		r.Fields[key] = val
	}
	return r, true
}

// Format writes a record line. Free-text fields go last, folded onto one
// line; the order of the others is as given.
func Format(k Kind, kv ...string) string {
	var b strings.Builder
	b.WriteString(string(k))
	var tail []string
	for i := 0; i+1 < len(kv); i += 2 {
		v := strings.Join(strings.Fields(kv[i+1]), " ")
		if freeText[kv[i]] {
			tail = append(tail, kv[i]+"="+v)
			continue
		}
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(&b, " %s=%s", kv[i], strings.ReplaceAll(v, " ", "_"))
	}
	for _, t := range tail {
		b.WriteString(" " + t)
	}
	return b.String()
}
