package bootloader

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/testenv"
)

// This file boots the real systemd-boot 252 (Debian 12's systemd-boot-efi)
// in QEMU with OVMF on a FAT image made with mtools, once per boot scenario,
// and checks which entry it boots and how it renames the entry file. Every
// entry's `linux` points at a garbage file of its own, so the loader fails
// to start it and prints "Error loading \k\<n>.efi" on the serial console:
// that names the entry it chose. The rename happens before that and is read
// back from the image.

const sdbootPath = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

type realBootTools struct {
	qemu, mkfs, mmd, mcopy, mdir string
	ovmfCode, ovmfVars           string
}

// findRealBootTools returns the tools, or skips the test loudly.
func findRealBootTools(t *testing.T) realBootTools {
	t.Helper()
	const install = "apt-get install qemu-system-x86 ovmf systemd-boot-efi mtools dosfstools"
	var tl realBootTools
	var missing []string
	look := func(dst *string, names ...string) {
		for _, n := range names {
			if p, err := testenv.LookTool(n); err == nil {
				*dst = p
				return
			}
		}
		missing = append(missing, names[0])
	}
	look(&tl.qemu, "qemu-system-x86_64")
	look(&tl.mkfs, "mkfs.vfat", "mkfs.fat")
	look(&tl.mmd, "mmd")
	look(&tl.mcopy, "mcopy")
	look(&tl.mdir, "mdir")
	for _, pair := range [][2]string{
		{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
		{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
	} {
		if fileExists(pair[0]) && fileExists(pair[1]) {
			tl.ovmfCode, tl.ovmfVars = pair[0], pair[1]
			break
		}
	}
	if tl.ovmfCode == "" {
		missing = append(missing, "OVMF_CODE/OVMF_VARS")
	}
	efi, err := os.ReadFile(sdbootPath)
	if err != nil {
		missing = append(missing, sdbootPath)
	} else if !bytes.Contains(efi, []byte("#### LoaderInfo: systemd-boot 252")) {
		testenv.Missing(t, "%s is not systemd-boot 252, which this package models; install Debian 12's systemd-boot-efi", sdbootPath)
	}
	if len(missing) > 0 {
		testenv.Missing(t, "real systemd-boot test needs %s: %s", strings.Join(missing, ", "), install)
	}
	return tl
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// realBootResult is what the real loader did.
type realBootResult struct {
	booted  int      // index of the entry it tried to start
	before  []string // entry file names before, sorted
	after   []string // entry file names after, sorted
	console string
}

var errorLoadingRE = regexp.MustCompile(`Error loading \\k\\(\d+)\.efi`)

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func listEntries(t *testing.T, tl realBootTools, img string) []string {
	t.Helper()
	cmd := exec.Command(tl.mdir, "-b", "-i", img, "::/loader/entries")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mdir: %v", err)
	}
	var ns []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if n := strings.TrimPrefix(l, "::/loader/entries/"); n != l && n != "" {
			ns = append(ns, n)
		}
	}
	sort.Strings(ns)
	return ns
}

// realBoot builds the scenario's ESP and boots it once.
func realBoot(t *testing.T, tl realBootTools, s bootScenario) realBootResult {
	dir := t.TempDir()
	img := filepath.Join(dir, "esp.img")
	run(t, tl.mkfs, "-C", img, "8192")
	run(t, tl.mmd, "-i", img, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries", "::/k")
	run(t, tl.mcopy, "-i", img, sdbootPath, "::/EFI/BOOT/BOOTX64.EFI")
	if s.loaderConf != "" {
		p := filepath.Join(dir, "loader.conf")
		if err := os.WriteFile(p, []byte(s.loaderConf), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, tl.mcopy, "-i", img, p, "::/loader/loader.conf")
	}
	if err := os.Mkdir(filepath.Join(dir, "entries"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "k"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, se := range s.entries {
		if err := os.WriteFile(filepath.Join(dir, "entries", se.name), []byte(se.content(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, tl.mcopy, "-i", img, filepath.Join(dir, "entries", se.name), "::/loader/entries/"+se.name)
		k := filepath.Join(dir, "k", strconv.Itoa(i)+".efi")
		if err := os.WriteFile(k, []byte(fmt.Sprintf("not an EFI program %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, tl.mcopy, "-i", img, k, "::"+kernelPath(i))
	}
	vars := filepath.Join(dir, "vars.fd")
	varsData, err := os.ReadFile(tl.ovmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, varsData, 0o644); err != nil {
		t.Fatal(err)
	}
	res := realBootResult{booted: -1, before: listEntries(t, tl, img)}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tl.qemu,
		"-machine", "q35,accel=tcg", "-smp", "1", "-m", "256",
		"-nodefaults", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-drive", "if=pflash,format=raw,readonly=on,file="+qemuOpt(tl.ovmfCode),
		"-drive", "if=pflash,format=raw,file="+qemuOpt(vars),
		"-drive", "file="+qemuOpt(img)+",format=raw,if=virtio",
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting QEMU: %v", err)
	}
	var console bytes.Buffer
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sc.Split(scanLinesCR)
	for sc.Scan() {
		console.Write(sc.Bytes())
		console.WriteByte('\n')
		if m := errorLoadingRE.FindSubmatch(sc.Bytes()); m != nil {
			res.booted, _ = strconv.Atoi(string(m[1]))
			break
		}
		if bytes.Contains(sc.Bytes(), []byte("No loader found")) {
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	res.console = console.String()
	if res.booted < 0 {
		t.Fatalf("systemd-boot started no entry (QEMU: %v, stderr: %s)\nconsole:\n%s", ctx.Err(), stderr.String(), tail(res.console, 3000))
	}
	res.after = listEntries(t, tl, img)
	return res
}

// qemuOpt escapes a value for a QEMU option list (a comma is doubled).
func qemuOpt(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// scanLinesCR splits at '\n' or '\r'.
func scanLinesCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// diffNames returns the names only in a and only in b.
func diffNames(a, b []string) (onlyA, onlyB []string) {
	in := func(ns []string, n string) bool {
		for _, x := range ns {
			if x == n {
				return true
			}
		}
		return false
	}
	for _, n := range a {
		if !in(b, n) {
			onlyA = append(onlyA, n)
		}
	}
	for _, n := range b {
		if !in(a, n) {
			onlyB = append(onlyB, n)
		}
	}
	return onlyA, onlyB
}

// TestRealSystemdBoot checks every boot scenario against the real
// systemd-boot 252 and against PlanBoot. It takes a few minutes (QEMU
// without KVM); -short skips it.
func TestRealSystemdBoot(t *testing.T) {
	testenv.SkipIfShort(t, "boots systemd-boot in QEMU for every scenario")
	tl := findRealBootTools(t)
	for _, s := range bootScenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			res := realBoot(t, tl, s)
			booted := s.entries[res.booted].name
			gone, added := diffNames(res.before, res.after)
			gotNew := ""
			switch {
			case len(gone) == 0 && len(added) == 0:
			case len(gone) == 1 && len(added) == 1 && gone[0] == booted:
				gotNew = added[0]
			default:
				t.Fatalf("unexpected change of /loader/entries: %v -> %v", res.before, res.after)
			}
			if booted != s.wantBoot || gotNew != s.wantNew {
				t.Errorf("real systemd-boot booted %q and renamed it to %q; the scenario says %q and %q", booted, gotNew, s.wantBoot, s.wantNew)
			}
			conf, entries := parseScenario(t, s)
			plan, err := PlanBoot(conf, entries)
			if err != nil {
				t.Fatalf("PlanBoot: %v", err)
			}
			planNew := ""
			if plan.Rename {
				planNew = plan.NewFileName
			}
			if plan.Entry.FileName != booted || planNew != gotNew {
				t.Errorf("real systemd-boot booted %q and renamed it to %q; PlanBoot says %q and %q", booted, gotNew, plan.Entry.FileName, planNew)
			}
		})
	}
}
