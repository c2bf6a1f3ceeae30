//go:build linux && !turbo_dhcp

package turboinit

import "errors"

func (in *Init) dhcpNetwork() error {
	return errors.New("this init was built without DHCP support (build tag turbo_dhcp); the builder adds it for recipes with network mode dhcp")
}
