package cli

import (
	"bytes"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/initramfs"
)

// corpus is the hostile cpio corpus of the initramfs package.
func corpus(name string) string {
	return filepath.Join("..", "..", "..", "initramfs", "testdata", "cpio-corpus", name+".img")
}

// inspectCorpus runs inspect on a corpus image and returns its output.
func inspectCorpus(t *testing.T, name string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := inspectFile(&out, corpus(name))
	return out.String(), err
}

// squeeze collapses runs of spaces, so that checks do not depend on column
// widths.
func squeeze(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllStringFunc(s, func(string) string { return " " })
}

// fileLines returns the lines of the "files:" section.
func fileLines(t *testing.T, out string) []string {
	t.Helper()
	_, files, ok := strings.Cut(out, "\nfiles:\n")
	if !ok {
		t.Fatalf("no files section in\n%s", out)
	}
	return strings.Split(strings.TrimSuffix(files, "\n"), "\n")
}

// entryLine matches one listed entry: number, optional member, mode,
// owner, size, then a name without control characters.
var entryLine = regexp.MustCompile(`^  #\d+ +(m\d+ +)?[-dlcbps?][-rwxsStT]{9} +\d+:\d+ +[\d,]+ +[^\x00-\x1f\x7f]+$`)

func TestInspectHostileNamesAreEscaped(t *testing.T) {
	out, err := inspectCorpus(t, "hostile-names")
	if err != nil {
		t.Fatal(err)
	}
	lines := fileLines(t, out)
	if len(lines) != 5 {
		t.Fatalf("%d lines for 5 entries (a name forged a line?):\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !entryLine.MatchString(l) {
			t.Errorf("line %q is not one escaped entry", l)
		}
	}
	for _, want := range []string{`"/a\n  #9 -rwsr-xr-x 0:0 0 init-forged"`, `"/b\x1b[2J"`, `"/c\u202eexe.txt"`, `"/d\xff\xfe"`, `"/e\tf"`} {
		if !strings.Contains(out, want) {
			t.Errorf("listing lacks %s:\n%s", want, out)
		}
	}
}

func TestInspectShowsEveryModeBit(t *testing.T) {
	out, err := inspectCorpus(t, "device-nodes")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"crw------- 0:0 5,1 /dev/console", "brw-rw---- 0:0 8,0 /dev/sda", "crwSrw-rw- 0:0 1,1 /dev/mem",
		"prw-r--r-- 0:0 0 /dev/fifo", "srwxr-xr-x 0:0 0 /dev/sock",
		"-rwsr-xr-x 0:0 0 /su", "-rwxr-sr-x 0:0 0 /sg", "drwxrwxrwt 0:0 0 /tmp",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}
}

func TestModeString(t *testing.T) {
	for mode, want := range map[uint32]string{
		initramfs.TypeReg | 0o7777: "-rwsrwsrwt",
		initramfs.TypeReg | 0o7000: "---S--S--T",
		initramfs.TypeDir | 0o1777: "drwxrwxrwt",
		0o644:                      "?rw-r--r--",
	} {
		if got := modeString(mode); got != want {
			t.Errorf("modeString(%#o) = %q, want %q", mode, got, want)
		}
	}
}

func TestInspectListsEveryMemberAndMarksReplacements(t *testing.T) {
	out, err := inspectCorpus(t, "concat-mixed-padded")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"4 concatenated members", "m0 zstd at offset 0", "m1 gzip at offset 112", "m2 lz4 at offset 703", "m3 none at offset 784",
		"#1 m0 -rwxr-xr-x 0:0 10 /init [REPLACED by #4]", "#4 m3 -rwxr-xr-x 0:0 11 /init [REPLACES #1]",
	} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}
	out, err = inspectCorpus(t, "symlink-then-file-through-it")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(squeeze(out), "/etc/passwd [through symlink /etc; lands at /tmp/passwd]") {
		t.Errorf("listing does not say where etc/passwd lands:\n%s", out)
	}
	out, err = inspectCorpus(t, "dotdot-and-absolute-names")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(squeeze(out), `/init [stored as "../../init"; REPLACES #1; REPLACED by #3]`) {
		t.Errorf("listing does not show the stored name and replacements:\n%s", out)
	}
}

func TestInspectBoundsHostileImages(t *testing.T) {
	for name, want := range map[string]string{
		"many-long-dirs-zstd":  "names and link targets exceed",
		"bomb-over-byte-limit": "bytes decompressed",
		"many-entries-zstd":    "more than 100000 entries",
	} {
		_, err := inspectCorpus(t, name)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, initramfs.ErrLimit) {
			t.Errorf("%s: err = %v, want the limit error %q", name, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), name+".img") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	out, err := inspectCorpus(t, "big-file-zstd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(squeeze(out), "-rw-r--r-- 0:0 1048576000 /big") {
		t.Errorf("the 1,000 MiB file is not listed:\n%s", out)
	}
}
