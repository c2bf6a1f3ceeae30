package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
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

// writeImage writes a zstd initramfs of recs to a temporary file.
func writeImage(t *testing.T, recs ...initramfs.Record) string {
	t.Helper()
	var buf bytes.Buffer
	zw, err := initramfs.NewCompressor(&buf, initramfs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	w := initramfs.NewWriter(zw)
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "initramfs.cpio.zst")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInspectExtract(t *testing.T) {
	img := writeImage(t,
		initramfs.Dir("etc", 0o755),
		initramfs.File("etc/motd", 0o644, []byte("hi\n")),
		initramfs.Symlink("etc/link", "/etc/passwd"),
		initramfs.CharDev("dev-console", 0o600, 5, 1),
	)
	out := filepath.Join(t.TempDir(), "tree")
	var stdout, stderr bytes.Buffer
	e := &Env{Stdout: &stdout, Stderr: &stderr}
	if err := runInspect(context.Background(), e, []string{"--extract", out, img}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "etc/motd")); err != nil || string(b) != "hi\n" {
		t.Fatalf("etc/motd = %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(out, "etc/link")); err != nil || l != "/etc/passwd" {
		t.Fatalf("etc/link -> %q, %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(out, "dev-console")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a device node was created: %v", err)
	}

	// A folder the user already filled is never touched.
	keep := t.TempDir()
	if err := os.WriteFile(filepath.Join(keep, "mine"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runInspect(context.Background(), e, []string{"--extract", keep, img})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("extract into a full folder: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(keep, "mine")); err != nil || string(b) != "x" {
		t.Fatalf("user's file changed: %q, %v", b, err)
	}

	// A symlink planted by an earlier entry is not followed; nothing is left.
	evil := writeImage(t, initramfs.Symlink("x", keep), initramfs.File("x/pwned", 0o644, []byte("evil")))
	out2 := filepath.Join(t.TempDir(), "tree")
	if err := runInspect(context.Background(), e, []string{"--extract", out2, evil}); err == nil {
		t.Fatal("extract through a planted symlink succeeded")
	}
	if _, err := os.Lstat(filepath.Join(keep, "pwned")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("extract wrote outside its folder: %v", err)
	}
	if _, err := os.Lstat(out2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed extract left %s behind: %v", out2, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out2), ".*tmp-*"))
	if len(left) > 0 {
		t.Fatalf("temporary folders left: %v", left)
	}
}

func TestInspectExtractRefusesConcatenation(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tree")
	var stdout, stderr bytes.Buffer
	err := runInspect(context.Background(), &Env{Stdout: &stdout, Stderr: &stderr}, []string{"--extract", out, corpus("concat-plain")})
	if err == nil || !strings.Contains(err.Error(), "archives") {
		t.Fatalf("extract of a concatenation: %v", err)
	}
}
