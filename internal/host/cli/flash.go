package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/flash"
	"github.com/turbo-image/turbo-image/internal/host/provenance"
	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
	"github.com/turbo-image/turbo-image/internal/shared/update"
)

func runFlash(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "flash", commands()["flash"].usage)
	target := fs.String("target", "", "where to write: `TARGET` is a disk image, block device, or http://HOST:PORT of a running appliance's update agent (required)")
	token := fs.String("token", "", "update agent `TOKEN` (default: $TURBO_TOKEN; prefer --token-file, as arguments are visible to other users)")
	tokenFile := fs.String("token-file", "", "`FILE` holding the update agent token")
	downgrade := fs.Bool("allow-downgrade", false, "flash a version that is not newer than the active slot's")
	dryRun := fs.Bool("dry-run", false, "check and plan an offline flash, write nothing")
	channel := fs.String("channel", "", "with a registry REF: refuse the build unless it is signed for this channel `NAME` by one of the --key files")
	var keys stringList
	fs.Var(&keys, "key", "public key `FILE` trusted for --channel (repeatable)")
	rf := addRegistryFlags(fs)
	quiet := quietFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one build directory or registry reference")
	}
	if *target == "" {
		return usagef("--target is required")
	}
	if (*channel == "") != (len(keys) == 0) {
		return usagef("--channel and --key go together")
	}
	start := time.Now()
	// A registry reference (REGISTRY/NAME:TAG or @sha256:...) instead of a
	// folder: the payloads stream from the registry, checked against
	// their digests, straight into the target.
	var src *flash.Source
	if _, err := os.Lstat(pos[0]); err != nil && registry.LooksLikeReference(pos[0]) {
		trusted, err := readPublicKeys(keys)
		if err != nil {
			return err
		}
		rb, err := registry.OpenBuild(ctx, pos[0], *channel, trusted, rf.options(e))
		if err != nil {
			return err
		}
		if rb.Channel != nil {
			fmt.Fprintf(e.Stderr, "turbo-image: %s %s (%s) is signed for channel %s by key %s\n", rb.Manifest.Name, rb.Manifest.Version, rb.Digest, rb.Channel.Statement.Channel, rb.Channel.Key.ID())
		}
		src = &flash.Source{Manifest: rb.Manifest, ManifestBytes: rb.ManifestBytes, Signature: rb.Signature, Payloads: rb}
	} else if *channel != "" {
		return usagef("--channel and --key check a registry build; %s is a folder (use verify --key for a folder's manifest signature)", pos[0])
	}
	if strings.HasPrefix(*target, "http://") || strings.HasPrefix(*target, "https://") {
		tok, err := agentToken(e, *token, *tokenFile, "a network flash")
		if err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(e.Stderr, "turbo-image: streaming %s to %s\n", pos[0], *target)
		}
		pm := newMeter(e.Stderr, *quiet).run()
		no := flash.NetworkOptions{Progress: func(p flash.StreamProgress) {
			phase := "flash: send to " + *target
			if p.Sent >= p.Size {
				phase = "flash: the appliance checks and writes"
			}
			pm.report(progress{Phase: phase, Done: p.Sent, Total: p.Size, Unit: "bytes"})
		}}
		var r *flash.Reply
		if src != nil {
			r, err = flash.NetworkFrom(ctx, *target, tok, *src, no)
		} else {
			r, err = flash.Network(ctx, *target, tok, pos[0], no)
		}
		pm.finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "flashed %s into slot %s of %s in %s (entry %s); the appliance reboots into the trial\n",
			r.Version, r.Slot, *target, time.Since(start).Round(time.Millisecond), r.Entry)
		return nil
	}
	pm := newMeter(e.Stderr, *quiet).run()
	report := func(p update.Progress) {
		r := progress{Phase: fmt.Sprintf("flash %d/%d: %v", p.Index+1, p.Total, p.Op)}
		if p.Size > 0 {
			r.Done, r.Total, r.Unit = p.Bytes, p.Size, "bytes"
		}
		pm.report(r)
	}
	fo := flash.Options{AllowDowngrade: *downgrade, DryRun: *dryRun, Progress: report}
	var plan *update.Plan
	if src != nil {
		plan, err = flash.FlashDiskFrom(*target, *src, fo)
	} else {
		plan, err = flash.FlashDisk(ctx, *target, pos[0], fo)
	}
	pm.finish()
	if err != nil {
		if plan != nil {
			fmt.Fprintf(e.Stderr, "turbo-image: planned: %s\n", plan.Summary())
		}
		return err
	}
	if *dryRun {
		fmt.Fprintf(e.Stdout, "would %s\n", plan.Summary())
		for _, op := range plan.Ops {
			fmt.Fprintf(e.Stdout, "  %v\n", op)
		}
		fmt.Fprintf(e.Stdout, "  %v (the switch)\n", plan.Switch)
		return nil
	}
	fmt.Fprintf(e.Stdout, "%s: done in %s\n", plan.Summary(), time.Since(start).Round(time.Millisecond))
	return nil
}

