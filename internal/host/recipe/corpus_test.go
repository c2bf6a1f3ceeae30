package recipe

import (
	"bytes"
	"debug/elf"
	"debug/pe"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// The recipe corpus: bad (and a few good) recipes, each made by the
// generator below, which says how the case was made and what the checker
// must answer. `go test ./internal/host/recipe -run TestCorpusFiles
// -update` writes it to testdata/corpus/<case>/ (recipe.yaml, the files it
// names, and CASE with the how, the setup steps for what git cannot hold,
// and the expected problems); TestCorpusFiles fails when the checked-in
// corpus and the generator disagree. TestRecipeCorpus runs every case
// through Parse; FuzzParse uses every recipe.yaml as a seed.

var update = flag.Bool("update", false, "rewrite testdata/corpus from the generator")

const corpusDir = "testdata/corpus"

// want is one expected problem: its line and field exactly, and a part of
// its message.
type want struct {
	line  int
	field string
	frag  string
}

// step makes what git cannot hold: a FIFO, a socket, a device node, an
// unreadable file, a file whose name is not UTF-8.
type step struct {
	op, path, arg string
}

type corpusCase struct {
	name, how string
	yaml      string
	files     map[string][]byte // besides recipe.yaml; a "/" suffix makes a folder
	setup     []step
	want      []want // empty: the recipe is valid
}

// base is the head of most cases' recipes: lines 1-6.
const base = `name: c
version: "1"
kernel: {prebuilt: k/bzImage}
services:
  - name: hello
    binary: bin/hello
`

// baseFiles are the files base names.
func baseFiles(extra map[string][]byte) map[string][]byte {
	m := map[string][]byte{
		"k/bzImage": fakeBzImage(),
		"bin/hello": minimalELF(elf.EM_X86_64, ""),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func with(extra ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = []byte(extra[i+1])
	}
	return baseFiles(m)
}

// corpus is the generator: every case, named by how it was made.
func corpus() []corpusCase {
	script := []byte("#!/bin/sh\necho hi\n")
	dynamic := minimalELF(elf.EM_X86_64, "/lib64/ld-linux-x86-64.so.2")
	armELF := minimalELF(elf.EM_AARCH64, "")
	efi := minimalPE(pe.IMAGE_FILE_MACHINE_AMD64, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	efiArm := minimalPE(pe.IMAGE_FILE_MACHINE_ARM64, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	winApp := minimalPE(pe.IMAGE_FILE_MACHINE_AMD64, pe.IMAGE_SUBSYSTEM_WINDOWS_CUI)
	long := strings.Repeat("n", 256)
	cs := []corpusCase{
		// Issue 9 defect 2: a src folder overrides a service or reserved paths.
		{name: "tree-overrides-service-binary", how: "files[0] copies folder tree_bin (holding hello) to /bin, where service hello's binary goes",
			yaml:  base + "files:\n  - dest: /bin\n    src: tree_bin\n",
			files: baseFiles(map[string][]byte{"tree_bin/hello": []byte("not the service")}),
			want:  []want{{9, "files[0].src", `/bin/hello (from "tree_bin/hello") is already used by services[0].path`}}},
		{name: "tree-into-etc-turbo", how: "files[0] copies folder tree_etc (holding turbo/modules) to /etc, reaching the builder's /etc/turbo",
			yaml:  base + "files:\n  - dest: /etc\n    src: tree_etc\n",
			files: baseFiles(map[string][]byte{"tree_etc/turbo/modules": []byte("x")}),
			want:  []want{{9, "files[0].src", `"tree_etc/turbo" (as "/etc/turbo"): is inside /etc/turbo, which is reserved for the builder`}}},
		{name: "tree-holds-fifo", how: "the src folder holds a FIFO (made by setup)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"fifo", "tree/pipe", ""}},
			want:  []want{{9, "files[0].src", `"tree/pipe" is a named pipe (FIFO); a src folder may hold only regular files, folders and symlinks`}}},
		{name: "tree-holds-socket", how: "the src folder holds a unix socket (made by setup)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"socket", "tree/s", ""}},
			want:  []want{{9, "files[0].src", `"tree/s" is a socket`}}},
		{name: "tree-holds-device", how: "the src folder holds a character device (made by setup as root; skipped otherwise)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"chardev", "tree/null", ""}},
			want:  []want{{9, "files[0].src", `"tree/null" is a character device`}}},
		{name: "tree-holds-unreadable-file", how: "the src folder holds a file with mode 000 (made by setup; skipped as root, who reads anyway)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/secret", "x"),
			setup: []step{{"chmod000", "tree/secret", ""}},
			want:  []want{{9, "files[0].src", `cannot read "tree/secret": permission denied`}}},
		{name: "tree-name-newline", how: "a file in the src folder has a newline in its name",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"file", "tree/a\nb", "x"}},
			want:  []want{{9, "files[0].src", `(as "/srv/a\nb"): must not contain control characters (U+000A`}}},
		{name: "tree-name-rtl-override", how: "a file in the src folder has U+202E (right-to-left override) in its name",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"file", "tree/evil\u202etxt.sh", "x"}},
			want:  []want{{9, "files[0].src", `must not contain the invisible character U+202E`}}},
		{name: "tree-name-not-utf8", how: "a file in the src folder has byte 0xff in its name (made by setup)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"file", "tree/bad\xff", "x"}},
			want:  []want{{9, "files[0].src", `must be valid UTF-8`}}},
		{name: "tree-symlink-target-newline", how: "a symlink in the src folder points to a name with a newline (made by setup)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"symlink", "tree/link", "/x\ny"}},
			want:  []want{{9, "files[0].src", `the target of the symlink "tree/link" must not contain control characters`}}},
		{name: "tree-passwd-as-folder", how: "the src folder copied to /etc holds a folder passwd/, where the builder writes the file /etc/passwd",
			yaml: base + "files:\n  - dest: /etc\n    src: tree\n", files: with("tree/passwd/x", "x"),
			want: []want{{9, "files[0].src", `/etc/passwd (from "tree/passwd") is a file the builder writes; it may be replaced by a file, not a folder`}}},
		{name: "tree-beneath-resolv-conf", how: "the src folder copied to /etc holds resolv.conf/x; the builder makes /etc/resolv.conf a symlink",
			yaml: base + "files:\n  - dest: /etc\n    src: tree\n", files: with("tree/resolv.conf/x", "x"),
			want: []want{{9, "files[0].src", `/etc/resolv.conf (from "tree/resolv.conf") is a symlink the builder writes; it may be replaced by a file, not a folder`}}},
		{name: "file-beneath-tree-symlink", how: "the src folder holds a symlink lib; files[1] puts a file at lib/x through it",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n  - dest: /srv/lib/x\n    content: x\n", files: with("tree/ok", "x"),
			setup: []step{{"symlink", "tree/lib", "/usr/lib"}},
			want:  []want{{10, "files[1].dest", `/srv/lib/x is inside /srv/lib, which files[0].src ("tree/lib", line 9) installs as a symlink`}}},
		{name: "two-trees-overlap", how: "files[0] copies a folder holding sub/a to /srv; files[1] copies another to /srv/sub",
			yaml:  base + "files:\n  - dest: /srv\n    src: t1\n  - dest: /srv/sub\n    src: t2\n",
			files: with("t1/sub/a", "x", "t2/b", "y"),
			want:  []want{{10, "files[1].dest", `/srv/sub is already used by files[0].src ("t1/sub", line 9)`}}},
		{name: "tree-into-bin-file", how: "files[0] copies a folder to /bin holding only other names: allowed",
			yaml: base + "files:\n  - dest: /bin\n    src: tree\n", files: with("tree/tool", "x")},
		{name: "tree-replaces-generated-files", how: "files[0] copies a folder to /etc holding hostname and motd: generated files may be replaced",
			yaml: base + "files:\n  - dest: /etc\n    src: tree\n", files: with("tree/hostname", "h\n", "tree/motd", "hi\n")},
		{name: "tree-symlink-outside-ok", how: "the src folder holds a symlink to /usr/share; it is copied as a link, not followed",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: with("tree/ok", "x"),
			setup: []step{{"symlink", "tree/share", "/usr/share"}}},
		{name: "src-folder-is-symlink-outside", how: "files[0].src is a symlink to /etc on the host (made by setup)",
			yaml: base + "files:\n  - dest: /srv\n    src: tree\n", files: baseFiles(nil),
			setup: []step{{"symlink", "tree", "/etc"}},
			want:  []want{{9, "files[0].src", `"tree" resolves through a symlink to /etc, outside the recipe's folder`}}},
		{name: "src-file-is-fifo", how: "files[0].src names a FIFO (made by setup)",
			yaml: base + "files:\n  - dest: /srv/p\n    src: pipe\n", files: baseFiles(nil),
			setup: []step{{"fifo", "pipe", ""}},
			want:  []want{{9, "files[0].src", `pipe is neither a regular file nor a directory`}}},

		// Issue 9 defect 9: problems caught late or unclearly.
		{name: "dest-with-space-ok", how: `files[0].dest is "/etc/my file": a space is a legal name character`,
			yaml: base + "files:\n  - dest: /etc/my file\n    content: x\n", files: baseFiles(nil)},
		{name: "dest-rtl-override", how: "files[0].dest holds U+202E",
			yaml: base + "files:\n  - dest: \"/etc/\\u202Egnp.sh\"\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `must not contain the invisible character U+202E`}}},
		{name: "dest-zero-width-space", how: "files[0].dest holds U+200B",
			yaml: base + "files:\n  - dest: \"/etc/mo\\u200Btd\"\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `U+200B`}}},
		{name: "dest-line-separator", how: "files[0].dest holds U+2028 (line separator)",
			yaml: base + "files:\n  - dest: \"/etc/a\\u2028b\"\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `U+2028`}}},
		{name: "dest-newline", how: "files[0].dest holds a newline",
			yaml: base + "files:\n  - dest: \"/etc/a\\nb\"\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `must not contain control characters (U+000A`}}},
		{name: "dest-name-too-long", how: "files[0].dest has a 256-byte name",
			yaml: base + "files:\n  - dest: /etc/" + long + "\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `has a name of 256 bytes`}}},
		{name: "dest-under-init", how: "files[0].dest is /init/x, beneath the init program",
			yaml: base + "files:\n  - dest: /init/x\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `/init is reserved for turbo-image's init`}}},
		{name: "dest-etc-as-file", how: "files[0] writes content to /etc, a folder of every image",
			yaml: base + "files:\n  - dest: /etc\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `/etc is a folder in every image; it cannot be a file`}}},
		{name: "dest-bin-as-file", how: "files[0] copies a file to /bin",
			yaml: base + "files:\n  - dest: /bin\n    src: f\n", files: with("f", "x"),
			want: []want{{8, "files[0].dest", `/bin is a folder in every image; it cannot be a file`}}},
		{name: "dest-root-as-file", how: "files[0] writes content to /root",
			yaml: base + "files:\n  - dest: /root\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `/root is a folder in every image`}}},
		{name: "dest-beneath-resolv-conf", how: "files[0].dest is /etc/resolv.conf/x; the builder makes /etc/resolv.conf a symlink",
			yaml: base + "files:\n  - dest: /etc/resolv.conf/x\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `is inside /etc/resolv.conf, which the builder writes as a symlink`}}},
		{name: "dest-beneath-passwd", how: "files[0].dest is /etc/passwd/x, beneath a generated file",
			yaml: base + "files:\n  - dest: /etc/passwd/x\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `is inside /etc/passwd, which the builder writes as a file`}}},
		{name: "dest-replaces-passwd-ok", how: "files[0] replaces the generated /etc/passwd: allowed",
			yaml: base + "files:\n  - dest: /etc/passwd\n    content: \"root:x:0:0::/root:/bin/false\\n\"\n", files: baseFiles(nil)},
		{name: "dest-beneath-tmp", how: "files[0].dest is /tmp/x, mounted over at boot",
			yaml: base + "files:\n  - dest: /tmp/x\n    content: x\n", files: baseFiles(nil),
			want: []want{{8, "files[0].dest", `is inside /tmp, which is mounted at boot and reserved`}}},
		{name: "service-path-passwd", how: "services[0].path is /etc/passwd, a file the builder writes",
			yaml:  "name: c\nversion: \"1\"\nkernel: {prebuilt: k/bzImage}\nservices:\n  - name: hello\n    binary: bin/hello\n    path: /etc/passwd\n",
			files: baseFiles(nil),
			want:  []want{{7, "services[0].path", `/etc/passwd is a file the builder writes; choose another path for the program`}}},
		{name: "service-path-etc", how: "services[0].path is /etc, a folder of every image",
			yaml:  "name: c\nversion: \"1\"\nkernel: {prebuilt: k/bzImage}\nservices:\n  - name: hello\n    binary: bin/hello\n    path: /etc\n",
			files: baseFiles(nil),
			want:  []want{{7, "services[0].path", `/etc is a folder the builder writes`}}},
		{name: "service-path-init-child", how: "services[0].path is /init/hello",
			yaml:  "name: c\nversion: \"1\"\nkernel: {prebuilt: k/bzImage}\nservices:\n  - name: hello\n    binary: bin/hello\n    path: /init/hello\n",
			files: baseFiles(nil),
			want:  []want{{7, "services[0].path", `/init is reserved`}}},
		{name: "workdir-rtl", how: "services[0].workdir holds U+202E",
			yaml: base + "    workdir: \"/srv/\\u202Ex\"\n", files: baseFiles(nil),
			want: []want{{7, "services[0].workdir", `U+202E`}}},
		{name: "cmdline-rtl", how: "cmdline[0] holds U+202E",
			yaml: base + "cmdline: [\"quiet\\u202E\"]\n", files: baseFiles(nil),
			want: []want{{7, "cmdline[0]", `must be one word without spaces or control characters`}}},
		{name: "binary-is-script", how: "services[0].binary is a shell script",
			yaml: base, files: baseFiles(map[string][]byte{"bin/hello": script}),
			want: []want{{6, "services[0].binary", `"bin/hello" is a script ("#!/bin/sh"), not an ELF executable`}}},
		{name: "binary-is-dynamic", how: "services[0].binary is an ELF with PT_INTERP (dynamically linked)",
			yaml: base, files: baseFiles(map[string][]byte{"bin/hello": dynamic}),
			want: []want{{6, "services[0].binary", `is dynamically linked; interpreter /lib64/ld-linux-x86-64.so.2`}}},
		{name: "binary-dynamic-with-other-problems", how: "a dynamic binary and a bad version in one recipe: both reported in one run",
			yaml: strings.Replace(base, `version: "1"`, `version: "1 0"`, 1), files: baseFiles(map[string][]byte{"bin/hello": dynamic}),
			want: []want{{2, "version", `must be 1-64 letters`}, {6, "services[0].binary", `is dynamically linked`}}},
		{name: "binary-wrong-arch", how: "services[0].binary is an arm64 ELF in an amd64 recipe",
			yaml: base, files: baseFiles(map[string][]byte{"bin/hello": armELF}),
			want: []want{{6, "services[0].binary", `is built for arm64 (EM_AARCH64), but the image is amd64 (EM_X86_64)`}}},
		{name: "binary-empty", how: "services[0].binary is an empty file",
			yaml: base, files: baseFiles(map[string][]byte{"bin/hello": nil}),
			want: []want{{6, "services[0].binary", `is not an ELF executable`}}},
		{name: "binary-random", how: "services[0].binary is random-looking bytes",
			yaml: base, files: baseFiles(map[string][]byte{"bin/hello": []byte("\x13\x37\x00\xffnot a program")}),
			want: []want{{6, "services[0].binary", `is not an ELF executable`}}},
		{name: "binary-truncated-elf", how: "services[0].binary is the first 20 bytes of an ELF",
			yaml: base, files: baseFiles(map[string][]byte{"bin/hello": minimalELF(elf.EM_X86_64, "")[:20]}),
			want: []want{{6, "services[0].binary", `is not a valid ELF executable`}}},
		{name: "binary-is-fifo", how: "services[0].binary is a FIFO (made by setup)",
			yaml: base, files: map[string][]byte{"k/bzImage": fakeBzImage()},
			setup: []step{{"fifo", "bin/hello", ""}},
			want:  []want{{6, "services[0].binary", `is not a regular file`}}},
		{name: "binary-symlink-dev-zero", how: "services[0].binary is a symlink to /dev/zero (made by setup)",
			yaml: base, files: map[string][]byte{"k/bzImage": fakeBzImage(), "bin/": nil},
			setup: []step{{"symlink", "bin/hello", "/dev/zero"}},
			want:  []want{{6, "services[0].binary", `resolves through a symlink to /dev/zero, outside the recipe's folder`}}},
		{name: "recipe-not-utf8", how: "byte 0xff in a comment on line 3",
			yaml: "name: c\nversion: \"1\"\n# caf\xff\n", want: []want{{3, "", `the file is not UTF-8 text: byte 0xff at column 6`}}},
		{name: "recipe-latin1-value", how: "a Latin-1 encoded é (0xe9) in the version on line 2",
			yaml: "name: c\nversion: \"caf\xe9\"\n", want: []want{{2, "", `byte 0xe9 at column 14`}}},
		{name: "recipe-utf16", how: "the recipe saved as UTF-16 with a byte-order mark",
			yaml: "\xff\xfen\x00a\x00", want: []want{{1, "", `the file is UTF-16 text`}}},
		{name: "systemd-boot-is-passwd", how: "disk.systemd_boot is /etc/passwd",
			yaml: base + "outputs: [disk]\ndisk: {systemd_boot: /etc/passwd}\n", files: baseFiles(nil),
			want: []want{{8, "disk.systemd_boot", `"/etc/passwd" is not an EFI application`}}},
		{name: "systemd-boot-arm64-on-amd64", how: "disk.systemd_boot is an arm64 EFI application in an amd64 recipe",
			yaml: base + "outputs: [disk]\ndisk: {systemd_boot: sd.efi}\n", files: baseFiles(map[string][]byte{"sd.efi": efiArm}),
			want: []want{{8, "disk.systemd_boot", `is an EFI application for machine 0xaa64, but the image is amd64`}}},
		{name: "systemd-boot-windows-app", how: "disk.systemd_boot is a PE of the Windows console subsystem",
			yaml: base + "outputs: [disk]\ndisk: {systemd_boot: sd.efi}\n", files: baseFiles(map[string][]byte{"sd.efi": winApp}),
			want: []want{{8, "disk.systemd_boot", `is a PE file of subsystem 3, not an EFI application`}}},
		{name: "systemd-boot-ok", how: "disk.systemd_boot is an amd64 EFI application",
			yaml: base + "outputs: [disk]\ndisk: {systemd_boot: sd.efi}\n", files: baseFiles(map[string][]byte{"sd.efi": efi})},
		{name: "systemd-boot-dev-zero", how: "disk.systemd_boot is /dev/zero",
			yaml: base + "disk: {systemd_boot: /dev/zero}\n", files: baseFiles(nil),
			want: []want{{7, "disk.systemd_boot", `/dev/zero is not a regular file`}}},
		{name: "data-size-4mib", how: "disk.data_size 4MiB, where ext4 cannot create its journal (issue 9, defect 12)",
			yaml: base + "outputs: [disk]\ndisk: {data_size: 4MiB}\n", files: baseFiles(nil),
			want: []want{{8, "disk.data_size", `must be at least 8MiB (ext4 with its 4MiB journal and room for files), not 4MiB`}}},
		{name: "data-size-too-big", how: "disk.data_size 1 MiB over the 64GiB maximum",
			yaml: base + "outputs: [disk]\ndisk: {data_size: 65537MiB}\n", files: baseFiles(nil),
			want: []want{{8, "disk.data_size", `must be at most 64GiB`}}},
		{name: "data-size-limits-ok", how: "disk.data_size at the smallest size allowed",
			yaml: base + "outputs: [disk]\ndisk: {data_size: 8MiB}\n", files: baseFiles(nil)},
		{name: "kernel-random-bytes", how: "kernel.prebuilt is random-looking bytes",
			yaml: base, files: baseFiles(map[string][]byte{"k/bzImage": bytes.Repeat([]byte{0x5a, 0x13}, 600)}),
			want: []want{{3, "kernel.prebuilt", `"k/bzImage" is not an x86 Linux bzImage`}}},
		{name: "kernel-empty", how: "kernel.prebuilt is an empty file",
			yaml: base, files: baseFiles(map[string][]byte{"k/bzImage": nil}),
			want: []want{{3, "kernel.prebuilt", `is not an x86 Linux bzImage`}}},
		{name: "kernel-vmlinux", how: "kernel.prebuilt is an ELF (vmlinux, not bzImage)",
			yaml: base, files: baseFiles(map[string][]byte{"k/bzImage": minimalELF(elf.EM_X86_64, "")}),
			want: []want{{3, "kernel.prebuilt", `is an ELF file (vmlinux?)`}}},
		{name: "kernel-arm64-on-amd64", how: "kernel.prebuilt is an arm64 Image in an amd64 recipe",
			yaml: base, files: baseFiles(map[string][]byte{"k/bzImage": fakeArm64Image()}),
			want: []want{{3, "kernel.prebuilt", `is an arm64 Image, but the image is amd64`}}},
		{name: "kernel-bzimage-on-arm64", how: "kernel.prebuilt is an x86 bzImage in an arm64 recipe",
			yaml:  "arch: arm64\n" + base,
			files: baseFiles(map[string][]byte{"bin/hello": armELF}),
			want:  []want{{4, "kernel.prebuilt", `is an x86 bzImage, but the image is arm64`}}},
		{name: "kernel-gzip", how: "kernel.prebuilt is gzip-compressed",
			yaml: base, files: baseFiles(map[string][]byte{"k/bzImage": {0x1f, 0x8b, 8, 0}}),
			want: []want{{3, "kernel.prebuilt", `is gzip-compressed`}}},
		{name: "kernel-dev-zero", how: "kernel.prebuilt is /dev/zero",
			yaml:  strings.Replace(base, "k/bzImage", "/dev/zero", 1),
			files: baseFiles(nil),
			want:  []want{{3, "kernel.prebuilt", `/dev/zero is not a regular file`}}},
		{name: "trusted-key-garbage", how: "update.trusted_keys[0] is not a public key",
			yaml: base + "update: {trusted_keys: [k.pub]}\n", files: with("k.pub", "hello\n"),
			want: []want{{7, "update.trusted_keys[0]", `"k.pub" is not a turbo-image public key`}}},
		{name: "agent-token-short", how: "update.agent.token_file holds 5 characters",
			yaml:  base + "update:\n  trusted_keys: [k.pub]\n  agent: {listen: \":8443\", token_file: tok}\n",
			files: with("k.pub", "turbo-image-ed25519 8Wqb3Kv77iK9e6bY4PSsqdAp2VmvGPUsHb00YqSTrmw=\n", "tok", "short\n"),
			want:  []want{{9, "update.agent.token_file", `"tok" holds a token shorter than 16 characters`}}},
		{name: "health-exec-not-in-image", how: "services[0].health.exec runs /bin/sh, which nothing puts into the image",
			yaml: base + "    health: {exec: [/bin/sh, -c, \"true\"]}\n", files: baseFiles(nil),
			want: []want{{7, "services[0].health.exec[0]", `/bin/sh is not in the image: no service or files[] entry installs it`}}},
		{name: "health-exec-is-folder", how: "services[0].health.exec runs /srv, which files[0] makes a folder",
			yaml: base + "    health: {exec: [/srv]}\nfiles:\n  - dest: /srv\n    src: tree\n", files: with("tree/a", "x"),
			want: []want{{7, "services[0].health.exec[0]", `/srv is a folder in the image (files[0].dest (line 9)), not a program`}}},
		{name: "health-exec-own-binary-ok", how: "services[0].health.exec runs the service's own binary /bin/hello",
			yaml: base + "    health: {exec: [/bin/hello, -check]}\n", files: baseFiles(nil)},
		{name: "fragment-bad-syntax", how: "kernel.fragments[0] is a file with a line that is not Kconfig syntax",
			yaml:  strings.Replace(base, "kernel: {prebuilt: k/bzImage}", "kernel: {fragments: [extra.config]}", 1),
			files: with("extra.config", "CONFIG_A=y\nset CONFIG_B y\n"),
			want:  []want{{3, "kernel.fragments[0]", `"extra.config" is not a kernel config fragment: extra.config:2: expected CONFIG_NAME=value`}}},
		{name: "builtin-fragment-missing", how: "kernel.fragments names builtin:nosuch",
			yaml:  strings.Replace(base, "kernel: {prebuilt: k/bzImage}", "kernel: {fragments: [builtin:nosuch]}", 1),
			files: baseFiles(nil),
			want:  []want{{3, "kernel.fragments[0]", `no shipped fragment "nosuch"`}}},
	}
	return cs
}

// materialize writes a case into dir and runs its setup steps. It returns
// why the case cannot run here, or "".
func materialize(t testing.TB, c corpusCase, dir string, withSetup bool) string {
	t.Helper()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("recipe.yaml", []byte(c.yaml))
	for name, data := range c.files {
		write(name, data)
	}
	if !withSetup {
		return ""
	}
	for _, s := range c.setup {
		p := filepath.Join(dir, filepath.FromSlash(s.path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		var err error
		switch s.op {
		case "fifo":
			err = syscall.Mkfifo(p, 0o644)
		case "socket":
			var l net.Listener
			l, err = net.Listen("unix", p)
			if err == nil {
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				l.Close()
			}
		case "chardev":
			if os.Geteuid() != 0 {
				return "making a device node needs root"
			}
			err = syscall.Mknod(p, syscall.S_IFCHR|0o644, 1<<8|3)
		case "chmod000":
			if os.Geteuid() == 0 {
				return "root reads a file of mode 000"
			}
			err = os.Chmod(p, 0)
		case "symlink":
			err = os.Symlink(s.arg, p)
		case "file":
			err = os.WriteFile(p, []byte(s.arg), 0o644)
		default:
			t.Fatalf("unknown setup step %q", s.op)
		}
		if err != nil {
			return fmt.Sprintf("setup %s %s: %v", s.op, s.path, err)
		}
	}
	return ""
}

// check runs a materialized case through Parse and returns what differs
// from its expectation.
func check(t testing.TB, c corpusCase, dir string) []string {
	file := filepath.Join(dir, "recipe.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(file, data)
	var got []string
	if err != nil {
		for _, p := range problems(t, err) {
			got = append(got, strings.ReplaceAll(strings.TrimPrefix(p, file), dir, "${DIR}"))
		}
	}
	var diffs []string
	used := make([]bool, len(got))
	for _, w := range c.want {
		prefix := ":" + strconv.Itoa(w.line) + ": "
		if w.line == 0 {
			prefix = ": "
		}
		if w.field != "" {
			prefix += w.field + ": "
		}
		found := false
		for i, g := range got {
			if !used[i] && strings.HasPrefix(g, prefix) && strings.Contains(g, w.frag) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("missing: recipe.yaml%s…%s…", prefix, w.frag))
		}
	}
	for i, g := range got {
		if !used[i] {
			diffs = append(diffs, "unexpected: recipe.yaml"+g)
		}
	}
	return diffs
}

// TestRecipeCorpus runs every case of the corpus through the checker: each
// expected problem is reported (line, field, message) and nothing else.
func TestRecipeCorpus(t *testing.T) {
	cases := corpus()
	if len(cases) < 60 {
		t.Fatalf("corpus has %d cases", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("case %s twice", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if why := materialize(t, c, dir, true); why != "" {
				if strings.Contains(why, "root") {
					// Root reads what a mode-000 file hides: no
					// machine running as root can show this case.
					testenv.SkipUnsupported(t, "%s", why)
				}
				testenv.Missing(t, "cannot set up: %s", why)
			}
			if diffs := check(t, c, dir); len(diffs) > 0 {
				t.Errorf("%s\n%s", c.how, strings.Join(diffs, "\n"))
			}
		})
	}
}

// caseText is a case's CASE file: how it was made, its setup steps and
// its expected problems.
func caseText(c corpusCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "how: %s\n", c.how)
	for _, s := range c.setup {
		fmt.Fprintf(&b, "setup: %s %q %q\n", s.op, s.path, s.arg)
	}
	if len(c.want) == 0 {
		b.WriteString("want: valid\n")
	}
	for _, w := range c.want {
		fmt.Fprintf(&b, "want: recipe.yaml:%d: %s: …%s…\n", w.line, w.field, w.frag)
	}
	return b.String()
}

// TestCorpusFiles keeps testdata/corpus equal to the generator (rewrite it
// with -update).
func TestCorpusFiles(t *testing.T) {
	cases := corpus()
	if *update {
		if err := os.RemoveAll(corpusDir); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			dir := filepath.Join(corpusDir, c.name)
			materialize(t, c, dir, false)
			if err := os.WriteFile(filepath.Join(dir, "CASE"), []byte(caseText(c)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
		dir := filepath.Join(corpusDir, c.name)
		got, err := os.ReadFile(filepath.Join(dir, "CASE"))
		if err != nil || string(got) != caseText(c) {
			t.Errorf("%s: CASE differs from the generator (run with -update): %v", c.name, err)
			continue
		}
		y, err := os.ReadFile(filepath.Join(dir, "recipe.yaml"))
		if err != nil || string(y) != c.yaml {
			t.Errorf("%s: recipe.yaml differs from the generator (run with -update)", c.name)
		}
		for name, data := range c.files {
			if strings.HasSuffix(name, "/") {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name))); err != nil || !bytes.Equal(b, data) {
				t.Errorf("%s: %s differs from the generator (run with -update)", c.name, name)
			}
		}
	}
	entries, _ := os.ReadDir(corpusDir)
	var onDisk []string
	for _, e := range entries {
		onDisk = append(onDisk, e.Name())
	}
	sort.Strings(names)
	if strings.Join(onDisk, "\n") != strings.Join(names, "\n") {
		t.Errorf("testdata/corpus holds other cases than the generator (run with -update)")
	}
}
