//go:build linux

package turboinit

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// resolvConf is where the init writes DNS settings; the builder makes
// /etc/resolv.conf a symlink to it so it works on a read-only root.
const resolvConf = "/run/resolv.conf"

func (in *Init) setupNetwork() error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	n := in.cfg.Network
	switch n.Mode {
	case "static":
		return in.staticNetwork()
	case "dhcp":
		return in.dhcpNetwork()
	}
	return nil
}

// waitLink waits for the interface to appear (virtio probing is
// asynchronous) and brings it up.
func waitLink(name string, timeout time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := netlink.LinkByName(name)
		if err == nil {
			if err := netlink.LinkSetUp(l); err != nil {
				return nil, fmt.Errorf("%s: set up: %w", name, err)
			}
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("interface %s did not appear within %v: %w", name, timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (in *Init) staticNetwork() error {
	n := in.cfg.Network
	l, err := waitLink(n.Interface, 5*time.Second)
	if err != nil {
		return err
	}
	p, err := netip.ParsePrefix(n.Address)
	if err != nil {
		return err
	}
	ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("%s: add address %s: %w", n.Interface, n.Address, err)
	}
	if n.Gateway != "" {
		gw := net.ParseIP(n.Gateway)
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}); err != nil {
			return fmt.Errorf("%s: default route via %s: %w", n.Interface, n.Gateway, err)
		}
	}
	return writeResolvConf(n.DNS)
}

func writeResolvConf(servers []string) error {
	if len(servers) == 0 {
		return nil
	}
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return os.WriteFile(resolvConf, []byte(b.String()), 0o644)
}
