// Package initconfig is the contract between the builder (on the host) and
// the init (PID 1 in the guest): the JSON file the builder writes at
// /etc/turbo/init.json and the init reads at boot.
//
// Everything the init needs to know about the appliance is here, already
// resolved: numeric ids, absolute paths, durations. The init never sees the
// recipe. Parse is strict (unknown fields are rejected) so that a mismatch
// between builder and init versions fails loudly at boot instead of being
// half-understood.
package initconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"
)

// Restart policies of a service: the one home of their names, shared by
// the recipe (which a user writes), this contract and the init's
// supervisor (which carries them out).
const (
	// RestartAlways restarts the service whenever it exits.
	RestartAlways = "always"
	// RestartOnFailure restarts it only after a non-zero exit or a signal.
	RestartOnFailure = "on-failure"
	// RestartNever leaves it stopped once it exits.
	RestartNever = "never"
)

// RestartPolicies returns the valid restart policies.
func RestartPolicies() []string { return []string{RestartAlways, RestartOnFailure, RestartNever} }

// Path is where the builder writes the config inside the image.
const Path = "/etc/turbo/init.json"

// BuildIDPath is where the builder writes the build id inside a slot's root
// file system; the init compares it with Config.BuildID before it switches
// into the slot, so a kernel+initramfs from one build never runs a root
// from another.
const BuildIDPath = "/etc/turbo/build-id"

// Schema is the version of this contract. The init refuses other versions.
const Schema = 1

// Config is the whole init configuration.
type Config struct {
	Schema   int       `json:"schema"`
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	BuildID  string    `json:"build_id"`
	Hostname string    `json:"hostname"`
	Network  Network   `json:"network"`
	Services []Service `json:"services"`
	// ShutdownGrace is how long services get between SIGTERM and SIGKILL.
	ShutdownGrace Duration `json:"shutdown_grace"`
	Update        Update   `json:"update"`
	// Scrub is the argv of the recipe's data.scrub program, which
	// `turbo-image data scrub` runs in a jail on a copy of /data; the init
	// never runs it.
	Scrub []string `json:"scrub,omitempty"`
	// Quiesce and Resume are the argv of the recipe's data.quiesce and
	// data.resume programs, which the update agent runs around a live
	// export of /data (nil: it freezes the services instead).
	Quiesce []string `json:"quiesce,omitempty"`
	Resume  []string `json:"resume,omitempty"`
}

// Network describes the guest's network set-up.
type Network struct {
	Mode      string   `json:"mode"` // "none", "static" or "dhcp"
	Interface string   `json:"interface,omitempty"`
	Address   string   `json:"address,omitempty"` // CIDR, static only
	Gateway   string   `json:"gateway,omitempty"`
	DNS       []string `json:"dns,omitempty"`
}

// Service is one supervised program.
type Service struct {
	Name string   `json:"name"`
	Path string   `json:"path"` // absolute path of the program in the image
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"` // "NAME=value", sorted by name
	UID  int      `json:"uid"`
	GID  int      `json:"gid"`
	Dir  string   `json:"dir"`
	// Restart is one of RestartPolicies.
	Restart string `json:"restart"`
	// The service is given up (failed) after Burst deaths within Interval.
	Burst    int      `json:"burst"`
	Interval Duration `json:"interval"`
	Health   *Health  `json:"health,omitempty"`
	// Limits are the service's resource limits; nil: none.
	Limits *Limits `json:"limits,omitempty"`
}

// Limits are a service's resource limits, which the init enforces through
// cgroup v2 (Documentation/admin-guide/cgroup-v2.rst) and setrlimit(2).
// A zero field is not limited.
type Limits struct {
	// Memory is memory.max in bytes (and memory.swap.max is 0): past it
	// the kernel's OOM killer ends the service.
	Memory int64 `json:"memory,omitempty"`
	// CPUWeight is cpu.weight, MinCPUWeight to MaxCPUWeight (the kernel's
	// default is 100): the service's share of CPU time when CPUs are busy.
	CPUWeight int `json:"cpu_weight,omitempty"`
	// OpenFiles is RLIMIT_NOFILE (soft and hard), up to MaxOpenFiles.
	OpenFiles int `json:"open_files,omitempty"`
	// Processes is pids.max, up to MaxProcesses: the service's processes
	// and threads together (RLIMIT_NPROC when the kernel has no pids
	// controller).
	Processes int `json:"processes,omitempty"`
}

