package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// registryFlags are the connection flags of push and pull. There is no
// credential flag: credentials come from the Docker and Podman auth files
// (registry.AuthFiles), so no password lands in shell history.
type registryFlags struct {
	plainHTTP *bool
	ca        *string
}

func addRegistryFlags(fs *flag.FlagSet) registryFlags {
	return registryFlags{
		plainHTTP: fs.Bool("plain-http", false, "use plain HTTP to a registry that is not on a loopback address (loopback registries that speak HTTP are found out without it)"),
		ca:        fs.String("ca", "", "PEM `FILE` of CA certificates to trust besides the system roots"),
	}
}

func (f registryFlags) options(e *Env) registry.Options {
	return registry.Options{PlainHTTP: *f.plainHTTP, CAFile: *f.ca, Getenv: e.Getenv}
}

func runPush(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "push", commands()["push"].usage)
	rf := addRegistryFlags(fs)
	quiet := quietFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want a build directory and a reference (registry/name:tag)")
	}
	start := time.Now()
	o := rf.options(e)
	pm := newMeter(e.Stderr, *quiet).run()
	o.Progress = func(p registry.Progress) { pm.report(registryReport("push", p)) }
	r, err := registry.Push(ctx, pos[0], pos[1], o)
	pm.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "turbo-image: pushed %d layers (%s uploaded, %d already there, %s in all) in %s%s\n",
		r.Layers, mib(r.Uploaded), r.Skipped, mib(r.Bytes), time.Since(start).Round(time.Millisecond), buildDigestNote(r.Manifest))
	fmt.Fprintf(e.Stderr, "turbo-image: attached as referrers: %s\n", attachedLine(r.Attached))
	fmt.Fprintf(e.Stdout, "%s@%s\n", r.Ref, r.Digest)
	return nil
}

func runPull(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "pull", commands()["pull"].usage)
	out := fs.String("o", "", "build `DIR` to write (same rules as build -o; required)")
	channel := fs.String("channel", "", "refuse the build unless it is signed for this channel `NAME` by one of the --key files")
	var keys stringList
	fs.Var(&keys, "key", "public key `FILE` trusted for --channel (repeatable)")
	rf := addRegistryFlags(fs)
	quiet := quietFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usagef("want one reference and -o DIR")
	}
	if (*channel == "") != (len(keys) == 0) {
		return usagef("--channel and --key go together")
	}
	trusted, err := readPublicKeys(keys)
	if err != nil {
		return err
	}
	start := time.Now()
	o := rf.options(e)
	pm := newMeter(e.Stderr, *quiet).run()
	o.Progress = func(p registry.Progress) { pm.report(registryReport("pull", p)) }
	r, err := registry.PullChannel(ctx, pos[0], *out, *channel, trusted, o)
	pm.finish()
	if err != nil {
		return err
	}
	if r.Channel != nil {
		fmt.Fprintf(e.Stderr, "turbo-image: signed for channel %s by key %s\n", r.Channel.Statement.Channel, r.Channel.Key.ID())
	}
	fmt.Fprintf(e.Stderr, "turbo-image: referrers: %s\n", attachedLine(r.Attached))
	if r.Attached != nil && r.Attached.Envelope != nil {
		fmt.Fprintf(e.Stderr, "turbo-image: wrote %s; check it with turbo-image verify %s --key PUB --provenance\n", filepath.Join(*out, provenance.FileName), *out)
	}
	fmt.Fprintf(e.Stdout, "pulled %s %s (%s) into %s: %d layers, %s, every digest verified, in %s%s\n",
		r.Manifest.Name, r.Manifest.Version, r.Digest, *out, r.Layers, mib(r.Bytes), time.Since(start).Round(time.Millisecond), buildDigestNote(r.Manifest))
	return nil
}

// attachedLine says what SBOM and provenance a build has as referrers.
func attachedLine(a *registry.Attached) string {
	if a == nil {
		return "none"
	}
	sbomPart := "no SBOM"
	if a.SBOM != "" {
		sbomPart = "SBOM " + a.SBOM.String()
	}
	provPart := "no provenance"
	if a.Envelope != nil {
		provPart = "provenance " + a.Provenance.String() + " (" + signersOf(a.Envelope) + ")"
	}
	return sbomPart + ", " + provPart
}

// signersOf lists an envelope's signers by key id.
func signersOf(e *provenance.Envelope) string {
	if len(e.Signatures) == 0 {
		return "unsigned"
	}
	ids := make([]string, 0, len(e.Signatures))
	for _, s := range e.Signatures {
		ids = append(ids, s.KeyID)
	}
	return "signed by key " + strings.Join(ids, ", ")
}

// buildDigestNote names the digest the appliance reports as build= on
// TURBO_READY (manifest.BuildDigest).
func buildDigestNote(m *manifest.Manifest) string {
	if m == nil {
		return ""
	}
	d, err := m.BuildDigest()
	if err != nil {
		return ""
	}
	return "; appliances running it report build=" + d
}

