//go:build linux

package jail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/initramfs"
	"github.com/turbo-image/turbo-image/internal/testenv"
)

// TestMain makes the test binary the jail's set-up child when Start
// re-executes it (/proc/self/exe) with ChildArg, as turbo-image's main
// does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ChildArg {
		err := Child(os.Args[2:])
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// probeOnce builds testdata/probe (static) once per test binary.
var probeOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "jail-probe-")
	if err != nil {
		return "", err
	}
	os.Chmod(dir, 0o755) // the control runs it as uid 1000
	out := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build probe: %v\n%s", err, b)
	}
	return out, nil
})

// escapeImage is the jail's image: the probe, links to / and .. (a
// symlink must resolve inside the jail), a file only uid 1000 may read.
func escapeImage(t *testing.T, probe []byte) string {
	t.Helper()
	recs := []initramfs.Record{
		initramfs.Dir("bin", 0o755), initramfs.Dir("data", 0o755), initramfs.Dir("dev", 0o755),
		initramfs.Dir("etc", 0o755), initramfs.Dir("proc", 0o555), initramfs.Dir("run", 0o755),
		initramfs.Dir("tmp", 0o1777),
		initramfs.File("bin/probe", 0o755, probe),
		initramfs.Symlink("escape", "/"),
		initramfs.Symlink("up", ".."),
		initramfs.Symlink("etc/deep", "../../../../../../.."),
		initramfs.CharDev("dev/vda", 0o600, 254, 0), // a host disk's numbers: must not be made
	}
	owned := initramfs.File("etc/owned", 0o600, []byte("uid 1000 only\n"))
	owned.UID, owned.GID = 1000, 1000
	recs = append(recs, owned)
	var buf bytes.Buffer
	if err := initramfs.WriteArchive(&buf, recs, initramfs.Options{KeepOwners: true}); err != nil {
		t.Fatal(err)
	}
	dir := walkableTemp(t)
	p := filepath.Join(dir, "image.cpio")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// walkableTemp is a temporary folder the jail's mapped root may walk to
// (t.TempDir's parents are 0700).
func walkableTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "jail-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { removeTree(dir) })
	return dir
}

// jailEnv is one jail set up for the escape tests.
type jailEnv struct {
	root     string // the unpacked image on the host
	secret   string // a file only the host (root) can read
	hostPID  int    // a host process outside the jail
	user     *User
	rootless bool
	// noSeccomp runs the jail without its seccomp filter (a control).
	noSeccomp bool
}