// Bounds of Limits, the one home of these rules (the recipe checks them
// with file:line errors, Validate again).
const (
	// MinMemory keeps a limit written without a unit ("memory: 64", 64
	// bytes) from killing every start.
	MinMemory = 1 << 20
	// MinCPUWeight and MaxCPUWeight are cpu.weight's range
	// (Documentation/admin-guide/cgroup-v2.rst, "Weights").
	MinCPUWeight = 1
	MaxCPUWeight = 10000
	// MaxOpenFiles is the kernel's default fs.nr_open, above which
	// setrlimit(RLIMIT_NOFILE) fails.
	MaxOpenFiles = 1 << 20
	// MaxProcesses is PID_MAX_LIMIT on 64-bit kernels
	// (include/linux/threads.h).
	MaxProcesses = 1 << 22
)

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool { return l == Limits{} }

// Problems returns what is wrong with l, one message per field.
func (l Limits) Problems() []string {
	var out []string
	if l.Memory != 0 && l.Memory < MinMemory {
		out = append(out, fmt.Sprintf("memory %d is below the 1MiB minimum", l.Memory))
	}
	if l.CPUWeight != 0 && (l.CPUWeight < MinCPUWeight || l.CPUWeight > MaxCPUWeight) {
		out = append(out, fmt.Sprintf("cpu_weight %d is not in %d-%d", l.CPUWeight, MinCPUWeight, MaxCPUWeight))
	}
	if l.OpenFiles < 0 || l.OpenFiles > MaxOpenFiles {
		out = append(out, fmt.Sprintf("open_files %d is not in 1-%d", l.OpenFiles, MaxOpenFiles))
	}
	if l.Processes < 0 || l.Processes > MaxProcesses {
		out = append(out, fmt.Sprintf("processes %d is not in 1-%d", l.Processes, MaxProcesses))
	}
	return out
}

// Health is a service's health check; exactly one of HTTP, TCP, Exec is set.
type Health struct {
	HTTP        string   `json:"http,omitempty"`
	TCP         string   `json:"tcp,omitempty"`
	Exec        []string `json:"exec,omitempty"`
	Interval    Duration `json:"interval"`
	Timeout     Duration `json:"timeout"`
	StartPeriod Duration `json:"start_period"`
	Retries     int      `json:"retries"`
}

// Update configures boot assessment and the network update agent.
type Update struct {
	// Settle is how long every service must stay healthy before a slot on
	// trial is blessed.
	Settle Duration `json:"settle"`
	// TrialDeadline is when a trial that is not yet healthy marks itself bad
	// and reboots.
	TrialDeadline Duration `json:"trial_deadline"`
	// TrustedKeys are ed25519 public keys (32 bytes each, base64 in JSON).
	TrustedKeys [][]byte `json:"trusted_keys,omitempty"`
	Agent       *Agent   `json:"agent,omitempty"`
	// Channels maps a channel name to the ed25519 public keys whose
	// channel signatures it trusts (32 bytes each, base64 in JSON).
	Channels map[string][][]byte `json:"channels,omitempty"`
	Follow   *Follow             `json:"follow,omitempty"`
}

// Follow makes the init follow a channel of an OCI registry
// (docs/registry.md, "Appliances that follow a channel").
type Follow struct {
	Registry   string   `json:"registry"`   // host or host:port
	Repository string   `json:"repository"` // e.g. acme/hello
	Channel    string   `json:"channel"`    // a key of Update.Channels
	Interval   Duration `json:"interval"`
	PlainHTTP  bool     `json:"plain_http,omitempty"`
	// CA is a PEM bundle trusted besides the system roots (an appliance
	// has none of its own, so TLS needs it).
	CA []byte `json:"ca,omitempty"`
}

// Agent is the opt-in network update agent.
type Agent struct {
	Listen string `json:"listen"`
	// TokenSHA256 is the hex sha256 of the bearer token; the token itself is
	// not stored in the image.
	TokenSHA256 string `json:"token_sha256"`
	MaxBytes    int64  `json:"max_bytes"`
}

