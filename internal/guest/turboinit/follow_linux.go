//go:build linux && turbo_follow

package turboinit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/turbo-image/turbo-image/internal/guest/follow"
	"github.com/turbo-image/turbo-image/internal/guest/supervise"
	"github.com/turbo-image/turbo-image/internal/shared/channelfile"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// followPollTimeout bounds one poll, downloads included; a stalled
// connection ends sooner (follow.Config.StallTimeout).
const followPollTimeout = 30 * time.Minute

// startFollow follows the recipe's channel (update.follow; built only with
// the turbo_follow tag): a goroutine polls the registry and, when the
// channel holds a newer build signed for it by a trusted key, streams it
// into the inactive slot and reboots into its trial. Blessing and
// rollback are the boot assessment's, as for any flash.
func (in *Init) startFollow() error {
	f := in.cfg.Update.Follow
	if f == nil {
		return nil
	}
	if in.cmdline.Slot == "" {
		return errors.New("follow: not booted from a disk slot; nothing to update")
	}
	p, err := in.followPoller()
	if err != nil {
		return err
	}
	go in.followLoop(p, f.Interval.D())
	return nil
}

// followPoller chooses the channel to follow and makes its poller. One
// appliance of a fleet can follow another channel of the recipe (a
// canary) with the same image, so the same digest: the channel comes
// from turbo.channel= on the kernel command line, else the ESP file
// written at provisioning or by the update agent (channelfile.Name),
// else the recipe. A channel update.channels does not list is refused.
func (in *Init) followPoller() (*follow.Poller, error) {
	f := in.cfg.Update.Follow
	src := channelfile.Sources{Cmdline: in.cmdline.Params["turbo.channel"], Recipe: f.Channel}
	if err := in.withESP(false, func(esp string) error {
		src.File, src.FileErr = readSmall(filepath.Join(esp, channelfile.Name))
		return nil
	}); err != nil {
		src.FileErr = err
	}
	choice := channelfile.Choose(src, func(c string) bool { return len(in.cfg.Update.Channels[c]) > 0 })
	for _, r := range choice.Refused {
		in.con.Logf("follow: refused %s; following %s", r, choice.Channel)
	}
	channel := choice.Channel
	var keys []signing.PublicKey
	for _, k := range in.cfg.Update.Channels[channel] {
		keys = append(keys, signing.PublicKey{Key: ed25519.PublicKey(k)})
	}
	c, err := follow.New(follow.Config{Registry: f.Registry, Repository: f.Repository, Channel: channel,
		PlainHTTP: f.PlainHTTP, CA: f.CA, Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("follow: %w", err)
	}
	p := &follow.Poller{Client: c, Disk: func(flash func(follow.Target) error) error {
		return in.withESP(true, func(esp string) error {
			cur, parts, err := in.currentDisk(esp)
			if err != nil {
				return err
			}
			defer parts.close()
			return flash(follow.Target{Current: cur, ESP: newDirESP(esp), Partitions: parts})
		})
	}}
	in.con.Logf("follow: channel %s (from %s) every %s", c.Ref(), choice.From, f.Interval.D())
	return p, nil
}

// followLoop polls until a flash succeeds, then asks for the reboot.
// Failures back off (follow.NextDelay); a message is logged when it
// differs from the last one, so a registry that stays down does not
// flood the console.
func (in *Init) followLoop(p *follow.Poller, interval time.Duration) {
	failures, last := 0, ""
	logOnce := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); msg != last {
			in.con.Logf("%s", msg)
			last = msg
		}
	}
	for {
		if in.rechoose.Swap(false) {
			// The update agent changed the ESP file: choose again. A
			// failure keeps the channel followed so far.
			if np, err := in.followPoller(); err != nil {
				in.con.Logf("follow: choosing the channel again: %v; still following %s", err, p.Client.Ref())
			} else {
				p, failures, last = np, 0, ""
			}
		}
		if in.onTrial.Load() {
			// A flash would be refused (update.ErrOnTrial) until the
			// slot is blessed; no requests, no ESP mounts meanwhile.
			time.Sleep(interval)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), followPollTimeout)
		r, err := p.Poll(ctx)
		cancel()
		if err != nil {
			failures++
			logOnce("follow: %v (retrying with backoff)", err)
			time.Sleep(follow.NextDelay(interval, failures))
			continue
		}
		failures = 0
		switch r.Outcome {
		case follow.Refused:
			logOnce("follow: refused: %v", r.Err)
		case follow.UpToDate:
			logOnce("follow: %s holds %s (%s), which runs here", p.Client.Ref(), r.Build.Manifest.Version, r.Digest)
		case follow.Wait:
			logOnce("follow: %s holds %s; waiting until this slot is blessed", p.Client.Ref(), r.Build.Manifest.Version)
		case follow.Flashed:
			bd, _ := r.Build.Manifest.BuildDigest()
			in.con.Logf("follow: %s %s (%s, build=%s) from %s, signed for %s by key %s: %s; rebooting into its trial",
				r.Build.Manifest.Name, r.Build.Manifest.Version, r.Digest, bd, p.Client.Ref(), r.Build.Channel.Statement.Channel,
				r.Build.Channel.Key.ID(), r.Plan.Summary())
			in.events <- supervise.Shutdown{Reason: "update to " + r.Build.Manifest.Version + " in slot " + r.Plan.Inactive, Reboot: true}
			return
		}
		time.Sleep(interval)
	}
}

// readSmall reads at most 4 KiB of a file (channelfile.Parse refuses
// anything that long); a missing file is fs.ErrNotExist.
func readSmall(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<10))
}
