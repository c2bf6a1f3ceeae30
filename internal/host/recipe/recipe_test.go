package recipe

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// fullFile is the recipe path bad cases are parsed as: relative paths in
// them resolve against testdata/full, which holds app/, files/, keys/, bin/,
// kernels/ and fragments/.
const fullFile = "testdata/full/recipe.yaml"

func abs(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// problems returns err's problems as strings, checking that err is a
// *multierror.Error of *Error values.
func problems(t testing.TB, err error) []string {
	t.Helper()
	var m *multierror.Error
	if !errors.As(err, &m) {
		t.Fatalf("error is %T, want *multierror.Error: %v", err, err)
	}
	var out []string
	for _, e := range m.Errors {
		re, ok := e.(*Error)
		if !ok {
			t.Fatalf("problem is %T, want *recipe.Error: %v", e, e)
		}
		out = append(out, re.Error())
	}
	return out
}

func TestFullExampleRoundTrip(t *testing.T) {
	r, err := Load(fullFile)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir := abs(t, "testdata/full")
	want := &Recipe{
		File:     fullFile,
		Dir:      dir,
		Name:     "hello",
		Version:  "1.0.0",
		Arch:     "amd64",
		Hostname: "hello",
		Kernel: Kernel{
			Base:      "tinyconfig",
			Fragments: []Fragment{{Builtin: "virt", Line: 8}},
			Source:    "/usr/src/linux-source-6.1.tar.xz",
		},
		Cmdline:     []string{"quiet"},
		Compression: "zstd",
		Outputs:     []string{"initramfs", "disk"},
		Network: Network{Mode: "static", Interface: "eth0", Address: "10.0.2.15/24",
			Gateway: "10.0.2.2", DNS: []string{"10.0.2.3"}},
		Services: []Service{{
			Name:         "hello",
			Package:      "./app",
			PackageDir:   filepath.Join(dir, "app"),
			Line:         22,
			Path:         "/bin/hello",
			Args:         []string{"-listen", ":8080"},
			Env:          []EnvVar{{"GREETING", "hello"}},
			WorkDir:      "/",
			Restart:      "always",
			RestartLimit: RestartLimit{Burst: 5, Interval: time.Minute},
			Health: &Health{HTTP: "http://127.0.0.1:8080/healthz", Interval: time.Second,
				Timeout: time.Second, Retries: 3, StartPeriod: 30 * time.Second},
			Limits: &initconfig.Limits{Memory: 64 << 20, CPUWeight: 100, OpenFiles: 1024, Processes: 64},
		}},
		Files: []File{
			{Dest: "/etc/motd", Src: filepath.Join(dir, "files/motd"), Mode: 0o644, OwnerSet: true},
			{Dest: "/etc/hello/greeting", Content: []byte("hi\n"), HasContent: true, Mode: 0o644},
		},
		Disk: Disk{ESPSize: 64 << 20, RootSize: 64 << 20, DataSize: 128 << 20, RootCompression: "lz4", RootBlockSize: 1 << 20, BootEntries: "type1"},
		Update: Update{Tries: 3, Settle: 5 * time.Second, TrialDeadline: 2 * time.Minute,
			TrustedKeys: []string{filepath.Join(dir, "keys/release.pub")},
			Agent:       &Agent{Listen: ":8443", TokenFile: filepath.Join(dir, "keys/agent.token"), MaxBytes: 512 << 20}},
		Init: Init{ShutdownGrace: 5 * time.Second},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Load(%s) =\n%#v\nwant\n%#v", fullFile, r, want)
	}
	if !r.Has("disk") || !r.Has("initramfs") || r.Has("iso") {
		t.Errorf("Has: got disk=%v initramfs=%v iso=%v", r.Has("disk"), r.Has("initramfs"), r.Has("iso"))
	}
}

func TestMinimalDefaults(t *testing.T) {
	const file = "testdata/minimal/recipe.yaml"
	r, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir := abs(t, "testdata/minimal")
	want := &Recipe{
		File:        file,
		Dir:         dir,
		Name:        "mini-",
		Version:     "1.0",
		Arch:        "amd64",
		Hostname:    "mini", // the name without its trailing '-', to be a valid RFC 1123 label
		Kernel:      Kernel{Base: "tinyconfig", Source: "/usr/src/linux-source-6.1.tar.xz"},
		Compression: "auto",
		Outputs:     []string{"initramfs"},
		Network:     Network{Mode: "none", Interface: "eth0"},
		Services: []Service{{
			Name: "mini", Package: "./app", PackageDir: filepath.Join(dir, "app"), Path: "/bin/mini", Line: 7,
			WorkDir: "/", Restart: "always", RestartLimit: RestartLimit{Burst: 5, Interval: 60 * time.Second},
		}},
		Disk:   Disk{ESPSize: 64 << 20, RootSize: 64 << 20, DataSize: 128 << 20, RootCompression: "lz4", RootBlockSize: 1 << 20, BootEntries: "type1"},
		Update: Update{Tries: 3, Settle: 5 * time.Second, TrialDeadline: 120 * time.Second},
		Init:   Init{ShutdownGrace: 5 * time.Second},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Load(%s) =\n%#v\nwant\n%#v", file, r, want)
	}
	if r.Has("disk") || !r.Has("initramfs") {
		t.Errorf("Has: got disk=%v initramfs=%v", r.Has("disk"), r.Has("initramfs"))
	}
}

// TestOtherValidForms covers accepted variants not in the full example.
func TestOtherValidForms(t *testing.T) {
	const y = `name: alt
version: 2.0-rc1+git.abc
arch: arm64
kernel:
  prebuilt: kernels/Image-arm64
compression: none
outputs: [disk]
network: {mode: dhcp, interface: enp0s3, dns: ["2001:4860:4860::8888"]}
services:
  - name: b
    binary: bin/app-arm64
    user: nobody
    env: &e {ZED: last, A_1: 8080, EMPTY: ""}
    args: [-n, 3, true]
    restart: on-failure
    health: {tcp: "localhost:9000", retries: 1}
  - name: c_d
    package: example.com/x/cmd/c
    path: /usr/local/bin/c
    group: 100
    env: *e
    health:
      exec: [/usr/local/bin/c, --check]
      start_period: 0.5s
files:
  - dest: /srv/tree
    src: files/tree
    mode: "4755"
  - dest: /var/www
    src: ./files/../files/tree
disk: {esp_size: 34603008, root_size: 1GiB, data_size: 8192KiB, root_compression: lz4, root_block_size: 1MiB, boot_entries: uki}
update:
  settle: 0s
  trial_deadline: 1m
kernel_unused_check_absent: null
`
	_, err := Parse(fullFile, []byte(y))
	// The last key is unknown on purpose: everything else must be accepted.
	got := problems(t, err)
	want := []string{fullFile + ":35: kernel_unused_check_absent: unknown key"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	r, err := Parse(fullFile, []byte(strings.TrimSuffix(y, "kernel_unused_check_absent: null\n")))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	dir := abs(t, "testdata/full")
	if !reflect.DeepEqual(r.Kernel, Kernel{Prebuilt: filepath.Join(dir, "kernels/Image-arm64")}) {
		t.Errorf("Kernel = %+v, want only Prebuilt", r.Kernel)
	}
	if r.Arch != "arm64" || r.Compression != "none" || !reflect.DeepEqual(r.Outputs, []string{"disk"}) {
		t.Errorf("Arch, Compression, Outputs = %q, %q, %q", r.Arch, r.Compression, r.Outputs)
	}
	if want := (Network{Mode: "dhcp", Interface: "enp0s3", DNS: []string{"2001:4860:4860::8888"}}); !reflect.DeepEqual(r.Network, want) {
		t.Errorf("Network = %+v, want %+v", r.Network, want)
	}
	b, c := r.Services[0], r.Services[1]
	wantEnv := []EnvVar{{"A_1", "8080"}, {"EMPTY", ""}, {"ZED", "last"}} // sorted; the alias shares it
	if b.Binary != filepath.Join(dir, "bin/app-arm64") || b.Package != "" || b.UID != 65534 || b.GID != 65534 ||
		!reflect.DeepEqual(b.Env, wantEnv) || !reflect.DeepEqual(b.Args, []string{"-n", "3", "true"}) ||
		b.Restart != "on-failure" || b.Path != "/bin/b" {
		t.Errorf("services[0] = %+v", b)
	}
	if !reflect.DeepEqual(*b.Health, Health{TCP: "localhost:9000", Interval: time.Second, Timeout: time.Second, Retries: 1, StartPeriod: 30 * time.Second}) {
		t.Errorf("services[0].health = %+v", *b.Health)
	}
	if c.Package != "example.com/x/cmd/c" || c.PackageDir != "" || c.Path != "/usr/local/bin/c" || c.UID != 0 || c.GID != 100 ||
		!reflect.DeepEqual(c.Env, wantEnv) || !reflect.DeepEqual(c.Health.Exec, []string{"/usr/local/bin/c", "--check"}) ||
		c.Health.StartPeriod != 500*time.Millisecond {
		t.Errorf("services[1] = %+v health %+v", c, c.Health)
	}
	if f := r.Files[0]; f.Src != filepath.Join(dir, "files/tree") || f.Mode != 0o4755 || f.HasContent {
		t.Errorf("files[0] = %+v", f)
	}
	if f := r.Files[1]; f.Src != filepath.Join(dir, "files/tree") || f.Mode != 0o644 {
		t.Errorf("files[1] = %+v", f)
	}
	if r.Disk != (Disk{ESPSize: 33 << 20, RootSize: 1 << 30, DataSize: 8 << 20, RootCompression: "lz4", RootBlockSize: 1 << 20, BootEntries: "uki"}) {
		t.Errorf("Disk = %+v", r.Disk)
	}
	if r.Update.Settle != 0 || r.Update.TrialDeadline != time.Minute {
		t.Errorf("Update = %+v", r.Update)
	}
}

// badCases are recipes with known problems and the exact errors expected,
// in line order. They also seed FuzzParse.
var badCases = []struct {
	name string
	yaml string
	want []string // without the "testdata/full/recipe.yaml:" prefix
}{
	{
		name: "many problems at once",
		yaml: `name: Hello_World
version: 1.0
arch: x86
colour: blue
kernel:
  base: tinyconfig
  fragments: builtin:virt
services:
  - name: web
    package: ./app
    health:
      http: https://127.0.0.1/healthz
      retries: 0
  - name: web
    binary: ../outside
files:
  - dest: /proc/x
    content: hi
    mode: 644
`,
		want: []string{
			`1: name: must be 1-32 lower-case letters, digits or -, starting with a letter or digit, not "Hello_World"`,
			`2: version: must be a string, not a number; quote it: "1.0"`,
			`3: arch: must be amd64 or arm64, not "x86"`,
			`4: colour: unknown key`,
			`7: kernel.fragments: must be a list, not "builtin:virt"`,
			`12: services[0].health.http: must be an http:// URL`,
			`13: services[0].health.retries: must be at least 1, not 0`,
			`14: services[1].name: service name web is already used by services[0] (line 9)`,
			`15: services[1].binary: "../outside" escapes the recipe's folder`,
			`17: files[0].dest: is inside /proc, which is mounted at boot and reserved`,
			`19: files[0].mode: must be an octal string; quote it: "644"`,
		},
	},
	{
		name: "unknown keys at every level",
		yaml: `name: hello
version: "1"
verison: "2"
kernel:
  bsae: tinyconfig
network:
  mode: dhcp
  iface: eth0
services:
  - name: hello
    package: ./app
    command: /bin/sh
    restart_limit: {burst: 1, window: 5s}
    health: {http: "http://127.0.0.1:80/", intervall: 1s}
files:
  - dest: /etc/x
    content: x
    perm: "0600"
disk: {efi_size: 64MiB}
update:
  retries: 2
  agent: {listen: ":1", token_file: keys/agent.token, token: x}
init: {grace: 1s}
`,
		want: []string{
			`3: verison: unknown key (did you mean version?)`,
			`5: kernel.bsae: unknown key (did you mean base?)`,
			`8: network.iface: unknown key`,
			`12: services[0].command: unknown key`,
			`13: services[0].restart_limit.window: unknown key`,
			`14: services[0].health.intervall: unknown key (did you mean interval?)`,
			`18: files[0].perm: unknown key`,
			`19: disk.efi_size: unknown key (did you mean esp_size?)`,
			`21: update.retries: unknown key (did you mean tries?)`,
			`22: update.agent.token: unknown key`,
			`22: update.agent: needs update.trusted_keys to verify the images it receives`,
			`23: init.grace: unknown key`,
		},
	},
	{
		name: "duplicate keys",
		yaml: `name: hello
version: "1"
name: other
kernel: {}
services:
  - name: hello
    package: ./app
    env:
      A: "1"
      A: "2"
    package: ./other
`,
		want: []string{
			`3: name: duplicate key (first at line 1)`,
			`10: services[0].env.A: duplicate key (first at line 9)`,
			`11: services[0].package: duplicate key (first at line 7)`,
		},
	},
	{
		name: "missing required fields",
		yaml: `# comment lines before the root mapping
arch: amd64
outputs: [disk]
update:
  agent: {max_bytes: 1MiB}
  trusted_keys: [keys/release.pub]
`,
		want: []string{
			`2: name: is required`,
			`2: version: is required`,
			`2: kernel: is required`,
			`2: services: is required`,
			`5: update.agent.listen: is required`,
			`5: update.agent.token_file: is required`,
		},
	},
	{
		name: "missing required fields in list entries",
		yaml: `name: hello
version: "1"
kernel:
services:
  - restart: never
  - name:
    package: ./app
files:
  - mode: "0600"
`,
		want: []string{
			`3: kernel: is required`,
			`5: services[0].name: is required`,
			`5: services[0]: needs exactly one of package (a Go package to build) or binary (a prebuilt program)`,
			`6: services[1].name: is required`,
			`9: files[0].dest: is required`,
			`9: files[0]: needs exactly one of src (a file or directory) or content`,
		},
	},
	{
		name: "wrong YAML types",
		yaml: `name: [hello]
version: {major: 1}
hostname: 42
kernel: tinyconfig
cmdline: quiet
services:
  name: hello
files:
  - dest: /etc/x
    content: [a]
    owner: {uid: 0}
disk:
  esp_size: [64MiB]
update:
  tries: "3"
  settle: 5
init:
  shutdown_grace: abc
`,
		want: []string{
			`1: name: must be a string, not a list`,
			`2: version: must be a string, not a mapping`,
			`3: hostname: must be a string, not an integer; quote it: "42"`,
			`4: kernel: must be a mapping, not "tinyconfig"`,
			`5: cmdline: must be a list, not "quiet"`,
			`7: services: must be a list, not a mapping`,
			`10: files[0].content: must be a string, not a list`,
			`11: files[0].owner: must be a string, not a mapping`,
			`13: disk.esp_size: must be a size like 64MiB, not a list`,
			`15: update.tries: must be an integer, not "3"`,
			`16: update.settle: must be a duration with a unit, like 5s`,
			`18: init.shutdown_grace: must be a duration like 500ms, 5s or 2m, not "abc"`,
		},
	},
	{
		name: "integers",
		yaml: `name: hello
version: "1"
kernel: {}
services:
  - name: a
    package: ./app
    user: abc
    group: 65535
    restart_limit: {burst: 0x10, interval: 0s}
  - name: b
    package: ./app
    user: 0644
    restart_limit: {burst: 99999999999999999999}
update: {tries: 10}
`,
		want: []string{
			`7: services[0].user: must be a number from 0 to 65534, root or nobody, not "abc"`,
			`8: services[0].group: must be between 0 and 65534, not 65535`,
			`9: services[0].restart_limit.burst: must be a decimal integer, not 0x10`,
			`9: services[0].restart_limit.interval: must be greater than 0, not 0s`,
			`12: services[1].user: must be a decimal integer, not 0644`,
			`13: services[1].restart_limit.burst: 99999999999999999999 is out of range`,
			`14: update.tries: must be between 1 and 9, not 10`,
		},
	},
	{
		name: "version forms",
		yaml: `name: hello
version: 1
kernel: {}
services: [{name: a, package: ./app}]
---
`,
		want: []string{
			`2: version: must be a string, not an integer; quote it: "1"`,
			`5: a second YAML document starts here; a recipe file holds exactly one document`,
		},
	},
	{
		name: "version timestamp and bad characters",
		yaml: `name: hello
version: 2024-01-02
hostname: -bad-
kernel: {}
services: [{name: a, package: ./app}]
`,
		want: []string{
			`2: version: must be a string, not a timestamp; quote it: "2024-01-02"`,
			`3: hostname: must be an RFC 1123 label: 1-63 letters, digits or -, not starting or ending with -, not "-bad-"`,
		},
	},
	{
		name: "host paths",
		yaml: `name: hello
version: "1"
kernel:
  fragments:
    - builtin:Virt
    - ../virt.config
    - fragments/missing.config
    - fragments
    - /abs/extra.config
    - fragments/extra.config
  source: ../../linux.tar.xz
services:
  - name: a
    package: ./missing
  - name: b
    package: ./app/main.go
  - name: c
    binary: /no/such/prog
  - name: d
    package: ./...
  - name: e
    package: /abs/pkg
files:
  - dest: /etc/a
    src: files/missing
  - dest: /etc/b
    src: ../full/files/motd
update:
  trusted_keys: [keys, keys/agent.token]
`,
		want: []string{
			`5: kernel.fragments[0]: builtin fragment name must be lower-case letters, digits or -, not "Virt"`,
			`6: kernel.fragments[1]: "../virt.config" escapes the recipe's folder`,
			`7: kernel.fragments[2]: ${DIR}/fragments/missing.config does not exist`,
			`8: kernel.fragments[3]: ${DIR}/fragments is not a regular file`,
			`9: kernel.fragments[4]: must be a path relative to the recipe's folder, not the absolute path "/abs/extra.config"`,
			`11: kernel.source: "../../linux.tar.xz" escapes the recipe's folder`,
			`14: services[0].package: ${DIR}/missing does not exist`,
			`16: services[1].package: ${DIR}/app/main.go is not a directory`,
			`18: services[2].binary: /no/such/prog does not exist`,
			`20: services[3].package: must name a single package, not a pattern with ...: "./..."`,
			`22: services[4].package: must be a relative directory starting with ./ or a Go import path (optionally @version), not "/abs/pkg"`,
			`25: files[0].src: ${DIR}/files/missing does not exist`,
			`27: files[1].src: "../full/files/motd" escapes the recipe's folder`,
			`29: update.trusted_keys[0]: ${DIR}/keys is not a regular file`,
			`29: update.trusted_keys[1]: "keys/agent.token" is not a turbo-image public key (from turbo-image keygen): key:1: not a turbo-image public key: want a line starting "turbo-image-ed25519 "`,
		},
	},
	{
		name: "prebuilt kernel with build settings",
		yaml: `name: hello
version: "1"
kernel:
  base: defconfig
  prebuilt: kernels/bzImage
  source: /usr/src/linux.tar.xz
services: [{name: a, package: ./app}]
`,
		want: []string{
			`4: kernel.base: cannot be combined with kernel.prebuilt (line 5); a prebuilt kernel is used as is`,
			`6: kernel.source: cannot be combined with kernel.prebuilt (line 5); a prebuilt kernel is used as is`,
		},
	},
	{
		name: "image paths",
		yaml: `name: hello
version: "1"
kernel: {}
services:
  - name: hello
    package: ./app
  - name: two
    package: ./app
    path: bin/two
    workdir: /srv/
  - name: three
    package: ./app
    path: /etc/motd/three
files:
  - {dest: /etc/motd, content: hi}
  - {dest: /etc/motd, src: files/motd}
  - {dest: /bin/hello, content: x}
  - {dest: /, src: files/tree}
  - {dest: /init, content: x}
  - {dest: /etc/turbo/init.json, content: x}
  - {dest: /etc/../x, content: x}
  - {dest: /data, src: files/tree}
  - {dest: "/etc/a\tb", content: x}
  - {dest: /etc/motd/x, content: x}
`,
		want: []string{
			`9: services[1].path: must be an absolute path in the image (starting with /), not "bin/two"`,
			`10: services[1].workdir: must be a clean path (no . or .. elements, no // and no trailing /), like "/srv"`,
			`13: services[2].path: /etc/motd/three is inside /etc/motd, which files[0].dest (line 15) installs as a file`,
			`16: files[1].dest: /etc/motd is already used by files[0].dest (line 15)`,
			`17: files[2].dest: /bin/hello is already used by services[0].path (line 5)`,
			`18: files[3].dest: must not be / itself`,
			`19: files[4].dest: /init is reserved for turbo-image's init`,
			`20: files[5].dest: is inside /etc/turbo, which is reserved for the builder`,
			`21: files[6].dest: must be a clean path (no . or .. elements, no // and no trailing /), like "/x"`,
			`22: files[7].dest: is inside /data, which is mounted at boot and reserved`,
			`23: files[8].dest: must not contain control characters (U+0009 in "/etc/a\tb")`,
			`24: files[9].dest: /etc/motd/x is inside /etc/motd, which files[0].dest (line 15) installs as a file`,
		},
	},
	{
		name: "network",
		yaml: `name: hello
version: "1"
kernel: {}
network:
  mode: static
  interface: "eth0:1"
  gateway: 192.168.1.1
  dns: [8.8.8.8, dns.google]
services: [{name: a, package: ./app}]
`,
		want: []string{
			`5: network.address: is required when network.mode is static`,
			`6: network.interface: must be a Linux interface name (1-15 letters, digits, _ . -), not "eth0:1"`,
			`8: network.dns[1]: must be an IP address, not "dns.google"`,
		},
	},
	{
		name: "network address rules",
		yaml: `name: hello
version: "1"
kernel: {}
network: {mode: static, address: 10.0.2.15/24, gateway: 10.0.3.1}
---
`,
		want: []string{
			`1: services: is required`,
			`4: network.gateway: 10.0.3.1 is outside the network 10.0.2.0/24 of network.address`,
			`5: a second YAML document starts here; a recipe file holds exactly one document`,
		},
	},
	{
		name: "network fields for the wrong mode",
		yaml: `name: hello
version: "1"
kernel: {}
network:
  mode: dhcp
  address: 10.0.2.0/24
  gateway: 10.0.2.2
services: [{name: a, package: ./app}]
network2: {mode: none, dns: [1.1.1.1]}
`,
		want: []string{
			`6: network.address: 10.0.2.0/24 is the network's own address; give the guest's address, like 10.0.2.1/24`,
			`6: network.address: is only allowed when network.mode is static, not dhcp`,
			`7: network.gateway: is only allowed when network.mode is static, not dhcp`,
			`9: network2: unknown key (did you mean network?)`,
		},
	},
	{
		name: "dns without networking",
		yaml: `name: hello
version: "1"
kernel: {}
network: {dns: [1.1.1.1], address: 10.0.0.2/8}
services: [{name: a, package: ./app}]
`,
		want: []string{
			`4: network.address: is only allowed when network.mode is static, not none`,
			`4: network.dns: is only allowed when network.mode is static or dhcp, not none`,
		},
	},
	{
		name: "health checks",
		yaml: `name: hello
version: "1"
kernel: {}
services:
  - name: a
    package: ./app
    health:
      tcp: 127.0.0.1:80
      http: http://127.0.0.1:80/
      exec: [/bin/true]
  - name: b
    package: ./app
    health: {interval: 2s}
  - name: c
    package: ./app
    health: {http: "http://example.com:80/"}
  - name: d
    package: ./app
    health: {http: "http://127.0.0.1/"}
  - name: e
    package: ./app
    health: {tcp: "127.0.0.1:http"}
  - name: f
    package: ./app
    health: {exec: [true]}
  - name: g
    package: ./app
    health: {exec: [], timeout: -1s}
  - name: h
    package: ./app
    health: {http: "http://u:p@127.0.0.1:1/"}
  - name: i
    package: ./app
    health: {tcp: ":8080"}
`,
		want: []string{
			`9: services[0].health.http: cannot be combined with tcp (line 8); use exactly one of http, tcp or exec`,
			`10: services[0].health.exec: cannot be combined with tcp (line 8); use exactly one of http, tcp or exec`,
			`13: services[1].health: needs exactly one of http, tcp or exec`,
			`16: services[2].health.http: host must be an IP address or localhost, not "example.com"`,
			`19: services[3].health.http: must be host:port, like 127.0.0.1:8080, not "127.0.0.1"`,
			`22: services[4].health.tcp: port must be a number from 1 to 65535, not "http"`,
			`25: services[5].health.exec[0]: must be an absolute path of a program in the image, not "true"`,
			`28: services[6].health.exec: must list the program and its arguments`,
			`28: services[6].health.timeout: must be greater than 0, not -1s`,
			`31: services[7].health.http: must not contain a user name or password`,
			`34: services[8].health.tcp: must include a host, like 127.0.0.1:8080`,
		},
	},
	{
		name: "service fields",
		yaml: `name: hello
version: "1"
kernel: {}
services:
  - name: Web
    package: ./app
    binary: bin/app
    restart: sometimes
    env:
      1BAD: x
      EMPTY:
      LIST: [a]
      OK: "yes"
    args: [a, ~, "b\0c"]
  - binary: bin/app
    name: web.1
cmdline: ["", "a b", "console=ttyS0"]
`,
		want: []string{
			`5: services[0].name: must be 1-32 lower-case letters, digits, _ or -, starting with a letter or digit, not "Web"`,
			`7: services[0].binary: cannot be combined with package (line 6); use exactly one`,
			`8: services[0].restart: must be one of always, on-failure or never, not "sometimes"`,
			`10: services[0].env.1BAD: is not a valid variable name (letters, digits and _, not starting with a digit)`,
			`11: services[0].env.EMPTY: must be a string, not null; write "" for an empty value`,
			`12: services[0].env.LIST: must be a string, not a list`,
			`14: services[0].args[1]: must be a string, not null`,
			`14: services[0].args[2]: must not contain NUL bytes`,
			`16: services[1].name: must be 1-32 lower-case letters, digits, _ or -, starting with a letter or digit, not "web.1"`,
			`17: cmdline[0]: must not be empty`,
			`17: cmdline[1]: must be one word without spaces or control characters, not "a b"; list each word separately`,
		},
	},
	{
		name: "files",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
files:
  - dest: /etc/a
    src: files/motd
    content: x
    mode: "0x1ff"
    owner: "root:root"
  - dest: /etc/b
    content: x
    mode: 0o755
    owner: "0:65535"
  - dest: /etc/c
    content: x
    mode: "10644"
`,
		want: []string{
			`8: files[0].content: cannot be combined with src (line 7); use exactly one`,
			`9: files[0].mode: must be 3 or 4 octal digits, like "0644", not "0x1ff"`,
			`10: files[0].owner: must be "uid:gid" with numbers from 0 to 65534, like "0:0", not "root:root"`,
			`13: files[1].mode: must be an octal string; quote it: "0755"`,
			`14: files[1].owner: must be "uid:gid" with numbers from 0 to 65534, like "0:0", not "0:65535"`,
			`17: files[2].mode: must be 3 or 4 octal digits, like "0644", not "10644"`,
		},
	},
	{
		name: "outputs, compression, disk, update",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [disk, floppy, disk]
compression: xz
disk:
  esp_size: 32MiB
  root_size: 1000000
  data_size: 1TB
update:
  settle: 2m
  trusted_keys: [keys/release.pub]
  agent:
    listen: "0.0.0.0:99999"
    token_file: keys/missing.token
    max_bytes: 0
`,
		want: []string{
			`5: outputs[1]: must be one of initramfs, disk, qcow2, qcow2-compressed, vmdk, vhd, uki or iso, not "floppy"`,
			`5: outputs[2]: disk is already listed as outputs[0]`,
			`6: compression: must be one of auto, zstd, gzip, lz4 or none, not "xz"`,
			`8: disk.esp_size: must be at least 33MiB (the smallest FAT32 file system), not 32MiB`,
			`9: disk.root_size: must be a multiple of 1MiB, not 1000000 bytes`,
			`10: disk.data_size: must be a size in bytes or with a KiB, MiB or GiB suffix, like 64MiB, not "1TB"`,
			`12: update.settle: update.trial_deadline (2m0s) must be longer than update.settle (2m0s)`,
			`15: update.agent.listen: port must be a number from 1 to 65535, not "99999"`,
			`16: update.agent.token_file: ${DIR}/keys/missing.token does not exist`,
			`17: update.agent.max_bytes: must be greater than 0, not 0`,
		},
	},
	{
		name: "qcow2 twice",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [qcow2-compressed, disk, qcow2]
`,
		want: []string{
			`5: outputs[2]: qcow2 and qcow2-compressed both write disk.qcow2: list one`,
		},
	},
	{
		name: "slot root compression and block size",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [disk]
disk:
  root_compression: lzo
  root_block_size: 96KiB
  boot_entries: type2
`,
		want: []string{
			`7: disk.root_compression: must be one of zstd, lz4, gzip, xz or none, not "lzo"`,
			`8: disk.root_block_size: must be a power of two from 4KiB to 1MiB, not 98304 bytes`,
			`9: disk.boot_entries: must be type1 or uki, not "type2"`,
		},
	},
	{
		name: "slot root block size too large",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [disk]
disk: {root_block_size: 2MiB}
`,
		want: []string{
			`6: disk.root_block_size: must be a power of two from 4KiB to 1MiB, not 2097152 bytes`,
		},
	},
	{
		name: "data partition ext4 cannot hold",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [disk]
disk:
  data_size: 4MiB
`,
		want: []string{
			`7: disk.data_size: must be at least 8MiB (ext4 with its 4MiB journal and room for files), not 4MiB`,
		},
	},
	{
		name: "data partition too big",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [disk]
disk: {data_size: 65537MiB}
`,
		want: []string{
			`6: disk.data_size: must be at most 64GiB (its ext4 is written at build time, zeroed inode tables included), not 65537MiB`,
		},
	},
	{
		name: "empty lists",
		yaml: `name: hello
version: "1"
kernel: {}
services: []
outputs: []
`,
		want: []string{
			`4: services: must list at least one service`,
			`5: outputs: must list at least one of initramfs, disk, uki or iso`,
		},
	},
	{
		name: "disk conversions without disk",
		yaml: `name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
outputs: [initramfs, vhd, qcow2]
`,
		want: []string{
			`5: outputs[2]: qcow2 is converted from the disk image: list disk too`,
			`5: outputs[1]: vhd is converted from the disk image: list disk too`,
		},
	},
	{
		name: "yaml features",
		yaml: `base: &b {name: a, package: ./app}
name: hello
version: !!str 1.0
kernel: {}
services:
  - <<: *b
    restart: never
  - !custom x
  - {? [a]: 1}
files: !!set {? a}
cmdline: !words [a]
`,
		want: []string{
			`1: base: unknown key`,
			`6: services[0]["<<"]: merge keys (<<) are not supported; write the fields out`,
			`6: services[0].name: is required`,
			`6: services[0]: needs exactly one of package (a Go package to build) or binary (a prebuilt program)`,
			`8: services[1]: must be a mapping, not a value tagged "!custom"`,
			`9: services[2]: keys must be plain strings, not a list`,
			`9: services[2].name: is required`,
			`9: services[2]: needs exactly one of package (a Go package to build) or binary (a prebuilt program)`,
			`10: files: must be a list, not a value tagged "!!set"`,
			`11: cmdline: must be a list, not a value tagged "!words"`,
		},
	},
	{
		name: "syntax error",
		yaml: "name: hello\nversion: \"1\"\n  kernel: {}\n",
		want: []string{`2: invalid YAML: did not find expected key`}, // yaml.v3's message and line
	},
	{
		name: "empty file",
		yaml: "",
		want: []string{`the file is empty; a recipe needs at least name, version, kernel and services`},
	},
	{
		name: "only comments",
		yaml: "# nothing here\n\n",
		want: []string{`the file is empty; a recipe needs at least name, version, kernel and services`},
	},
	{
		name: "explicit empty document",
		yaml: "---\n",
		want: []string{`the file is empty; a recipe needs at least name, version, kernel and services`},
	},
	{
		name: "root is a list",
		yaml: "# a list\n- name: hello\n",
		want: []string{`2: a recipe must be a YAML mapping of keys to values, not a list`},
	},
	{
		name: "undefined alias",
		yaml: "name: *nope\n",
		want: []string{`invalid YAML: unknown anchor 'nope' referenced`},
	},
}

func TestBadRecipes(t *testing.T) {
	dir := abs(t, "testdata/full")
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(fullFile, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want %d problems", len(tc.want))
			}
			if r != nil {
				t.Errorf("Parse returned a recipe along with errors")
			}
			got := problems(t, err)
			var want []string
			for _, w := range tc.want {
				if strings.HasPrefix(w, "the file is") || strings.HasPrefix(w, "invalid YAML: unknown") {
					want = append(want, fullFile+": "+w) // whole-file problem: no line
				} else {
					want = append(want, fullFile+":"+strings.ReplaceAll(w, "${DIR}", dir))
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"recipes/hello/recipe.yaml", 14, "services[0].health.http", "must be an http:// URL"},
			"recipes/hello/recipe.yaml:14: services[0].health.http: must be an http:// URL"},
		{Error{"r.yaml", 3, "", "invalid YAML: x"}, "r.yaml:3: invalid YAML: x"},
		{Error{"r.yaml", 0, "", "the file is empty"}, "r.yaml: the file is empty"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}

	// The multi-error prints one problem per line, with no header.
	_, err := Parse("r.yaml", []byte("name: x\nversion: 1.0\nkernel: {}\nservices: [{name: a, package: example.com/a}]\nfoo: 1\n"))
	want := "r.yaml:2: version: must be a string, not a number; quote it: \"1.0\"\nr.yaml:5: foo: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("err.Error() = %q, want %q", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestSymlinks checks that a path inside the recipe's folder may not lead
// outside it through a symlink, while symlinks that stay inside are fine,
// also when the folder itself is reached through a symlink.
func TestSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	dir := filepath.Join(root, "recipe")
	for _, d := range []string{outside, filepath.Join(dir, "app"), filepath.Join(dir, "files")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(outside, "secret"), filepath.Join(dir, "files", "motd")} {
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(dir, "files", "escape"):  "../../outside/secret", // relative link leaving the folder
		filepath.Join(dir, "files", "abs"):     outside,                // absolute link to a directory outside
		filepath.Join(dir, "files", "inside"):  "motd",                 // stays inside
		filepath.Join(dir, "files", "dangles"): "nowhere",
		filepath.Join(root, "via"):             "recipe", // the folder reached through a link
	} {
		if err := os.Symlink(target, link); err != nil {
			testenv.Missing(t, "cannot create symlinks here: %v", err)
		}
	}
	const y = `name: hello
version: "1"
kernel:
  source: files/abs/linux.tar.xz
services: [{name: a, package: ./app}]
files:
  - {dest: /etc/escape, src: files/escape}
  - {dest: /etc/abs, src: files/abs/secret}
  - {dest: /etc/inside, src: files/inside}
  - {dest: /etc/dangles, src: files/dangles}
`
	_, err := Parse(filepath.Join(dir, "recipe.yaml"), []byte(y))
	realOutside, _ := filepath.EvalSymlinks(outside)
	want := []string{
		dir + "/recipe.yaml:4: kernel.source: \"files/abs/linux.tar.xz\" resolves through a symlink to " + realOutside + "/linux.tar.xz, outside the recipe's folder",
		dir + "/recipe.yaml:7: files[0].src: \"files/escape\" resolves through a symlink to " + realOutside + "/secret, outside the recipe's folder",
		dir + "/recipe.yaml:8: files[1].src: \"files/abs/secret\" resolves through a symlink to " + realOutside + "/secret, outside the recipe's folder",
		dir + "/recipe.yaml:10: files[3].src: " + dir + "/files/dangles is a broken symlink",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Through the linked folder, the inside link is accepted and resolved
	// against the folder as named by the caller.
	via := filepath.Join(root, "via")
	r, err := Parse(filepath.Join(via, "recipe.yaml"), []byte(`name: hello
version: "1"
kernel: {}
services: [{name: a, package: ./app}]
files: [{dest: /etc/inside, src: files/inside}]
`))
	if err != nil {
		t.Fatalf("Parse through a linked folder: %v", err)
	}
	if r.Dir != via || r.Files[0].Src != filepath.Join(via, "files", "inside") {
		t.Errorf("Dir = %s, Src = %s; want them under %s", r.Dir, r.Files[0].Src, via)
	}
}

// TestDocsExample checks that docs/recipe.md shows testdata/full/recipe.yaml
// as its full example, and that its multi-error example prints what the
// page says.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/recipe.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	blocks := fencedBlocks(string(doc))
	full, err := os.ReadFile(fullFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 3 || blocks[0].lang != "yaml" || blocks[0].text != string(full) {
		t.Fatalf("the first block of docs/recipe.md must be the yaml of %s", fullFile)
	}
	var bad, out string
	for i, b := range blocks {
		if b.lang == "yaml" && strings.HasPrefix(b.text, "# bad.yaml") && i+1 < len(blocks) {
			bad, out = b.text, blocks[i+1].text
		}
	}
	if bad == "" {
		t.Fatal("docs/recipe.md has no block starting with \"# bad.yaml\" followed by its output")
	}
	_, err = Parse("recipes/hello/recipe.yaml", []byte(bad))
	if err == nil {
		t.Fatal("the bad example parses without errors")
	}
	if got := err.Error() + "\n"; got != out {
		t.Errorf("bad example output:\n%s\ndocs say:\n%s", got, out)
	}
}

type block struct{ lang, text string }

func fencedBlocks(md string) []block {
	var out []block
	lines := strings.SplitAfter(md, "\n")
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(strings.TrimRight(lines[i], "\n"), "```")
		if !ok {
			continue
		}
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimRight(lines[i], "\n") != "```"; i++ {
			b.WriteString(lines[i])
		}
		out = append(out, block{lang, b.String()})
	}
	return out
}

// The tests that build a real kernel use the recipe's default source.
func TestDefaultKernelSourceIsTestenv(t *testing.T) {
	if DefaultKernelSource != testenv.KernelSource {
		t.Errorf("DefaultKernelSource %q != testenv.KernelSource %q", DefaultKernelSource, testenv.KernelSource)
	}
}

// TestDiskConversionsOrder: the disk formats are accepted in any order and
// kept in the canonical one.
func TestDiskConversionsOrder(t *testing.T) {
	y := "name: hello\nversion: \"1\"\nkernel: {}\nservices: [{name: a, package: ./app}]\noutputs: [vhd, disk, vmdk, qcow2]\n"
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := Parse(filepath.Join(dir, "recipe.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"disk", "qcow2", "vmdk", "vhd"}; !reflect.DeepEqual(r.Outputs, want) {
		t.Errorf("Outputs = %q, want %q", r.Outputs, want)
	}
}

// TestFollowRecipe covers update.channels and update.follow.
func TestFollowRecipe(t *testing.T) {
	const y = `name: hello
version: "1"
kernel: {}
outputs: [disk]
network: {mode: static, address: 10.0.2.15/24, gateway: 10.0.2.2}
services: [{name: a, package: ./app}]
update:
  channels:
    at: [keys/release.pub]
    prod: [keys/release.pub, ./keys/release.pub]
  follow: {ref: "registry.example.com:5000/acme/hello", channel: prod, interval: 2s, ca: keys/ca.pem}
`
	r, err := Parse(fullFile, []byte(y))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	key := filepath.Join(abs(t, "testdata/full"), "keys/release.pub")
	if want := map[string][]string{"at": {key}, "prod": {key, key}}; !reflect.DeepEqual(r.Update.Channels, want) {
		t.Errorf("Channels = %v, want %v", r.Update.Channels, want)
	}
	want := &Follow{Registry: "registry.example.com:5000", Repository: "acme/hello", Channel: "prod", Interval: 2 * time.Second,
		CAFile: filepath.Join(abs(t, "testdata/full"), "keys/ca.pem")}
	if !reflect.DeepEqual(r.Update.Follow, want) {
		t.Errorf("Follow = %+v, want %+v", r.Update.Follow, want)
	}
	r, err = Parse(fullFile, []byte(strings.Replace(y, "interval: 2s, ca: keys/ca.pem", "plain_http: true", 1)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f := r.Update.Follow; !f.PlainHTTP || f.Interval != DefaultFollowInterval || f.CAFile != "" {
		t.Errorf("Follow = %+v, want plain HTTP and the default interval", f)
	}
}

func init() {
	badCases = append(badCases, []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "update.follow and update.channels",
			yaml: `name: hello
version: "1"
kernel: {}
outputs: [initramfs]
services: [{name: a, package: ./app}]
update:
  channels:
    Prod: [keys/release.pub]
    at: []
    qa: keys/release.pub
    dev: [keys/agent.token, keys/missing.pub]
    canary:
  follow:
    ref: registry.example.com/acme/hello:1.0
    channel: prod
    interval: 10ms
    plain_http: "yes"
    ca: keys/release.pub
    token: x
`,
			want: []string{
				`7: update.follow: needs the disk output: a following appliance flashes its inactive disk slot`,
				`7: update.follow: needs a network (network.mode static or dhcp) to reach its registry`,
				`8: update.channels.Prod: channel "Prod": must start with a lowercase letter`,
				`9: update.channels.at: needs at least one public key file`,
				`10: update.channels.qa: must be a list, not "keys/release.pub"`,
				`11: update.channels.dev[0]: "keys/agent.token" is not a turbo-image public key (from turbo-image keygen): key:1: not a turbo-image public key: want a line starting "turbo-image-ed25519 "`,
				`11: update.channels.dev[1]: ${DIR}/keys/missing.pub does not exist`,
				`12: update.channels.canary: needs a list of public key files (from turbo-image keygen)`,
				`13: update.follow.channel: channel "prod" is not in update.channels; name the keys it trusts there`,
				`14: update.follow.ref: "registry.example.com/acme/hello:1.0" names a tag or digest; write the repository only (REGISTRY/NAME): the channel is the tag`,
				`16: update.follow.interval: must be between 1s and 24h0m0s, not 10ms`,
				`17: update.follow.plain_http: must be true or false, not "yes"`,
				`18: update.follow.ca: "keys/release.pub" holds no PEM certificate`,
				`19: update.follow.token: unknown key`,
			},
		},
		{
			name: "update.follow without channels",
			yaml: `name: hello
version: "1"
kernel: {}
outputs: [disk]
network: {mode: dhcp}
services: [{name: a, package: ./app}]
update:
  follow: {ref: "localhost:5000/UPPER", channel: "sha256-x"}
`,
			want: []string{
				`8: update.follow.ref: "localhost:5000/UPPER" is not a repository reference (REGISTRY/NAME, e.g. registry.example.com/acme/hello): invalid reference: invalid repository "UPPER"`,
				`8: update.follow.channel: channel "sha256-x": sha256-... tags belong to the OCI referrers tag schema`,
			},
		},
	}...)
}

// TestModuleVersions: an import path may carry @latest or a semantic
// version (tag or pseudo-version), kept apart from the package; a folder
// with a version, a branch or commit name, and an empty version are
// refused with the line and field.
func TestModuleVersions(t *testing.T) {
	y := `name: m
version: "1"
kernel: {}
services:
  - name: a
    package: github.com/nats-io/nats-server/v2@v2.15.2
  - name: b
    package: example.com/x/cmd/y@latest
  - name: c
    package: example.com/x@v0.0.0-20240101000000-abcdefabcdef
  - name: d
    package: ./app@v1.0.0
  - name: e
    package: example.com/x@main
  - name: f
    package: example.com/x@
  - name: g
    package: example.com/x@1.2.3
  - name: h
    package: "@v1.0.0"
`
	_, err := Parse("r.yaml", []byte(y))
	got := problems(t, err)
	want := []string{
		`r.yaml:12: services[3].package: a version (@v1.0.0) goes with a Go import path, not with the folder "./app": a folder is built from the code in it`,
		`r.yaml:14: services[4].package: version "main" must be latest or a semantic version like v1.2.3 (a tag or pseudo-version; a branch or commit name would not pin the build)`,
		`r.yaml:16: services[5].package: version "" must be latest or a semantic version like v1.2.3 (a tag or pseudo-version; a branch or commit name would not pin the build)`,
		`r.yaml:18: services[6].package: version "1.2.3" must be latest or a semantic version like v1.2.3 (a tag or pseudo-version; a branch or commit name would not pin the build)`,
		`r.yaml:20: services[7].package: must be a relative directory starting with ./ or a Go import path (optionally @version), not "@v1.0.0"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r, err := Parse("r.yaml", []byte(strings.Split(y, "  - name: d\n")[0]))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range [][2]string{{"github.com/nats-io/nats-server/v2", "v2.15.2"}, {"example.com/x/cmd/y", "latest"}, {"example.com/x", "v0.0.0-20240101000000-abcdefabcdef"}} {
		if s := r.Services[i]; s.Package != w[0] || s.Version != w[1] || s.PackageDir != "" || s.Line != 6+2*i {
			t.Errorf("services[%d] = package %q version %q dir %q line %d, want %q %q", i, s.Package, s.Version, s.PackageDir, s.Line, w[0], w[1])
		}
	}
}

func TestDataScrub(t *testing.T) {
	base := "name: m\nversion: \"1\"\nkernel: {}\nservices:\n  - name: hello\n    package: example.com/hello\n"
	r, err := Parse("r.yaml", []byte(base+"data:\n  scrub: [/bin/hello, -scrub]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/bin/hello", "-scrub"}; !reflect.DeepEqual(r.Data.Scrub, want) {
		t.Errorf("Data.Scrub = %q, want %q", r.Data.Scrub, want)
	}
	r, err = Parse("r.yaml", []byte(base+"data:\n  quiesce: [/bin/hello, -pause]\n  resume: [/bin/hello, -resume]\n"))
	if err != nil || !reflect.DeepEqual(r.Data.Quiesce, []string{"/bin/hello", "-pause"}) || !reflect.DeepEqual(r.Data.Resume, []string{"/bin/hello", "-resume"}) {
		t.Errorf("quiesce/resume: %q %q, %v", r.Data.Quiesce, r.Data.Resume, err)
	}
	r, err = Parse("r.yaml", []byte(base))
	if err != nil || r.Data.Scrub != nil {
		t.Errorf("no data: Scrub = %q, err %v; want nil", r.Data.Scrub, err)
	}
	for _, tc := range []struct{ y, want string }{
		{"data:\n  scrub: []\n", `r.yaml:8: data.scrub: must name a program: [/bin/PROGRAM, ARG...]`},
		{"data:\n  scrub: /bin/hello\n", `r.yaml:8: data.scrub: must be a list, not "/bin/hello"`},
		{"data:\n  scrub: [bin/hello]\n", `r.yaml:8: data.scrub[0]: must be the absolute, clean path of a program in the image, not "bin/hello"`},
		{"data:\n  scrub: [/bin/../bin/hello]\n", `r.yaml:8: data.scrub[0]: must be the absolute, clean path of a program in the image, not "/bin/../bin/hello"`},
		{"data:\n  scrub:\n    - /bin/masker\n", `r.yaml:9: data.scrub[0]: /bin/masker is not in the image: name a service's program or a files[] entry`},
		{"data:\n  scrub: [/bin]\n", `r.yaml:8: data.scrub[0]: /bin is not in the image: name a service's program or a files[] entry`},
		{"data:\n  quiet: true\n", `r.yaml:8: data.quiet: unknown key`},
		{"data:\n  quiesce: [/bin/nope]\n", `r.yaml:8: data.quiesce[0]: /bin/nope is not in the image: name a service's program or a files[] entry`},
		{"data:\n  resume: [/bin/hello]\n", `r.yaml:8: data.resume: needs data.quiesce: resume undoes what quiesce did`},
	} {
		_, err := Parse("r.yaml", []byte(base+tc.y))
		got := problems(t, err)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%q: problems %q, want %q", tc.y, got, tc.want)
		}
	}
}
