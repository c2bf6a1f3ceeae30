package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/turbo-image/turbo-image/internal/format/uki"
	"github.com/turbo-image/turbo-image/internal/shared/bytesize"
)

// UKIJSON is a Unified Kernel Image as inspect shows it: its PE sections
// and the text ones' content.
type UKIJSON struct {
	Path     string           `json:"path"`
	Size     int64            `json:"size"`
	Machine  string           `json:"machine"`
	Sections []UKISectionJSON `json:"sections"`
	Cmdline  string           `json:"cmdline,omitempty"`
	Uname    string           `json:"uname,omitempty"`
	// OSRelease is the PRETTY_NAME, else NAME and VERSION, of .osrel.
	OSRelease string `json:"os_release,omitempty"`
}

// UKISectionJSON is one PE section.
type UKISectionJSON struct {
	Name string `json:"name"`
	// Size is the section's size in memory (its VirtualSize).
	Size int64 `json:"size"`
}

// isUKIFile sniffs a PE image ("MZ").
func isUKIFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == "MZ"
}

// readUKI reads what inspect shows of a UKI; a PE file without a .linux
// section is refused.
func readUKI(p string) (*UKIJSON, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUKI+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUKI {
		return nil, fmt.Errorf("%s: larger than %s, not a UKI this tool made", p, bytesize.Format(maxUKI))
	}
	u, err := uki.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if !u.IsUKI() {
		return nil, fmt.Errorf("%s is a PE image without a .linux section, not a Unified Kernel Image", p)
	}
	out := &UKIJSON{Path: p, Size: int64(len(b)), Machine: peMachineName(u.Machine), Sections: []UKISectionJSON{}}
	for _, s := range u.Sections {
		out.Sections = append(out.Sections, UKISectionJSON{Name: s.Name, Size: int64(s.VirtualSize)})
		switch s.Name {
		case uki.SectionCmdline:
			out.Cmdline = string(s.Data)
		case uki.SectionUname:
			out.Uname = string(s.Data)
		case uki.SectionOSRel:
			out.OSRelease = osReleaseName(s.Data)
		}
	}
	return out, nil
}

func peMachineName(m uint16) string {
	switch m {
	case 0x8664:
		return "x86-64"
	case 0xaa64:
		return "arm64"
	}
	return fmt.Sprintf("%#x", m)
}

// osReleaseName is PRETTY_NAME of an os-release(5) text, else NAME and
// VERSION.
func osReleaseName(b []byte) string {
	v := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), "=")
		if ok {
			v[k] = strings.Trim(val, `"'`)
		}
	}
	if p := v["PRETTY_NAME"]; p != "" {
		return p
	}
	return strings.TrimSpace(v["NAME"] + " " + v["VERSION"])
}

// inspectUKI prints a UKI's sections and what its text sections hold.
func inspectUKI(w io.Writer, p string) error {
	u, err := readUKI(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: Unified Kernel Image (%s), %s\n", u.Path, u.Machine, bytesize.Format(u.Size))
	if u.OSRelease != "" {
		fmt.Fprintf(w, "  os-release: %s\n", quoteName(u.OSRelease))
	}
	if u.Uname != "" {
		fmt.Fprintf(w, "  uname: %s\n", quoteName(u.Uname))
	}
	fmt.Fprintf(w, "  cmdline: %s\n", quoteName(u.Cmdline))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, s := range u.Sections {
		fmt.Fprintf(tw, "  %s\t%s\t\n", quoteName(s.Name), bytesize.Format(s.Size))
	}
	return tw.Flush()
}
