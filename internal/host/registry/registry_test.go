package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// fakeBuild writes a signed build folder with every kind of artifact (no
// kernel build needed): pseudo-random payloads from seed, and a disk image
// that is mostly zeros, as a real one is.
func fakeBuild(t *testing.T, dir string, seed uint64) {
	t.Helper()
	rnd := mrand.New(mrand.NewPCG(seed, 1))
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	disk := make([]byte, 8<<20)
	copy(disk[1<<20:], payload(300<<10))
	files := map[string][]byte{
		"kernel":                  payload(200 << 10),
		"initramfs.cpio.zst":      payload(100 << 10),
		"root.squashfs":           payload(150 << 10),
		"slot-initramfs.cpio.zst": payload(50 << 10),
		"disk.img":                disk,
		// The disk conversions: qcow2 and VMDK sent as they are, the
		// fixed VHD (raw + footer) compressed and pulled sparse.
		"disk.qcow2":     payload(60 << 10),
		"disk.vmdk":      payload(40 << 10),
		"disk.vhd":       append(append([]byte{}, disk...), payload(512)...),
		"sbom.spdx.json": []byte("{\"spdxVersion\": \"SPDX-2.3\"}\n"),
	}
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.1", Arch: "amd64", BuildID: "b1d",
		Cmdline: "console=ttyS0", Tries: 3}
	registrytest.WriteBuild(t, dir, m, files)
	k, err := signing.GenerateKey(mrand.NewChaCha8([32]byte{byte(seed)}))
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.SignDir(context.Background(), dir, k); err != nil {
		t.Fatal(err)
	}
}

// sameFolder fails unless a and b hold the same files with the same bytes.
func sameFolder(t *testing.T, a, b string) {
	t.Helper()
	ea, _ := os.ReadDir(a)
	eb, _ := os.ReadDir(b)
	if len(ea) != len(eb) || len(ea) == 0 {
		t.Fatalf("%s has %d entries, %s has %d", a, len(ea), b, len(eb))
	}
	for _, e := range ea {
		x, err1 := os.ReadFile(filepath.Join(a, e.Name()))
		y, err2 := os.ReadFile(filepath.Join(b, e.Name()))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s differs between %s and %s (%v %v)", e.Name(), a, b, err1, err2)
		}
	}
}

