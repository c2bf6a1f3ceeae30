//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// uptimeMS is CLOCK_BOOTTIME in milliseconds: time since the kernel
// started, the same clock turbo-init's TURBO_READY uptime uses.
func uptimeMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return -1
	}
	return ts.Sec*1000 + ts.Nsec/1_000_000
}

func deviceOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// setupNetwork brings up lo, waits up to timeout for iface to appear, and
// gives it addr/prefix and a default route via gw, through rtnetlink
// (rtnetlink(7)). Settings that already exist are left as they are.
func setupNetwork(iface string, addr [4]byte, prefix int, gw [4]byte, timeout time.Duration) error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	if err := linkUp(lo.Index); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	deadline := time.Now().Add(timeout)
	var ifi *net.Interface
	for {
		if ifi, err = net.InterfaceByName(iface); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %v: %w", iface, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := linkUp(ifi.Index); err != nil {
		return fmt.Errorf("%s up: %w", iface, err)
	}
	// struct ifaddrmsg: family, prefixlen, flags, scope, index.
	body := make([]byte, unix.SizeofIfAddrmsg)
	body[0], body[1] = unix.AF_INET, byte(prefix)
	binary.NativeEndian.PutUint32(body[4:], uint32(ifi.Index))
	body = appendAttr(body, unix.IFA_LOCAL, addr[:])
	body = appendAttr(body, unix.IFA_ADDRESS, addr[:])
	if err := rtnl(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s address: %w", iface, err)
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
	body = make([]byte, unix.SizeofRtMsg)
	body[0], body[4], body[5], body[6], body[7] = unix.AF_INET, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST
	oif := binary.NativeEndian.AppendUint32(nil, uint32(ifi.Index))
	body = appendAttr(body, unix.RTA_GATEWAY, gw[:])
	body = appendAttr(body, unix.RTA_OIF, oif)
	if err := rtnl(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("default route via %d.%d.%d.%d: %w", gw[0], gw[1], gw[2], gw[3], err)
	}
	return nil
}

// linkUp sets IFF_UP on the interface with the given index.
func linkUp(index int) error {
	// struct ifinfomsg: family, pad, type, index, flags, change.
	body := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	binary.NativeEndian.PutUint32(body[8:], unix.IFF_UP)
	binary.NativeEndian.PutUint32(body[12:], unix.IFF_UP)
	return rtnl(unix.RTM_NEWLINK, 0, body)
}

// appendAttr appends one rtattr (length, type, data, padding to 4 bytes).
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rtnl sends one request to the kernel's routing socket and waits for its
// acknowledgement.
func rtnl(typ, flags uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const seq = 1
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.SizeofNlMsghdr+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, typ)
	msg = binary.NativeEndian.AppendUint16(msg, flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	msg = binary.NativeEndian.AppendUint32(msg, seq)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return errors.New("netlink: malformed reply")
			}
			t := binary.NativeEndian.Uint16(b[4:])
			s := binary.NativeEndian.Uint32(b[8:])
			if t == unix.NLMSG_ERROR && s == seq {
				if l < unix.SizeofNlMsghdr+4 {
					return errors.New("netlink: short error reply")
				}
				if code := int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:])); code != 0 {
					return syscall.Errno(-code)
				}
				return nil
			}
			adv := (l + 3) &^ 3
			if adv > len(b) {
				adv = len(b)
			}
			b = b[adv:]
		}
	}
}
