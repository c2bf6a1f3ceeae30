package update

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
	"github.com/turbo-image/turbo-image/internal/shared/update/updatetest"
)

// The update stream corpus (testdata/streams) holds hostile and careless
// flash streams, each made by a named recipe from a good stream, with the
// outcome the agent must reach: accepted, or refused with a specific error
// and 0 bytes of the target changed. Every case runs through what the
// network agent runs (ReadStream, PlanFlash against the target's boot
// state, Apply streaming into the target) against an in-memory target
// whose digest is compared before and after. FuzzAgentStream starts from
// the same files.
//
// Regenerate with: go test ./internal/shared/update -run TestStreamCorpus -args -update
var update = flag.Bool("update", false, "rewrite testdata/streams from the generator")

const corpusDir = "testdata/streams"

// corpusCase is one entry of testdata/streams/cases.json.
type corpusCase struct {
	Name string `json:"name"`
	// How the stream was made from the good one.
	How string `json:"how"`
	// Want is "ok", or a piece of the refusal's text.
	Want string `json:"want"`
	// Trusted: the target's active slot trusts the corpus key.
	Trusted bool `json:"trusted,omitempty"`
}

// corpusKey is the fixed signing key of the corpus (a seed of zeros: the
// corpus must be reproducible, and the key protects nothing).
func corpusKey(t testing.TB) signing.PrivateKey {
	k, err := signing.GenerateKey(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var corpusPayloads = map[string][]byte{
	"root.squashfs":           bytes.Repeat([]byte("root file system "), 100),
	"kernel":                  bytes.Repeat([]byte("kernel "), 80),
	"slot-initramfs.cpio.zst": []byte("slot initramfs"),
}

func corpusManifest(version string) *manifest.Manifest {
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: version, Arch: "amd64", Cmdline: "console=ttyS0 quiet",
		Tries: 3, BuildID: "corpus"}
	for name, b := range corpusPayloads {
		m.Artifacts = append(m.Artifacts, manifest.Digest(name, b))
	}
	return m
}

// member is one tar member of a stream being made.
type member struct {
	hdr  tar.Header
	data []byte
}

func reg(name string, data []byte) member {
	return member{tar.Header{Name: name, Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg, Format: tar.FormatPAX}, data}
}

// goodMembers returns the members of a good stream of m, signed by k if
// k is set.
func goodMembers(t testing.TB, m *manifest.Manifest, k *signing.PrivateKey) []member {
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ms := []member{reg(manifest.FileName, mb)}
	if k != nil {
		sig, err := signing.Sign(*k, mb, nil)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, reg(signing.SignatureFile, sig))
	}
	order, err := StreamOrder(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range order {
		ms = append(ms, reg(a.Name, corpusPayloads[a.Name]))
	}
	return ms
}

// tarOf writes members as a tar archive with its end-of-archive marker.
func tarOf(t testing.TB, ms []member) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		h := m.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(m.data) > 0 {
			if _, err := tw.Write(m.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// generated is a corpus case with its stream.
type generated struct {
	corpusCase
	data []byte
}

// generate makes every case of the corpus. The recipes are plain code so
// that a reader sees how each stream was made; How says it in words.
func generate(t testing.TB) []generated {
	k := corpusKey(t)
	good := corpusManifest("1.0.1")
	goodMs := goodMembers(t, good, nil)
	goodTar := tarOf(t, goodMs)
	var out []generated
	add := func(name, how, want string, trusted bool, data []byte) {
		out = append(out, generated{corpusCase{name, how, want, trusted}, data})
	}
	// endOfLast is where the last payload's padding ends (the marker
	// starts): the good stream less its two zero blocks.
	endOfLast := len(goodTar) - 1024

	add("good", "WriteStream of a 1.0.1 build", "ok", false, goodTar)
	add("good-signed", "a 1.0.1 build signed by the trusted key", "ok", true, tarOf(t, goodMembers(t, good, &k)))
	add("good-record-padded", "the good stream padded with zeros to a 10240-byte tar record, as GNU tar writes", "ok", false,
		append(append([]byte(nil), goodTar...), make([]byte, 10240-len(goodTar)%10240)...))

	// The end of the stream (defect 4 and siblings).
	add("extra-member-after-payloads", "a fourth member extra.txt after the payloads", `unexpected member "extra.txt" after the payloads`, false,
		tarOf(t, append(append([]member(nil), goodMs...), reg("extra.txt", []byte("surprise")))))
	add("extra-manifest-after-payloads", "manifest.json again after the payloads", `unexpected member "manifest.json"`, false,
		tarOf(t, append(append([]member(nil), goodMs...), goodMs[0])))
	add("garbage-end-blocks", "the two end-of-archive blocks replaced by 1024 bytes of 0xA5", "garbage", false,
		append(append([]byte(nil), goodTar[:endOfLast]...), bytes.Repeat([]byte{0xa5}, 1024)...))
	add("no-end-blocks", "the stream stops right after the last payload's padding", "end-of-archive marker", false, goodTar[:endOfLast])
	add("one-end-block", "only one of the two zero blocks", "end-of-archive marker", false, goodTar[:endOfLast+512])
	add("half-end-block", "the stream stops 100 bytes into the marker", "end-of-archive marker", false, goodTar[:endOfLast+100])
	add("data-after-end", "the good stream then the text 'trailing'", "after the end-of-archive marker", false,
		append(append([]byte(nil), goodTar...), "trailing"...))
	add("second-archive-after-end", "the good stream twice, back to back", "after the end-of-archive marker", false,
		append(append([]byte(nil), goodTar...), goodTar...))
	add("zero-block-then-garbage", "one zero block, then a block of 0xA5", "garbage", false,
		append(append([]byte(nil), goodTar[:endOfLast+512]...), bytes.Repeat([]byte{0xa5}, 512)...))
	add("huge-zero-trailer", "the good stream then 64 KiB + 512 bytes of zeros", "more than", false,
		append(append([]byte(nil), goodTar...), make([]byte, MaxTrailer+512)...))
	last := len(goodTar) - 1024 - 512 + len(corpusPayloads["slot-initramfs.cpio.zst"])
	dirty := append([]byte(nil), goodTar...)
	dirty[last+1] = 'x'
	add("dirty-padding", "a non-zero byte in the padding after the last payload", "non-zero padding", false, dirty)

	// Member types (defect 11 and siblings).
	kinds := []struct {
		name, how, want string
		flag            byte
		link            string
	}{
		{"symlink", "a symlink to /dev/zero", "is a symlink", tar.TypeSymlink, "/dev/zero"},
		{"hardlink", "a hard link to manifest.json", "is a hard link", tar.TypeLink, "manifest.json"},
		{"dir", "a directory", "is a directory", tar.TypeDir, ""},
		{"fifo", "a FIFO", "is a named pipe", tar.TypeFifo, ""},
		{"chardev", "a character device", "is a device", tar.TypeChar, ""},
	}
	for _, kd := range kinds {
		for _, idx := range []int{0, 1, 3} { // manifest, root, the last payload
			ms := append([]member(nil), goodMs...)
			h := ms[idx].hdr
			h.Typeflag, h.Linkname, h.Size = kd.flag, kd.link, 0
			ms[idx] = member{h, nil}
			add(fmt.Sprintf("%s-%s", kd.name, strings.TrimSuffix(h.Name, path.Ext(h.Name))), fmt.Sprintf("member %s replaced by %s", h.Name, kd.how), kd.want, false, tarOf(t, ms))
		}
	}

	// Order, names and sizes.
	swapped := append([]member(nil), goodMs...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	add("payloads-out-of-order", "kernel before root.squashfs", `got member "kernel", expecting root.squashfs`, false, tarOf(t, swapped))
	traversal := append([]member(nil), goodMs...)
	traversal[1].hdr.Name = "../root.squashfs"
	add("payload-path-traversal", "root.squashfs named ../root.squashfs", `got member "../root.squashfs"`, false, tarOf(t, traversal))
	missing := append([]member(nil), goodMs[:3]...)
	add("missing-last-payload", "the initramfs member left out", "expecting slot-initramfs.cpio.zst", false, tarOf(t, missing))
	between := append(append(append([]member(nil), goodMs[:2]...), reg("extra.txt", nil)), goodMs[2:]...)
	add("extra-member-between-payloads", "extra.txt between root and kernel", `got member "extra.txt", expecting kernel`, false, tarOf(t, between))
	shorter := append([]member(nil), goodMs...)
	shorter[2] = reg("kernel", corpusPayloads["kernel"][1:])
	add("payload-shorter", "the kernel member one byte short", "fewer than", false, tarOf(t, shorter))
	longer := append([]member(nil), goodMs...)
	longer[2] = reg("kernel", append(append([]byte(nil), corpusPayloads["kernel"]...), 'x'))
	add("payload-longer", "the kernel member one byte longer", "more than", false, tarOf(t, longer))
	flipped := append([]member(nil), goodMs...)
	fb := append([]byte(nil), corpusPayloads["root.squashfs"]...)
	fb[len(fb)/2] ^= 1
	flipped[1] = reg("root.squashfs", fb)
	add("payload-flipped-byte", "one bit of root.squashfs flipped", "sha256", false, tarOf(t, flipped))
	flippedLast := append([]member(nil), goodMs...)
	ib := append([]byte(nil), corpusPayloads["slot-initramfs.cpio.zst"]...)
	ib[0] ^= 1
	flippedLast[3] = reg("slot-initramfs.cpio.zst", ib)
	add("last-payload-flipped-byte", "one bit of the initramfs flipped", "sha256", false, tarOf(t, flippedLast))

	// Cuts: the stream ends at random points (a killed client).
	rng := rand.New(rand.NewSource(9))
	for i := 0; i < 12; i++ {
		n := rng.Intn(len(goodTar))
		add(fmt.Sprintf("cut-%02d-at-%d", i, n), fmt.Sprintf("the good stream cut after %d of %d bytes", n, len(goodTar)), "", false, goodTar[:n])
	}
	add("empty", "no bytes at all", "unexpected EOF", false, nil)
	add("not-tar", "the text of a shell script", "flash stream", false, []byte("#!/bin/sh\nrm -rf /\n"))

	// The manifest (defect 8 and siblings) and its signature.
	manifestCase := func(name, how, want string, trusted bool, mb []byte, rest []member) {
		ms := append([]member{reg(manifest.FileName, mb)}, rest...)
		add(name, how, want, trusted, tarOf(t, ms))
	}
	goodMB, _ := good.Marshal()
	edit := func(from, to string) []byte { return bytes.Replace(goodMB, []byte(from), []byte(to), 1) }
	manifestCase("version-injects-efi-line", `version "1.0.1\nefi /EFI/BOOT/BOOTX64.EFI"`, "version",
		false, edit(`"version": "1.0.1"`, `"version": "1.0.1\nefi /EFI/BOOT/BOOTX64.EFI"`), goodMs[1:])
	manifestCase("cmdline-injects-line", `cmdline "console=ttyS0\ninitrd /a/initrd"`, "cmdline",
		false, edit(`"cmdline": "console=ttyS0 quiet"`, `"cmdline": "console=ttyS0\ninitrd /a/initrd"`), goodMs[1:])
	manifestCase("cmdline-sets-slot", `cmdline "turbo.slot=a"`, "turbo.slot=a",
		false, edit(`"cmdline": "console=ttyS0 quiet"`, `"cmdline": "turbo.slot=a"`), goodMs[1:])
	manifestCase("cmdline-tab", `a tab inside the cmdline`, "cmdline",
		false, edit(`"cmdline": "console=ttyS0 quiet"`, `"cmdline": "console=ttyS0\tquiet"`), goodMs[1:])
	manifestCase("name-with-newline", `name "hello\nlinux /a/linux"`, "name",
		false, edit(`"name": "hello"`, `"name": "hello\nlinux /a/linux"`), goodMs[1:])
	manifestCase("version-bidi", "version with U+202E", "version",
		false, edit(`"version": "1.0.1"`, `"version": "1.0.1\u202e"`), goodMs[1:])
	manifestCase("arch-unknown", `arch "riscv128"`, "arch",
		false, edit(`"arch": "amd64"`, `"arch": "riscv128"`), goodMs[1:])
	manifestCase("other-appliance", `name "other"`, "another appliance",
		false, edit(`"name": "hello"`, `"name": "other"`), goodMs[1:])
	manifestCase("older-version", `version "0.9"`, "not newer",
		false, edit(`"version": "1.0.1"`, `"version": "0.9"`), goodMs[1:])
	manifestCase("unknown-field", `an extra field "evil": 1`, "unknown field",
		false, edit(`"schema": 1,`, `"schema": 1, "evil": 1,`), goodMs[1:])
	manifestCase("trailing-json", "a second JSON object after the manifest", "trailing data",
		false, append(append([]byte(nil), goodMB...), "{}"...), goodMs[1:])
	manifestCase("not-json", "the manifest replaced by text", "manifest",
		false, []byte("hello\n"), goodMs[1:])
	var bigHdr bytes.Buffer
	tw := tar.NewWriter(&bigHdr)
	tw.WriteHeader(&tar.Header{Name: manifest.FileName, Size: MaxManifestBytes + 1, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Flush()
	add("manifest-too-big", "a header announcing a manifest of 1 MiB + 1 byte, then 512 bytes of it", "more than", false,
		append(bigHdr.Bytes(), make([]byte, 512)...))
	manifestCase("unsigned-to-trusting-slot", "the good stream; the active slot trusts a key", "not signed", true, goodMB, goodMs[1:])
	wrongSig, _ := signing.Sign(k, edit(`"version": "1.0.1"`, `"version": "1.0.2"`), nil)
	manifestCase("signature-of-other-manifest", "the signature of the 1.0.2 manifest on the 1.0.1 one", "signature", true,
		goodMB, append([]member{reg(signing.SignatureFile, wrongSig)}, goodMs[1:]...))
	other, _ := signing.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	otherSig, _ := signing.Sign(other, goodMB, nil)
	manifestCase("signature-untrusted-key", "signed by a key the slot does not trust", "signature", true,
		goodMB, append([]member{reg(signing.SignatureFile, otherSig)}, goodMs[1:]...))
	manifestCase("signature-garbage", "manifest.json.sig holds random text", "signature", true,
		goodMB, append([]member{reg(signing.SignatureFile, []byte("not a signature\n"))}, goodMs[1:]...))
	signedMs := goodMembers(t, good, &k)
	tampered := append([]member(nil), signedMs...)
	tampered[2] = reg("root.squashfs", fb)
	add("signed-payload-flipped", "a signed stream with one bit of root.squashfs flipped", "sha256", true, tarOf(t, tampered))
	return out
}

// memTarget is an in-memory flash target: ESP files and partitions.
// memTarget is an in-memory disk (updatetest.MemTarget).
type memTarget = updatetest.MemTarget

// newTarget is an appliance disk running 1.0.0 from slot a (trusting the
// corpus key if trusted).
func newTarget(t testing.TB, trusted bool) *memTarget {
	m := &memTarget{Files: map[string][]byte{}, Parts: map[string][]byte{
		"turbo-a": bytes.Repeat([]byte{'A'}, 4096), "turbo-b": bytes.Repeat([]byte{'B'}, 4096)}}
	old := corpusManifest("1.0.0")
	if trusted {
		old.TrustedKeys = []string{strings.TrimSpace(string(corpusKey(t).Public().MarshalText()))}
	}
	sm, err := old.Slot().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m.Files["loader/loader.conf"] = slots.LoaderConf()
	m.Files["a/manifest.json"] = sm
	m.Files["a/linux"] = []byte("old kernel")
	m.Files["a/initrd"] = []byte("old initrd")
	m.Files["loader/entries/turbo-1-a.conf"] = slots.NewEntry(1, "a", old.Name, old.Version, old.Cmdline).Format()
	return m
}

// agentFlash does what the network agent does with a request body.
func agentFlash(tg *memTarget, body io.Reader) (*Plan, error) {
	s, err := ReadStream(body)
	if err != nil {
		return nil, err
	}
	st, err := slots.Read(tg)
	if err != nil {
		return nil, err
	}
	cur := Current{State: st, Running: "a", Manifests: map[string]*manifest.Manifest{}, PartitionSizes: map[string]int64{}}
	for _, slot := range []string{"a", "b"} {
		cur.PartitionSizes[slot] = int64(len(tg.Parts[slots.PartitionName(slot)]))
		if b, err := tg.ReadFile(slot + "/" + manifest.FileName); err == nil {
			if cur.Manifests[slot], err = manifest.Parse(b); err != nil {
				return nil, err
			}
		}
	}
	p, err := PlanFlash(cur, Request{Manifest: s.Manifest, ManifestBytes: s.ManifestBytes, Signature: s.Signature})
	if err != nil {
		return nil, err
	}
	return p, Apply(p, tg, updatetest.MemParts{M: tg}, s, nil)
}

func readCorpus(t testing.TB) ([]corpusCase, map[string][]byte) {
	b, err := os.ReadFile(filepath.Join(corpusDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	for _, c := range cases {
		if data[c.Name], err = os.ReadFile(filepath.Join(corpusDir, c.Name+".tar")); err != nil {
			t.Fatal(err)
		}
	}
	return cases, data
}

func writeCorpus(t *testing.T, gen []generated) {
	os.RemoveAll(corpusDir)
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, g := range gen {
		cases = append(cases, g.corpusCase)
		if err := os.WriteFile(filepath.Join(corpusDir, g.Name+".tar"), g.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.MarshalIndent(cases, "", "  ")
	if err := os.WriteFile(filepath.Join(corpusDir, "cases.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStreamCorpus runs every case of testdata/streams through the agent's
// path and checks its outcome; the committed corpus must be what the
// generator makes.
func TestStreamCorpus(t *testing.T) {
	gen := generate(t)
	if *update {
		writeCorpus(t, gen)
	}
	cases, data := readCorpus(t)
	if len(cases) != len(gen) {
		t.Fatalf("testdata has %d cases, the generator makes %d: rerun with -update", len(cases), len(gen))
	}
	for i, c := range cases {
		if c != gen[i].corpusCase || !bytes.Equal(data[c.Name], gen[i].data) {
			t.Fatalf("case %s differs from the generator's: rerun with -update", c.Name)
		}
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			tg := newTarget(t, c.Trusted)
			before := tg.Digest()
			p, err := agentFlash(tg, bytes.NewReader(data[c.Name]))
			if c.Want == "ok" {
				if err != nil {
					t.Fatalf("%s: refused: %v", c.How, err)
				}
				st, err := slots.Read(tg)
				if err != nil {
					t.Fatal(err)
				}
				bp, err := st.Plan()
				if err != nil || bp.Entry.FileName != p.Entry {
					t.Fatalf("after the flash the loader boots %v (%v), want %s", bp.Entry, err, p.Entry)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s: accepted", c.How)
			}
			if !strings.Contains(err.Error(), c.Want) {
				t.Errorf("%s: error %q does not say %q", c.How, err, c.Want)
			}
			// A refused flash may have written the inactive slot, but the
			// disk must boot exactly what it booted before: the old entry,
			// the old slot's files and partition untouched.
			if _, ok := tg.Files["loader/entries/"+strings.TrimPrefix(entryName(p), "loader/entries/")]; p != nil && ok {
				t.Errorf("%s: the new entry %s exists after a refusal", c.How, p.Entry)
			}
			if got := bootDigest(tg); got != bootDigest(newTarget(t, c.Trusted)) {
				t.Errorf("%s: the boot state changed", c.How)
			}
			if p == nil && tg.Digest() != before {
				t.Errorf("%s: refused before planning, yet the target changed", c.How)
			}
		})
	}
}

func entryName(p *Plan) string {
	if p == nil {
		return ""
	}
	return p.Entry
}

// bootDigest covers what decides the next boot: loader.conf, the entries
// and the active slot's files and partition.
func bootDigest(tg *memTarget) [32]byte {
	h := sha256.New()
	names := []string{}
	for n := range tg.Files {
		if strings.HasPrefix(n, "loader/") && !strings.HasSuffix(n, ".conf.new") || strings.HasPrefix(n, "a/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "%q %d\n", n, len(tg.Files[n]))
		h.Write(tg.Files[n])
	}
	h.Write(tg.Parts["turbo-a"])
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// FuzzAgentStream runs the agent's path on arbitrary streams seeded from
// the corpus: whatever the stream, either the flash is accepted (and the
// loader boots the new entry) or nothing that decides the next boot
// changed.
func FuzzAgentStream(f *testing.F) {
	cases, data := readCorpus(f)
	for _, c := range cases {
		f.Add(data[c.Name], c.Trusted)
	}
	f.Fuzz(func(t *testing.T, stream []byte, trusted bool) {
		tg := newTarget(t, trusted)
		p, err := agentFlash(tg, bytes.NewReader(stream))
		if err == nil {
			st, err := slots.Read(tg)
			if err != nil {
				t.Fatal(err)
			}
			if bp, err := st.Plan(); err != nil || bp.Entry.FileName != p.Entry {
				t.Fatalf("accepted, but the loader boots %v (%v)", bp.Entry, err)
			}
			return
		}
		if bootDigest(tg) != bootDigest(newTarget(t, trusted)) {
			t.Fatalf("refused (%v), but the boot state changed", err)
		}
	})
}

// syncFailsAfterSwitch is a target whose sync fails once the switch was
// made.
type syncFailsAfterSwitch struct{ *memTarget }

func (s syncFailsAfterSwitch) Sync() error {
	for n := range s.Files {
		if strings.HasPrefix(n, "loader/entries/turbo-2-b+") {
			return errors.New("I/O error")
		}
	}
	return nil
}

// TestErrorAfterSwitch: an error after the switch says the switch was made
// (ErrSwitched), so the agent does not report a committed flash as
// refused; an error before it does not.
func TestErrorAfterSwitch(t *testing.T) {
	gen := generate(t)
	tg := newTarget(t, false)
	s, err := ReadStream(bytes.NewReader(gen[0].data))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := slots.Read(tg)
	cur := Current{State: st, Running: "a", Manifests: map[string]*manifest.Manifest{"a": corpusManifest("1.0.0")},
		PartitionSizes: map[string]int64{"a": 4096, "b": 4096}}
	p, err := PlanFlash(cur, Request{Manifest: s.Manifest, ManifestBytes: s.ManifestBytes})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(p, syncFailsAfterSwitch{tg}, updatetest.MemParts{M: tg}, s, nil); !errors.Is(err, ErrSwitched) {
		t.Fatalf("sync failing after the switch: %v", err)
	}
	if _, err := agentFlash(newTarget(t, false), bytes.NewReader(gen[3].data)); err == nil || errors.Is(err, ErrSwitched) {
		t.Fatalf("%s: %v", gen[3].Name, err)
	}
}
