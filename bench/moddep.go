package main

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// ModDep is a parsed modules.dep (modules.dep(5), written by depmod(8)):
// every module's path, relative to /lib/modules/<release>, mapped to the
// paths of the modules it needs, as listed.
type ModDep map[string][]string

// maxModDepLine bounds one modules.dep line (the longest in Debian 6.1's is
// under 1 KiB).
const maxModDepLine = 1 << 20

// ParseModulesDep reads modules.dep: "path: dep dep ..." per line; blank
// lines and lines starting with # are skipped. A module listed twice, a
// line without a colon, or a path that is absolute or contains ".." is an
// error.
func ParseModulesDep(r io.Reader) (ModDep, error) {
	d := ModDep{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxModDepLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" {
			return nil, fmt.Errorf("modules.dep:%d: want \"module.ko: deps...\", got %q", n, firstLine(line, 80))
		}
		if err := checkModPath(mod); err != nil {
			return nil, fmt.Errorf("modules.dep:%d: %w", n, err)
		}
		if _, dup := d[mod]; dup {
			return nil, fmt.Errorf("modules.dep:%d: %s is listed twice", n, mod)
		}
		list := strings.Fields(deps)
		for _, dep := range list {
			if err := checkModPath(dep); err != nil {
				return nil, fmt.Errorf("modules.dep:%d: %w", n, err)
			}
		}
		d[mod] = list
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	return d, nil
}

// checkModPath accepts relative, clean module paths.
func checkModPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("module path %q is not a clean relative path", p)
	}
	return nil
}

// ModuleName is the kernel's name of a module file: the base name without
// .ko (and .xz/.zst/.gz), with '-' turned into '_' ("virtio-rng.ko.xz" →
// "virtio_rng").
func ModuleName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	b = strings.TrimSuffix(b, ".ko")
	return strings.ReplaceAll(b, "-", "_")
}

// ParseBuiltin reads modules.builtin (one module path per line) into a set
// of module names.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxModDepLine)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			set[ModuleName(l)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.builtin: %w", err)
	}
	return set, nil
}

// Resolve returns the module files to load for the named modules, each
// after everything it depends on (modprobe's order: a module's
// dependencies, deepest first), without duplicates. Names are module names
// ("virtio_net"; '-' and '_' are equal). A name that is built into the
// kernel (in builtin) needs no file and is returned in builtinNames; a name
// found neither in d nor in builtin is an error, and so is a dependency
// cycle or a dependency that modules.dep does not list itself.
func (d ModDep) Resolve(names []string, builtin map[string]bool) (order, builtinNames []string, err error) {
	byName := map[string]string{}
	paths := make([]string, 0, len(d))
	for p := range d {
		paths = append(paths, p)
	}
	sort.Strings(paths) // deterministic choice if two files share a name
	for _, p := range paths {
		if n := ModuleName(p); byName[n] == "" {
			byName[n] = p
		}
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(p string, chain []string) error
	visit = func(p string, chain []string) error {
		switch state[p] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("modules.dep: dependency cycle: %s", strings.Join(append(chain, p), " -> "))
		}
		deps, ok := d[p]
		if !ok {
			return fmt.Errorf("modules.dep: %s (needed by %s) has no line of its own", p, strings.Join(chain, " -> "))
		}
		state[p] = visiting
		// modules.dep lists the deepest dependency last; load it first.
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i], append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = done
		order = append(order, p)
		return nil
	}
	for _, name := range names {
		n := ModuleName(name)
		p, ok := byName[n]
		switch {
		case ok:
			if err := visit(p, nil); err != nil {
				return nil, nil, err
			}
		case builtin[n]:
			builtinNames = append(builtinNames, n)
		default:
			return nil, nil, fmt.Errorf("module %s is neither in modules.dep nor built in", n)
		}
	}
	return order, builtinNames, nil
}
