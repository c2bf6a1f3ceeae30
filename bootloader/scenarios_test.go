package bootloader

import (
	"fmt"
	"strings"
	"testing"
)

// scenarioEntry is one file in /loader/entries of a boot scenario. Its
// content is "title", a `linux` line pointing at a file unique to the entry
// (unless noLinux), and extra lines.
type scenarioEntry struct {
	name    string
	extra   string // more lines, e.g. "sort-key turbo\n"
	noLinux bool
	// skipped: the loader ignores the file by its name; ParseEntry must
	// refuse it, and it is not passed to PlanBoot.
	skipped bool
}

// bootScenario is an ESP and what systemd-boot 252 does with it on a boot
// without EFI variables and key presses. The expectations are written down
// by hand from the v252 rules; TestBootScenarios checks PlanBoot against
// them and TestRealSystemdBoot checks the real loader.
type bootScenario struct {
	name       string
	loaderConf string // "" = no loader.conf
	entries    []scenarioEntry
	wantBoot   string // file name (before the rename) of the entry booted
	wantNew    string // its name after the loader's rename; "" = not renamed
}

// kernelPath is the ESP path of the (fake) kernel of entry i.
func kernelPath(i int) string { return fmt.Sprintf("/k/%d.efi", i) }

func (s scenarioEntry) content(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title %s\n", s.name)
	if !s.noLinux {
		fmt.Fprintf(&b, "linux %s\n", kernelPath(i))
	}
	b.WriteString(s.extra)
	return b.String()
}

func names(ns ...string) []scenarioEntry {
	var es []scenarioEntry
	for _, n := range ns {
		es = append(es, scenarioEntry{name: n})
	}
	return es
}

var bootScenarios = []bootScenario{
	{
		name:     "fresh image: one blessed entry",
		entries:  names("turbo-1-a.conf"),
		wantBoot: "turbo-1-a.conf",
	},
	{
		name:     "after flash: the trial entry wins and is counted down",
		entries:  names("turbo-1-a.conf", "turbo-2-b+3.conf"),
		wantBoot: "turbo-2-b+3.conf", wantNew: "turbo-2-b+2-1.conf",
	},
	{
		name:     "last try of the trial",
		entries:  names("turbo-1-a.conf", "turbo-2-b+1-2.conf"),
		wantBoot: "turbo-2-b+1-2.conf", wantNew: "turbo-2-b+0-3.conf",
	},
	{
		name:     "trial exhausted: back to a",
		entries:  names("turbo-2-b+0-3.conf", "turbo-1-a.conf"),
		wantBoot: "turbo-1-a.conf",
	},
	{
		name:     "trial blessed",
		entries:  names("turbo-1-a.conf", "turbo-2-b.conf"),
		wantBoot: "turbo-2-b.conf",
	},
	{
		name:     "generation 10 beats 9 (version order, not bytes)",
		entries:  names("turbo-9-a.conf", "turbo-10-b.conf"),
		wantBoot: "turbo-10-b.conf",
	},
	{
		name:     "same generation: slot b beats a",
		entries:  names("turbo-2-a.conf", "turbo-2-b.conf"),
		wantBoot: "turbo-2-b.conf",
	},
	{
		name:     "all bad: the first bad one is booted and counted further",
		entries:  names("turbo-1-a+0-3.conf", "turbo-2-b+0-1.conf"),
		wantBoot: "turbo-2-b+0-1.conf", wantNew: "turbo-2-b+0-2.conf",
	},
	{
		name:       "default glob skips the bad entry",
		loaderConf: "timeout 0\ndefault turbo-*\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b+0-3.conf"),
		wantBoot:   "turbo-1-a.conf",
	},
	{
		name:       "default glob picks the trial",
		loaderConf: "default turbo-*\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b+3.conf"),
		wantBoot:   "turbo-2-b+3.conf", wantNew: "turbo-2-b+2-1.conf",
	},
	{
		name:       "default naming the whole file wins over sort order",
		loaderConf: "default turbo-1-a.conf\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b+3.conf"),
		wantBoot:   "turbo-1-a.conf",
	},
	{
		name:       "default without .conf matches nothing in v252",
		loaderConf: "default turbo-1-a\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b.conf"),
		wantBoot:   "turbo-2-b.conf",
	},
	{
		name:       "default without the counter matches nothing in v252",
		loaderConf: "default turbo-1-a.conf\n",
		entries:    names("turbo-1-a+2-1.conf", "turbo-2-b.conf"),
		wantBoot:   "turbo-2-b.conf",
	},
	{
		name:       "default matching only a bad entry boots it",
		loaderConf: "default turbo-2-b*\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b+0-3.conf"),
		wantBoot:   "turbo-2-b+0-3.conf", wantNew: "turbo-2-b+0-4.conf",
	},
	{
		name:       "default is case-insensitive",
		loaderConf: "default TURBO-1-A.CONF\n",
		entries:    names("Turbo-1-A.conf", "turbo-2-b.conf"),
		wantBoot:   "Turbo-1-A.conf",
	},
	{
		name:       "@saved without LoaderEntryLastBooted is the first entry",
		loaderConf: "default @saved\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b.conf"),
		wantBoot:   "turbo-2-b.conf",
	},
	{
		name:     "uppercase .CONF: counted, and renamed to lowercase .conf",
		entries:  names("turbo-1-a.conf", "turbo-3-c+3.CONF"),
		wantBoot: "turbo-3-c+3.CONF", wantNew: "turbo-3-c+2-1.conf",
	},
	{
		name:     "malformed counter: uncounted, not renamed",
		entries:  names("turbo-1-a.conf", "turbo-2-b+x.conf"),
		wantBoot: "turbo-2-b+x.conf",
	},
	{
		name:     "the ID includes .conf: turbo-1.conf sorts before turbo-1-a.conf",
		entries:  names("turbo-1-a.conf", "turbo-1.conf"),
		wantBoot: "turbo-1.conf",
	},
	{
		name: "an entry with a sort-key beats higher IDs without",
		entries: []scenarioEntry{
			{name: "zz-9.conf"},
			{name: "aa-1.conf", extra: "sort-key turbo\n"},
		},
		wantBoot: "aa-1.conf",
	},
	{
		name: "same sort-key: newest version first, not highest ID",
		entries: []scenarioEntry{
			{name: "x-b.conf", extra: "sort-key turbo\nversion 1.9\n"},
			{name: "x-a.conf", extra: "sort-key turbo\nversion 1.10\n"},
		},
		wantBoot: "x-a.conf",
	},
	{
		name: "same sort-key: no machine-id before a machine-id",
		entries: []scenarioEntry{
			{name: "m-b.conf", extra: "sort-key turbo\nmachine-id 0123456789abcdef0123456789abcdef\n"},
			{name: "m-a.conf", extra: "sort-key turbo\n"},
		},
		wantBoot: "m-a.conf",
	},
	{
		name: "entries the loader does not list are skipped",
		entries: []scenarioEntry{
			{name: "turbo-1-a.conf"},
			{name: "turbo-9-x.conf", noLinux: true, extra: "options quiet\n"},
			{name: "turbo-8-y.conf", extra: "architecture aa64\n"},
			{name: "turbo-7-z.conf", extra: "architecture X64\n"}, // case does not matter
			{name: "turbo-6-w.conf", extra: "architecture x64\n"},
		},
		wantBoot: "turbo-7-z.conf",
	},
	{
		name:     "the counter starts at the last '+'",
		entries:  names("turbo-1-a.conf", "turbo-2-b+x+3.conf"),
		wantBoot: "turbo-2-b+x+3.conf", wantNew: "turbo-2-b+x+2-1.conf",
	},
	{
		name:     "leading zeros in the counter are read and dropped",
		entries:  names("turbo-1-a.conf", "turbo-2-b+03-00.conf"),
		wantBoot: "turbo-2-b+03-00.conf", wantNew: "turbo-2-b+2-1.conf",
	},
	{
		name:     "a counter over INT_MAX is no counter",
		entries:  names("turbo-1-a.conf", "turbo-2-b+2147483648.conf"),
		wantBoot: "turbo-2-b+2147483648.conf",
	},
	{
		name:       "files the loader skips by name",
		loaderConf: "default *9*\n",
		entries: []scenarioEntry{
			{name: "turbo-1-a.conf"},
			{name: "auto-9.conf", skipped: true},
			{name: ".turbo-9.conf", skipped: true},
			{name: "turbo-9.txt", skipped: true},
		},
		wantBoot: "turbo-1-a.conf",
	},
	{
		name:       "a menu timeout boots the same entry afterwards",
		loaderConf: "timeout 1\n",
		entries:    names("turbo-1-a.conf", "turbo-2-b+3.conf"),
		wantBoot:   "turbo-2-b+3.conf", wantNew: "turbo-2-b+2-1.conf",
	},
}

