package bootloader

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func entriesNamed(ns ...string) []Entry {
	var es []Entry
	for _, n := range ns {
		e, err := ParseEntry(n, []byte("linux /k\n"))
		if err != nil {
			panic(err)
		}
		es = append(es, e)
	}
	return es
}

func fileNames(es []Entry) []string {
	var ns []string
	for _, e := range es {
		ns = append(ns, e.FileName)
	}
	return ns
}

func TestSort(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{
			name: "A/B states",
			in:   []string{"turbo-1-a.conf", "turbo-3-a+0-3.conf", "turbo-2-b+3.conf", "turbo-10-b.conf"},
			want: []string{"turbo-10-b.conf", "turbo-2-b+3.conf", "turbo-1-a.conf", "turbo-3-a+0-3.conf"},
		},
		{
			name: "bad entries last, among themselves by ID",
			in:   []string{"a+0.conf", "c+0-9.conf", "b.conf"},
			want: []string{"b.conf", "c+0-9.conf", "a+0.conf"},
		},
		{
			name: "IDs are compared lowercased and with counter and suffix",
			in:   []string{"B+1.conf", "b.conf", "a+5.conf", "A+7.conf"},
			// "b+1.conf" > "b.conf" (a numeric segment is newer than '.'),
			// "a+7.conf" > "a+5.conf".
			want: []string{"B+1.conf", "b.conf", "A+7.conf", "a+5.conf"},
		},
		{
			name: "equal IDs keep input order (stable)",
			in:   []string{"x_1.conf", "x1.conf", "x-1.conf"},
			// '_' is dropped: "x_1" and "x1" are equal; "x-1" is older.
			want: []string{"x_1.conf", "x1.conf", "x-1.conf"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := entriesNamed(tc.in...)
			Sort(es)
			if got := fileNames(es); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Sort = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSortKeys(t *testing.T) {
	mk := func(name, sortKey, machineID, version string) Entry {
		return Entry{FileName: name, Linux: "/k", SortKey: sortKey, MachineID: machineID, Version: version}
	}
	es := []Entry{
		mk("z-none.conf", "", "", "99"),
		mk("a-fedora-old.conf", "fedora", "", "37"),
		mk("b-fedora-mid.conf", "fedora", "", "37.1"),
		mk("c-fedora-m2.conf", "fedora", "m2", "1"),
		mk("d-fedora-m1.conf", "fedora", "m1", "1"),
		mk("e-arch.conf", "arch", "", ""),
		mk("f-debian-bad+0.conf", "debian", "", "12"),
		mk("g-Fedora.conf", "Fedora", "", "40"), // sort keys compare case-sensitively
		mk("h-fedora-same1.conf", "fedora", "m1", "1"),
	}
	Sort(es)
	want := []string{
		"g-Fedora.conf",       // "Fedora" < "arch" < "fedora" (code units: 'F' < 'a')
		"e-arch.conf",         //
		"b-fedora-mid.conf",   // fedora, no machine-id first, newest version
		"a-fedora-old.conf",   //
		"h-fedora-same1.conf", // fedora/m1/1: equal, then by ID, highest first
		"d-fedora-m1.conf",    //
		"c-fedora-m2.conf",    // m2 > m1
		"z-none.conf",         // no sort-key after all with one
		"f-debian-bad+0.conf", // bad last, sort-key or not
	}
	if got := fileNames(es); !reflect.DeepEqual(got, want) {
		t.Errorf("Sort =\n%v\nwant\n%v", got, want)
	}
}

// TestCompareTriesTieBreak covers the last rules of config_entry_compare. In
// v252 they cannot decide between real files (the counter is part of the
// compared ID), but they are the loader's rules all the same.
func TestCompareTriesTieBreak(t *testing.T) {
	id := []uint16{'x'}
	item := func(left, done int) sortItem { return sortItem{id: id, left: left, done: done} }
	for _, tc := range []struct {
		a, b sortItem
		want int
	}{
		{item(3, 0), item(2, 0), -1}, // more tries left first
		{item(2, 0), item(3, 0), 1},
		{item(2, 1), item(2, 2), -1}, // then fewer done first
		{item(2, 2), item(2, 2), 0},
		{item(-1, -1), item(2, 2), 0}, // one uncounted: equal
		{item(0, 1), item(-1, -1), 1}, // bad after uncounted
		{item(0, 1), item(0, 2), -1},
	} {
		if got := compareItems(&tc.a, &tc.b); got != tc.want {
			t.Errorf("compare(%+v, %+v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSelectDefaultErrors(t *testing.T) {
	if _, err := SelectDefault(LoaderConf{}, nil); !errors.Is(err, ErrNoEntries) {
		t.Errorf("no entries: %v", err)
	}
	notLoadable := []Entry{{FileName: "a.conf", Title: "no kernel"}, {FileName: "b.conf", Linux: "/k", Architecture: "aa64"}}
	if _, err := SelectDefault(LoaderConf{}, notLoadable); !errors.Is(err, ErrNoEntries) {
		t.Errorf("no loadable entries: %v", err)
	}
	if _, err := SelectDefault(LoaderConf{}, []Entry{{FileName: "a.txt", Linux: "/k"}}); err == nil || !strings.Contains(err.Error(), "a.txt") {
		t.Errorf("bad file name: %v", err)
	}
	dup := []Entry{{FileName: "a.conf", Linux: "/k"}, {FileName: "A.CONF", Linux: "/k"}}
	if _, err := SelectDefault(LoaderConf{}, dup); err == nil || !strings.Contains(err.Error(), "same file") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := PlanBoot(LoaderConf{Timeout: TimeoutMenuForce}, entriesNamed("a.conf")); !errors.Is(err, ErrMenuForced) {
		t.Errorf("menu-force: %v", err)
	}
}

func TestSelectDefaultUsesIDAndCounterWithoutFileName(t *testing.T) {
	es := []Entry{
		{ID: "turbo-1-a", Linux: "/k"},
		{ID: "turbo-2-b", Counter: Counter{true, 0, 3}, Linux: "/k"},
	}
	e, err := SelectDefault(LoaderConf{}, es)
	if err != nil || e.ID != "turbo-1-a" {
		t.Errorf("SelectDefault = %+v, %v; want turbo-1-a", e, err)
	}
	plan, err := PlanBoot(LoaderConf{Default: "turbo-2-b*"}, es)
	if err != nil || !plan.Rename || plan.OldFileName != "turbo-2-b+0-3.conf" || plan.NewFileName != "turbo-2-b+0-4.conf" {
		t.Errorf("PlanBoot = %+v, %v", plan, err)
	}
}

func TestPlanBootMenuTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout, want int
	}{{TimeoutUnset, 0}, {0, 0}, {3, 3}} {
		plan, err := PlanBoot(LoaderConf{Timeout: tc.timeout}, entriesNamed("a.conf"))
		if err != nil || plan.MenuTimeout != tc.want {
			t.Errorf("timeout %d: MenuTimeout %d, %v; want %d", tc.timeout, plan.MenuTimeout, err, tc.want)
		}
	}
}

// esp is the set of entry file names in /loader/entries.
type esp map[string]bool

func (d esp) entries() []Entry {
	var names []string
	for n := range d {
		names = append(names, n)
	}
	// Directory order must not matter; use a fixed one.
	Sort(entriesNamed(names...))
	return entriesNamed(names...)
}

// boot runs PlanBoot and applies its rename, returning the booted name.
func (d esp) boot(t *testing.T, conf LoaderConf) string {
	t.Helper()
	plan, err := PlanBoot(conf, d.entries())
	if err != nil {
		t.Fatalf("PlanBoot: %v", err)
	}
	if plan.Rename {
		delete(d, plan.OldFileName)
		d[plan.NewFileName] = true
	}
	return plan.Entry.FileName
}

// rename applies a bless or bad marking to the entry named old.
func (d esp) mark(t *testing.T, old string, f func(Counter) Counter) {
	t.Helper()
	id, c, err := ParseEntryFileName(old)
	if err != nil {
		t.Fatal(err)
	}
	delete(d, old)
	d[EntryFileName(id, f(c))] = true
}

func TestBootSequences(t *testing.T) {
	conf := LoaderConf{Default: "turbo-*", Timeout: 0}

	t.Run("trial never succeeds", func(t *testing.T) {
		d := esp{"turbo-1-a.conf": true, "turbo-2-b+3.conf": true}
		for i, want := range []string{"turbo-2-b+3.conf", "turbo-2-b+2-1.conf", "turbo-2-b+1-2.conf", "turbo-1-a.conf", "turbo-1-a.conf"} {
			if got := d.boot(t, conf); got != want {
				t.Fatalf("boot %d: %q, want %q", i+1, got, want)
			}
		}
		if !d["turbo-2-b+0-3.conf"] || len(d) != 2 {
			t.Errorf("ESP after: %v", d)
		}
	})

	t.Run("trial blessed on its second try", func(t *testing.T) {
		d := esp{"turbo-1-a.conf": true, "turbo-2-b+3.conf": true}
		d.boot(t, conf)
		if got := d.boot(t, conf); got != "turbo-2-b+2-1.conf" {
			t.Fatalf("second boot: %q", got)
		}
		d.mark(t, "turbo-2-b+1-2.conf", Counter.Blessed)
		for i := 0; i < 2; i++ {
			if got := d.boot(t, conf); got != "turbo-2-b.conf" {
				t.Fatalf("after blessing: %q", got)
			}
		}
	})

	t.Run("trial marked bad by the guest", func(t *testing.T) {
		d := esp{"turbo-1-a.conf": true, "turbo-2-b+3.conf": true}
		d.boot(t, conf)
		d.mark(t, "turbo-2-b+2-1.conf", Counter.MarkedBad)
		if !d["turbo-2-b+0-1.conf"] {
			t.Fatalf("ESP after marking bad: %v", d)
		}
		if got := d.boot(t, conf); got != "turbo-1-a.conf" {
			t.Fatalf("after marking bad: %q", got)
		}
	})

	t.Run("only bad entries left: the loader keeps booting and counting", func(t *testing.T) {
		d := esp{"turbo-2-b+0-3.conf": true}
		for i, want := range []string{"turbo-2-b+0-3.conf", "turbo-2-b+0-4.conf", "turbo-2-b+0-5.conf"} {
			if got := d.boot(t, conf); got != want {
				t.Fatalf("boot %d: %q, want %q", i+1, got, want)
			}
		}
	})
}
