package vmm

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultHostAddr is the host address a published port binds to when a
// [PortMap] names none: loopback only, so nothing is exposed to the network
// by accident.
const DefaultHostAddr = "127.0.0.1"

// GuestAddr is the guest's address on QEMU's user-mode network (slirp's
// first DHCP lease); published ports are forwarded to it.
const GuestAddr = "10.0.2.15"

// PortMap publishes one guest port on the host, like `docker -p`.
type PortMap struct {
	// HostAddr is the IPv4 address the host side listens on
	// (default [DefaultHostAddr]).
	HostAddr string
	// HostPort is the host port, 1-65535.
	HostPort int
	// GuestPort is the guest port, 1-65535.
	GuestPort int
	// Proto is "tcp" (default) or "udp".
	Proto string
}

// ParsePortMap parses a port publication in one of these forms:
//
//	HOSTPORT:GUESTPORT             8080:80
//	HOSTADDR:HOSTPORT:GUESTPORT    127.0.0.1:8080:80
//	...[/PROTO]                    8080:80/udp
//
// HOSTADDR must be an IPv4 literal (QEMU's hostfwd accepts nothing else),
// ports are decimal 1-65535, PROTO is "tcp" or "udp" in lower case. The
// returned PortMap has every default filled in.
func ParsePortMap(s string) (PortMap, error) {
	fail := func(format string, args ...any) (PortMap, error) {
		return PortMap{}, fmt.Errorf("port mapping %q: %s", s, fmt.Sprintf(format, args...))
	}
	rest, proto := s, "tcp"
	if i := strings.IndexByte(s, '/'); i >= 0 {
		rest, proto = s[:i], s[i+1:]
		if proto != "tcp" && proto != "udp" {
			return fail("protocol %q is not tcp or udp", proto)
		}
	}
	parts := strings.Split(rest, ":")
	var addr string
	switch len(parts) {
	case 2:
		addr = DefaultHostAddr
	case 3:
		addr = parts[0]
		parts = parts[1:]
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return fail("host address %q is not an IPv4 address", addr)
		}
		addr = a.String()
	default:
		return fail("want HOSTPORT:GUESTPORT or HOSTADDR:HOSTPORT:GUESTPORT[/tcp|/udp]")
	}
	hp, err := parsePort(parts[0])
	if err != nil {
		return fail("host port: %v", err)
	}
	gp, err := parsePort(parts[1])
	if err != nil {
		return fail("guest port: %v", err)
	}
	return PortMap{HostAddr: addr, HostPort: hp, GuestPort: gp, Proto: proto}, nil
}

// parsePort accepts 1-5 ASCII digits with a value in 1..65535.
func parsePort(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	if len(s) > 5 {
		return 0, fmt.Errorf("%q is out of range 1-65535", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	n, _ := strconv.Atoi(s) // at most 5 digits: cannot fail
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is out of range 1-65535", s)
	}
	return n, nil
}

// normalized returns p with its defaults filled in, or an error naming the
// invalid field.
func (p PortMap) normalized() (PortMap, error) {
	if p.HostAddr == "" {
		p.HostAddr = DefaultHostAddr
	}
	if p.Proto == "" {
		p.Proto = "tcp"
	}
	a, err := netip.ParseAddr(p.HostAddr)
	if err != nil || !a.Is4() {
		return p, fmt.Errorf("host address %q is not an IPv4 address", p.HostAddr)
	}
	p.HostAddr = a.String()
	if p.Proto != "tcp" && p.Proto != "udp" {
		return p, fmt.Errorf("protocol %q is not tcp or udp", p.Proto)
	}
	if p.HostPort < 1 || p.HostPort > 65535 {
		return p, fmt.Errorf("host port %d is out of range 1-65535", p.HostPort)
	}
	if p.GuestPort < 1 || p.GuestPort > 65535 {
		return p, fmt.Errorf("guest port %d is out of range 1-65535", p.GuestPort)
	}
	return p, nil
}

// String formats p in the long form ParsePortMap reads back,
// HOSTADDR:HOSTPORT:GUESTPORT/PROTO, with defaults filled in.
func (p PortMap) String() string {
	addr, proto := p.HostAddr, p.Proto
	if addr == "" {
		addr = DefaultHostAddr
	}
	if proto == "" {
		proto = "tcp"
	}
	return fmt.Sprintf("%s:%d:%d/%s", addr, p.HostPort, p.GuestPort, proto)
}

// hostfwd renders p as a QEMU/libslirp hostfwd rule
// (PROTO:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT). p must be normalized.
func (p PortMap) hostfwd() string {
	return fmt.Sprintf("%s:%s:%d-%s:%d", p.Proto, p.HostAddr, p.HostPort, GuestAddr, p.GuestPort)
}

// checkPublish normalizes ports and rejects two rules that would claim the
// same host socket (same protocol and port, and the same address or either
// one the wildcard 0.0.0.0).
func checkPublish(ports []PortMap) ([]PortMap, error) {
	out := make([]PortMap, 0, len(ports))
	for i, p := range ports {
		n, err := p.normalized()
		if err != nil {
			return nil, fmt.Errorf("publish[%d] %s: %w", i, p, err)
		}
		for j, o := range out {
			if o.Proto == n.Proto && o.HostPort == n.HostPort &&
				(o.HostAddr == n.HostAddr || o.HostAddr == "0.0.0.0" || n.HostAddr == "0.0.0.0") {
				return nil, fmt.Errorf("publish[%d] %s: host %s port %d is already published by publish[%d] %s", i, n, n.Proto, n.HostPort, j, o)
			}
		}
		out = append(out, n)
	}
	return out, nil
}
