//go:build linux && turbo_dhcp

package turboinit

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
)

// dhcpNetwork asks for an IPv4 lease with u-root's DHCP client and applies
// it. Built only with the turbo_dhcp tag: the builder sets it for recipes
// with network mode dhcp, so other images do not carry the client.
func (in *Init) dhcpNetwork() error {
	n := in.cfg.Network
	if _, err := waitLink(n.Interface, 5*time.Second); err != nil {
		return err
	}
	l, err := netlink.LinkByName(n.Interface)
	if err != nil {
		return err
	}
	log.SetFlags(0)
	log.SetPrefix("turbo-init: dhcp: ")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := dhclient.Config{Timeout: 2 * time.Second, Retries: 5}
	// One interface, IPv4 only: the first result is the answer.
	r, ok := <-dhclient.SendRequests(ctx, []netlink.Link{l}, true, false, cfg, 5*time.Second)
	if !ok {
		return fmt.Errorf("%s: no DHCP answer", n.Interface)
	}
	if r.Err != nil {
		return fmt.Errorf("%s: %w", n.Interface, r.Err)
	}
	if err := r.Lease.Configure(); err != nil {
		return fmt.Errorf("%s: apply lease: %w", n.Interface, err)
	}
	in.con.Logf("dhcp: %s", r.Lease)
	return writeResolvConf(n.DNS)
}