// Duration is a time.Duration that reads and writes as a Go duration
// string ("1.5s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"1s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Marshal returns the canonical JSON form of c (indented, stable field
// order, trailing newline).
func (c *Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse decodes and validates a config. Unknown fields and trailing data
// are errors.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("init config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("init config: trailing data after the JSON object")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the invariants the init relies on.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Schema != Schema {
		bad("schema %d, this init understands %d", c.Schema, Schema)
	}
	if c.Name == "" {
		bad("name is empty")
	}
	if c.Version == "" {
		bad("version is empty")
	}
	switch c.Network.Mode {
	case "none":
	case "static":
		if _, err := netip.ParsePrefix(c.Network.Address); err != nil {
			bad("network.address: %v", err)
		}
		if c.Network.Gateway != "" {
			if _, err := netip.ParseAddr(c.Network.Gateway); err != nil {
				bad("network.gateway: %v", err)
			}
		}
	case "dhcp":
	default:
		bad("network.mode %q is not none, static or dhcp", c.Network.Mode)
	}
	for _, d := range c.Network.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			bad("network.dns: %v", err)
		}
	}
	if len(c.Services) == 0 {
		bad("no services")
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		where := fmt.Sprintf("services[%d]", i)
		if s.Name == "" || strings.ContainsAny(s.Name, " \t\n=") {
			bad("%s: bad name %q", where, s.Name)
		}
		if seen[s.Name] {
			bad("%s: duplicate name %q", where, s.Name)
		}
		seen[s.Name] = true
		if !path.IsAbs(s.Path) {
			bad("%s: path %q is not absolute", where, s.Path)
		}
		if !path.IsAbs(s.Dir) {
			bad("%s: dir %q is not absolute", where, s.Dir)
		}
		if !slices.Contains(RestartPolicies(), s.Restart) {
			bad("%s: restart %q", where, s.Restart)
		}
		if s.Burst < 1 || s.Interval <= 0 {
			bad("%s: restart limit %d in %v", where, s.Burst, s.Interval.D())
		}
		if s.UID < 0 || s.GID < 0 {
			bad("%s: negative uid/gid", where)
		}
		for _, e := range s.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				bad("%s: env %q is not NAME=value", where, e)
			}
		}
		if l := s.Limits; l != nil {
			if l.IsZero() {
				bad("%s: limits is empty (omit it instead)", where)
			}
			for _, p := range l.Problems() {
				bad("%s: limits: %s", where, p)
			}
		}
		if h := s.Health; h != nil {
			n := 0
			if h.HTTP != "" {
				n++
			}
			if h.TCP != "" {
				n++
			}
			if len(h.Exec) > 0 {
				n++
			}
			if n != 1 {
				bad("%s: health needs exactly one of http, tcp, exec", where)
			}
			if h.Interval <= 0 || h.Timeout <= 0 || h.Retries < 1 {
				bad("%s: health interval, timeout and retries must be positive", where)
			}
		}
	}
	for i, k := range c.Update.TrustedKeys {
		if len(k) != 32 {
			bad("update.trusted_keys[%d]: %d bytes, want 32 (ed25519)", i, len(k))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Update.Channels)) {
		keys := c.Update.Channels[name]
		if len(keys) == 0 {
			bad("update.channels.%s: no keys", name)
		}
		for i, k := range keys {
			if len(k) != 32 {
				bad("update.channels.%s[%d]: %d bytes, want 32 (ed25519)", name, i, len(k))
			}
		}
	}
	if f := c.Update.Follow; f != nil {
		if f.Registry == "" || f.Repository == "" {
			bad("update.follow: registry and repository are required")
		}
		if len(c.Update.Channels[f.Channel]) == 0 {
			bad("update.follow.channel %q: not in update.channels", f.Channel)
		}
		if f.Interval <= 0 {
			bad("update.follow.interval must be positive")
		}
	}
	if a := c.Update.Agent; a != nil {
		if a.Listen == "" {
			bad("update.agent.listen is empty")
		}
		if len(a.TokenSHA256) != 64 {
			bad("update.agent.token_sha256 must be 64 hex digits")
		}
		if a.MaxBytes <= 0 {
			bad("update.agent.max_bytes must be positive")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("init config: %w", errors.Join(errs...))
	}
	return nil
}

// The environment a jail runner (turbo-image run --vmm jail) gives the
// init instead of a kernel command line: the init then knows it runs in a
// jail, not a VM (docs/design.md, "Jails").
const (
	// JailEnv is "1" in a jail.
	JailEnv = "TURBO_JAIL"
	// JailCmdlineEnv holds the words a VM would get on its kernel command
	// line (the build's cmdline plus run --cmdline); a jail's
	// /proc/cmdline is the host's.
	JailCmdlineEnv = "TURBO_CMDLINE"
	// JailEpochEnv is the host's CLOCK_BOOTTIME, in nanoseconds, when the
	// runner started the jail: the init counts its uptime from there, as
	// a VM's counts from its kernel's start.
	JailEpochEnv = "TURBO_JAIL_EPOCH_NS"
)
