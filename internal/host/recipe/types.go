package recipe

import (
	"time"

	"github.com/turbo-image/turbo-image/internal/shared/ext4img"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// Defaults applied by Parse to fields the recipe leaves out.
const (
	DefaultArch          = "amd64"
	DefaultKernelBase    = "tinyconfig"
	DefaultKernelSource  = "/usr/src/linux-source-6.1.tar.xz"
	DefaultCompression   = "auto"
	DefaultNetworkMode   = "none"
	DefaultInterface     = "eth0"
	DefaultRestart       = initconfig.RestartAlways
	DefaultRestartBurst  = 5
	DefaultRestartWindow = 60 * time.Second
	DefaultWorkDir       = "/"
	DefaultFileMode      = 0o644
	DefaultDirMode       = 0o755 // for directories copied from a files[].src tree

	DefaultHealthInterval    = 1 * time.Second
	DefaultHealthTimeout     = 1 * time.Second
	DefaultHealthRetries     = 3
	DefaultHealthStartPeriod = 30 * time.Second

	KiB             = 1 << 10
	MiB             = 1 << 20
	DefaultESPSize  = 64 * MiB
	DefaultRootSize = 64 * MiB
	DefaultDataSize = 128 * MiB
	MinESPSize      = 33 * MiB // smallest FAT32 file system with 512-byte sectors
	MinDataSize     = ext4img.MinSize
	MaxDataSize     = ext4img.MaxSize

	DefaultUpdateTries   = 3
	DefaultSettle        = 5 * time.Second
	DefaultTrialDeadline = 120 * time.Second
	DefaultAgentMaxBytes = 512 * MiB
	// DefaultFollowInterval is how often a following appliance polls its
	// channel.
	DefaultFollowInterval = 30 * time.Second

	DefaultShutdownGrace = 5 * time.Second
)

// Output names accepted in the outputs list.
const (
	OutputInitramfs = "initramfs"
	OutputDisk      = "disk"
	// The disk image converted for hypervisors and clouds; each needs
	// disk, which it is converted from.
	OutputQCOW2 = "qcow2" // disk.qcow2: QEMU, OpenStack, most KVM clouds
	// OutputQCOW2Compressed is disk.qcow2 with deflate-compressed
	// clusters: smaller, slower to read; instead of qcow2.
	OutputQCOW2Compressed = "qcow2-compressed"
	OutputVMDK            = "vmdk" // disk.vmdk (stream-optimized): VMware, VirtualBox
	OutputVHD             = "vhd"  // disk.vhd (fixed): Hyper-V, Azure
	// The appliance as one bootable file, running from its initramfs (no
	// A/B slots): a Unified Kernel Image, and a hybrid ISO holding it.
	OutputUKI = "uki" // uki.efi: firmware or a boot loader starts it directly
	OutputISO = "iso" // live.iso: El Torito EFI boot from a virtual CD
)

// AllOutputs is every output name, in the canonical order of
// Recipe.Outputs.
func AllOutputs() []string {
	return []string{OutputInitramfs, OutputDisk, OutputQCOW2, OutputQCOW2Compressed, OutputVMDK, OutputVHD, OutputUKI, OutputISO}
}

// DiskConversions are the outputs converted from the disk image.
func DiskConversions() []string {
	return []string{OutputQCOW2, OutputQCOW2Compressed, OutputVMDK, OutputVHD}
}

// Recipe is a decoded, validated and fully defaulted recipe. Every host path
// in it is absolute; relative paths in the file are resolved against Dir.
type Recipe struct {
	File        string   // path of the recipe file as given to Load or Parse
	Dir         string   // absolute directory holding the recipe file
	Name        string   // appliance name
	Version     string   // appliance version, verbatim
	Arch        string   // "amd64" or "arm64"
	Hostname    string   // RFC 1123 label; defaults to Name without trailing '-'
	Kernel      Kernel   // how to get the kernel
	Cmdline     []string // extra kernel command-line words
	Compression string   // initramfs compression: "auto" (zstd up to 16 MiB, lz4 above), "zstd", "gzip", "lz4" or "none"
	Outputs     []string // subset of AllOutputs, in that order
	Network     Network  // guest network configuration
	Services    []Service
	Files       []File
	Disk        Disk
	Update      Update
	Init        Init
	Data        Data
}

// Has reports whether output (one of AllOutputs) is one of the recipe's
// outputs.
func (r *Recipe) Has(output string) bool {
	for _, o := range r.Outputs {
		if o == output {
			return true
		}
	}
	return false
}

// Kernel says how the kernel is obtained: either built from Source with
// Base and Fragments, or taken as is from Prebuilt. When Prebuilt is set,
// Base, Fragments and Source are empty.
type Kernel struct {
	Base      string     // "tinyconfig" or "defconfig"
	Fragments []Fragment // config fragments applied on top of Base, in order
	Source    string     // absolute path of the kernel source tarball or tree (not checked to exist)
	Prebuilt  string     // absolute path of a prebuilt kernel image (checked to exist)
}

// Fragment is one kernel config fragment: either a fragment shipped with
// turbo-image (Builtin, written "builtin:<name>" in the recipe) or a file
// (Path). Exactly one of Builtin and Path is set.
type Fragment struct {
	Builtin string // shipped fragment name, like "virt"
	Path    string // absolute path of a fragment file
	Line    int    // recipe line, for the builder's error messages
}

// Service is one supervised program in the image.
type Service struct {
	Name string
	// Package is the Go package to build, as written without its
	// "@version": a relative path ("./app") or an import path. Exactly one
	// of Package and Binary is set.
	Package string
	// PackageDir is the absolute directory of Package when Package is a
	// relative path, else "".
	PackageDir string
	// Version is the module version query after "@" in Package as
	// written ("v1.2.3" or "latest"), "" when the package has none. A
	// package with a version is built like go install pkg@version.
	Version      string
	Line         int    // line of the package or binary key, for build errors
	Binary       string // absolute path of a prebuilt static binary (in the recipe folder, or a system file)
	Path         string // absolute path of the program inside the image
	Args         []string
	Env          []EnvVar // sorted by Name
	UID, GID     int
	WorkDir      string // absolute directory inside the image
	Restart      string // "always", "on-failure" or "never"
	RestartLimit RestartLimit
	Health       *Health // nil when the service has no health check
	// Limits are the service's resource limits (nil: none), enforced by
	// the init through cgroup v2 and rlimits.
	Limits *initconfig.Limits
}

// EnvVar is one environment variable of a service.
type EnvVar struct {
	Name, Value string
}

// RestartLimit makes the init give up on a service that died Burst times
// within Interval.
type RestartLimit struct {
	Burst    int
	Interval time.Duration
}

// Health is a service's health check. Exactly one of HTTP, TCP and Exec is
// set.
type Health struct {
	HTTP        string   // http:// URL with an IP or localhost host and a port
	TCP         string   // host:port with an IP or localhost host
	Exec        []string // argv; Exec[0] is an absolute path
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration // time allowed to pass the first check
	Retries     int           // consecutive failures that make a healthy service unhealthy
}

// File is one file or directory tree added to the image. Exactly one of Src
// and HasContent is set.
type File struct {
	Dest       string // absolute path in the image
	Src        string // absolute host path of a file or directory (copied recursively)
	Content    []byte // literal content, when HasContent
	HasContent bool
	Mode       uint32 // permission bits of regular files; directories from Src get DefaultDirMode
	OwnerSet   bool   // whether UID and GID were given
	UID, GID   int
}

// Network is the guest's network configuration.
type Network struct {
	Mode      string   // "none", "static" or "dhcp"
	Interface string   // interface name, default "eth0"
	Address   string   // CIDR address, static mode only
	Gateway   string   // default gateway IP, static mode only, or ""
	DNS       []string // name server IPs
}

// Disk holds partition sizes in bytes for the disk image output.
type Disk struct {
	ESPSize  int64 // EFI system partition
	RootSize int64 // each of the two A/B root slots
	DataSize int64 // persistent data partition
	// SystemdBoot is the absolute path of the systemd-boot EFI binary to
	// put on the ESP; "" means the builder's default (Debian's package).
	SystemdBoot string
	// RootCompression is the slot roots' squashfs compression: lz4
	// (default), zstd, gzip, xz or none.
	RootCompression string
	// RootBlockSize is the slot roots' squashfs block size in bytes: a
	// power of two from 4KiB to 1MiB (default 1MiB).
	RootBlockSize int64
	// BootEntries is the kind of boot entry each slot gets: BootEntriesType1
	// (default) or BootEntriesUKI.
	BootEntries string
}

// Boot entry kinds of the Boot Loader Specification (UAPI.1): Type #1, a
// text file in /loader/entries naming the slot's kernel and initrd; Type
// #2, a Unified Kernel Image in /EFI/Linux.
const (
	BootEntriesType1 = "type1"
	BootEntriesUKI   = "uki"
)

// Slot root defaults (squashfs), chosen by `make bench` (issue 10): a big
// app's pages come from the slot root at start, and under zstd with
// 128 KiB blocks decompression dominated its start on the disk path (rows
// 8c against 8g/8h, and README "Choosing the defaults"). LZ4 decompresses
// several times faster than zstd for a larger root; 1 MiB blocks (the
// squashfs maximum) mean fewer, larger reads and decompressor calls.
const (
	DefaultRootCompression = "lz4"
	DefaultRootBlockSize   = 1024 * KiB
)

// Update configures A/B updates of the disk image.
type Update struct {
	Tries         int           // boot tries for a freshly flashed slot
	Settle        time.Duration // how long all services must stay healthy before the slot is blessed
	TrialDeadline time.Duration // a trial slot not healthy by then marks itself bad and reboots
	TrustedKeys   []string      // absolute paths of ed25519 public key files
	Agent         *Agent        // nil when there is no network update agent
	// Channels maps a channel name (signing.ValidChannel) to the absolute
	// paths of the public key files whose channel signatures it trusts.
	Channels map[string][]string
	Follow   *Follow // nil when the appliance follows no channel
}

// Follow makes the init follow a channel of an OCI registry: it polls the
// channel's tag and flashes a newer build signed for the channel.
type Follow struct {
	Registry   string // host or host:port
	Repository string // e.g. acme/hello
	Channel    string // a key of Update.Channels
	Interval   time.Duration
	PlainHTTP  bool   // http:// instead of https://
	CAFile     string // absolute path of a PEM CA bundle, or ""
}

// Agent is the optional network update agent built into the init.
type Agent struct {
	Listen    string // host:port to listen on
	TokenFile string // absolute path of the file holding the bearer token
	MaxBytes  int64  // largest accepted upload
}

// Data holds what `turbo-image data` does with the appliance's /data.
type Data struct {
	// Scrub is the argv of a program in the image that rewrites a copy of
	// /data (mask personal data) in a jail; nil: no scrub program.
	Scrub []string
	// Quiesce is the argv of a program in the image the update agent runs
	// before a live export (make the app checkpoint and hold its writes);
	// Resume runs after it. nil: the agent freezes the services instead.
	Quiesce, Resume []string
}

// Init holds settings of the PID-1 init.
type Init struct {
	ShutdownGrace time.Duration // time between SIGTERM and SIGKILL at shutdown
}
