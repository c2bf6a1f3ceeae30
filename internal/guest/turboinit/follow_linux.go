//go:build linux && turbo_follow

package turboinit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/turbo-image/turbo-image/internal/guest/follow"
	"github.com/turbo-image/turbo-image/internal/guest/supervise"
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
	// One appliance of a fleet can follow another channel of the recipe
	// (a canary): turbo.channel=NAME on its kernel command line, NAME
	// one of update.channels. The image, and so its digest, stays the
	// same for every appliance.
	channel := f.Channel
	if c := in.cmdline.Params["turbo.channel"]; c != "" {
		if len(in.cfg.Update.Channels[c]) == 0 {
			in.con.Logf("follow: turbo.channel=%s is not among update.channels; following %s", c, f.Channel)
		} else {
			channel = c
		}
	}
	var keys []signing.PublicKey
	for _, k := range in.cfg.Update.Channels[channel] {
		keys = append(keys, signing.PublicKey{Key: ed25519.PublicKey(k)})
	}
	c, err := follow.New(follow.Config{Registry: f.Registry, Repository: f.Repository, Channel: channel,
		PlainHTTP: f.PlainHTTP, CA: f.CA, Keys: keys})
	if err != nil {
		return fmt.Errorf("follow: %w", err)
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
	in.con.Logf("follow: channel %s every %s", c.Ref(), f.Interval.D())
	go in.followLoop(p, f.Interval.D())
	return nil
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
