package cli

import (
	"encoding/json"
	"io"
)

// The machine-readable output of `inspect --json`, `build --json` and
// `run --exit-on-ready --json`. Every document is one JSON object on
// stdout with a "schema" field naming its shape and version; human text and
// progress go to stderr, so stdout always parses. docs/json.md documents
// each shape with an example. Compatibility rule: within a version fields
// are only added, never renamed, removed or given another meaning; any
// other change makes a new version (".../v2").
const (
	SchemaInspect = "turbo-image/inspect/v1"
	SchemaBuild   = "turbo-image/build/v1"
	SchemaRun     = "turbo-image/run/v1"
)

// InspectJSON is `inspect --json`. Kind says what was inspected: "build"
// (a build folder: Build, then Initramfs for each initramfs artifact and
// Disk when it has a disk.img), "initramfs" (one Initramfs) or "disk"
// (Disk).
type InspectJSON struct {
	Schema    string          `json:"schema"`
	Kind      string          `json:"kind"`
	Build     *BuildInfoJSON  `json:"build,omitempty"`
	Initramfs []InitramfsJSON `json:"initramfs,omitempty"`
	Disk      *DiskJSON       `json:"disk,omitempty"`
	UKI       *UKIJSON        `json:"uki,omitempty"`
}

// BuildInfoJSON is a build folder's manifest as inspect shows it.
type BuildInfoJSON struct {
	Name      string         `json:"name"`
	Version   string         `json:"version"`
	Arch      string         `json:"arch"`
	BuildID   string         `json:"build_id"`
	Cmdline   string         `json:"cmdline"`
	Toolchain ToolchainJSON  `json:"toolchain"`
	Artifacts []ArtifactJSON `json:"artifacts"`
	// BootBytes is kernel + initramfs: what a boot loads.
	BootBytes int64       `json:"boot_bytes"`
	Inputs    []InputJSON `json:"inputs"`
}

// ToolchainJSON is what built the artifacts.
type ToolchainJSON struct {
	Go            string `json:"go"`
	CC            string `json:"cc,omitempty"`
	KernelRelease string `json:"kernel_release,omitempty"`
}

// ArtifactJSON is one file of a build folder.
type ArtifactJSON struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // full hex digest
}

// InputJSON is one input a build was made from.
type InputJSON struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// InitramfsJSON is one initramfs image: its members, where the bytes go,
// and every entry with what the kernel's unpacker does with it.
type InitramfsJSON struct {
	Path string `json:"path"`
	// FileSize is the image's size; UncompressedBytes the sum of its
	// regular files' sizes.
	FileSize          int64           `json:"file_size"`
	UncompressedBytes int64           `json:"uncompressed_bytes"`
	Members           []MemberJSON    `json:"members"`
	Breakdown         []BreakdownJSON `json:"breakdown"`
	Entries           []EntryJSON     `json:"entries"`
}

// MemberJSON is one concatenated member of an initramfs image.
type MemberJSON struct {
	Compression  string `json:"compression"`
	Offset       int64  `json:"offset"`
	Size         int64  `json:"size"`
	Decompressed int64  `json:"decompressed"`
}

// BreakdownJSON is one part of the size breakdown: "init", "service NAME",
// "other files".
type BreakdownJSON struct {
	Part  string `json:"part"`
	Bytes int64  `json:"bytes"`
}

// EntryJSON is one cpio entry. Index counts entries over the whole image
// (the #N of the text listing). Name is the name as stored, Path where the
// kernel puts it after following symbolic links. Op is create, replace,
// update or skip; Prev the entry it replaces or updates (or that is in the
// way of a skipped one); ReplacedBy and UpdatedBy the later entries that
// replace it or change its mode and owner. JSON strings are Unicode: a
// Name or Linkname that is not valid UTF-8 has each bad byte replaced by
// U+FFFD, and its exact bytes are also given, base64, in NameRaw or
// LinknameRaw.
type EntryJSON struct {
	Index       int    `json:"index"`
	Member      int    `json:"member"`
	Type        string `json:"type"` // file, dir, symlink, char, block, fifo, socket, unknown
	Mode        string `json:"mode"` // as ls -l shows it, e.g. "-rwsr-xr-x"
	Perm        uint32 `json:"perm"` // permission and setuid/setgid/sticky bits (07777)
	UID         int    `json:"uid"`
	GID         int    `json:"gid"`
	Size        int64  `json:"size"`
	Major       uint32 `json:"major,omitempty"` // device nodes
	Minor       uint32 `json:"minor,omitempty"`
	Name        string `json:"name"`
	NameRaw     []byte `json:"name_raw,omitempty"`
	Linkname    string `json:"linkname,omitempty"` // symbolic link target
	LinknameRaw []byte `json:"linkname_raw,omitempty"`
	Path        string `json:"path,omitempty"` // where it lands ("" when skipped)
	Via         string `json:"via,omitempty"`  // first symbolic link followed on the way
	Op          string `json:"op"`
	Prev        *int   `json:"prev,omitempty"`
	HardLinkTo  *int   `json:"hard_link_to,omitempty"`
	SkipReason  string `json:"skip_reason,omitempty"`
	ReplacedBy  *int   `json:"replaced_by,omitempty"`
	UpdatedBy   *int   `json:"updated_by,omitempty"`
}

