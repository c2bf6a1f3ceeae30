package bootloader

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Timeout values of LoaderConf.Timeout that are not a number of seconds.
const (
	// TimeoutUnset means loader.conf has no `timeout`; the loader then
	// shows no menu, like "timeout 0".
	TimeoutUnset = -1
	// TimeoutMenuForce is "timeout menu-force": the menu is shown and the
	// loader waits for a key press forever.
	TimeoutMenuForce = -2
	// MaxTimeout is the largest number of seconds systemd-boot 252 takes;
	// one more (4294967295) means menu-force.
	MaxTimeout = math.MaxUint32 - 1
)

// maxConsoleMode is the largest console mode number systemd-boot 252 takes.
const maxConsoleMode = math.MaxInt32

// OptBool is a boolean setting that may be absent from loader.conf.
type OptBool uint8

// Values of OptBool.
const (
	BoolUnset OptBool = iota // key absent: the loader's default applies
	BoolNo
	BoolYes
)

// Or returns the setting, or def when it is unset.
func (b OptBool) Or(def bool) bool {
	switch b {
	case BoolNo:
		return false
	case BoolYes:
		return true
	}
	return def
}

// LoaderConf is /loader/loader.conf on the ESP, as systemd-boot 252 reads it
// (config_defaults_load_from_file). Empty strings and BoolUnset mean the key
// is absent and the loader's default applies; those defaults are named on
// each field.
type LoaderConf struct {
	// Default is `default`: a glob (see Match) selecting the default entry
	// by systemd-boot's entry ID (Entry.LoaderID), matched
	// case-insensitively; or "@saved". "" means unset: the first entry in
	// sort order.
	Default string
	// Timeout is `timeout` in seconds (0..MaxTimeout), TimeoutUnset or
	// TimeoutMenuForce. "menu-hidden" reads as 0, which means the same.
	Timeout int
	// Editor is `editor`, the kernel command line editor (default yes).
	Editor OptBool
	// AutoEntries is `auto-entries` (default yes).
	AutoEntries OptBool
	// AutoFirmware is `auto-firmware` (default yes).
	AutoFirmware OptBool
	// Beep is `beep` (default no).
	Beep OptBool
	// RebootForBitlocker is `reboot-for-bitlocker` (default no).
	RebootForBitlocker OptBool
	// ConsoleMode is `console-mode`: "auto", "max", "keep" or a mode number
	// in decimal (default keep).
	ConsoleMode string
	// SecureBootEnroll is `secure-boot-enroll`: "manual", "force" or "off"
	// (default manual).
	SecureBootEnroll string
	// RandomSeedMode is `random-seed-mode`: "off", "with-system-token" or
	// "always" (default with-system-token; a boolean reads as always/off).
	// The key is gone in later systemd versions, which ignore it.
	RandomSeedMode string
	// Extra holds lines with keys systemd-boot 252 does not know, in order;
	// the loader ignores them.
	Extra [][2]string
}

// parseBool is systemd-boot's parse_boolean().
func parseBool(v string) (OptBool, bool) {
	switch v {
	case "1", "yes", "y", "true", "t", "on":
		return BoolYes, true
	case "0", "no", "n", "false", "f", "off":
		return BoolNo, true
	}
	return BoolUnset, false
}

// parseDecimal is parse_number8() without a tail: one or more ASCII digits,
// at most limit.
func parseDecimal(s string, limit uint64) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + uint64(s[i]-'0')
		if v > limit {
			return 0, false
		}
	}
	return v, true
}

// isLoaderConfKey reports whether systemd-boot 252 reads key in loader.conf.
func isLoaderConfKey(key string) bool {
	switch key {
	case "timeout", "default", "editor", "auto-entries", "auto-firmware", "beep",
		"reboot-for-bitlocker", "secure-boot-enroll", "console-mode", "random-seed-mode":
		return true
	}
	return false
}

// ParseLoaderConf parses loader.conf. The syntax is that of entries (see the
// package documentation); keys are case-sensitive; a repeated key keeps its
// last value; unknown keys go to Extra. Where systemd-boot 252 logs an error,
// waits a few seconds and ignores the line (a value it cannot parse, or a
// `default` starting with '@' other than "@saved"), ParseLoaderConf returns
// an error naming loader.conf:line; all errors are returned together.
func ParseLoaderConf(data []byte) (LoaderConf, error) {
	const name = "loader.conf"
	c := LoaderConf{Timeout: TimeoutUnset}
	kvs, err := splitKeyValues(name, data)
	errs := []error{err}
	bad := func(kv keyValue, want string) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: invalid value %q: want %s", name, kv.line, kv.key, kv.value, want))
	}
	for _, kv := range kvs {
		v := kv.value
		switch kv.key {
		case "timeout":
			switch v {
			case "menu-force":
				c.Timeout = TimeoutMenuForce
			case "menu-hidden":
				c.Timeout = 0
			default:
				n, ok := parseDecimal(v, math.MaxUint32)
				switch {
				case !ok:
					bad(kv, fmt.Sprintf("seconds (0 to %d), menu-force or menu-hidden", uint64(MaxTimeout)))
				case n == math.MaxUint32:
					c.Timeout = TimeoutMenuForce // the loader's own encoding of menu-force
				default:
					c.Timeout = int(n)
				}
			}
		case "default":
			if strings.HasPrefix(v, "@") && !asciiEqualFold(v, "@saved") {
				bad(kv, "a glob or @saved")
				continue
			}
			c.Default = v
		case "editor", "auto-entries", "auto-firmware", "beep", "reboot-for-bitlocker":
			b, ok := parseBool(v)
			if !ok {
				bad(kv, "a boolean (yes/no, on/off, true/false, 1/0, y/n, t/f)")
				continue
			}
			for _, s := range c.boolSettings() {
				if s.key == kv.key {
					*s.val = b
				}
			}
		case "secure-boot-enroll":
			switch v {
			case "manual", "force", "off":
				c.SecureBootEnroll = v
			default:
				bad(kv, "manual, force or off")
			}
		case "console-mode":
			switch v {
			case "auto", "max", "keep":
				c.ConsoleMode = v
			default:
				n, ok := parseDecimal(v, maxConsoleMode)
				if !ok {
					bad(kv, fmt.Sprintf("auto, max, keep or a mode number up to %d", maxConsoleMode))
					continue
				}
				c.ConsoleMode = strconv.FormatUint(n, 10)
			}
		case "random-seed-mode":
			switch v {
			case "off", "with-system-token", "always":
				c.RandomSeedMode = v
			default:
				switch b, _ := parseBool(v); b {
				case BoolYes:
					c.RandomSeedMode = "always"
				case BoolNo:
					c.RandomSeedMode = "off"
				default:
					bad(kv, "off, with-system-token, always or a boolean")
				}
			}
		default:
			c.Extra = append(c.Extra, [2]string{kv.key, v})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return LoaderConf{}, err
	}
	return c, nil
}

