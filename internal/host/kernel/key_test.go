package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/format/kconfig"
)

// writeFakeCC writes a shell script that answers --version and
// -dumpmachine like gcc would, and returns its path.
func writeFakeCC(t *testing.T, dir, version, machine string) string {
	t.Helper()
	p := filepath.Join(dir, "fake-gcc-"+strings.ReplaceAll(version, " ", "_"))
	script := "#!/bin/sh\ncase \"$1\" in\n--version) echo '" + version + "'; echo 'Copyright (C) fake';;\n-dumpmachine) echo '" + machine + "';;\n*) exit 1;;\nesac\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyInputsText(t *testing.T) {
	in := cacheKeyInputs{
		Source:   "tarball sha256:" + strings.Repeat("ab", 32),
		Base:     "tinyconfig",
		Arch:     "amd64",
		Compiler: "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
		Machine:  "x86_64-linux-gnu",
		Linker:   "GNU ld (GNU Binutils for Debian) 2.40",
		Epoch:    0,
		Options: []kconfig.Option{
			{Name: "CONFIG_A", Value: "y", Source: "a", Line: 1},
			{Name: "CONFIG_B", Value: "n", Source: "a", Line: 2},
		},
	}
	want := "turbo-image kernel cache key format 1\n" +
		"source tarball sha256:" + strings.Repeat("ab", 32) + "\n" +
		"base tinyconfig\n" +
		"arch amd64\n" +
		"cc gcc (Debian 12.2.0-14+deb12u1) 12.2.0\n" +
		"cc-machine x86_64-linux-gnu\n" +
		"ld GNU ld (GNU Binutils for Debian) 2.40\n" +
		"epoch 0\n" +
		"options 2\n" +
		"CONFIG_A=y\n" +
		"# CONFIG_B is not set\n"
	if got := string(in.Text()); got != want {
		t.Errorf("Text()\n got %q\nwant %q", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if in.Key() != hex.EncodeToString(sum[:]) {
		t.Errorf("Key() is not the SHA-256 of Text()")
	}
	base := in.Key()

	moved := in
	moved.Options = []kconfig.Option{{Name: "CONFIG_A", Value: "y", Source: "other.config", Line: 9}, {Name: "CONFIG_B", Value: "n", Source: "x", Line: 3}}
	if moved.Key() != base {
		t.Error("fragment names and line numbers changed the key")
	}
	changes := map[string]func(k *cacheKeyInputs){
		"source":   func(k *cacheKeyInputs) { k.Source = "tarball sha256:" + strings.Repeat("cd", 32) },
		"base":     func(k *cacheKeyInputs) { k.Base = "defconfig" },
		"arch":     func(k *cacheKeyInputs) { k.Arch = "arm64" },
		"compiler": func(k *cacheKeyInputs) { k.Compiler = "gcc (Debian 12.2.0-14+deb12u2) 12.2.0" },
		"machine":  func(k *cacheKeyInputs) { k.Machine = "aarch64-linux-gnu" },
		"linker":   func(k *cacheKeyInputs) { k.Linker = "GNU ld 2.41" },
		"epoch":    func(k *cacheKeyInputs) { k.Epoch = 1 },
		"value": func(k *cacheKeyInputs) {
			k.Options = []kconfig.Option{{Name: "CONFIG_A", Value: "m"}, {Name: "CONFIG_B", Value: "n"}}
		},
		"order": func(k *cacheKeyInputs) {
			k.Options = []kconfig.Option{{Name: "CONFIG_B", Value: "n"}, {Name: "CONFIG_A", Value: "y"}}
		},
		"newline": func(k *cacheKeyInputs) { k.Compiler = "gcc\noptions 0" },
	}
	for name, change := range changes {
		k := in
		change(&k)
		if k.Key() == base {
			t.Errorf("changing %s did not change the key", name)
		}
	}
}

func TestCacheKey(t *testing.T) {
	dir := t.TempDir()
	tarball := filepath.Join(dir, "linux.tar.xz")
	if err := os.WriteFile(tarball, []byte("pretend kernel source"), 0o644); err != nil {
		t.Fatal(err)
	}
	cc12 := writeFakeCC(t, dir, "gcc (Fake) 12.2.0", "x86_64-linux-gnu")
	cc13 := writeFakeCC(t, dir, "gcc (Fake) 13.1.0", "x86_64-linux-gnu")
	ctx := context.Background()
	spec := Spec{
		Source:    tarball,
		Base:      "tinyconfig",
		Arch:      "amd64",
		CC:        cc12,
		CacheDir:  filepath.Join(dir, "cache"),
		Fragments: []Fragment{{Name: "virt.config", Data: []byte("CONFIG_A=y\nCONFIG_B=y\n")}},
	}
	key := func(s Spec) string {
		t.Helper()
		k, err := cacheKey(ctx, s)
		if err != nil {
			t.Fatalf("CacheKey: %v", err)
		}
		if len(k) != 64 {
			t.Fatalf("key %q is not hex SHA-256", k)
		}
		return k
	}
	base := key(spec)
	if again := key(spec); again != base {
		t.Fatalf("same inputs gave %s and %s", base, again)
	}

	same := map[string]func(s *Spec){
		"jobs":          func(s *Spec) { s.Jobs = 7 },
		"fragment name": func(s *Spec) { s.Fragments = []Fragment{{Name: "builtin:virt", Data: spec.Fragments[0].Data}} },
		"comments": func(s *Spec) {
			s.Fragments = []Fragment{{Name: "v", Data: []byte("# hello\nCONFIG_A=y\n\nCONFIG_B=y\n")}}
		},
		"progress": func(s *Spec) { s.Progress = func(Progress) {} },
	}
	for name, change := range same {
		s := spec
		change(&s)
		if key(s) != base {
			t.Errorf("changing %s changed the key", name)
		}
	}
	different := map[string]func(s *Spec){
		"fragment byte": func(s *Spec) {
			s.Fragments = []Fragment{{Name: "virt.config", Data: []byte("CONFIG_A=m\nCONFIG_B=y\n")}}
		},
		"extra fragment": func(s *Spec) {
			s.Fragments = append(s.Fragments[:1:1], Fragment{Name: "x", Data: []byte("CONFIG_C=y\n")})
		},
		"base":     func(s *Spec) { s.Base = "defconfig" },
		"compiler": func(s *Spec) { s.CC = cc13 },
		"epoch":    func(s *Spec) { s.SourceDateEpoch = 1700000000 },
	}
	for name, change := range different {
		s := spec
		change(&s)
		if key(s) == base {
			t.Errorf("changing %s did not change the key", name)
		}
	}

	// The source content is part of the key.
	if err := os.WriteFile(tarball, []byte("pretend kernel sourcf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if key(spec) == base {
		t.Error("changing the tarball did not change the key")
	}

	// A compiler for another architecture is refused.
	s := spec
	s.Arch = "arm64"
	if _, err := cacheKey(ctx, s); err == nil || !strings.Contains(err.Error(), "targets x86_64-linux-gnu, not arm64") {
		t.Errorf("arm64 with an x86_64 compiler: err = %v", err)
	}
	s = spec
	s.CC = filepath.Join(dir, "no-such-gcc")
	if _, err := cacheKey(ctx, s); err == nil || !strings.Contains(err.Error(), "no-such-gcc") {
		t.Errorf("missing compiler: err = %v", err)
	}
	s = spec
	s.Fragments = []Fragment{{Name: "broken.config", Data: []byte("CONFIG_A=perhaps\n")}}
	if _, err := cacheKey(ctx, s); err == nil || !strings.Contains(err.Error(), "broken.config:1:") {
		t.Errorf("broken fragment: err = %v", err)
	}
}

func TestSourceHashMemo(t *testing.T) {
	dir := t.TempDir()
	l := layout{filepath.Join(dir, "cache")}
	tarball := filepath.Join(dir, "src.tar")
	content := []byte("first content")
	if err := os.WriteFile(tarball, content, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	realSum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	kind, sum, err := sourceIdentity(ctx, tarball, l)
	if err != nil || kind != "tarball" || sum != realSum(content) {
		t.Fatalf("sourceIdentity = %s %s %v, want tarball %s", kind, sum, err, realSum(content))
	}
	// Plant a different hash in the memo: while the file is unchanged the
	// memo is trusted and the file is not rehashed.
	memoPath := l.sourceMemo(tarball)
	m, err := readSourceMemo(memoPath)
	if err != nil {
		t.Fatal(err)
	}
	fake := strings.Repeat("f", 64)
	m.SHA256 = fake
	data, _ := json.Marshal(m)
	if err := os.WriteFile(memoPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, sum, _ := sourceIdentity(ctx, tarball, l); sum != fake {
		t.Fatalf("memo was not used: got %s", sum)
	}

	// Same size, new mtime: rehashed.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(tarball, later, later); err != nil {
		t.Fatal(err)
	}
	if _, sum, _ := sourceIdentity(ctx, tarball, l); sum != realSum(content) {
		t.Fatalf("mtime change: got %s, want a fresh hash", sum)
	}

	// Plant the fake again, then change the size (keeping the mtime).
	m, _ = readSourceMemo(memoPath)
	m.SHA256 = fake
	data, _ = json.Marshal(m)
	os.WriteFile(memoPath, data, 0o644)
	content = []byte("second, longer content")
	if err := os.WriteFile(tarball, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tarball, later, later); err != nil {
		t.Fatal(err)
	}
	if _, sum, _ := sourceIdentity(ctx, tarball, l); sum != realSum(content) {
		t.Fatalf("size change: got %s, want a fresh hash", sum)
	}

	// A corrupt memo is ignored and replaced.
	os.WriteFile(memoPath, []byte("{not json"), 0o644)
	if _, sum, err := sourceIdentity(ctx, tarball, l); err != nil || sum != realSum(content) {
		t.Fatalf("corrupt memo: got %s, %v", sum, err)
	}
}

func TestTreeIdentity(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "linux")
	writeTree(t, tree, map[string]string{
		"Makefile":           "all:\n",
		"Kconfig":            "config A\n\tbool\n",
		"scripts/x.sh":       "#!/bin/sh\n",
		".git/HEAD":          "ref: refs/heads/main\n",
		"arch/x86/Kconfig":   "",
		"include/linux/fs.h": "/* fs */\n",
	})
	l := layout{filepath.Join(dir, "cache")}
	ctx := context.Background()
	id := func() string {
		t.Helper()
		kind, sum, err := sourceIdentity(ctx, tree, l)
		if err != nil || kind != "tree" {
			t.Fatalf("sourceIdentity = %s, %v", kind, err)
		}
		return sum
	}
	base := id()
	if id() != base {
		t.Fatal("unchanged tree gave a different hash")
	}
	os.WriteFile(filepath.Join(tree, ".git", "HEAD"), []byte("ref: refs/heads/other\n"), 0o644)
	if id() != base {
		t.Error("a change below .git changed the hash")
	}
	steps := []struct {
		name   string
		change func()
	}{
		{"content", func() { os.WriteFile(filepath.Join(tree, "include/linux/fs.h"), []byte("/* FS */\n"), 0o644) }},
		{"exec bit", func() { os.Chmod(filepath.Join(tree, "scripts/x.sh"), 0o755) }},
		{"new file", func() { os.WriteFile(filepath.Join(tree, "new.c"), nil, 0o644) }},
		{"symlink", func() { os.Symlink("Makefile", filepath.Join(tree, "link")) }},
	}
	prev := base
	for _, st := range steps {
		st.change()
		if got := id(); got == prev {
			t.Errorf("%s change did not change the tree hash", st.name)
		} else {
			prev = got
		}
	}
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCacheKeyRejectsUncleanTree(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "linux")
	writeTree(t, tree, map[string]string{"Makefile": "", "Kconfig": "", ".config": "CONFIG_A=y\n"})
	spec := Spec{Source: tree, Base: "tinyconfig", Arch: "amd64", CacheDir: filepath.Join(dir, "cache"),
		CC: writeFakeCC(t, dir, "gcc (Fake) 1", "x86_64-linux-gnu")}
	_, err := cacheKey(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "is not clean (.config exists)") {
		t.Errorf("CacheKey on an unclean tree: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache", "srchash")); !os.IsNotExist(err) {
		t.Errorf("the unclean tree was hashed (%v)", err)
	}
}