// DiskJSON is a GPT disk image: partitions, the boot entries in
// systemd-boot's order with their counters, and the ESP's files.
type DiskJSON struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Allocated is the bytes the file occupies (a sparse image is
	// smaller); absent when unknown.
	Allocated   *int64          `json:"allocated,omitempty"`
	GUID        string          `json:"guid"`
	Partitions  []PartitionJSON `json:"partitions"`
	Loader      LoaderJSON      `json:"loader"`
	BootEntries []BootEntryJSON `json:"boot_entries"`
	// Ignored are entries systemd-boot leaves out, with the reason.
	Ignored  []string      `json:"ignored"`
	ESPFiles []ESPFileJSON `json:"esp_files"`
}

// PartitionJSON is one GPT partition. Content is sniffed: squashfs, FAT32,
// ext4, empty, unknown, or "?" when unreadable.
type PartitionJSON struct {
	Index    int    `json:"index"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Start    int64  `json:"start"`
	Content  string `json:"content"`
	TypeGUID string `json:"type_guid"`
}

// LoaderJSON is loader.conf.
type LoaderJSON struct {
	Default string `json:"default"`
	Timeout int    `json:"timeout"`
}

// BootEntryJSON is one boot entry. State is "blessed" (no counter),
// "trial" (tries left) or "bad" (no tries left); Next marks the entry
// systemd-boot boots next.
type BootEntryJSON struct {
	File    string       `json:"file"`
	Slot    string       `json:"slot"`
	Version string       `json:"version"`
	Next    bool         `json:"next"`
	State   string       `json:"state"`
	Counter *CounterJSON `json:"counter,omitempty"`
}

// CounterJSON is a boot counter: tries left and done.
type CounterJSON struct {
	Left int `json:"left"`
	Done int `json:"done"`
}

// ESPFileJSON is one file on the ESP.
type ESPFileJSON struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// BuildJSON is `build --json`: the build's summary.
type BuildJSON struct {
	Schema    string         `json:"schema"`
	Dir       string         `json:"dir"`
	Name      string         `json:"name"`
	Version   string         `json:"version"`
	Arch      string         `json:"arch"`
	BuildID   string         `json:"build_id"`
	Artifacts []ArtifactJSON `json:"artifacts"`
	// TotalBytes is the sum of the artifacts' sizes.
	TotalBytes   int64 `json:"total_bytes"`
	KernelCached bool  `json:"kernel_cached"`
	// DurationMS is the whole build's wall time; Steps each step's, in the
	// order they ran (a step's time runs from its first progress event to
	// the next step's).
	DurationMS int64          `json:"duration_ms"`
	Steps      []StepTimeJSON `json:"steps"`
}

// StepTimeJSON is one build step's wall time.
type StepTimeJSON struct {
	Step       string `json:"step"`
	DurationMS int64  `json:"duration_ms"`
}

// RunJSON is `run --exit-on-ready --json`: how the boot ended.
//
// Outcome is "ready" (the appliance reported ready), "blessed" (the slot
// on trial was blessed), "rolled_back" (the appliance became ready on the
// old slot), "failed" (anything else: timeout, panic, unhealthy service,
// QEMU failure) or "interrupted". ExitCode is the command's exit code.
type RunJSON struct {
	Schema   string `json:"schema"`
	Outcome  string `json:"outcome"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	// Boot is the boot mode: initramfs, disk or uefi; Accel kvm or tcg.
	Boot  string `json:"boot"`
	Accel string `json:"accel"`
	// Boots is how many times QEMU was started.
	Boots int `json:"boots"`
	// Trial is the slot followed, when the disk's default entry was on
	// trial.
	Trial *RunTrialJSON `json:"trial,omitempty"`
	// Ready is the last ready report of the guest, absent if none came.
	Ready *RunReadyJSON `json:"ready,omitempty"`
	// WallMS is the host wall time of the whole session.
	WallMS int64 `json:"wall_ms"`
}

// RunTrialJSON is the slot on trial when the run started.
type RunTrialJSON struct {
	Slot      string `json:"slot"`
	Version   string `json:"version"`
	TriesLeft int    `json:"tries_left"`
}

// RunReadyJSON is a ready report: what the guest says (name, version, slot
// and its uptime when ready) and the host wall time from the start of that
// boot's QEMU to the report.
type RunReadyJSON struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Slot       string `json:"slot,omitempty"`
	Boot       int    `json:"boot"`
	UptimeMS   int64  `json:"uptime_ms"`
	HostWallMS int64  `json:"host_wall_ms"`
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
