package bootloader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Type #2 entries (UAPI.1 Boot Loader Specification, "Type #2 EFI Unified
// Kernel Images"): a Unified Kernel Image in /EFI/Linux whose file name
// ends in ".efi". systemd-boot 252 lists each one that has an .osrel
// section (config_entry_add_unified): its ID is the file name, lowercased,
// with the boot counter read from the name as for Type #1 entries but
// before ".efi" (UAPI.1 "Boot counting"); title, version and sort key come
// from the os-release text in .osrel, the options from .cmdline.
const (
	UKIDir    = "EFI/Linux"
	UKISuffix = ".efi"
)

// UKIFileName is the file name of a Type #2 entry with the given ID and
// counter, e.g. "turbo-2-b+3.efi".
func UKIFileName(id string, c Counter) string { return id + c.String() + UKISuffix }

// Limits on what ReadUKIEntry reads of a file: the PE headers and section
// table, and the two small sections it takes.
const (
	maxPEHeaders  = 64 << 10
	maxUKISection = 64 << 10
)

// ReadUKIEntry reads the Type #2 entry fileName (a name in UKIDir) from
// the PE image r, as systemd-boot 252 does: the .osrel and .cmdline
// sections (their raw data cut to the virtual size) are read, streaming,
// and nothing else; r may be a file on FAT that cannot seek. It fails for a
// name the loader skips, a file that is not PE, one without .osrel (the
// loader skips it) and one whose os-release gives no name.
//
// A PE parser of its own rather than debug/pe: the init reads the boot
// entries on every disk boot and must stay small, and only the section
// table is needed (Microsoft PE/COFF specification, "Section Table").
func ReadUKIEntry(fileName string, r io.Reader) (Entry, error) {
	ln, err := parseLoaderNameSuffix(fileName, UKISuffix)
	if err != nil {
		return Entry{}, err
	}
	secs, err := readPESections(r, ".osrel", ".cmdline")
	if err != nil {
		return Entry{}, fmt.Errorf("%s: %w", fileName, err)
	}
	osrel, ok := secs[".osrel"]
	if !ok {
		return Entry{}, fmt.Errorf("%s: no .osrel section: systemd-boot 252 does not list it", fileName)
	}
	kv := parseOSRelease(string(osrel))
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := kv[k]; v != "" {
				return v
			}
		}
		return ""
	}
	// bootspec_pick_name_version_sort_key(): precise before vague.
	e := Entry{FileName: fileName, ID: ln.id, Counter: ln.counter, UKI: true,
		Title:   first("PRETTY_NAME", "IMAGE_ID", "NAME", "ID"),
		Version: first("IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID"),
		SortKey: first("IMAGE_ID", "ID"),
		EFI:     "/" + UKIDir + "/" + fileName,
		Options: stubCmdline(secs[".cmdline"]),
	}
	if e.Title == "" {
		return Entry{}, fmt.Errorf("%s: .osrel has no PRETTY_NAME, IMAGE_ID, NAME or ID: systemd-boot 252 does not list it", fileName)
	}
	return e, nil
}

// parseOSRelease reads os-release(5) text the way systemd-boot 252 does
// (line_get_key_value): KEY=VALUE lines, one pair of surrounding quotes
// removed, no escapes; comments and other lines skipped; the last value
// of a key counts.
func parseOSRelease(s string) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		kv[k] = v
	}
	return kv
}

// stubCmdline is .cmdline as the loader shows it (mangle_stub_cmdline):
// control characters become spaces, trailing white space and NULs go.
func stubCmdline(b []byte) string {
	s := []byte(string(b))
	for i, c := range s {
		if c < 0x20 || c == 0x7f {
			s[i] = ' '
		}
	}
	return strings.TrimRight(string(s), " ")
}

// readPESections reads the named sections of the PE image r, reading r
// once from the start and only up to the last section wanted.
func readPESections(r io.Reader, names ...string) (map[string][]byte, error) {
	var head []byte
	// need reads the file up to n bytes into head.
	need := func(n int) error {
		if n > maxPEHeaders {
			return fmt.Errorf("PE headers extend past %d bytes", maxPEHeaders)
		}
		if n <= len(head) {
			return nil
		}
		b := make([]byte, n-len(head))
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("not a PE image: %w", err)
		}
		head = append(head, b...)
		return nil
	}
	le := binary.LittleEndian
	if err := need(64); err != nil {
		return nil, err
	}
	if string(head[:2]) != "MZ" {
		return nil, errors.New("not a PE image: no MZ header")
	}
	pe := int(le.Uint32(head[0x3c:]))
	if pe < 64 || pe > maxPEHeaders {
		return nil, fmt.Errorf("not a PE image: PE header at %d", pe)
	}
	if err := need(pe + 24); err != nil {
		return nil, err
	}
	if string(head[pe:pe+4]) != "PE\x00\x00" {
		return nil, errors.New("not a PE image: no PE signature")
	}
	nsec := int(le.Uint16(head[pe+6:]))
	table := pe + 24 + int(le.Uint16(head[pe+20:]))
	if err := need(table + 40*nsec); err != nil {
		return nil, err
	}
	type want struct {
		name      string
		off, size int64
	}
	var wants []want
	for i := 0; i < nsec; i++ {
		s := head[table+40*i : table+40*i+40]
		name := strings.TrimRight(string(s[:8]), "\x00")
		for _, n := range names {
			if name != n {
				continue
			}
			size := int64(min(le.Uint32(s[8:]), le.Uint32(s[16:]))) // VirtualSize, SizeOfRawData
			if size > maxUKISection {
				return nil, fmt.Errorf("section %s has %d bytes, more than %d", name, size, maxUKISection)
			}
			wants = append(wants, want{name, int64(le.Uint32(s[20:])), size})
		}
	}
	sort.Slice(wants, func(i, j int) bool { return wants[i].off < wants[j].off })
	out := map[string][]byte{}
	pos := int64(len(head))
	for _, w := range wants {
		if _, dup := out[w.name]; dup {
			return nil, fmt.Errorf("section %s is there twice", w.name)
		}
		data := make([]byte, w.size)
		switch {
		case w.off+w.size <= int64(len(head)): // inside the headers read already
			copy(data, head[w.off:])
		case w.off < pos:
			return nil, fmt.Errorf("section %s overlaps another one or the headers", w.name)
		default:
			if _, err := io.CopyN(io.Discard, r, w.off-pos); err != nil {
				return nil, fmt.Errorf("section %s at %d: %w", w.name, w.off, err)
			}
			if _, err := io.ReadFull(r, data); err != nil {
				return nil, fmt.Errorf("section %s at %d: %w", w.name, w.off, err)
			}
			pos = w.off + w.size
		}
		out[w.name] = data
	}
	return out, nil
}
