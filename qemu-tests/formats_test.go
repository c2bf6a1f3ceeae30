package qemutests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// helloWithOutputs copies recipes/hello, sets its outputs line to outputs
// (e.g. "[disk, uki]"), builds it with the extra build flags and returns
// the build folder and its manifest.
func helloWithOutputs(t *testing.T, outputs string, extra ...string) (string, *manifest.Manifest) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "hello")
	if out, err := exec("cp", "-r", "../recipes/hello", src); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	rp := filepath.Join(src, "recipe.yaml")
	y, err := os.ReadFile(rp)
	if err != nil {
		t.Fatal(err)
	}
	const old = "outputs: [initramfs, disk]\n"
	if !strings.Contains(string(y), old) {
		t.Fatalf("hello recipe has no %q", old)
	}
	y = []byte(strings.Replace(string(y), old, "outputs: "+outputs+"\n", 1))
	if err := os.WriteFile(rp, y, 0o644); err != nil {
		t.Fatal(err)
	}
	out := build(t, rp, extra...)
	m, _, err := manifest.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	return out, m
}

// uefiBoot is one artifact of a build booted under OVMF to its ready line.
type uefiBoot struct {
	file   string                       // in the build folder
	name   string                       // of the subtest (the file when empty)
	args   []string                     // run flags besides the file, --exit-on-ready and --timeout
	ready  string                       // pattern of the ready line on stdout
	stderr string                       // text run's stderr must carry, if any
	check  func(t *testing.T, p string) // checks on the built file before the boot, if any
}

// wallTime is run's line of guest uptime and host wall time.
var wallTime = regexp.MustCompile(`guest uptime \d+ ms, host wall \d+ ms`)

// bootEach boots each case, in order, as a subtest: the file must be in
// the manifest with its size, and a copy of it (a boot may change a disk)
// must reach its ready line. The boot time is logged, so one run's lines
// compare the formats.
func bootEach(t *testing.T, out string, m *manifest.Manifest, cases []uefiBoot) {
	t.Helper()
	for _, c := range cases {
		name := c.name
		if name == "" {
			name = c.file
		}
		t.Run(name, func(t *testing.T) {
			a, ok := m.Artifact(c.file)
			if !ok {
				t.Fatalf("manifest does not list %s", c.file)
			}
			p := filepath.Join(out, c.file)
			st, err := os.Stat(p)
			if err != nil || st.Size() != a.Size {
				t.Fatalf("%s: %v, size %v, manifest %d", c.file, err, st, a.Size)
			}
			t.Logf("%s: %d bytes", c.file, a.Size)
			if c.check != nil {
				c.check(t, p)
			}
			cp := filepath.Join(t.TempDir(), c.file)
			if o, err := exec("cp", "--sparse=always", p, cp); err != nil {
				t.Fatalf("cp: %v %s", err, o)
			}
			r := turbo(t, context.Background(), append([]string{"run", cp, "--exit-on-ready", "--timeout", "300s"}, c.args...)...)
			if r.code != 0 {
				t.Fatalf("run %s: %s", c.file, r)
			}
			if c.stderr != "" && !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("run %s: stderr lacks %q: %s", c.file, c.stderr, r.stderr)
			}
			if !regexp.MustCompile(c.ready).MatchString(r.stdout) {
				t.Fatalf("no ready line %s:\n%s", c.ready, r.stdout)
			}
			t.Logf("%s under UEFI (%s): %s", c.file, shared.accel, wallTime.FindString(r.stderr))
		})
	}
}