// parseScenario parses the scenario's files with this package.
func parseScenario(t *testing.T, s bootScenario) (LoaderConf, []Entry) {
	t.Helper()
	conf, err := ParseLoaderConf([]byte(s.loaderConf))
	if err != nil {
		t.Fatalf("ParseLoaderConf: %v", err)
	}
	var entries []Entry
	for i, se := range s.entries {
		e, err := ParseEntry(se.name, []byte(se.content(i)))
		if se.skipped {
			if err == nil {
				t.Fatalf("ParseEntry(%s) accepts a file the loader skips", se.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseEntry(%s): %v", se.name, err)
		}
		entries = append(entries, e)
	}
	return conf, entries
}

func TestBootScenarios(t *testing.T) {
	for _, s := range bootScenarios {
		t.Run(s.name, func(t *testing.T) {
			conf, entries := parseScenario(t, s)
			plan, err := PlanBoot(conf, entries)
			if err != nil {
				t.Fatalf("PlanBoot: %v", err)
			}
			if plan.Entry.FileName != s.wantBoot {
				t.Errorf("boots %q, want %q", plan.Entry.FileName, s.wantBoot)
			}
			gotNew := ""
			if plan.Rename {
				gotNew = plan.NewFileName
				if plan.OldFileName != plan.Entry.FileName {
					t.Errorf("renames %q, but boots %q", plan.OldFileName, plan.Entry.FileName)
				}
				if want := `\loader\entries\` + plan.NewFileName; plan.BootCountPath != want {
					t.Errorf("BootCountPath = %q, want %q", plan.BootCountPath, want)
				}
			} else if plan.BootCountPath != "" || plan.OldFileName != "" || plan.NewFileName != "" {
				t.Errorf("no rename, but plan has names: %+v", plan)
			}
			if gotNew != s.wantNew {
				t.Errorf("renamed to %q, want %q", gotNew, s.wantNew)
			}
			// Whatever order the directory lists the files in, the loader
			// picks the same entry (the scenarios have no ties).
			rev := make([]Entry, len(entries))
			for i, e := range entries {
				rev[len(entries)-1-i] = e
			}
			if e, err := SelectDefault(conf, rev); err != nil || e.FileName != s.wantBoot {
				t.Errorf("reversed input: SelectDefault = %q, %v; want %q", e.FileName, err, s.wantBoot)
			}
		})
	}
}
