package fat32

import (
	"encoding/binary"
	"testing"
)

// TestBootSectorFields checks the named fields against the specification's
// offsets, both ways: a sector written by bytes() has each field where
// Microsoft's table puts it, and parseBootSector reads it back whole.
func TestBootSectorFields(t *testing.T) {
	s := bootSector{
		OEMName: [8]byte{'O', 'E', 'M', 'N', 'A', 'M', 'E', '!'}, BytesPerSector: 0x0200, SectorsPerCluster: 0x08,
		ReservedSectors: 0x0020, NumFATs: 2, RootEntries: 0x1234, TotalSectors16: 0x2345, Media: 0xf8,
		FATSize16: 0x3456, SectorsPerTrack: 63, Heads: 255, HiddenSectors: 0x01020304, TotalSectors32: 0x05060708,
		FATSize32: 0x090a0b0c, ExtFlags: 0x0081, RootCluster: 0x0d0e0f10, FSInfoSector: 1, BackupBootSector: 6,
		DriveNumber: 0x80, BootSignature: 0x29, VolumeID: 0x11121314,
		VolumeLabel: [11]byte{'L', 'A', 'B', 'E', 'L', ' ', ' ', ' ', ' ', ' ', 'X'}, FSType: [8]byte{'F', 'A', 'T', '3', '2', ' ', ' ', ' '},
	}
	b := s.bytes()
	le16 := func(o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"BPB_BytsPerSec@11", uint32(le16(11)), 0x0200}, {"BPB_SecPerClus@13", uint32(b[13]), 8},
		{"BPB_RsvdSecCnt@14", uint32(le16(14)), 0x20}, {"BPB_NumFATs@16", uint32(b[16]), 2},
		{"BPB_RootEntCnt@17", uint32(le16(17)), 0x1234}, {"BPB_TotSec16@19", uint32(le16(19)), 0x2345},
		{"BPB_Media@21", uint32(b[21]), 0xf8}, {"BPB_FATSz16@22", uint32(le16(22)), 0x3456},
		{"BPB_SecPerTrk@24", uint32(le16(24)), 63}, {"BPB_NumHeads@26", uint32(le16(26)), 255},
		{"BPB_HiddSec@28", le32(28), 0x01020304}, {"BPB_TotSec32@32", le32(32), 0x05060708},
		{"BPB_FATSz32@36", le32(36), 0x090a0b0c}, {"BPB_ExtFlags@40", uint32(le16(40)), 0x81},
		{"BPB_RootClus@44", le32(44), 0x0d0e0f10}, {"BPB_FSInfo@48", uint32(le16(48)), 1},
		{"BPB_BkBootSec@50", uint32(le16(50)), 6}, {"BS_DrvNum@64", uint32(b[64]), 0x80},
		{"BS_BootSig@66", uint32(b[66]), 0x29}, {"BS_VolID@67", le32(67), 0x11121314},
		{"signature@510", uint32(le16(510)), 0xaa55},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if string(b[3:11]) != "OEMNAME!" || string(b[71:82]) != "LABEL     X" || string(b[82:90]) != "FAT32   " {
		t.Errorf("strings: %q %q %q", b[3:11], b[71:82], b[82:90])
	}
	back, err := parseBootSector(b)
	if err != nil {
		t.Fatal(err)
	}
	if back != s {
		t.Errorf("parse(bytes()) = %+v, want %+v", back, s)
	}
	if back.totalSectors() != 0x2345 || back.activeFAT() != 1 {
		t.Errorf("totalSectors %d activeFAT %d", back.totalSectors(), back.activeFAT())
	}
	s.TotalSectors16, s.ExtFlags = 0, 0
	if s.totalSectors() != 0x05060708 || s.activeFAT() != -1 {
		t.Errorf("totalSectors %d activeFAT %d", s.totalSectors(), s.activeFAT())
	}
	if _, err := parseBootSector(b[:511]); err == nil {
		t.Error("short boot sector accepted")
	}
}
