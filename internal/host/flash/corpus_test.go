package flash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// The build folder corpus (testdata/folders) holds careless and hostile
// build folders, manifests and signatures, each made by a named recipe
// from a good folder, with the outcome of each command that consumes a
// folder: verify (signing.VerifyDir, trusting the corpus key), sign
// (signing.SignDir) and flash (LoadBuild, what offline and network flash
// read before planning). "ok" or a piece of the refusal; a refusal must
// leave the folder byte for byte as it was. Files git cannot hold (named
// pipes, symlinks to devices, a 1 TiB sparse file, a manifest over the
// size limit) are made at test time from the case's "special" field.
//
// Regenerate with: go test ./internal/host/flash -run TestFolderCorpus -update
var updateCorpus = flag.Bool("update", false, "rewrite testdata/folders from the generator")

const foldersDir = "testdata/folders"

type folderCase struct {
	Name    string `json:"name"`
	How     string `json:"how"`
	Special string `json:"special,omitempty"`
	Verify  string `json:"verify"`
	Sign    string `json:"sign"`
	Flash   string `json:"flash"`
}

type folderGen struct {
	folderCase
	files map[string][]byte
}

func corpusKey(t testing.TB) signing.PrivateKey {
	k, err := signing.GenerateKey(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var folderArtifacts = map[string][]byte{
	"kernel":                  []byte("a fake kernel"),
	"root.squashfs":           bytes.Repeat([]byte("root "), 50),
	"slot-initramfs.cpio.zst": []byte("slot initramfs"),
	"initramfs.cpio.zst":      []byte("the self-contained initramfs, not written into a slot"),
	"disk.img":                bytes.Repeat([]byte{0}, 1024),
}

func folderManifest() *manifest.Manifest {
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1.0.1", Arch: "amd64", BuildID: "corpus",
		Cmdline: "console=ttyS0 quiet", Tries: 3, Toolchain: manifest.Toolchain{Go: "go1.24"},
		Inputs: []manifest.File{manifest.Digest("recipe.yaml", []byte("name: hello\n"))}}
	for n, b := range folderArtifacts {
		m.Artifacts = append(m.Artifacts, manifest.Digest(n, b))
	}
	return m
}

func generateFolders(t testing.TB) []folderGen {
	k := corpusKey(t)
	other, _ := signing.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	mb, err := folderManifest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := signing.Sign(k, mb, nil)
	good := func() map[string][]byte {
		f := map[string][]byte{manifest.FileName: mb, signing.SignatureFile: sig}
		for n, b := range folderArtifacts {
			f[n] = b
		}
		return f
	}
	var out []folderGen
	add := func(c folderCase, files map[string][]byte) { out = append(out, folderGen{c, files}) }
	all := func(want string) (string, string, string) { return want, want, want }

	add(folderCase{Name: "good", How: "a signed build folder", Verify: "ok", Sign: "ok", Flash: "ok"}, good())
	f := good()
	delete(f, signing.SignatureFile)
	add(folderCase{Name: "unsigned", How: "manifest.json.sig left out", Verify: "not signed", Sign: "ok", Flash: "ok"}, f)

	// Artifacts that do not match (defect 13: every artifact counts).
	for _, name := range []string{"initramfs.cpio.zst", "disk.img", "root.squashfs", "kernel"} {
		f := good()
		b := append([]byte(nil), f[name]...)
		b[len(b)/2] ^= 1
		f[name] = b
		v, s, fl := all("artifact " + name + ": sha256")
		add(folderCase{Name: "flipped-" + name, How: "one bit of " + name + " flipped", Verify: v, Sign: s, Flash: fl}, f)
	}
	f = good()
	delete(f, "initramfs.cpio.zst")
	v, s, fl := all("initramfs.cpio.zst is missing")
	add(folderCase{Name: "missing-initramfs", How: "initramfs.cpio.zst removed", Verify: v, Sign: s, Flash: fl}, f)
	f = good()
	f["kernel"] = append(append([]byte(nil), f["kernel"]...), 'x')
	v, s, fl = all("artifact kernel: 14 bytes, manifest says 13")
	add(folderCase{Name: "kernel-longer", How: "one byte appended to kernel", Verify: v, Sign: s, Flash: fl}, f)

	// Files that are not regular (defect 3): made at test time.
	specials := []struct{ name, how, special, want string }{
		{"fifo-kernel", "kernel replaced by a named pipe", "fifo kernel", "named pipe"},
		{"fifo-initramfs", "initramfs.cpio.zst replaced by a named pipe", "fifo initramfs.cpio.zst", "named pipe"},
		{"fifo-manifest", "manifest.json replaced by a named pipe", "fifo manifest.json", "named pipe"},
		{"fifo-signature", "manifest.json.sig replaced by a named pipe", "fifo manifest.json.sig", "named pipe"},
		{"zero-root", "root.squashfs a symlink to /dev/zero", "symlink root.squashfs /dev/zero", "symlink"},
		{"zero-disk", "disk.img a symlink to /dev/zero", "symlink disk.img /dev/zero", "symlink"},
		{"zero-manifest", "manifest.json a symlink to /dev/zero", "symlink manifest.json /dev/zero", "symlink"},
		{"zero-signature", "manifest.json.sig a symlink to /dev/zero", "symlink manifest.json.sig /dev/zero", "symlink"},
		{"urandom-kernel", "kernel a symlink to /dev/urandom", "symlink kernel /dev/urandom", "symlink"},
		{"symlink-to-copy", "kernel a symlink to a good copy of itself", "symlink kernel kernel.real", "symlink"},
		{"dir-kernel", "kernel replaced by an empty directory", "dir kernel", "directory"},
		{"sparse-disk", "disk.img a 1 TiB sparse file", "sparse disk.img", "1099511627776 bytes, manifest says 1024"},
		{"manifest-over-limit", "manifest.json padded with spaces to 1 MiB + 1", "grow manifest.json 1048577", "1048577 bytes, more than the 1048576 allowed"},
		{"signature-over-limit", "manifest.json.sig padded to 64 KiB + 1", "grow manifest.json.sig 65537", "65537 bytes, more than the 65536 allowed"},
	}
	for _, sp := range specials {
		f := good()
		if strings.HasPrefix(sp.special, "symlink kernel kernel.real") {
			f["kernel.real"] = f["kernel"]
		}
		v, s, fl := all(sp.want)
		add(folderCase{Name: sp.name, How: sp.how, Special: sp.special, Verify: v, Sign: s, Flash: fl}, f)
	}

	// Manifests (defect 8 and siblings); the signature is made over the
	// hostile manifest, so only the manifest's own checks can refuse it.
	kernelSum := manifest.Digest("kernel", folderArtifacts["kernel"]).SHA256
	edits := []struct{ name, how, from, to, want string }{
		{"version-newline", `version "1.0.1\nefi /EFI/BOOT/BOOTX64.EFI"`, `"version": "1.0.1"`, `"version": "1.0.1\nefi /EFI/BOOT/BOOTX64.EFI"`, "version"},
		{"cmdline-newline", `cmdline with "\ninitrd /a/initrd"`, `"cmdline": "console=ttyS0 quiet"`, `"cmdline": "console=ttyS0\ninitrd /a/initrd"`, "cmdline"},
		{"cmdline-slot", `cmdline "turbo.slot=a"`, `"cmdline": "console=ttyS0 quiet"`, `"cmdline": "turbo.slot=a"`, "turbo.slot=a"},
		{"cmdline-double-space", `cmdline "console=ttyS0  quiet"`, `"cmdline": "console=ttyS0 quiet"`, `"cmdline": "console=ttyS0  quiet"`, "single spaces"},
		{"name-upper", `name "Hello"`, `"name": "hello"`, `"name": "Hello"`, "name"},
		{"name-newline", `name "hello\ntitle x"`, `"name": "hello"`, `"name": "hello\ntitle x"`, "name"},
		{"version-bidi", "version ending in U+202E", `"version": "1.0.1"`, `"version": "1.0.1\u202e"`, "version"},
		{"version-space", `version "1.0 1"`, `"version": "1.0.1"`, `"version": "1.0 1"`, "version"},
		{"arch-unknown", `arch "sparc"`, `"arch": "amd64"`, `"arch": "sparc"`, "arch"},
		{"build-id-newline", `build_id with a newline`, `"build_id": "corpus"`, `"build_id": "cor\npus"`, "build_id"},
		{"toolchain-escape", `toolchain.go with an escape sequence`, `"go": "go1.24"`, `"go": "go1.24\u001b[2J"`, "toolchain.go"},
		{"tries-10", "tries 10", `"tries": 3`, `"tries": 10`, "tries 10"},
		{"schema-2", "schema 2", `"schema": 1`, `"schema": 2`, "schema 2"},
		{"unknown-field", `an extra field "evil"`, `"schema": 1,`, `"schema": 1, "evil": true,`, "unknown field"},
		{"artifact-traversal", `artifact kernel renamed ../kernel`, `"name": "kernel"`, `"name": "../kernel"`, "not allowed"},
		{"artifact-absolute", `artifact kernel renamed /etc/passwd`, `"name": "kernel"`, `"name": "/etc/passwd"`, "not allowed"},
		{"artifact-duplicate", "artifact disk.img renamed kernel (listed twice)", `"name": "disk.img"`, `"name": "kernel"`, "listed twice"},
		{"sha-uppercase", "kernel's sha256 in upper case", kernelSum, strings.ToUpper(kernelSum), "lowercase hex"},
		{"negative-size", "kernel's size -1", `"size": 13`, `"size": -1`, "negative size"},
	}
	for _, e := range edits {
		if !bytes.Contains(mb, []byte(e.from)) {
			t.Fatalf("%s: %q not in the manifest", e.name, e.from)
		}
		f := good()
		hm := bytes.Replace(mb, []byte(e.from), []byte(e.to), 1)
		f[manifest.FileName] = hm
		f[signing.SignatureFile], _ = signing.Sign(k, hm, nil)
		v, s, fl := all(e.want)
		add(folderCase{Name: "manifest-" + e.name, How: e.how, Verify: v, Sign: s, Flash: fl}, f)
	}
	for _, r := range []struct{ name, how, data, want string }{
		{"empty", "manifest.json empty", "", "manifest"},
		{"not-json", "manifest.json is YAML", "name: hello\n", "manifest"},
		{"trailing", "a second JSON object after the manifest", string(mb) + "{}", "trailing data"},
		{"array", "manifest.json is a JSON array", "[]", "manifest"},
	} {
		f := good()
		f[manifest.FileName] = []byte(r.data)
		v, s, fl := all(r.want)
		add(folderCase{Name: "manifest-" + r.name, How: r.how, Verify: v, Sign: s, Flash: fl}, f)
	}

	// Signatures: verify checks them, sign keeps or replaces lines, flash
	// leaves them to the disk's trusted keys (the plan).
	f = good()
	f[signing.SignatureFile] = []byte("not a signature\n")
	add(folderCase{Name: "signature-garbage", How: "manifest.json.sig holds a line of text", Verify: "manifest.json.sig:1", Sign: "manifest.json.sig:1", Flash: "ok"}, f)
	f = good()
	f[signing.SignatureFile], _ = signing.Sign(k, bytes.Replace(mb, []byte("1.0.1"), []byte("1.0.2"), 1), nil)
	add(folderCase{Name: "signature-other-manifest", How: "the signature of the 1.0.2 manifest", Verify: "does not match", Sign: "ok", Flash: "ok"}, f)
	f = good()
	f[signing.SignatureFile], _ = signing.Sign(other, mb, nil)
	add(folderCase{Name: "signature-untrusted", How: "signed by another key only", Verify: "untrusted", Sign: "ok", Flash: "ok"}, f)
	f = good()
	f[signing.SignatureFile] = []byte{}
	add(folderCase{Name: "signature-empty", How: "manifest.json.sig empty", Verify: "not signed", Sign: "ok", Flash: "ok"}, f)
	return out
}

func writeFolders(t *testing.T, gen []folderGen) {
	os.RemoveAll(foldersDir)
	var cases []folderCase
	for _, g := range gen {
		cases = append(cases, g.folderCase)
		dir := filepath.Join(foldersDir, g.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range g.files {
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, _ := json.MarshalIndent(cases, "", "  ")
	if err := os.WriteFile(filepath.Join(foldersDir, "cases.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// materialize copies a corpus folder to a temporary directory and makes
// its special file.
func materialize(t *testing.T, c folderCase) string {
	t.Helper()
	src := filepath.Join(foldersDir, c.Name)
	dir := filepath.Join(t.TempDir(), c.Name)
	os.MkdirAll(dir, 0o755)
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, de.Name()), b, 0o644)
	}
	if c.Special == "" {
		return dir
	}
	w := strings.Fields(c.Special)
	p := filepath.Join(dir, w[1])
	os.Remove(p)
	switch w[0] {
	case "fifo":
		err = syscall.Mkfifo(p, 0o644)
	case "symlink":
		err = os.Symlink(w[2], p)
	case "dir":
		err = os.Mkdir(p, 0o755)
	case "sparse":
		var f *os.File
		if f, err = os.Create(p); err == nil {
			err = f.Truncate(1 << 40)
			f.Close()
		}
	case "grow":
		b, _ := os.ReadFile(filepath.Join(src, w[1]))
		var n int
		fmt.Sscan(w[2], &n)
		err = os.WriteFile(p, append(b, bytes.Repeat([]byte{' '}, n-len(b))...), 0o644)
	default:
		t.Fatalf("special %q", c.Special)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// folderDigest covers names, types and regular files' contents (special
// files are not opened).
func folderDigest(t *testing.T, dir string) [32]byte {
	h := sha256.New()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
	for _, de := range des {
		fmt.Fprintf(h, "%s %v\n", de.Name(), de.Type())
		if de.Type().IsRegular() {
			fi, _ := de.Info()
			if fi.Size() < 1<<30 {
				b, _ := os.ReadFile(filepath.Join(dir, de.Name()))
				h.Write(b)
			}
		}
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// TestFolderCorpus runs verify, sign and flash's loader over every case.
func TestFolderCorpus(t *testing.T) {
	gen := generateFolders(t)
	if *updateCorpus {
		writeFolders(t, gen)
	}
	b, err := os.ReadFile(filepath.Join(foldersDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []folderCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(gen) {
		t.Fatalf("testdata has %d cases, the generator makes %d: rerun with -update", len(cases), len(gen))
	}
	for i, c := range cases {
		if c != gen[i].folderCase {
			t.Fatalf("case %s differs from the generator's: rerun with -update", c.Name)
		}
		for n, want := range gen[i].files {
			if got, err := os.ReadFile(filepath.Join(foldersDir, c.Name, n)); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("case %s: %s differs from the generator's: rerun with -update", c.Name, n)
			}
		}
	}
	k := corpusKey(t)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			commands := []struct {
				name, want string
				run        func(dir string) error
			}{
				{"verify", c.Verify, func(dir string) error {
					_, err := signing.VerifyDir(ctx, dir, []signing.PublicKey{k.Public()})
					return err
				}},
				{"sign", c.Sign, func(dir string) error { return signing.SignDir(ctx, dir, k) }},
				{"flash", c.Flash, func(dir string) error { _, err := LoadBuild(ctx, dir); return err }},
			}
			for _, cmd := range commands {
				dir := materialize(t, c)
				before := folderDigest(t, dir)
				err := cmd.run(dir)
				switch {
				case cmd.want == "ok" && err != nil:
					t.Errorf("%s (%s): refused: %v", cmd.name, c.How, err)
				case cmd.want != "ok" && err == nil:
					t.Errorf("%s (%s): accepted", cmd.name, c.How)
				case cmd.want != "ok" && !strings.Contains(err.Error(), cmd.want):
					t.Errorf("%s (%s): error %q does not say %q", cmd.name, c.How, err, cmd.want)
				}
				if err != nil && folderDigest(t, dir) != before {
					t.Errorf("%s (%s): refused, but the folder changed", cmd.name, c.How)
				}
			}
		})
	}
}

// FuzzManifestFolder: any manifest.json in an otherwise good folder is
// either refused by all three commands' shared loader or loads; it never
// hangs or panics. Seeded from the corpus's manifests.
func FuzzManifestFolder(f *testing.F) {
	des, _ := os.ReadDir(foldersDir)
	for _, de := range des {
		if b, err := os.ReadFile(filepath.Join(foldersDir, de.Name(), manifest.FileName)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, mb []byte) {
		dir := t.TempDir()
		for n, b := range folderArtifacts {
			os.WriteFile(filepath.Join(dir, n), b, 0o644)
		}
		os.WriteFile(filepath.Join(dir, manifest.FileName), mb, 0o644)
		d, err := manifest.LoadDir(context.Background(), dir)
		if err != nil {
			return
		}
		// What loads must be clean enough to reach a boot entry.
		if err := d.Manifest.Validate(); err != nil {
			t.Fatalf("loaded an invalid manifest: %v", err)
		}
		if err := manifest.ValidateCmdline(d.Manifest.Cmdline); err != nil {
			t.Fatal(err)
		}
	})
}
