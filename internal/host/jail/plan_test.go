package jail

import (
	"slices"
	"strings"
	"testing"
)

func TestNewPlan(t *testing.T) {
	base := func() Spec {
		return Spec{Root: "/cache/jail/abc", Env: []string{"TURBO_JAIL=1"}, HostUID: 0, HostGID: 0, UIDs: []int{0, 1000}, GIDs: []int{0, 1000}}
	}
	tests := []struct {
		name    string
		edit    func(*Spec)
		wantErr []string // every substring must appear
		check   func(*testing.T, *Plan)
	}{
		{name: "root maps the range", check: func(t *testing.T, p *Plan) {
			if p.Rootless {
				t.Error("root-started jail planned as rootless")
			}
			want := []IDMap{{0, DefaultRangeBase, DefaultRangeSize}}
			if !slices.Equal(p.UIDMap, want) || !slices.Equal(p.GIDMap, want) {
				t.Errorf("maps %v %v, want %v", p.UIDMap, p.GIDMap, want)
			}
			if h, _ := ToHost(p.UIDMap, 1000); h != DefaultRangeBase+1000 {
				t.Errorf("uid 1000 -> %d", h)
			}
			if slices.Equal(p.Argv, []string{"/init"}) == false || p.Net != NetHost {
				t.Errorf("defaults: argv %v net %q", p.Argv, p.Net)
			}
		}},
		{name: "container root is never host root", edit: func(s *Spec) { s.Range = &IDMap{0, 0, 65536} },
			wantErr: []string{"id range 0+65536"}},
		{name: "rootless maps only the caller", edit: func(s *Spec) { s.HostUID, s.HostGID, s.UIDs, s.GIDs = 1000, 1000, []int{0}, []int{0} },
			check: func(t *testing.T, p *Plan) {
				if !p.Rootless || !slices.Equal(p.UIDMap, []IDMap{{0, 1000, 1}}) || !slices.Equal(p.GIDMap, []IDMap{{0, 1000, 1}}) {
					t.Errorf("rootless %v maps %v %v", p.Rootless, p.UIDMap, p.GIDMap)
				}
			}},
		{name: "rootless refuses a service user", edit: func(s *Spec) { s.HostUID, s.HostGID = 1000, 1000 },
			wantErr: []string{"uid 1000 cannot run in a rootless jail", "gid 1000 cannot run in a rootless jail"}},
		{name: "rootless refuses a program user", edit: func(s *Spec) {
			s.HostUID, s.HostGID, s.UIDs, s.GIDs = 1000, 1000, nil, nil
			s.User = &User{UID: 65534, GID: 65534}
		}, wantErr: []string{"uid 65534", "gid 65534"}},
		{name: "ids beyond the range", edit: func(s *Spec) { s.UIDs = []int{70000} }, wantErr: []string{"uid 70000 is outside"}},
		{name: "relative program", edit: func(s *Spec) { s.Argv = []string{"init"} }, wantErr: []string{`program "init"`}},
		{name: "relative root", edit: func(s *Spec) { s.Root = "cache/x" }, wantErr: []string{`root "cache/x"`}},
		{name: "bad network", edit: func(s *Spec) { s.Net = "bridge" }, wantErr: []string{`network "bridge"`}},
		{name: "bad hostname", edit: func(s *Spec) { s.Hostname = "a b\x1b" }, wantErr: []string{"hostname"}},
		{name: "bad env", edit: func(s *Spec) { s.Env = []string{"=x"} }, wantErr: []string{`environment "=x"`}},
		{name: "all errors at once", edit: func(s *Spec) { s.Argv = []string{"x"}; s.Net = "y"; s.Root = "" },
			wantErr: []string{`program "x"`, `network "y"`, `root ""`}},
		{name: "data folder is bound", edit: func(s *Spec) { s.Data = "/srv/hello-data" }, check: func(t *testing.T, p *Plan) {
			m := p.Mounts[len(p.Mounts)-1]
			if m.Type != "bind" || m.Source != "/srv/hello-data" || m.Target != "/data" || !m.NoSuid || !m.NoDev {
				t.Errorf("data mount %+v", m)
			}
		}},
		{name: "base mounts and devices", check: func(t *testing.T, p *Plan) {
			targets := map[string]Mount{}
			for _, m := range p.Mounts {
				targets[m.Target] = m
				if m.Type == "bind" && !strings.HasPrefix(m.Source, "/dev/") {
					t.Errorf("unexpected bind %+v", m)
				}
				if !m.NoSuid {
					t.Errorf("%s is mounted without nosuid", m.Target)
				}
			}
			for _, want := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/tmp", "/run"} {
				if _, ok := targets[want]; !ok {
					t.Errorf("no mount on %s", want)
				}
			}
			for _, d := range HostDevices() {
				if m := targets["/dev/"+d]; m.Source != "/dev/"+d || !m.File {
					t.Errorf("/dev/%s: %+v", d, m)
				}
			}
			if _, ok := targets["/sys"]; ok {
				t.Error("sysfs describes the host's devices; it must not be mounted")
			}
			if _, ok := targets["/data"]; ok {
				t.Error("no --data, yet /data is mounted")
			}
			if !slices.Contains(p.Links, Symlink{"/dev/console", "/proc/self/fd/1"}) {
				t.Errorf("no /dev/console link to the writer's standard output: %v", p.Links)
			}
		}},
		{name: "capabilities kept", check: func(t *testing.T, p *Plan) {
			// CAP_SYS_ADMIN (21), CAP_SYS_PTRACE (19), CAP_NET_ADMIN (12),
			// CAP_DAC_OVERRIDE (1), CAP_MKNOD (27), CAP_SYS_CHROOT (18) must go.
			for _, c := range []int{1, 12, 18, 19, 21, 27} {
				if slices.Contains(p.KeepCaps, c) {
					t.Errorf("capability %d kept", c)
				}
			}
			if !slices.Contains(p.KeepCaps, capSetuid) || !slices.Contains(p.KeepCaps, capSetgid) {
				t.Error("the init needs setuid and setgid to start services as their users")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			if tc.edit != nil {
				tc.edit(&s)
			}
			p, err := NewPlan(s)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, plan %+v", p)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func TestFreeBSDCommand(t *testing.T) {
	tests := []struct {
		name    string
		spec    FreeBSDSpec
		want    string
		wantErr string
	}{
		{"inherit the host's network", FreeBSDSpec{Name: "hello", Path: "/usr/jails/hello", Hostname: "hello"},
			"jail -c name=hello path=/usr/jails/hello host.hostname=hello ip4=inherit mount.devfs devfs_ruleset=4 exec.start=/init nopersist", ""},
		{"own address and env", FreeBSDSpec{Name: "web_1", Path: "/j/web", Hostname: "web.example", IP4: "192.0.2.7", Env: []string{"TURBO_JAIL=1", "TURBO_CMDLINE=quiet"}},
			"env TURBO_JAIL=1 TURBO_CMDLINE=quiet jail -c name=web_1 path=/j/web host.hostname=web.example ip4.addr=192.0.2.7 mount.devfs devfs_ruleset=4 exec.start=/init nopersist", ""},
		{"IPv6 is not ip4", FreeBSDSpec{Name: "a", Path: "/j", Hostname: "a", IP4: "2001:db8::1"}, "", "ip4"},
		{"root path", FreeBSDSpec{Name: "a", Path: "/", Hostname: "a"}, "", "path"},
		{"unclean path", FreeBSDSpec{Name: "a", Path: "/j/../etc", Hostname: "a"}, "", "path"},
		{"name with a space", FreeBSDSpec{Name: "a b", Path: "/j", Hostname: "a"}, "", "jail name"},
		{"hostname injection", FreeBSDSpec{Name: "a", Path: "/j", Hostname: "a persist"}, "", "host.hostname"},
		{"env with a newline", FreeBSDSpec{Name: "a", Path: "/j", Hostname: "a", Env: []string{"A=1\nB=2"}}, "", "environment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			argv, err := FreeBSDCommand(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about %q (argv %q)", err, tc.wantErr, argv)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(argv, " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPastaArgs(t *testing.T) {
	got := strings.Join(PastaArgs(42, 0, []PortForward{
		{HostAddr: "127.0.0.1", HostPort: 8081, GuestPort: 8080, Proto: "tcp"},
		{HostAddr: "0.0.0.0", HostPort: 5353, GuestPort: 53, Proto: "udp"},
	}), " ")
	want := "--config-net --quiet --foreground --ipv4-only --runas 0 -t 127.0.0.1/8081:8080 -u 0.0.0.0/5353:53 -T none -U none 42"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := strings.Join(PastaArgs(7, 1000, nil), " "); got != "--config-net --quiet --foreground --ipv4-only --runas 1000 -t none -u none -T none -U none 7" {
		t.Errorf("no ports: %s", got)
	}
}
