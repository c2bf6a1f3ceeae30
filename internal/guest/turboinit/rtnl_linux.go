//go:build linux

package turboinit

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal rtnetlink client: the init needs to set a link up, add an
// address and a default route, nothing more. Doing it with a few netlink
// messages keeps a general netlink library (and its start-up cost) out of
// every image; DHCP images carry u-root's client anyway.

// linkUp sets an interface up (SIOCSIFFLAGS).
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: set up: %w", name, err)
	}
	return nil
}

// linkIndex returns an interface's index (SIOCGIFINDEX): far less code
// than the net package's netlink dump, which matters when every new code
// path is translated by an emulator.
func linkIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// waitLink waits for an interface to appear (virtio probing is
// asynchronous), brings it up and returns its index.
func waitLink(name string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		index, err := linkIndex(name)
		if err == nil {
			return index, linkUp(name)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("interface %s did not appear within %v: %w", name, timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rtnlRequest sends one netlink request and waits for its acknowledgement.
func rtnlRequest(typ uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	if n < unix.NLMSG_HDRLEN+4 || binary.NativeEndian.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("netlink: unexpected reply")
	}
	if code := int32(binary.NativeEndian.Uint32(buf[unix.NLMSG_HDRLEN:])); code != 0 {
		return unix.Errno(-code)
	}
	return nil
}

// rtattr appends a route attribute.
func rtattr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	a := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(a[0:], uint16(l))
	binary.NativeEndian.PutUint16(a[2:], typ)
	copy(a[unix.SizeofRtAttr:], data)
	return append(b, a...)
}

// addrAdd adds an IPv4 address to an interface (RTM_NEWADDR).
func addrAdd(index int, p netip.Prefix) error {
	ifa := unix.IfAddrmsg{Family: unix.AF_INET, Prefixlen: uint8(p.Bits()), Index: uint32(index)}
	b := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&ifa)), unix.SizeofIfAddrmsg)...)
	ip := p.Addr().AsSlice()
	b = rtattr(b, unix.IFA_LOCAL, ip)
	b = rtattr(b, unix.IFA_ADDRESS, ip)
	if p.Addr().Is4() && p.Bits() < 31 {
		bc := p.Masked().Addr().As4()
		for i := p.Bits(); i < 32; i++ {
			bc[i/8] |= 1 << (7 - i%8)
		}
		b = rtattr(b, unix.IFA_BROADCAST, bc[:])
	}
	return rtnlRequest(unix.RTM_NEWADDR, b)
}

// defaultRoute adds a default IPv4 route via gw on an interface.
func defaultRoute(index int, gw netip.Addr) error {
	rt := unix.RtMsg{Family: unix.AF_INET, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_BOOT,
		Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST}
	b := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&rt)), unix.SizeofRtMsg)...)
	g := gw.As4()
	b = rtattr(b, unix.RTA_GATEWAY, g[:])
	idx := make([]byte, 4)
	binary.NativeEndian.PutUint32(idx, uint32(index))
	b = rtattr(b, unix.RTA_OIF, idx)
	return rtnlRequest(unix.RTM_NEWROUTE, b)
}
