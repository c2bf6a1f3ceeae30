package recipe

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// limitKeys are the keys of services[].limits.
var limitKeys = []string{"memory", "cpu_weight", "open_files", "processes"}

// limits decodes a service's resource limits; the bounds are
// initconfig's, which the init checks again.
func (d *decoder) limits(n *yaml.Node, field string) *initconfig.Limits {
	f, ok := d.mapping(n, field, limitKeys)
	if !ok {
		return nil
	}
	var l initconfig.Limits
	if len(f.order) == 0 {
		d.add(n.Line, field, "must set at least one of %s; leave limits out for none", strings.Join(limitKeys, ", "))
		return nil
	}
	if v := f.get("memory"); v != nil {
		if m, ok := d.size(v, f.field("memory")); ok {
			if m < initconfig.MinMemory {
				d.add(v.Line, f.field("memory"), "must be at least 1MiB, not %d bytes; write the unit, like %dMiB", m, m)
			} else {
				l.Memory = m
			}
		}
	}
	if v := f.get("cpu_weight"); v != nil {
		if w, ok := d.intRange(v, f.field("cpu_weight"), initconfig.MinCPUWeight, initconfig.MaxCPUWeight); ok {
			l.CPUWeight = w
		}
	}
	if v := f.get("open_files"); v != nil {
		if o, ok := d.intRange(v, f.field("open_files"), 1, initconfig.MaxOpenFiles); ok {
			l.OpenFiles = o
		}
	}
	if v := f.get("processes"); v != nil {
		if p, ok := d.intRange(v, f.field("processes"), 1, initconfig.MaxProcesses); ok {
			l.Processes = p
		}
	}
	if l.IsZero() {
		return nil // every field was refused, or null
	}
	return &l
}
