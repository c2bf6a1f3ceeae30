package recipe

import (
	"encoding/json"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

//go:generate go run ./gen-schema ../../../docs/recipe.schema.json

// This file describes the recipe format as a JSON Schema (draft 2020-12)
// for editors (yaml-language-server completes and checks YAML against it).
// It is built from the same rules the decoder in schema.go applies: the
// name, service and file-mode patterns are the decoder's regular
// expressions, the choices (compression, outputs, restart policies...)
// and defaults are its constants, and TestSchemaKeysMatchDecoder fails
// when the decoder accepts a key this schema does not list or the other
// way round. The schema checks what a document can show: types, patterns,
// choices, ranges and which keys go together; what needs the disk (paths
// exist, binaries are static ELF) or crosses fields (a gateway inside the
// address's network) stays with the decoder, so a recipe the schema
// accepts may still be refused by build, always with file:line.
//
// Docs: docs/recipe.md; the generated file: docs/recipe.schema.json
// (`go generate ./internal/host/recipe`; TestSchemaFileIsCurrent fails on
// drift).

// Schema is a JSON Schema node: the subset of draft 2020-12 the recipe
// schema uses (https://json-schema.org/draft/2020-12/json-schema-core and
// -validation).
type Schema struct {
	SchemaURI            string             `json:"$schema,omitempty"`
	ID                   string             `json:"$id,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 any                `json:"type,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	Minimum              *int64             `json:"minimum,omitempty"`
	Maximum              *int64             `json:"maximum,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MinLength            *int               `json:"minLength,omitempty"`
	Default              any                `json:"default,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	PatternProperties    map[string]*Schema `json:"patternProperties,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	UniqueItems          bool               `json:"uniqueItems,omitempty"`
	OneOf                []*Schema          `json:"oneOf,omitempty"`
	AnyOf                []*Schema          `json:"anyOf,omitempty"`
	DependentSchemas     map[string]*Schema `json:"dependentSchemas,omitempty"`
	Not                  *Schema            `json:"not,omitempty"`
}

// SchemaID is the schema's $id: where the checked-in file is published.
const SchemaID = "https://raw.githubusercontent.com/turbo-image/turbo-image/main/docs/recipe.schema.json"

func ptr[T any](v T) *T { return &v }

// Value kinds of the decoder (decode.go), as schemas.
func sString(desc string) *Schema { return &Schema{Type: "string", Description: desc} }

// sText is the decoder's text: any scalar, taken as written.
func sText(desc string) *Schema {
	return &Schema{Type: []string{"string", "number", "boolean"}, Description: desc}
}

func sInt(desc string, min, max int64) *Schema {
	return &Schema{Type: "integer", Description: desc, Minimum: ptr(min), Maximum: ptr(max)}
}

// durationPattern is Go's time.ParseDuration syntax with a unit required.
const durationPattern = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$`

func sDuration(desc string) *Schema {
	return &Schema{Type: "string", Pattern: durationPattern, Description: desc + " (a Go duration with a unit: 500ms, 5s, 2m, 1h30m)"}
}

// sSize is the decoder's size: bytes, or a string with KiB, MiB or GiB.
func sSize(desc string) *Schema {
	return &Schema{Type: []string{"integer", "string"}, Pattern: `^[0-9]+(KiB|MiB|GiB)?$`, Minimum: ptr(int64(0)),
		Description: desc + " (bytes, or a number with KiB, MiB or GiB: 64MiB)"}
}

func sEnum(desc string, choices ...string) *Schema {
	return &Schema{Type: "string", Enum: choices, Description: desc}
}

func sList(desc string, items *Schema) *Schema {
	return &Schema{Type: "array", Items: items, Description: desc}
}

// anchored returns a regular expression of the decoder as a JSON Schema
// pattern (ECMA-262 reads these the same way).
func anchored(s string) string { return s }

// object is a mapping whose keys are exactly props (the decoder refuses
// unknown keys).
func object(desc string, props map[string]*Schema, required ...string) *Schema {
	return &Schema{Type: "object", Description: desc, Properties: props, Required: required, AdditionalProperties: false}
}

// idSchema is a uid or gid: a number or root/nobody.
func idSchema(desc string) *Schema {
	return &Schema{Description: desc, AnyOf: []*Schema{
		{Type: "integer", Minimum: ptr(int64(0)), Maximum: ptr(int64(maxID))},
		{Type: "string", Enum: []string{"root", "nobody"}},
	}}
}

// JSONSchema returns the recipe schema.
func JSONSchema() *Schema {
	imagePath := func(desc string) *Schema {
		return &Schema{Type: "string", Pattern: "^/.", Description: desc + " (absolute, clean path in the image)"}
	}
	health := object("a health check: exactly one of http, tcp and exec", map[string]*Schema{
		"http":         {Type: "string", Pattern: "^http://", Description: "http:// URL with an IP address or localhost and a port, e.g. http://127.0.0.1:8080/healthz"},
		"tcp":          {Type: "string", Pattern: `^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|localhost):[1-9][0-9]{0,4}$`, Description: "host:port, e.g. 127.0.0.1:8080"},
		"exec":         {Type: "array", MinItems: ptr(1), Items: sText("program (an absolute path in the image) and arguments"), Description: "a program in the image and its arguments; healthy when it exits 0"},
		"interval":     withDefault(sDuration("time between checks"), DefaultHealthInterval.String()),
		"timeout":      withDefault(sDuration("time one check may take"), DefaultHealthTimeout.String()),
		"retries":      withDefault(sInt("consecutive failures (after the first success) that make the service unhealthy", 1, 1<<31-1), DefaultHealthRetries),
		"start_period": withDefault(sDuration("time the service has to pass its first check"), DefaultHealthStartPeriod.String()),
	})
	health.OneOf = []*Schema{{Required: []string{"http"}}, {Required: []string{"tcp"}}, {Required: []string{"exec"}}}

	service := object("one supervised program", map[string]*Schema{
		"name":    {Type: "string", Pattern: anchored(serviceRE.String()), Description: "service name, unique in the recipe"},
		"package": {Type: "string", Description: "Go package to build: ./dir, IMPORT/PATH@VERSION (or @latest; built like go install), or IMPORT/PATH (from the recipe folder's go.mod)"},
		"binary":  {Type: "string", Description: "prebuilt static ELF program: a path in the recipe folder, or an absolute path of a system-installed one"},
		"path":    imagePath("where the program lands in the image; default /bin/NAME"),
		"args":    sList("arguments after the program name", sText("")),
		"env": {Type: "object", Description: "environment variables (passed sorted by name)",
			PatternProperties: map[string]*Schema{envNameRE.String(): sText("")}, AdditionalProperties: false},
		"user":    withDefault(idSchema("uid 0-65534, root or nobody"), 0),
		"group":   idSchema("gid; default: the user's"),
		"workdir": withDefault(&Schema{Type: "string", Pattern: "^/", Description: "working directory (absolute, clean path in the image)"}, DefaultWorkDir),
		"restart": withDefault(sEnum("restart policy", initconfig.RestartPolicies()...), DefaultRestart),
		"restart_limit": object("give up after burst exits within interval", map[string]*Schema{
			"burst":    withDefault(sInt("exits", 1, 1<<31-1), DefaultRestartBurst),
			"interval": withDefault(sDuration("window"), DefaultRestartWindow.String()),
		}),
		"health": health,
		"limits": object("resource limits, enforced by the init through cgroup v2 and rlimits; at least one", map[string]*Schema{
			"memory":     sSize("memory.max: past it the kernel's OOM killer ends the service, which is restarted; at least 1MiB"),
			"cpu_weight": sInt("cpu.weight: the service's share of CPU time when the CPUs are busy (the kernel's default is 100)", initconfig.MinCPUWeight, initconfig.MaxCPUWeight),
			"open_files": sInt("RLIMIT_NOFILE, soft and hard", 1, initconfig.MaxOpenFiles),
			"processes":  sInt("pids.max: processes and threads together", 1, initconfig.MaxProcesses),
		}),
	}, "name")
	service.OneOf = []*Schema{{Required: []string{"package"}}, {Required: []string{"binary"}}}

	file := object("a file or folder put into the image", map[string]*Schema{
		"dest":    imagePath("path in the image"),
		"src":     sString("file or folder in the recipe folder (a folder is copied recursively)"),
		"content": sText("the file's content"),
		"mode":    withDefault(&Schema{Type: "string", Pattern: anchored(modeRE.String()), Description: "octal permissions, quoted: \"0644\""}, "0644"),
		"owner":   withDefault(&Schema{Type: "string", Pattern: anchored(ownerRE.String()), Description: "\"uid:gid\""}, "0:0"),
	}, "dest")
	file.OneOf = []*Schema{{Required: []string{"src"}}, {Required: []string{"content"}}}

	kernel := object("the kernel: built from base + fragments, or prebuilt", map[string]*Schema{
		"base":      withDefault(sEnum("base configuration", "tinyconfig", "defconfig"), DefaultKernelBase),
		"fragments": sList("config fragments applied in order", &Schema{Type: "string", Description: "builtin:NAME (shipped) or a fragment file in the recipe folder"}),
		"source":    withDefault(sString("kernel source tarball or tree"), DefaultKernelSource),
		"prebuilt":  sString("a kernel image used as is (x86 bzImage or arm64 Image)"),
	})
	kernel.DependentSchemas = map[string]*Schema{"prebuilt": {Properties: map[string]*Schema{
		"base": {Not: &Schema{}}, "fragments": {Not: &Schema{}}, "source": {Not: &Schema{}}}}}

	channel := sList("public key files (from turbo-image keygen) this channel trusts", sString(""))
	channel.MinItems = ptr(1)

	s := object("a turbo-image recipe: one appliance (docs/recipe.md)", map[string]*Schema{
		"name":        {Type: "string", Pattern: manifest.NamePattern, Description: "appliance name"},
		"version":     {Type: "string", Pattern: manifest.VersionPattern, Description: "release version; quote it (\"1.0\")"},
		"arch":        withDefault(sEnum("target architecture", "amd64", "arm64"), DefaultArch),
		"hostname":    {Type: "string", Pattern: anchored(hostnameRE.String()), Description: "RFC 1123 label; default: name"},
		"kernel":      kernel,
		"cmdline":     sList("extra kernel command-line words", &Schema{Type: []string{"string", "number", "boolean"}, Pattern: `^\S+$`}),
		"compression": withDefault(sEnum("initramfs compression: auto is zstd for an archive up to 16 MiB, lz4 above", "auto", "zstd", "gzip", "lz4", "none"), DefaultCompression),
		"outputs":     withDefault(&Schema{Type: "array", MinItems: ptr(1), UniqueItems: true, Items: sEnum("", AllOutputs()...), Description: "what the build writes (qcow2, qcow2-compressed, vmdk and vhd need disk; qcow2 and qcow2-compressed exclude each other; uki and iso run the initramfs)"}, []string{OutputInitramfs}),
		"network": object("networking", map[string]*Schema{
			"mode":      withDefault(sEnum("none, a static address, or DHCP", "none", "static", "dhcp"), DefaultNetworkMode),
			"interface": withDefault(&Schema{Type: "string", Pattern: anchored(ifnameRE.String())}, DefaultInterface),
			"address":   sString("guest address with prefix length (static only), e.g. 10.0.2.15/24"),
			"gateway":   sString("gateway IP address (static only)"),
			"dns":       sList("name server IP addresses", sString("")),
		}),
		"services": &Schema{Type: "array", MinItems: ptr(1), Items: service, Description: "the supervised programs, started in this order"},
		"files":    sList("files and folders put into the image", file),
		"disk": object("disk image layout (with outputs: disk)", map[string]*Schema{
			"esp_size":         withDefault(sSize("EFI system partition, at least 33MiB"), "64MiB"),
			"root_size":        withDefault(sSize("each A/B root slot"), "64MiB"),
			"data_size":        withDefault(sSize("persistent /data partition, 8MiB to 64GiB"), "128MiB"),
			"systemd_boot":     sString("systemd-boot EFI binary; default Debian's"),
			"root_compression": withDefault(sEnum("slot roots' squashfs compression", "zstd", "lz4", "gzip", "xz", "none"), DefaultRootCompression),
			"boot_entries":     withDefault(sEnum("boot entry of each slot: type1 (loader/entries/*.conf naming kernel and initrd) or uki (a Unified Kernel Image in EFI/Linux, Boot Loader Specification Type #2)", BootEntriesType1, BootEntriesUKI), BootEntriesType1),
			"root_block_size":  withDefault(sSize("slot roots' squashfs block size: a power of two, 4KiB to 1MiB"), "128KiB"),
		}),
		"update": object("A/B update settings (with outputs: disk)", map[string]*Schema{
			"tries":          withDefault(sInt("boot tries of a freshly flashed slot", 1, 9), DefaultUpdateTries),
			"settle":         withDefault(sDuration("how long every service must stay healthy before the slot is blessed"), DefaultSettle.String()),
			"trial_deadline": withDefault(sDuration("a trial not healthy by then marks itself bad"), DefaultTrialDeadline.String()),
			"trusted_keys":   sList("release public key files (turbo-image keygen)", sString("")),
			"agent": object("network update agent in the init (needs trusted_keys)", map[string]*Schema{
				"listen":     sString("host:port to listen on, e.g. \":8443\""),
				"token_file": sString("file holding the bearer token"),
				"max_bytes":  withDefault(sSize("largest accepted upload"), "512MiB"),
			}, "listen", "token_file"),
			"channels": {Type: "object", Description: "channel name -> the public key files it trusts",
				PatternProperties: map[string]*Schema{`^[a-z][a-z0-9._-]{0,62}$`: channel}, AdditionalProperties: false},
			"follow": object("follow a channel in an OCI registry", map[string]*Schema{
				"ref":        sString("registry repository, host[:port]/name"),
				"channel":    sString("the channel to follow (one of update.channels)"),
				"interval":   withDefault(sDuration("time between polls, 1s to 24h"), DefaultFollowInterval.String()),
				"plain_http": &Schema{Type: "boolean", Description: "HTTP instead of HTTPS (a registry on a test network)"},
				"ca":         sString("PEM CA certificates for the registry's TLS"),
			}, "ref", "channel"),
		}),
		"data": object("what turbo-image data does with /data", map[string]*Schema{
			"scrub":   sList("argv of a program in the image that rewrites a copy of /data in a jail (turbo-image data scrub)", sString("")),
			"quiesce": sList("argv of a program in the image the update agent runs before a live export of /data (checkpoint, hold writes); default: freeze the services", sString("")),
			"resume":  sList("argv of a program in the image the update agent runs after a live export (undoes quiesce)", sString("")),
		}),
		"init": object("init settings", map[string]*Schema{
			"shutdown_grace": withDefault(sDuration("time between SIGTERM and SIGKILL at shutdown"), DefaultShutdownGrace.String()),
		}),
	}, "name", "version", "kernel", "services")
	s.SchemaURI = "https://json-schema.org/draft/2020-12/schema"
	s.ID = SchemaID
	s.Title = "turbo-image recipe"
	return s
}

func withDefault(s *Schema, v any) *Schema {
	s.Default = v
	return s
}

// MarshalSchema returns the schema file's bytes: indented JSON, sorted
// keys, a trailing newline.
func MarshalSchema() ([]byte, error) {
	b, err := json.MarshalIndent(JSONSchema(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// schemaKeys lists, for each mapping of the schema, its property names,
// keyed by the decoder's field path with list indexes as "[]"
// ("services[].health"); for TestSchemaKeysMatchDecoder.
func schemaKeys() map[string][]string {
	out := map[string][]string{}
	var walk func(path string, s *Schema)
	walk = func(path string, s *Schema) {
		if s == nil {
			return
		}
		if s.Properties != nil {
			var keys []string
			for k, v := range s.Properties {
				keys = append(keys, k)
				walk(child(path, k), v)
			}
			out[path] = keys
		}
		if s.Items != nil {
			walk(path+"[]", s.Items)
		}
	}
	walk("", JSONSchema())
	return out
}

// normalizePath turns a decoder field path into schemaKeys' form.
func normalizePath(field string) string {
	var b strings.Builder
	for i := 0; i < len(field); i++ {
		if field[i] == '[' {
			j := strings.IndexByte(field[i:], ']')
			if j > 0 {
				b.WriteString("[]")
				i += j
				continue
			}
		}
		b.WriteByte(field[i])
	}
	return b.String()
}