// registryReport turns a push or pull report into a progress report: one
// phase per layer.
func registryReport(verb string, p registry.Progress) progress {
	r := progress{Phase: fmt.Sprintf("%s %d/%d: %s", verb, p.Index+1, p.Layers, p.Layer), Done: p.Done, Total: p.Size, Unit: "bytes"}
	if p.Skipped {
		r.Phase += " (already in the registry)"
	}
	return r
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// readPublicKeys reads public key files.
func readPublicKeys(paths []string) ([]signing.PublicKey, error) {
	var keys []signing.PublicKey
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		k, err := signing.ParsePublicKey(p, b)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func runPromote(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "promote", commands()["promote"].usage)
	channel := fs.String("channel", "", "channel `NAME` to sign the build for; its tag is moved to the build (required)")
	key := fs.String("key", "", "private key `FILE` from keygen (required)")
	rf := addRegistryFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *channel == "" || *key == "" {
		return usagef("want one reference, --channel and --key")
	}
	b, err := os.ReadFile(*key)
	if err != nil {
		return err
	}
	k, err := signing.ParsePrivateKey(*key, b)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := registry.Promote(ctx, pos[0], *channel, k, rf.options(e))
	if err != nil {
		return err
	}
	moved := "was not there before"
	switch {
	case r.Previous == r.Digest:
		moved = "already held it"
	case r.Previous != "":
		moved = "held " + r.Previous.String()
	}
	fmt.Fprintf(e.Stderr, "turbo-image: signed %s %s for channel %s with key %s (signature %s); tag %s %s; in %s\n",
		r.Name, r.Version, r.Channel, r.KeyID, r.Signature, r.Channel, moved, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.Stdout, "%s:%s@%s\n", r.Repo, r.Channel, r.Digest)
	return nil
}

func runChannels(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "channels", commands()["channels"].usage)
	var keys stringList
	fs.Var(&keys, "key", "public key `FILE` to verify signatures with (repeatable); without it signatures are shown by key id, unverified")
	rf := addRegistryFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one repository (registry/name)")
	}
	trusted, err := readPublicKeys(keys)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for i, k := range trusted {
		names[k.ID()] = keys[i]
	}
	chans, err := registry.Channels(ctx, pos[0], trusted, rf.options(e))
	if err != nil {
		return err
	}
	if len(chans) == 0 {
		fmt.Fprintf(e.Stdout, "%s has no channel tags\n", pos[0])
		return nil
	}
	for _, c := range chans {
		if c.Err != nil {
			fmt.Fprintf(e.Stdout, "%s\t(not a turbo-image build: %v)\n", c.Name, c.Err)
			continue
		}
		b := c.Build
		bd, _ := b.Manifest.BuildDigest()
		fmt.Fprintf(e.Stdout, "%s\t%s\t%s %s\tbuild=%s\n", c.Name, b.Digest, b.Manifest.Name, b.Manifest.Version, bd)
		if len(b.Sigs) == 0 {
			fmt.Fprintf(e.Stdout, "\tno channel signatures\n")
		}
		for _, s := range b.Sigs {
			var state string
			switch {
			case s.Verified:
				state = "verified with " + names[s.Key.ID()]
			case errors.Is(s.Err, signing.ErrStatementUntrusted):
				state = "not verified (key not among --key)"
			case s.Err != nil:
				state = "DOES NOT VERIFY: " + s.Err.Error()
			default:
				state = "not verified (no --key)"
			}
			ch := s.Statement.Channel
			if ch == "" {
				ch = "?"
			}
			fmt.Fprintf(e.Stdout, "\tsigned for %s by key %s: %s\n", ch, s.Sig.KeyID, state)
		}
		printAttached(e, c, len(trusted) > 0, names)
	}
	return nil
}

// printAttached shows a channel build's SBOM and provenance referrers.
func printAttached(e *Env, c registry.Channel, keys bool, names map[string]string) {
	if c.AttachedErr != nil {
		fmt.Fprintf(e.Stdout, "\tSBOM and provenance: CANNOT BE READ: %v\n", c.AttachedErr)
		return
	}
	a := c.Attached
	if a.SBOM != "" {
		fmt.Fprintf(e.Stdout, "\tSBOM: %s\n", a.SBOM)
	} else {
		fmt.Fprintf(e.Stdout, "\tSBOM: none attached\n")
	}
	if a.Envelope == nil {
		fmt.Fprintf(e.Stdout, "\tprovenance: none attached\n")
		return
	}
	state := "not verified (no --key)"
	switch {
	case len(a.Envelope.Signatures) == 0:
		state = "UNSIGNED"
	case !keys:
	case a.KeyErr == nil:
		state = "verified with " + names[a.Key.ID()]
	case errors.Is(a.KeyErr, signing.ErrDSSEUntrusted):
		state = "not verified (key not among --key)"
	default:
		state = "DOES NOT VERIFY: " + a.KeyErr.Error()
	}
	fmt.Fprintf(e.Stdout, "\tprovenance: %s, %s: %s\n", a.Provenance, signersOf(a.Envelope), state)
}