// newJailEnv unpacks the escape image as Unpack does for a build, and
// starts a host process to aim at. It skips (fails in CI) where user
// namespaces are not available.
func newJailEnv(t *testing.T) *jailEnv {
	t.Helper()
	testenv.MustHaveTool(t, "go", "golang")
	probePath, err := probeOnce()
	if err != nil {
		t.Fatal(err)
	}
	probe, err := os.ReadFile(probePath)
	if err != nil {
		t.Fatal(err)
	}
	env := &jailEnv{rootless: os.Getuid() != 0}
	var own Owner
	if !env.rootless {
		own.Shift = []IDMap{{0, DefaultRangeBase, DefaultRangeSize}}
		// The probe runs as a service user, as a service would.
		env.user = &User{UID: 1000, GID: 1000}
	}
	cache := walkableTemp(t)
	env.root, err = Unpack(context.Background(), escapeImage(t, probe), cache, own)
	if err != nil {
		t.Fatal(err)
	}
	// The host's secret: in a folder only its owner may enter.
	sdir := t.TempDir()
	env.secret = filepath.Join(sdir, "secret")
	if err := os.WriteFile(env.secret, []byte("host only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	env.hostPID = sleeper.Process.Pid
	// Can this host make a jail at all?
	if out, err := env.jail(t, "hostfile", "/nonexistent"); err != nil && strings.Contains(out, "operation not permitted") {
		testenv.Missing(t, "user namespaces are not allowed here (%s); on Debian: sysctl kernel.unprivileged_userns_clone=1, or run as root", strings.TrimSpace(out))
	}
	return env
}

// jail runs the probe in a jail and returns its output.
func (e *jailEnv) jail(t *testing.T, args ...string) (string, error) {
	t.Helper()
	p, err := NewPlan(Spec{Root: e.root, Argv: append([]string{"/bin/probe"}, args...), Env: []string{"PATH=/bin"},
		User: e.user, Hostname: "probe", HostUID: os.Getuid(), HostGID: os.Getgid(), NoSeccomp: e.noSeccomp})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Run(ctx, p, Options{Console: &out})
	if err != nil {
		return out.String(), err
	}
	if st.Code != 0 {
		return out.String(), errors.New(st.String())
	}
	return out.String(), nil
}

// host runs the probe on the host, as the control: it must see the
// escape the jail closes.
func (e *jailEnv) host(t *testing.T, asUser bool, args ...string) (string, error) {
	t.Helper()
	probe, _ := probeOnce()
	cmd := exec.Command(probe, args...)
	if asUser && os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// check runs one probe check in the jail (it must report "ok") and on
// the host (it must report an escape: the check can fail).
func (e *jailEnv) check(t *testing.T, hostAsUser bool, jailArgs, hostArgs []string) {
	t.Helper()
	out, err := e.jail(t, jailArgs...)
	if err != nil || !strings.Contains(out, "ok: "+jailArgs[0]) {
		t.Errorf("in the jail: %v\n%s", err, out)
	}
	hout, herr := e.host(t, hostAsUser, hostArgs...)
	if herr == nil || !strings.Contains(hout, "ESCAPE") {
		t.Errorf("control on the host reported no escape, so the check cannot fail: %v\n%s", herr, hout)
	}
}

func TestEscapeHostFile(t *testing.T) {
	e := newJailEnv(t)
	e.check(t, false, []string{"hostfile", e.secret}, []string{"hostfile", e.secret})
}

func TestEscapeSymlinks(t *testing.T) {
	e := newJailEnv(t)
	// On the host the image's links lead out of its folder.
	e.check(t, false, []string{"symlink", "/", e.secret}, []string{"symlink", e.root, e.secret})
}

func TestEscapeProc(t *testing.T) {
	e := newJailEnv(t)
	pid := strconv.Itoa(e.hostPID)
	e.check(t, false, []string{"proc", pid}, []string{"proc", pid})
}

func TestEscapePtrace(t *testing.T) {
	e := newJailEnv(t)
	pid := strconv.Itoa(e.hostPID)
	e.check(t, false, []string{"ptrace", pid}, []string{"ptrace", pid})
}

func TestEscapeDevices(t *testing.T) {
	e := newJailEnv(t)
	allowed := strings.Join(HostDevices(), ",")
	e.check(t, false, []string{"dev", allowed}, []string{"dev", allowed})
}

func TestEscapeGainRoot(t *testing.T) {
	e := newJailEnv(t)
	if e.rootless {
		// Rootless, the jail's only user is its root (you); the check
		// still proves the map and no_new_privs.
		t.Log("rootless: the probe runs as the jail's root, which is the calling user")
	} else {
		testenv.MustBeRoot(t, "the control runs the probe as uid 1000 on the host")
	}
	e.check(t, true, []string{"root"}, []string{"root"})
}

// TestImageOwners: the unpacked image keeps its owners, shifted into the
// jail's range, so a file only uid 1000 may read is readable by the
// service user 1000 and no one else in the jail.
func TestImageOwners(t *testing.T) {
	e := newJailEnv(t)
	if e.rootless {
		testenv.MustBeRoot(t, "owners other than the caller need a root-mapped jail")
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(e.root, "etc/owned"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != DefaultRangeBase+1000 || st.Gid != DefaultRangeBase+1000 {
		t.Errorf("etc/owned is %d:%d, want %d:%d", st.Uid, st.Gid, DefaultRangeBase+1000, DefaultRangeBase+1000)
	}
	if _, err := os.Lstat(filepath.Join(e.root, "dev/vda")); err == nil {
		t.Error("the image's device node was made on the host")
	}
}

// TestEscapeSeccomp: in the jail, as the service user, the filter's calls
// fail with EPERM (clone3 with ENOSYS) before the kernel looks at their
// arguments. The control is the same jail without the filter, where the
// same calls reach the kernel's own checks (an argument error, or success
// for userfaultfd in user mode): so the check fails if the filter is
// removed, not only if the capabilities are. kexec_load, init_module and
// finit_module are refused by the capability check as well, so only the
// filter's side is checked live; TestSeccompFilter checks every name's
// number on amd64 and arm64.
func TestEscapeSeccomp(t *testing.T) {
	e := newJailEnv(t)
	all := "bpf,userfaultfd,perf_event_open,keyctl,add_key,request_key,mount,umount2,setns,open_by_handle_at,clone3,kexec_load,init_module,finit_module"
	out, err := e.jail(t, "seccomp", all)
	if err != nil || !strings.Contains(out, "ok: seccomp") {
		t.Errorf("in the jail: %v\n%s", err, out)
	}
	reach := "bpf,userfaultfd,perf_event_open,keyctl,add_key,request_key,mount,umount2,setns,open_by_handle_at,clone3"
	e.noSeccomp = true
	defer func() { e.noSeccomp = false }()
	cout, cerr := e.jail(t, "seccomp", reach)
	for _, name := range strings.Split(reach, ",") {
		if !strings.Contains(cout, "ESCAPE: "+name+" reached the kernel") {
			t.Errorf("control without the filter: %s did not reach the kernel, so its check cannot fail: %v\n%s", name, cerr, cout)
		}
	}
	t.Logf("without the filter:\n%s", cout)
}