// TestPlainHTTP: push, push again, push a copy elsewhere, pull by tag and
// by digest, against a real registry on plain HTTP.
func TestPlainHTTP(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "out", "hello")
	fakeBuild(t, src, 1)
	ref := reg.Host + "/acme/hello:1.0.1"

	start := time.Now()
	p1, err := Push(ctx, src, ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("push: %d layers, %d bytes uploaded of %d in %s, digest %s", p1.Layers, p1.Uploaded, p1.Bytes, time.Since(start), p1.Digest)
	if p1.Layers != 11 || p1.Uploaded != p1.Bytes || p1.Skipped != 0 {
		t.Fatalf("first push: %+v", p1)
	}
	p2, err := Push(ctx, src, ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Digest != p1.Digest || p2.Uploaded != 0 || p2.Skipped != p2.Layers {
		t.Fatalf("second push of the same folder: %+v, first %+v", p2, p1)
	}
	// Same build in another folder (another machine's path), another repository: same digest.
	other := filepath.Join(root, "elsewhere", "build")
	fakeBuild(t, other, 1)
	p3, err := Push(ctx, other, reg.Host+"/other/copy:x", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p3.Digest != p1.Digest {
		t.Fatalf("same build, different digest: %s vs %s", p3.Digest, p1.Digest)
	}
	// A different build gets a different digest.
	diff := filepath.Join(root, "v2")
	fakeBuild(t, diff, 2)
	p4, err := Push(ctx, diff, reg.Host+"/acme/hello:1.0.2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p4.Digest == p1.Digest {
		t.Fatal("different builds, same digest")
	}

	for _, r := range []string{ref, reg.Host + "/acme/hello@" + p1.Digest.String()} {
		out := filepath.Join(root, "pulled", strings.NewReplacer(":", "_", "@", "_", "/", "_").Replace(r))
		start := time.Now()
		res, err := Pull(ctx, r, out, Options{})
		if err != nil {
			t.Fatalf("pull %s: %v", r, err)
		}
		t.Logf("pull %s: %d bytes in %s", r, res.Bytes, time.Since(start))
		if res.Digest != p1.Digest || res.Manifest.Version != "1.0.1" {
			t.Fatalf("pull %s: %+v", r, res)
		}
		sameFolder(t, src, out)
		for _, name := range []string{"disk.img", "disk.vhd"} {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(out, name), &st); err != nil || st.Blocks*512 >= st.Size/2 {
				t.Fatalf("pulled %s is not sparse: %d bytes allocated of %d (%v)", name, st.Blocks*512, st.Size, err)
			}
		}
		if _, err := signing.ReadSignatureFile(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	// Pulling over an earlier build replaces it; over a folder of the
	// user's is refused and leaves it as it was.
	prev := filepath.Join(root, "pulled", "replace")
	fakeBuild(t, prev, 2)
	if _, err := Pull(ctx, ref, prev, Options{}); err != nil {
		t.Fatal(err)
	}
	sameFolder(t, src, prev)
	user := filepath.Join(root, "mine")
	os.MkdirAll(user, 0o755)
	os.WriteFile(filepath.Join(user, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Pull(ctx, ref, user, Options{}); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("pull into a user folder: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(user, "notes.txt")); string(b) != "mine" {
		t.Fatal("user file changed")
	}
	// A folder whose disk.img was booted in place (run moves its boot
	// counters) is refused with the reason, and nothing is pushed.
	booted := filepath.Join(root, "booted")
	fakeBuild(t, booted, 1)
	f, err := os.OpenFile(filepath.Join(booted, "disk.img"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{1}, 100)
	f.Close()
	if _, err := Push(ctx, booted, reg.Host+"/acme/booted:1", Options{}); err == nil || !strings.Contains(err.Error(), "boot counters") {
		t.Fatalf("push of a booted folder: %v", err)
	}
	// A missing tag is an error naming the registry, and writes nothing.
	missing := filepath.Join(root, "missing")
	if _, err := Pull(ctx, reg.Host+"/acme/hello:9.9", missing, Options{}); err == nil || !strings.Contains(err.Error(), reg.Host) {
		t.Fatalf("pull of a missing tag: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("failed pull created %s", missing)
	}
}

// TestAlteredBlob: a layer whose bytes were changed in the registry's
// storage is refused, and nothing is left at -o or next to it.
func TestAlteredBlob(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "build")
	fakeBuild(t, src, 3)
	ref := reg.Host + "/acme/hello:1"
	if _, err := Push(ctx, src, ref, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"root.squashfs", "disk.img"} {
		t.Run(name, func(t *testing.T) {
			var blob string
			if name == "disk.img" {
				d, err := manifest.LoadDir(ctx, src)
				if err != nil {
					t.Fatal(err)
				}
				ls, err := planLayers(ctx, d)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range ls {
					if l.Name == name {
						blob = l.Desc.Digest.Encoded()
					}
				}
			} else {
				f, err := manifest.DigestFile(name, filepath.Join(src, name))
				if err != nil {
					t.Fatal(err)
				}
				blob = f.SHA256
			}
			data := filepath.Join(reg.Storage, "docker/registry/v2/blobs/sha256", blob[:2], blob, "data")
			b, err := os.ReadFile(data)
			if err != nil {
				t.Fatal(err)
			}
			orig := append([]byte(nil), b...)
			b[len(b)/2] ^= 0x55
			if err := os.WriteFile(data, b, 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(data, orig, 0o644)
			out := filepath.Join(root, "pulled-"+name)
			_, err = Pull(ctx, ref, out, Options{})
			if err == nil || !strings.Contains(err.Error(), "altered") || !strings.Contains(err.Error(), reg.Host) {
				t.Fatalf("pull of an altered %s: %v", name, err)
			}
			t.Logf("user sees: %v", err)
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("refused pull created %s", out)
			}
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Fatalf("refused pull left %s", e.Name())
				}
			}
		})
	}
}

// TestTLSAuth: TLS with a CA made here and htpasswd basic auth; the
// credentials come from an auth file named by REGISTRY_AUTH_FILE.
func TestTLSAuth(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{TLS: true, User: "ci", Password: "s3cret"})
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "build")
	fakeBuild(t, src, 4)
	authFile := func(user, pw string) func(string) string {
		p := filepath.Join(t.TempDir(), "auth.json")
		tok := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
		os.WriteFile(p, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, tok)), 0o600)
		env := map[string]string{"REGISTRY_AUTH_FILE": p, "HOME": t.TempDir()}
		return func(k string) string { return env[k] }
	}
	good := Options{CAFile: reg.CA, Getenv: authFile("ci", "s3cret")}
	ref := reg.Host + "/acme/hello:1.0.1"
	p, err := Push(ctx, src, ref, good)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "pulled")
	if _, err := Pull(ctx, ref, out, good); err != nil {
		t.Fatal(err)
	}
	sameFolder(t, src, out)

	// Wrong password: a clear error naming the registry, for push and pull.
	bad := Options{CAFile: reg.CA, Getenv: authFile("ci", "wrong")}
	if _, err := Push(ctx, src, ref, bad); err == nil || !strings.Contains(err.Error(), "registry "+reg.Host+" refused access (401") {
		t.Fatalf("push with a wrong password: %v", err)
	} else {
		t.Logf("user sees: %v", err)
	}
	if _, err := Pull(ctx, reg.Host+"/acme/hello@"+p.Digest.String(), filepath.Join(root, "bad"), bad); err == nil || !strings.Contains(err.Error(), "registry "+reg.Host+" refused access (401") {
		t.Fatalf("pull with a wrong password: %v", err)
	}
	// No credentials at all.
	if _, err := Pull(ctx, ref, filepath.Join(root, "anon"), Options{CAFile: reg.CA}); err == nil || !strings.Contains(err.Error(), "registry "+reg.Host+" needs a login and has no credentials") {
		t.Fatalf("pull without credentials: %v", err)
	}
	// Without the CA the certificate is not trusted, and plain HTTP is not
	// tried against a server that speaks TLS.
	if _, err := Pull(ctx, ref, filepath.Join(root, "noca"), Options{Getenv: good.Getenv}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("pull without --ca: %v", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for h, want := range map[string]bool{"localhost:5000": true, "127.0.0.1:5000": true, "[::1]:5000": true, "127.1.2.3": true,
		"registry.example.com": false, "10.0.0.1:5000": false, "localhost.example.com": false, "[::2]:80": false} {
		if got := isLoopback(h); got != want {
			t.Errorf("isLoopback(%q) = %v", h, got)
		}
	}
}

func TestAuthFiles(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got := AuthFiles(env(map[string]string{"HOME": "/h", "XDG_RUNTIME_DIR": "/run/u"}))
	want := []string{"/run/u/containers/auth.json", "/h/.config/containers/auth.json", "/h/.docker/config.json"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	got = AuthFiles(env(map[string]string{"HOME": "/h", "REGISTRY_AUTH_FILE": "/a.json", "DOCKER_CONFIG": "/d"}))
	if strings.Join(got, " ") != "/a.json" {
		t.Errorf("REGISTRY_AUTH_FILE: got %v", got)
	}
	got = AuthFiles(env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "/c", "DOCKER_CONFIG": "/d"}))
	if strings.Join(got, " ") != "/c/containers/auth.json /d/config.json" {
		t.Errorf("XDG_CONFIG_HOME, DOCKER_CONFIG: got %v", got)
	}
	if AuthFiles(nil) != nil {
		t.Error("nil getenv gives files")
	}
	_ = http.StatusOK
}

// TestSilentRegistry: a registry that takes the connection and then says
// nothing (hung, or a proxy that swallows the request) fails the pull
// after Options.stall instead of hanging it, and nothing is written.
func TestSilentRegistry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // reads, never answers
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "out")
	_, err = Pull(ctx, ln.Addr().String()+"/acme/hello:1", out, Options{stall: time.Second})
	if ctx.Err() != nil {
		t.Fatalf("the pull ran into the test's own minute: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "no byte moved either way for 1s") {
		t.Fatalf("pull from a silent registry: %v, want the stall error", err)
	}
	if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed pull left %s: %v", out, err)
	}
}
