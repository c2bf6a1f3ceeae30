package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder stands in for *testing.T: it records Fatalf and Skipf and
// panics to stop the caller as runtime.Goexit would.
type recorder struct {
	testing.TB
	fatal, skip string
}

type stopped struct{}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func run(f func(tb testing.TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stopped); !ok {
				panic(v)
			}
		}
	}()
	f(r)
	return r
}

func TestMissingFailsInCISkipsElsewhere(t *testing.T) {
	empty := t.TempDir()
	checks := map[string]func(tb testing.TB){
		"tool":  func(tb testing.TB) { MustHaveTool(tb, "turbo-no-such-tool", "nothing") },
		"qemu":  func(tb testing.TB) { MustHaveQEMU(tb) },
		"file":  func(tb testing.TB) { MustHaveFile(tb, filepath.Join(empty, "absent"), "nothing") },
		"plain": func(tb testing.TB) { Missing(tb, "thing %d", 7) },
	}
	// An empty PATH and no /sbin hit: qemu cannot be found.
	if _, err := os.Stat("/usr/sbin/" + QEMU); err == nil {
		delete(checks, "qemu")
	}
	t.Setenv("PATH", empty)
	for _, ci := range []string{"1", ""} {
		t.Setenv(CIVar, ci)
		for name, f := range checks {
			r := run(f)
			if ci == "1" {
				if r.fatal == "" || r.skip != "" || !strings.Contains(r.fatal, "MISSING") {
					t.Errorf("%s in CI: fatal %q skip %q; want a failure", name, r.fatal, r.skip)
				}
			} else if r.skip == "" || r.fatal != "" || !strings.HasPrefix(r.skip, "SKIP:") {
				t.Errorf("%s off CI: fatal %q skip %q; want a loud skip", name, r.fatal, r.skip)
			}
		}
	}
	if r := run(func(tb testing.TB) { MustHaveTool(tb, "turbo-no-such-tool", "pkg-x") }); !strings.Contains(r.skip, "pkg-x") {
		t.Errorf("skip message %q does not name the package", r.skip)
	}
}

func TestPresentPasses(t *testing.T) {
	t.Setenv(CIVar, "1")
	dir := t.TempDir()
	tool := filepath.Join(dir, "turbo-fake-tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	var got string
	r := run(func(tb testing.TB) { got = MustHaveTool(tb, "turbo-fake-tool", "x") })
	if r.fatal != "" || r.skip != "" || got != tool {
		t.Errorf("MustHaveTool = %q (fatal %q skip %q), want %s", got, r.fatal, r.skip, tool)
	}
	r = run(func(tb testing.TB) { MustHaveFile(tb, tool, "x") })
	if r.fatal != "" || r.skip != "" {
		t.Errorf("MustHaveFile on an existing file: fatal %q skip %q", r.fatal, r.skip)
	}
}

func TestSkipUnsupportedSkipsInCI(t *testing.T) {
	t.Setenv(CIVar, "1")
	r := run(func(tb testing.TB) { SkipUnsupported(tb, "arch %s", "riscv") })
	if r.skip == "" || r.fatal != "" || !strings.Contains(r.skip, "riscv") {
		t.Errorf("fatal %q skip %q; want a skip", r.fatal, r.skip)
	}
}
