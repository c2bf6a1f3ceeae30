package vmm

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePortMap(t *testing.T) {
	tests := []struct {
		in   string
		want PortMap
	}{
		{"8080:8080", PortMap{HostAddr: "127.0.0.1", HostPort: 8080, GuestPort: 8080, Proto: "tcp"}},
		{"8080:80", PortMap{HostAddr: "127.0.0.1", HostPort: 8080, GuestPort: 80, Proto: "tcp"}},
		{"127.0.0.1:8080:80", PortMap{HostAddr: "127.0.0.1", HostPort: 8080, GuestPort: 80, Proto: "tcp"}},
		{"0.0.0.0:443:8443/tcp", PortMap{HostAddr: "0.0.0.0", HostPort: 443, GuestPort: 8443, Proto: "tcp"}},
		{"8080:8080/udp", PortMap{HostAddr: "127.0.0.1", HostPort: 8080, GuestPort: 8080, Proto: "udp"}},
		{"192.168.1.10:53:53/udp", PortMap{HostAddr: "192.168.1.10", HostPort: 53, GuestPort: 53, Proto: "udp"}},
		{"1:65535", PortMap{HostAddr: "127.0.0.1", HostPort: 1, GuestPort: 65535, Proto: "tcp"}},
		{"08080:00080", PortMap{HostAddr: "127.0.0.1", HostPort: 8080, GuestPort: 80, Proto: "tcp"}},
	}
	for _, tc := range tests {
		got, err := ParsePortMap(tc.in)
		if err != nil {
			t.Errorf("ParsePortMap(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParsePortMap(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParsePortMapErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "want HOSTPORT:GUESTPORT"},
		{"8080", "want HOSTPORT:GUESTPORT"},
		{"1:2:3:4", "want HOSTPORT:GUESTPORT"},
		{"8080:", "guest port: empty"},
		{":80", "host port: empty"},
		{"0:80", "host port: \"0\" is out of range"},
		{"80:0", "guest port: \"0\" is out of range"},
		{"65536:80", "out of range"},
		{"123456:80", "out of range"},
		{"+80:80", "not a decimal number"},
		{"-1:80", "not a decimal number"},
		{"8o:80", "not a decimal number"},
		{" 80:80", "not a decimal number"},
		{"80:80/sctp", `protocol "sctp"`},
		{"80:80/TCP", `protocol "TCP"`},
		{"80:80/", `protocol ""`},
		{"80:80/tcp/udp", `protocol "tcp/udp"`},
		{"localhost:80:80", `"localhost" is not an IPv4`},
		{"[::1]:80:80", "want HOSTPORT:GUESTPORT"},
		{"::1:80:80", "want HOSTPORT:GUESTPORT"},
		{"256.0.0.1:80:80", "not an IPv4"},
		{"127.1:80:80", "not an IPv4"},
		{":80:80", `"" is not an IPv4`},
	}
	for _, tc := range tests {
		got, err := ParsePortMap(tc.in)
		if err == nil {
			t.Errorf("ParsePortMap(%q) = %+v, want error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParsePortMap(%q) error %q: want it to quote the input and mention %q", tc.in, err, tc.want)
		}
	}
}

func TestPortMapString(t *testing.T) {
	tests := []struct {
		p    PortMap
		want string
	}{
		{PortMap{HostPort: 8080, GuestPort: 80}, "127.0.0.1:8080:80/tcp"},
		{PortMap{HostAddr: "0.0.0.0", HostPort: 53, GuestPort: 5353, Proto: "udp"}, "0.0.0.0:53:5353/udp"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// FuzzParsePortMap checks that the parser never panics, that whatever it
// accepts is a valid mapping, and that String round-trips.
// Seeds: the f.Add calls below plus testdata/fuzz/FuzzParsePortMap.
func FuzzParsePortMap(f *testing.F) {
	for _, s := range []string{
		"8080:8080", "127.0.0.1:8080:80", "8080:8080/udp", "0.0.0.0:1:65535/tcp",
		"", ":", "::", "1:2:3:4", "80:80/", "65536:1", "00000:1", "1.2.3.4:5:6/udp",
		"[::1]:80:80", "999999999999999999999:1", "1:1/udp/tcp", "\x00:\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePortMap(s)
		if err != nil {
			if p != (PortMap{}) {
				t.Fatalf("ParsePortMap(%q) returned %+v with error %v", s, p, err)
			}
			return
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.GuestPort < 1 || p.GuestPort > 65535 {
			t.Fatalf("ParsePortMap(%q) = %+v: port out of range", s, p)
		}
		if p.Proto != "tcp" && p.Proto != "udp" {
			t.Fatalf("ParsePortMap(%q) = %+v: bad protocol", s, p)
		}
		if a, err := netip.ParseAddr(p.HostAddr); err != nil || !a.Is4() || a.String() != p.HostAddr {
			t.Fatalf("ParsePortMap(%q) = %+v: host address not canonical IPv4", s, p)
		}
		if n, err := p.normalized(); err != nil || n != p {
			t.Fatalf("ParsePortMap(%q) = %+v, but normalized gives %+v, %v", s, p, n, err)
		}
		again, err := ParsePortMap(p.String())
		if err != nil || again != p {
			t.Fatalf("round trip of %q via %q gave %+v, %v; want %+v", s, p.String(), again, err, p)
		}
		if strings.ContainsAny(p.hostfwd(), ", ") {
			t.Fatalf("hostfwd rule %q would break QEMU's option syntax", p.hostfwd())
		}
	})
}