func runKeygen(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "keygen", commands()["keygen"].usage)
	out := fs.String("o", "", "private key `FILE` to write (the public key goes next to it, .key -> .pub)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *out == "" {
		return usagef("keygen takes -o FILE and no arguments")
	}
	k, err := signing.GenerateKey(nil)
	if err != nil {
		return err
	}
	pub, err := signing.WriteKeyPair(*out, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (keep it secret) and %s (key id %s)\n", *out, pub, k.Public().ID())
	return nil
}

func runSign(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "sign", commands()["sign"].usage)
	key := fs.String("key", "", "private key `FILE` (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *key == "" {
		return usagef("want one build directory and --key")
	}
	b, err := os.ReadFile(*key)
	if err != nil {
		return err
	}
	k, err := signing.ParsePrivateKey(*key, b)
	if err != nil {
		return err
	}
	// The provenance is checked before anything is written, so a sign
	// that fails on it leaves both files as they were.
	_, _, perr := provenance.Read(ctx, pos[0])
	if perr != nil && !errors.Is(perr, provenance.ErrMissing) {
		return perr
	}
	if err := signing.SignDir(ctx, pos[0], k); err != nil {
		return err
	}
	if perr != nil {
		fmt.Fprintf(e.Stdout, "signed %s/%s with key %s\n", pos[0], signing.SignatureFile, k.Public().ID())
		fmt.Fprintf(e.Stderr, "turbo-image: %s has no %s (made by a turbo-image without provenance): only the manifest is signed\n", pos[0], provenance.FileName)
		return nil
	}
	if err := provenance.SignDir(ctx, pos[0], k); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "signed %s/%s and %s/%s with key %s\n", pos[0], signing.SignatureFile, pos[0], provenance.FileName, k.Public().ID())
	return nil
}

func runVerify(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "verify", commands()["verify"].usage)
	var keys stringList
	fs.Var(&keys, "key", "trusted public key `FILE` (repeatable, at least one)")
	prov := fs.Bool("provenance", false, "also check "+provenance.FileName+": signed by a --key, and its subjects are this build's files with their sha256")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(keys) == 0 {
		return usagef("want one build directory and at least one --key")
	}
	var trusted []signing.PublicKey
	for _, p := range keys {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		k, err := signing.ParsePublicKey(p, b)
		if err != nil {
			return err
		}
		trusted = append(trusted, k)
	}
	k, err := signing.VerifyDir(ctx, pos[0], trusted)
	if err != nil {
		return exitError{1, fmt.Errorf("%s: %w", pos[0], err)}
	}
	fmt.Fprintf(e.Stdout, "%s: signature by key %s is good, and every artifact matches the manifest\n", pos[0], k.ID())
	if !*prov {
		return nil
	}
	r, err := provenance.VerifyDir(ctx, pos[0], trusted)
	if err != nil {
		return exitError{1, fmt.Errorf("provenance: %w", err)}
	}
	fmt.Fprintf(e.Stdout, "%s: provenance signed by key %s is good: %d subjects (manifest.json and every artifact) match, built by %s from recipe sha256:%s\n",
		pos[0], r.Key.ID(), len(r.Statement.Subject), builderOf(r.Statement), r.Statement.Predicate.BuildDefinition.ExternalParameters.Recipe.Digest["sha256"])
	return nil
}

// builderOf names the builder of a statement: its id's last part and
// version.
func builderOf(s *provenance.Statement) string {
	b := s.Predicate.RunDetails.Builder
	if v := b.Version["turbo-image"]; v != "" {
		return "turbo-image " + v
	}
	return "turbo-image"
}

// agentToken is the update agent's token: --token-file, else --token,
// else $TURBO_TOKEN.
func agentToken(e *Env, token, tokenFile, what string) (string, error) {
	tok := token
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", err
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		tok = e.Getenv("TURBO_TOKEN")
	}
	if tok == "" {
		return "", usagef("%s needs --token, --token-file or $TURBO_TOKEN", what)
	}
	return tok, nil
}
