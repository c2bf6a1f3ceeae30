package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestCheckStaticELF(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644)
	build := func(name string, env ...string) []byte {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, src)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, b)
		}
		b, _ := os.ReadFile(out)
		return b
	}
	static := build("static", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if err := CheckStaticELF(static, "amd64"); err != nil {
		t.Errorf("static amd64: %v", err)
	}
	if err := CheckStaticELF(static, "arm64"); err == nil || !strings.Contains(err.Error(), "EM_X86_64") {
		t.Errorf("wrong arch: %v", err)
	}
	arm := build("arm", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if err := CheckStaticELF(arm, "arm64"); err != nil {
		t.Errorf("static arm64: %v", err)
	}
	if err := CheckStaticELF([]byte("#!/bin/sh\necho hi\n"), "amd64"); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("script: %v", err)
	}
	// A system binary from Debian is dynamically linked.
	testenv.MustHaveFile(t, "/bin/ls", "coreutils")
	ls, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	err = CheckStaticELF(ls, "amd64")
	if err == nil || !strings.Contains(err.Error(), "interpreter /lib64/ld-linux-x86-64.so.2") || !strings.Contains(err.Error(), "libc.so.6") {
		t.Errorf("dynamic /bin/ls: %v", err)
	}
}

func FuzzCheckStaticELF(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil {
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		CheckStaticELF(data, "amd64") // must not panic
	})
}
