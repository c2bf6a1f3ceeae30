package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/jail"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

func TestJailSpec(t *testing.T) {
	jt := &jailTarget{root: "/c/jail/x", cfg: &initconfig.Config{Name: "hello", Services: []initconfig.Service{{UID: 0, GID: 0}, {UID: 1000, GID: 100}}}}
	bt := &bootTarget{name: "hello", cmdline: "quiet"}
	tests := []struct {
		name    string
		f       runFlags
		wantErr string
		check   func(*testing.T, jail.Spec)
	}{
		{name: "host network", f: runFlags{net: "host", publish: stringList{"8080:8080"}, cmdline: "turbo.debug"}, check: func(t *testing.T, s jail.Spec) {
			if s.Net != jail.NetHost || s.Hostname != "hello" || !slices.Equal(s.Argv, []string{"/init"}) {
				t.Errorf("spec %+v", s)
			}
			if !slices.Contains(s.Env, "TURBO_JAIL=1") || !slices.Contains(s.Env, "TURBO_CMDLINE=quiet turbo.debug") || !slices.Contains(s.Env, "TURBO_JAIL_EPOCH_NS=42") {
				t.Errorf("env %q", s.Env)
			}
			if !slices.Equal(s.UIDs, []int{0, 1000}) || !slices.Equal(s.GIDs, []int{0, 100}) {
				t.Errorf("ids %v %v", s.UIDs, s.GIDs)
			}
		}},
		{name: "a mapped port needs a private network", f: runFlags{net: "host", publish: stringList{"8081:8080"}}, wantErr: "use --net private"},
		{name: "bad publish", f: runFlags{net: "host", publish: stringList{"x"}}, wantErr: "--publish x"},
		{name: "private network", f: runFlags{net: "private", publish: stringList{"8081:8080"}}, check: func(t *testing.T, s jail.Spec) {
			if s.Net != jail.NetPrivate {
				t.Errorf("net %q", s.Net)
			}
		}},
		{name: "unknown network", f: runFlags{net: "bridge"}, wantErr: `--net "bridge"`},
		{name: "no slots in a jail", f: runFlags{net: "host", cmdline: "turbo.slot=a"}, wantErr: "turbo.slot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jailSpec(jt, bt, &tc.f, 0, 0, 42)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}
