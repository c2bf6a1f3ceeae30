package bootloader

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// peWithSections is a minimal PE image: DOS header, PE header with no
// optional header, then the sections' table and data in order.
func peWithSections(secs ...[2]string) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	dos := make([]byte, 64)
	copy(dos, "MZ")
	le.PutUint32(dos[0x3c:], 64)
	b.Write(dos)
	coff := make([]byte, 24)
	copy(coff, "PE\x00\x00")
	le.PutUint16(coff[6:], uint16(len(secs)))
	b.Write(coff)
	off := 64 + 24 + 40*len(secs)
	for _, s := range secs {
		h := make([]byte, 40)
		copy(h, s[0])
		le.PutUint32(h[8:], uint32(len(s[1])))
		le.PutUint32(h[16:], uint32(len(s[1])))
		le.PutUint32(h[20:], uint32(off))
		off += len(s[1])
		b.Write(h)
	}
	for _, s := range secs {
		b.WriteString(s[1])
	}
	return b.Bytes()
}

func TestReadUKIEntry(t *testing.T) {
	osrel := "NAME=\"hello\"\nPRETTY_NAME=\"hello 1.0 (slot b)\"\nVERSION='1.0'\n# ID=x\n"
	cases := []struct {
		name, file string
		pe         []byte
		want       Entry
		err        string
	}{
		{"counted", "turbo-2-b+3.efi", peWithSections([2]string{".osrel", osrel}, [2]string{".cmdline", "quiet turbo.slot=b\n\x00"}, [2]string{".linux", "K"}),
			Entry{FileName: "turbo-2-b+3.efi", ID: "turbo-2-b", Counter: Counter{Set: true, Left: 3}, UKI: true, Title: "hello 1.0 (slot b)",
				Version: "1.0", EFI: "/EFI/Linux/turbo-2-b+3.efi", Options: "quiet turbo.slot=b"}, ""},
		{"sort key from ID, tries done", "x+0-3.EFI", peWithSections([2]string{".linux", "K"}, [2]string{".osrel", "ID=debian\nVERSION_ID=12\n"}),
			Entry{FileName: "x+0-3.EFI", ID: "x", Counter: Counter{Set: true, Left: 0, Done: 3}, UKI: true, Title: "debian",
				Version: "12", SortKey: "debian", EFI: "/EFI/Linux/x+0-3.EFI"}, ""},
		{"no osrel", "a.efi", peWithSections([2]string{".cmdline", "x"}), Entry{}, "no .osrel"},
		{"no name", "a.efi", peWithSections([2]string{".osrel", "VERSION=1\n"}), Entry{}, "no PRETTY_NAME"},
		{"not PE", "a.efi", []byte("MZ but short"), Entry{}, "not a PE image"},
		{"skipped name", ".a.efi", peWithSections([2]string{".osrel", osrel}), Entry{}, "starts with '.'"},
		{"type 1 name", "a.conf", peWithSections([2]string{".osrel", osrel}), Entry{}, "does not end in"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := ReadUKIEntry(c.file, bytes.NewReader(c.pe))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.String() != c.want.String() || e.ID != c.want.ID || e.Counter != c.want.Counter || !e.UKI || e.Title != c.want.Title ||
				e.Version != c.want.Version || e.SortKey != c.want.SortKey || e.EFI != c.want.EFI || e.Options != c.want.Options {
				t.Fatalf("got %+v\nwant %+v", e, c.want)
			}
		})
	}
}

// TestUKIBootCounting: Type #2 entries sort, select and count like Type #1
// ones, with the counter before ".efi" (UAPI.1 "Boot counting").
func TestUKIBootCounting(t *testing.T) {
	mk := func(name, slot string) Entry {
		e, err := ReadUKIEntry(name, bytes.NewReader(peWithSections([2]string{".osrel", "NAME=hello\nVERSION=1\n"}, [2]string{".cmdline", "turbo.slot=" + slot})))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	conf := LoaderConf{Timeout: 0, Default: "turbo-*"}
	p, err := PlanBoot(conf, []Entry{mk("turbo-1-a.efi", "a"), mk("turbo-2-b+3.efi", "b")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Entry.FileName != "turbo-2-b+3.efi" || !p.Rename || p.NewFileName != "turbo-2-b+2-1.efi" || p.BootCountPath != `\EFI\Linux\turbo-2-b+2-1.efi` {
		t.Fatalf("plan %+v", p)
	}
	if got := p.Entry.FileNameWith(p.Entry.Counter.Blessed()); got != "turbo-2-b.efi" {
		t.Errorf("blessed %s", got)
	}
	// Tries used up: the older, blessed slot boots.
	p, err = PlanBoot(conf, []Entry{mk("turbo-1-a.efi", "a"), mk("turbo-2-b+0-3.efi", "b")})
	if err != nil || p.Entry.FileName != "turbo-1-a.efi" || p.Rename {
		t.Fatalf("plan %+v, %v", p, err)
	}
	// Mixed with a Type #1 entry: one order by file name.
	t1, err := ParseEntry("turbo-1-a.conf", []byte("linux /a/linux\noptions turbo.slot=a\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err = PlanBoot(conf, []Entry{t1, mk("turbo-2-b+3.efi", "b")})
	if err != nil || p.Entry.FileName != "turbo-2-b+3.efi" {
		t.Fatalf("plan %+v, %v", p, err)
	}
}

func FuzzReadUKIEntry(f *testing.F) {
	f.Add("a+1-2.efi", peWithSections([2]string{".osrel", "NAME=x\n"}, [2]string{".cmdline", "c"}))
	f.Add("a.efi", peWithSections([2]string{".osrel", "NAME=x\n"}, [2]string{".osrel", "NAME=y\n"}))
	f.Add("a.efi", []byte("MZ\x00\x00"))
	bad := peWithSections([2]string{".osrel", "NAME=x\n"})
	binary.LittleEndian.PutUint32(bad[64+24+20:], 1<<31) // section far away
	f.Add("a.efi", bad)
	huge := peWithSections([2]string{".cmdline", "x"})
	binary.LittleEndian.PutUint16(huge[64+6:], 0xffff) // more sections than headers
	f.Add("a.efi", huge)
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		e, err := ReadUKIEntry(name, bytes.NewReader(b))
		if err != nil {
			return
		}
		if !e.UKI || e.Title == "" || e.FileNameWith(e.Counter) == "" {
			t.Fatalf("entry %+v", e)
		}
	})
}