// boolSetting is a boolean loader.conf key and its field.
type boolSetting struct {
	key string
	val *OptBool
}

// boolSettings returns the boolean keys, in Format's order, with their fields.
func (c *LoaderConf) boolSettings() []boolSetting {
	return []boolSetting{
		{"editor", &c.Editor},
		{"auto-entries", &c.AutoEntries},
		{"auto-firmware", &c.AutoFirmware},
		{"beep", &c.Beep},
		{"reboot-for-bitlocker", &c.RebootForBitlocker},
	}
}

// Validate reports whether Format can write c so that ParseLoaderConf reads
// back the same values, and systemd-boot 252 accepts every line.
func (c LoaderConf) Validate() error {
	var errs []error
	if c.Default != "" {
		if err := validValue("default", c.Default); err != nil {
			errs = append(errs, err)
		} else if strings.HasPrefix(c.Default, "@") && !asciiEqualFold(c.Default, "@saved") {
			errs = append(errs, fmt.Errorf("default: %q: the only special value is @saved", c.Default))
		}
	}
	if c.Timeout < TimeoutMenuForce || c.Timeout > MaxTimeout {
		errs = append(errs, fmt.Errorf("timeout: %d is out of range", c.Timeout))
	}
	for _, s := range c.boolSettings() {
		if *s.val > BoolYes {
			errs = append(errs, fmt.Errorf("%s: invalid OptBool %d", s.key, *s.val))
		}
	}
	switch c.ConsoleMode {
	case "", "auto", "max", "keep":
	default:
		if n, ok := parseDecimal(c.ConsoleMode, maxConsoleMode); !ok || strconv.FormatUint(n, 10) != c.ConsoleMode {
			errs = append(errs, fmt.Errorf("console-mode: %q: want auto, max, keep or a mode number without leading zeros", c.ConsoleMode))
		}
	}
	switch c.SecureBootEnroll {
	case "", "manual", "force", "off":
	default:
		errs = append(errs, fmt.Errorf("secure-boot-enroll: %q: want manual, force or off", c.SecureBootEnroll))
	}
	switch c.RandomSeedMode {
	case "", "off", "with-system-token", "always":
	default:
		errs = append(errs, fmt.Errorf("random-seed-mode: %q: want off, with-system-token or always", c.RandomSeedMode))
	}
	for _, kv := range c.Extra {
		if err := validKey(kv[0]); err != nil {
			errs = append(errs, err)
		} else if isLoaderConfKey(kv[0]) {
			errs = append(errs, fmt.Errorf("extra key %q is a known key; use its field", kv[0]))
		}
		if err := validValue(kv[0], kv[1]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Format returns loader.conf in canonical form: one line per set key, in the
// order default, timeout, console-mode, editor, auto-entries, auto-firmware,
// beep, reboot-for-bitlocker, secure-boot-enroll, random-seed-mode, then
// Extra in order. The output is deterministic and ParseLoaderConf reads back
// the same LoaderConf for any c that passes Validate.
func (c LoaderConf) Format() []byte {
	var b bytes.Buffer
	if c.Default != "" {
		writeKeyValue(&b, "default", c.Default)
	}
	switch {
	case c.Timeout == TimeoutMenuForce:
		writeKeyValue(&b, "timeout", "menu-force")
	case c.Timeout >= 0:
		writeKeyValue(&b, "timeout", strconv.Itoa(c.Timeout))
	}
	if c.ConsoleMode != "" {
		writeKeyValue(&b, "console-mode", c.ConsoleMode)
	}
	for _, s := range c.boolSettings() {
		switch *s.val {
		case BoolYes:
			writeKeyValue(&b, s.key, "yes")
		case BoolNo:
			writeKeyValue(&b, s.key, "no")
		}
	}
	if c.SecureBootEnroll != "" {
		writeKeyValue(&b, "secure-boot-enroll", c.SecureBootEnroll)
	}
	if c.RandomSeedMode != "" {
		writeKeyValue(&b, "random-seed-mode", c.RandomSeedMode)
	}
	for _, kv := range c.Extra {
		if kv[0] != "" && kv[1] != "" {
			writeKeyValue(&b, kv[0], kv[1])
		}
	}
	return b.Bytes()
}
