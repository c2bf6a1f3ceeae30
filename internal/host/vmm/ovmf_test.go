package vmm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

func TestFindOVMFOrder(t *testing.T) {
	cands := []UEFI{{Code: "/a/code4m", Vars: "/a/vars4m"}, {Code: "/a/code", Vars: "/a/vars"}, {Code: "/b/code", Vars: "/b/vars"}}
	tests := []struct {
		name    string
		present []string
		want    UEFI
		wantErr bool
	}{
		{"prefers the first complete pair", []string{"/a/code4m", "/a/vars4m", "/a/code", "/a/vars"}, cands[0], false},
		{"skips a pair missing its vars", []string{"/a/code4m", "/a/code", "/a/vars"}, cands[1], false},
		{"falls back to the last", []string{"/b/code", "/b/vars", "/a/vars4m"}, cands[2], false},
		{"none", nil, UEFI{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findOVMF(cands, func(p string) bool {
				for _, q := range tc.present {
					if p == q {
						return true
					}
				}
				return false
			})
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("findOVMF = %+v, %v; want %+v (error %v)", got, err, tc.want, tc.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), "ovmf package") || !strings.Contains(err.Error(), "/a/code4m")) {
				t.Errorf("error %q should name the ovmf package and the paths tried", err)
			}
		})
	}
}

func TestFindOVMFHost(t *testing.T) {
	u, err := FindOVMF()
	if err != nil {
		testenv.Missing(t, "%v (Debian: install the ovmf package)", err)
	}
	for _, p := range []string{u.Code, u.Vars} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("FindOVMF returned %s: %v", p, err)
		}
	}
	if _, err := os.Stat("/usr/share/OVMF/OVMF_CODE_4M.fd"); err == nil && u.Code != "/usr/share/OVMF/OVMF_CODE_4M.fd" {
		t.Errorf("FindOVMF = %+v, want the 4M build which exists", u)
	}
}

func TestCopyVars(t *testing.T) {
	src := filepath.Join(t.TempDir(), "OVMF_VARS_4M.fd")
	content := bytes.Repeat([]byte{0xAA, 0x55}, 64<<10)
	if err := os.WriteFile(src, content, 0o444); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, err := CopyVars(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "OVMF_VARS_4M.fd"); got != want {
		t.Errorf("CopyVars = %s, want %s", got, want)
	}
	b, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("copy differs from the template (%v)", err)
	}
	st, _ := os.Stat(got)
	if st.Mode().Perm()&0o200 == 0 {
		t.Errorf("copy mode %v is not writable", st.Mode())
	}
	// A used copy is replaced by a fresh one.
	if err := os.WriteFile(got, []byte("guest wrote this"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyVars(src, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, content) {
		t.Error("second CopyVars did not restore the template")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only the copy (temp files left?)", len(entries))
	}
}

func TestCopyVarsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := CopyVars(filepath.Join(dir, "missing.fd"), dir); err == nil || !strings.Contains(err.Error(), "missing.fd") {
		t.Errorf("missing source: %v", err)
	}
	if _, err := CopyVars(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory source: %v", err)
	}
	src := filepath.Join(dir, "vars.fd")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyVars(src, filepath.Join(dir, "no", "such", "dir")); err == nil {
		t.Error("copy into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("source dir holds %d entries, want 1", len(entries))
	}
}

func TestFindAAVMF(t *testing.T) {
	have := map[string]bool{aavmfCandidates[1].Code: true, aavmfCandidates[1].Vars: true, aavmfCandidates[2].Code: true}
	got, err := findAAVMF(aavmfCandidates, func(p string) bool { return have[p] })
	if err != nil || got != aavmfCandidates[1] {
		t.Errorf("findAAVMF = %+v, %v; want the first complete pair %+v", got, err, aavmfCandidates[1])
	}
	_, err = findAAVMF(aavmfCandidates, func(string) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "qemu-efi-aarch64") || !strings.Contains(err.Error(), "/usr/share/AAVMF/AAVMF_CODE.fd") {
		t.Errorf("nothing installed: %v", err)
	}
	// On this host, FindUEFI picks Debian's AAVMF for arm64 and OVMF for amd64.
	testenv.MustHaveFile(t, "/usr/share/AAVMF/AAVMF_CODE.fd", "qemu-efi-aarch64")
	if fw, err := FindUEFI("arm64"); err != nil || fw != aavmfCandidates[0] {
		t.Errorf("FindUEFI(arm64) = %+v, %v", fw, err)
	}
	if fw, err := FindUEFI("amd64"); err != nil || !strings.Contains(fw.Code, "OVMF") {
		t.Errorf("FindUEFI(amd64) = %+v, %v", fw, err)
	}
}
