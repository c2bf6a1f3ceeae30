package bootloader

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addFileSeeds adds every file matching glob as a seed, with its base name
// when withName is set.
func addFileSeeds(f *testing.F, glob string, withName bool) {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files %s: %v", glob, err)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if withName {
			f.Add(filepath.Base(p), data)
		} else {
			f.Add(data)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	addFileSeeds(f, "testdata/entries/*.conf", true)
	f.Add("e.conf", []byte("title \"\"x\"\"\nlinux /k\noptions \" a\"\noptions b\t\n"))
	f.Add("E+1-2.CONF", []byte("efi /x.efi\r\narchitecture X64\r\n#c\r\nfoo bar\n"))
	f.Add("a+.conf", []byte("linux\t/k\n  initrd /i\ninitrd /j\n"))
	f.Add("x.conf", []byte("linux /k\nlinux /k2\ntitle a\ntitle b\nsort-key s\nversion 1\nmachine-id m\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		e, err := ParseEntry(name, data)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("parsed entry does not validate: %v\n%#v", err, e)
		}
		out := e.Format()
		back, err := ParseEntry(name, out)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%q", err, out)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip changed the entry:\n%#v\n%#v\n%q", e, back, out)
		}
		if again := back.Format(); !bytes.Equal(again, out) {
			t.Fatalf("Format is not stable:\n%q\n%q", out, again)
		}
		// Planning with the entry must not fail for other reasons.
		plan, err := PlanBoot(LoaderConf{Timeout: TimeoutUnset}, []Entry{e})
		if e.Loadable() != (err == nil) {
			t.Fatalf("Loadable %v but PlanBoot error %v", e.Loadable(), err)
		}
		if err == nil && plan.Rename != e.Counter.Set {
			t.Fatalf("counter %+v but rename %v", e.Counter, plan.Rename)
		}
	})
}

func FuzzParseEntryFileName(f *testing.F) {
	for _, n := range []string{
		"turbo-1-a+2-1.conf", "turbo-1-a.conf", "a+.conf", "a+1-.conf", "a+x.conf",
		"a+99999999999999999999.conf", "a+1", "a+b+3.conf", "a+3.CONF", "auto-x.conf",
		".a.conf", "+3.conf", "a+03-007.conf", "a+0.conf",
	} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, c, err := ParseEntryFileName(name)
		ln, lerr := parseLoaderName(name)
		if err == nil {
			if lerr != nil || ln.id != id || ln.counter != c {
				t.Fatalf("strict %q, %+v disagrees with the loader: %+v, %v", id, c, ln, lerr)
			}
			if verr := ValidateID(id); verr != nil {
				t.Fatalf("accepted ID fails ValidateID: %v", verr)
			}
			canon := EntryFileName(id, c)
			id2, c2, err := ParseEntryFileName(canon)
			if err != nil || id2 != id || c2 != c {
				t.Fatalf("EntryFileName(%q, %+v) = %q parses as %q, %+v, %v", id, c, canon, id2, c2, err)
			}
		}
		if lerr != nil {
			return
		}
		// The name the loader renames a counted entry to reads back as the
		// counter after the attempt, with the same ID.
		next, ok := ln.counter.AfterAttempt()
		if !ok {
			return
		}
		renamed, err := parseLoaderName(EntryFileName(ln.id, next))
		if err != nil || renamed.id != ln.id || renamed.counter != next {
			t.Fatalf("%q renamed reads back as %+v, %v; want id %q, %+v", name, renamed, err, ln.id, next)
		}
	})
}

func FuzzParseLoaderConf(f *testing.F) {
	addFileSeeds(f, "testdata/loader/*.conf", false)
	f.Add([]byte("timeout 4294967295\ndefault \" x \"\nconsole-mode 00\nrandom-seed-mode t\n"))
	f.Add([]byte("default @saved\r\neditor 0\rbeep y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseLoaderConf(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed loader.conf does not validate: %v\n%#v", err, c)
		}
		out := c.Format()
		back, err := ParseLoaderConf(out)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%q", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed loader.conf:\n%#v\n%#v\n%q", c, back, out)
		}
		if again := back.Format(); !bytes.Equal(again, out) {
			t.Fatalf("Format is not stable:\n%q\n%q", out, again)
		}
	})
}

func FuzzStrVerCmp(f *testing.F) {
	f.Add("123~rc1", "123", "123-a")
	f.Add("turbo-9-a.conf", "turbo-10-b.conf", "turbo-10-b+3.conf")
	f.Add("1.0^git1", "1.01", "1_0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab := StrVerCmp(a, b)
		if ab < -1 || ab > 1 {
			t.Fatalf("StrVerCmp(%q, %q) = %d", a, b, ab)
		}
		if ba := StrVerCmp(b, a); ba != -ab {
			t.Fatalf("StrVerCmp(%q, %q) = %d but reversed %d", a, b, ab, ba)
		}
		if StrVerCmp(a, a) != 0 {
			t.Fatalf("StrVerCmp(%q, itself) != 0", a)
		}
		bc, ac := StrVerCmp(b, c), StrVerCmp(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 || ab >= 0 && bc >= 0 && ac < 0 {
			t.Fatalf("not transitive: %q %d %q %d %q, but %q vs %q is %d", a, ab, b, bc, c, a, c, ac)
		}
	})
}
