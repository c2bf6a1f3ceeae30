//go:build linux

package turboinit

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// resolvConf is where the init writes DNS settings; the builder makes
// /etc/resolv.conf a symlink to it so it works on a read-only root.
const resolvConf = "/run/resolv.conf"

func (in *Init) setupNetwork() error {
	if err := linkUp("lo"); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	switch in.cfg.Network.Mode {
	case "static":
		return in.staticNetwork()
	case "dhcp":
		return in.dhcpNetwork()
	}
	return nil
}

func (in *Init) staticNetwork() error {
	n := in.cfg.Network
	index, err := waitLink(n.Interface, 5*time.Second)
	if err != nil {
		return err
	}
	p, err := netip.ParsePrefix(n.Address)
	if err != nil {
		return err
	}
	if err := addrAdd(index, p); err != nil {
		return fmt.Errorf("%s: add address %s: %w", n.Interface, n.Address, err)
	}
	if n.Gateway != "" {
		gw, err := netip.ParseAddr(n.Gateway)
		if err != nil {
			return err
		}
		if err := defaultRoute(index, gw); err != nil {
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
