package follow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/turbo-image/turbo-image/internal/shared/ociartifact"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

// Target is the disk a build is flashed into: its boot state and write
// access (the init's mounted ESP and block devices; in tests, memory).
type Target struct {
	Current    update.Current
	ESP        update.ESP
	Partitions update.Partitions
}

// Flash plans b against the target (update.PlanFlash: same appliance and
// architecture, newer version, the running slot blessed, sizes, the
// manifest signature when the running slot trusts keys) and applies it
// (update.Apply: payloads streamed from the registry into the inactive
// slot, each checked, everything read back, the switch last).
func Flash(t Target, b *Build) (*update.Plan, error) {
	// A version whose trial already failed here is not tried again: after
	// a rollback the channel still holds it, and every poll would flash it
	// into another failing trial. The bad entry stays on the ESP until the
	// next flash replaces it (a build of another version).
	for _, e := range t.Current.State.Entries {
		if e.Counter.Bad() && e.Version == b.Manifest.Version {
			return nil, fmt.Errorf("%w: version %s failed its trial on this appliance (boot entry %s); waiting for another build in the channel", ErrFailedHere, b.Manifest.Version, e.FileName)
		}
	}
	p, err := update.PlanFlash(t.Current, update.Request{Manifest: b.Manifest, ManifestBytes: b.ManifestBytes, Signature: b.Signature})
	if err != nil {
		return nil, err
	}
	if err := update.Apply(p, t.ESP, t.Partitions, b, nil); err != nil {
		return p, err
	}
	return p, nil
}

// ErrFailedHere refuses a version whose trial failed on this appliance.
var ErrFailedHere = errors.New("the build failed here before")

// Outcome is what one poll did.
type Outcome int

const (
	// Unchanged: the channel holds the build the last poll dealt with.
	Unchanged Outcome = iota
	// UpToDate: the channel holds the version this appliance runs.
	UpToDate
	// Refused: the channel's build was refused (not signed for the
	// channel, another appliance, older); the digest is not tried again
	// until the channel moves.
	Refused
	// Wait: the running slot is on trial; the poll is repeated later.
	Wait
	// Flashed: the build is in the inactive slot and turned on; reboot
	// into its trial.
	Flashed
)

// Result is one poll's outcome.
type Result struct {
	Outcome Outcome
	Digest  digest.Digest
	Build   *Build
	Plan    *update.Plan
	// Err is why the build was refused (Outcome Refused).
	Err error
}

// Poller follows a channel. It keeps the last digest it dealt with, so a
// quiet poll is one small request. Poll is called from one goroutine.
type Poller struct {
	Client *Client
	// Disk opens the target for one flash and releases it when the
	// flash returns (the init mounts the ESP around it).
	Disk func(flash func(Target) error) error
	seen digest.Digest
}

// Poll looks at the channel once. An error (registry down, slow, garbage,
// a blob that does not match its digest, a cut connection) leaves the
// disk as it was and the digest untried: the next poll retries it.
func (p *Poller) Poll(ctx context.Context) (Result, error) {
	raw, d, err := p.Client.Resolve(ctx)
	if err != nil {
		return Result{}, err
	}
	if d == p.seen {
		return Result{Outcome: Unchanged, Digest: d}, nil
	}
	b, err := p.Client.Fetch(ctx, raw, d)
	if errors.Is(err, ociartifact.ErrNotInChannel) {
		p.seen = d
		return Result{Outcome: Refused, Digest: d, Err: err}, nil
	}
	if err != nil {
		return Result{}, err
	}
	var plan *update.Plan
	running := ""
	err = p.Disk(func(t Target) error {
		if m := t.Current.Manifests[t.Current.Running]; m != nil {
			running = m.Version
		}
		var err error
		plan, err = Flash(t, b)
		return err
	})
	switch {
	case err == nil || errors.Is(err, update.ErrSwitched):
		p.seen = d
		return Result{Outcome: Flashed, Digest: d, Build: b, Plan: plan}, nil
	case errors.Is(err, update.ErrNotNewer) && b.Manifest.Version == running:
		p.seen = d
		return Result{Outcome: UpToDate, Digest: d, Build: b}, nil
	case errors.Is(err, update.ErrNotNewer), errors.Is(err, update.ErrOtherAppliance), errors.Is(err, ErrFailedHere), errors.Is(err, update.ErrSignature), errors.Is(err, update.ErrNotSelected):
		p.seen = d
		return Result{Outcome: Refused, Digest: d, Build: b, Err: fmt.Errorf("%s %s (%s): %w", b.Manifest.Name, b.Manifest.Version, d, err)}, nil
	case errors.Is(err, update.ErrOnTrial):
		return Result{Outcome: Wait, Digest: d, Build: b}, nil
	}
	return Result{}, fmt.Errorf("%s %s (%s): %w", b.Manifest.Name, b.Manifest.Version, d, err)
}

// NextDelay is the time to the next poll after failures failed polls in
// a row: the interval, doubled per failure, at most ten intervals and at
// most ten minutes (but never less than the interval).
func NextDelay(interval time.Duration, failures int) time.Duration {
	limit := min(10*interval, 10*time.Minute)
	limit = max(limit, interval)
	d := interval
	for i := 0; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
