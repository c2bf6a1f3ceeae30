package jail

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// FreeBSDSpec is what the jail(8) command of a FreeBSD host needs.
type FreeBSDSpec struct {
	// Name is the jail's name (jail(8) name=; letters, digits, '-', '_').
	Name string
	// Path is the unpacked image on the FreeBSD host (turbo-image inspect
	// BUILD --extract PATH).
	Path string
	// Hostname is host.hostname.
	Hostname string
	// IP4 is ip4.addr; "" inherits the host's addresses (ip4=inherit),
	// like a Linux jail on the host's network.
	IP4 string
	// Env is passed to the init through jail(8)'s own environment
	// (jail(8) keeps it unless exec.clean is set).
	Env []string
}

// FreeBSDCommand returns the argv that starts the image in a FreeBSD
// jail: jail(8) -c with the image folder as path, its host name, its IPv4
// address, /init as exec.start (run in the foreground: jail(8) waits for
// it), a devfs with the default jail ruleset (4: no host disks or
// memory), and nopersist, so the jail is gone once the init exits. The
// init and services are Linux binaries: the host needs the Linux ABI
// (kldload linux64). It is pure.
func FreeBSDCommand(s FreeBSDSpec) ([]string, error) {
	var errs []error
	if s.Name == "" || strings.Trim(s.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		errs = append(errs, fmt.Errorf("jail name %q: letters, digits, '-' and '_' only", s.Name))
	}
	if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path || s.Path == "/" {
		errs = append(errs, fmt.Errorf("path %q: want a clean absolute folder other than /", s.Path))
	}
	if err := checkHostname(s.Hostname); err != nil || s.Hostname == "" {
		errs = append(errs, fmt.Errorf("host.hostname %q: want letters, digits, '-' and '.'", s.Hostname))
	}
	ip := "ip4=inherit"
	if s.IP4 != "" {
		a, err := netip.ParseAddr(s.IP4)
		if err != nil || !a.Is4() {
			errs = append(errs, fmt.Errorf("ip4 %q: want an IPv4 address", s.IP4))
		}
		ip = "ip4.addr=" + s.IP4
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.ContainsAny(e, "\n\x00") {
			errs = append(errs, fmt.Errorf("environment %q is not NAME=value", e))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var argv []string
	if len(s.Env) > 0 {
		argv = append([]string{"env"}, s.Env...)
	}
	return append(argv, "jail", "-c",
		"name="+s.Name,
		"path="+s.Path,
		"host.hostname="+s.Hostname,
		ip,
		"mount.devfs",
		"devfs_ruleset=4",
		"exec.start=/init",
		"nopersist",
	), nil
}
