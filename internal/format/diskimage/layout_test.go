package diskimage

import (
	"regexp"
	"strings"
	"testing"
)

func TestPlanLayoutDefaults(t *testing.T) {
	p, err := PlanLayout(Layout{Arch: "amd64", Seed: "hello 1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(322) * MiB; p.Size != want {
		t.Errorf("size = %d, want %d", p.Size, want)
	}
	want := []struct {
		name, typ   string
		start, size int64
	}{
		{PartESP, TypeESP, 1 * MiB, 64 * MiB},
		{PartA, TypeRootAMD64, 65 * MiB, 64 * MiB},
		{PartB, TypeRootAMD64, 129 * MiB, 64 * MiB},
		{PartData, TypeVar, 193 * MiB, 128 * MiB},
	}
	if len(p.Partitions) != len(want) {
		t.Fatalf("%d partitions, want %d", len(p.Partitions), len(want))
	}
	guidRE := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	seen := map[string]bool{p.DiskGUID: true}
	if !guidRE.MatchString(p.DiskGUID) {
		t.Errorf("disk GUID %q is not an upper-case version 8 UUID", p.DiskGUID)
	}
	for i, w := range want {
		got := p.Partitions[i]
		if got.Index != i+1 || got.Name != w.name || got.TypeGUID != w.typ || got.Start != w.start || got.Size != w.size {
			t.Errorf("partition %d = %+v, want %+v", i, got, w)
		}
		if !guidRE.MatchString(got.GUID) {
			t.Errorf("partition %s GUID %q is not an upper-case version 8 UUID", got.Name, got.GUID)
		}
		if seen[got.GUID] {
			t.Errorf("GUID %s used twice", got.GUID)
		}
		seen[got.GUID] = true
		if got.Start%MiB != 0 {
			t.Errorf("partition %s not 1 MiB aligned", got.Name)
		}
	}
	last := p.Partitions[3]
	if p.Size-(last.Start+last.Size) != MiB {
		t.Errorf("backup GPT room = %d, want 1 MiB", p.Size-(last.Start+last.Size))
	}
}

func TestPlanLayoutDeterministicAndSeeded(t *testing.T) {
	l := Layout{Arch: "arm64", Seed: "app 2", ESPSize: 40 * MiB, SlotSize: 8 * MiB, DataSize: 1 * MiB}
	a, err := PlanLayout(l)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PlanLayout(l)
	if a.DiskGUID != b.DiskGUID || a.VolumeID != b.VolumeID || a.Partitions[1].GUID != b.Partitions[1].GUID {
		t.Error("same layout gave different identifiers")
	}
	if a.Partitions[1].TypeGUID != TypeRootARM64 || a.Partitions[2].TypeGUID != TypeRootARM64 {
		t.Errorf("arm64 slot types = %s, %s", a.Partitions[1].TypeGUID, a.Partitions[2].TypeGUID)
	}
	l.Seed = "app 3"
	c, _ := PlanLayout(l)
	if c.DiskGUID == a.DiskGUID || c.VolumeID == a.VolumeID || c.Partitions[0].GUID == a.Partitions[0].GUID {
		t.Error("different seeds gave equal identifiers")
	}
	if a.Size != (1+40+8+8+1+1)*MiB {
		t.Errorf("size = %d", a.Size)
	}
}

func TestPlanLayoutErrors(t *testing.T) {
	ok := Layout{Arch: "amd64", Seed: "s"}
	tests := []struct {
		name  string
		edit  func(*Layout)
		wants []string
	}{
		{"ESP too small", func(l *Layout) { l.ESPSize = 32 * MiB }, []string{"ESPSize: 32 MiB is too small for FAT32, need at least 33 MiB"}},
		{"ESP not aligned", func(l *Layout) { l.ESPSize = 64*MiB + 512 }, []string{"ESPSize: 67109376 is not a multiple of 1 MiB"}},
		{"slot not aligned", func(l *Layout) { l.SlotSize = 3 * MiB / 2 }, []string{"SlotSize: 1572864 is not a multiple of 1 MiB"}},
		{"data negative", func(l *Layout) { l.DataSize = -MiB }, []string{"DataSize: -1048576 is negative"}},
		{"bad arch", func(l *Layout) { l.Arch = "riscv64" }, []string{`arch "riscv64": must be amd64 or arm64`}},
		{"no arch", func(l *Layout) { l.Arch = "" }, []string{`arch "": must be amd64 or arm64`}},
		{"no seed", func(l *Layout) { l.Seed = " " }, []string{"seed: must not be empty"}},
		{"huge", func(l *Layout) { l.DataSize = 4 << 40 }, []string{"DataSize: 4194304 MiB is larger than 2 TiB"}},
		{"all at once", func(l *Layout) { l.Arch, l.Seed, l.ESPSize, l.SlotSize = "x", "", MiB, 7 }, []string{
			`arch "x"`, "seed:", "ESPSize: 1 MiB is too small", "SlotSize: 7 is not a multiple",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ok
			tt.edit(&l)
			_, err := PlanLayout(l)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := PlanLayout(Layout{Arch: "amd64", Seed: "s", ESPSize: 33 * MiB, SlotSize: MiB, DataSize: MiB}); err != nil {
		t.Errorf("smallest valid layout: %v", err)
	}
}

func TestSeedGUIDGolden(t *testing.T) {
	// Computed independently with Python's hashlib (sha256 of the 8-byte
	// big-endian seed length, the seed and the role, version/variant bits
	// set), so this checks the derivation and pins it: a change would
	// change every image's identifiers.
	const (
		goldenDiskGUID = "EAE42EA2-1A3A-8715-BFF1-941BC25C63B4"
		goldenVolumeID = 0x19fd8637
	)
	if got, want := seedGUID("hello 1.0", "disk"), goldenDiskGUID; got != want {
		t.Errorf("seedGUID = %s, want %s", got, want)
	}
	if got, want := seedVolumeID("hello 1.0"), uint32(goldenVolumeID); got != want {
		t.Errorf("seedVolumeID = %#x, want %#x", got, want)
	}
}
