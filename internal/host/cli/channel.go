package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/turbo-image/turbo-image/internal/format/diskimage"
	"github.com/turbo-image/turbo-image/internal/host/flash"
	"github.com/turbo-image/turbo-image/internal/shared/channelfile"
	"github.com/turbo-image/turbo-image/internal/shared/slots"
)

// runChannel sets, shows or clears the channel one appliance follows:
// the ESP file channelfile.Name of its disk (offline: a disk image or a
// block device not in use). The init reads it at boot, checks it against
// the recipe's update.channels and falls back to update.follow.channel.
func runChannel(ctx context.Context, e *Env, args []string) error {
	flags := newFlagSet(e, "channel", commands()["channel"].usage)
	token := flags.String("token", "", "a running appliance: update agent `TOKEN` (default: $TURBO_TOKEN; prefer --token-file)")
	tokenFile := flags.String("token-file", "", "a running appliance: `FILE` holding the update agent token")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("want set DISK NAME, show DISK or clear DISK")
	}
	verb, disk := pos[0], pos[1]
	if strings.HasPrefix(disk, "http://") || strings.HasPrefix(disk, "https://") {
		return channelLive(ctx, e, pos, *token, *tokenFile)
	}
	if *token != "" || *tokenFile != "" {
		return usagef("--token and --token-file go with a running appliance (http://HOST:PORT of its update agent)")
	}
	switch {
	case verb == "set" && len(pos) == 3:
		data, err := channelfile.Format(pos[2])
		if err != nil {
			return err
		}
		return withDiskESP(disk, true, func(esp diskimage.ESP) error {
			if err := esp.WriteFile(channelfile.Name, data); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%s follows channel %s (ESP file %s); the recipe's update.channels must list it\n", disk, pos[2], channelfile.Name)
			return nil
		})
	case verb == "show" && len(pos) == 2:
		return withDiskESP(disk, false, func(esp diskimage.ESP) error {
			b, err := esp.ReadFile(channelfile.Name)
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(e.Stdout, "%s: no channel set: it follows the recipe's update.follow.channel\n", disk)
				return nil
			}
			if err != nil {
				return err
			}
			name, err := channelfile.Parse(b)
			if err != nil {
				return fmt.Errorf("%s: %w", disk, err)
			}
			fmt.Fprintf(e.Stdout, "%s: channel %s\n", disk, name)
			return nil
		})
	case verb == "clear" && len(pos) == 2:
		return withDiskESP(disk, true, func(esp diskimage.ESP) error {
			if err := esp.Remove(channelfile.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			fmt.Fprintf(e.Stdout, "%s follows the recipe's update.follow.channel\n", disk)
			return nil
		})
	}
	return usagef("want set DISK NAME, show DISK or clear DISK")
}

// channelLive sets or clears the channel of a running appliance through
// its update agent (POST /v1/channel), which writes the same ESP file.
func channelLive(ctx context.Context, e *Env, pos []string, token, tokenFile string) error {
	verb, target := pos[0], pos[1]
	var name string
	switch {
	case verb == "set" && len(pos) == 3:
		name = pos[2]
		if _, err := channelfile.Format(name); err != nil {
			return err
		}
	case verb == "clear" && len(pos) == 2:
	case verb == "show":
		return usagef("channel show reads a disk; a running appliance's channel is on its console (follow: channel ...)")
	default:
		return usagef("want set http://HOST:PORT NAME or clear http://HOST:PORT")
	}
	tok, err := agentToken(e, token, tokenFile, "a running appliance's channel")
	if err != nil {
		return err
	}
	r, err := flash.SetChannel(ctx, target, tok, name, flash.NetworkOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "%s follows channel %s (from %s); its follower chooses again before its next poll\n", target, r.Channel, r.From)
	return nil
}

// withDiskESP opens a turbo-image disk's ESP (the boot state must read)
// and runs fn on it.
func withDiskESP(path string, writable bool, fn func(diskimage.ESP) error) error {
	d, err := diskimage.Open(path, writable)
	if err != nil {
		return err
	}
	esp, err := d.ESP()
	if err != nil {
		d.Close()
		return err
	}
	st, err := slots.Read(esp)
	if err == nil && len(st.Entries) == 0 {
		// An ESP with neither Type #1 nor UKI entries reads as an empty
		// boot state; a channel there would follow nothing.
		err = errors.New("it has no boot entries")
	}
	if err != nil {
		d.Close()
		return fmt.Errorf("%s: not a turbo-image A/B disk: %w", path, err)
	}
	if err := fn(esp); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
