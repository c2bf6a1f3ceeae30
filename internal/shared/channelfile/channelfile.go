// Package channelfile is the channel an appliance follows when it is not
// the recipe's: a small file on the appliance's EFI system partition,
// written at provisioning (`turbo-image channel set DISK NAME`), read by
// the init at boot. The ESP is the place because every appliance has one
// from the moment its disk is built (the data partition may be made only
// at first boot), the host already writes FAT offline (flash), and a
// flash writes only the slot folders and boot entries, so the file
// outlives every update. Planning (Choose) is pure; reading and writing
// the file are the callers'.
package channelfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// Name is the file's path on the ESP.
const Name = "turbo/channel"

// maxSize bounds what Parse reads: a channel name (at most 63 bytes) and
// a newline.
const maxSize = 64

// Parse reads the file's bytes: one channel name (signing.ValidChannel),
// optionally followed by one newline; nothing else.
func Parse(data []byte) (string, error) {
	if len(data) > maxSize {
		return "", fmt.Errorf("%s: %d bytes; want one channel name and a newline", Name, len(data))
	}
	name := string(bytes.TrimSuffix(data, []byte("\n")))
	if err := signing.ValidChannel(name); err != nil {
		return "", fmt.Errorf("%s: %w", Name, err)
	}
	return name, nil
}

// Format is the file's bytes for a channel name.
func Format(name string) ([]byte, error) {
	if err := signing.ValidChannel(name); err != nil {
		return nil, err
	}
	return []byte(name + "\n"), nil
}

// Sources are where an appliance's channel can come from, strongest
// first.
type Sources struct {
	// Cmdline is turbo.channel= from the kernel command line, or "".
	Cmdline string
	// File is the ESP file's bytes, and FileErr the error reading it
	// (fs.ErrNotExist when there is none: not a problem).
	File    []byte
	FileErr error
	// Recipe is update.follow.channel, the default.
	Recipe string
}

// Choice is the channel to follow and why.
type Choice struct {
	Channel string
	From    string   // "turbo.channel= on the kernel command line", "the ESP file turbo/channel" or "update.follow.channel"
	Refused []string // each source passed over, with the reason
}

// Choose picks the channel: turbo.channel= on the kernel command line,
// else the ESP file, else the recipe's update.follow.channel. A source
// naming a channel the recipe does not trust (trusted reports whether
// update.channels lists it with at least one key), or a file that does
// not parse, is refused (said in Refused) and the next one is used: an
// appliance never follows a channel whose signatures it could not check,
// and a mistyped channel leaves it on the recipe's.
func Choose(s Sources, trusted func(string) bool) Choice {
	var c Choice
	try := func(name, from string) bool {
		if !trusted(name) {
			c.Refused = append(c.Refused, fmt.Sprintf("%s names channel %q, which update.channels does not list", from, name))
			return false
		}
		c.Channel, c.From = name, from
		return true
	}
	if s.Cmdline != "" && try(s.Cmdline, "turbo.channel= on the kernel command line") {
		return c
	}
	switch {
	case s.FileErr == nil:
		name, err := Parse(s.File)
		if err != nil {
			c.Refused = append(c.Refused, err.Error())
		} else if try(name, "the ESP file "+Name) {
			return c
		}
	case !errors.Is(s.FileErr, fs.ErrNotExist):
		c.Refused = append(c.Refused, fmt.Sprintf("%s: %v", Name, s.FileErr))
	}
	c.Channel, c.From = s.Recipe, "update.follow.channel"
	return c
}
