package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
)

// measureRegistry is row 7c: the bench's hello build through a real CNCF
// Distribution (Debian's docker-registry) on 127.0.0.1, a fresh registry
// per run. Host wall is the cold push (into an empty registry); the notes
// give the bytes and medians of the cold push, a push of v2 (another
// version of the same recipe) after it, and a cold pull. A missing
// docker-registry makes the row an error that says so.
func (b *bench) measureRegistry(ctx context.Context, rr *rowRun, runs int, v1 string) error {
	r := rr.row
	r.Title = "registry: push, push of v2 after v1, pull (hello)"
	r.Machine = "host"
	r.Boot = "`turbo-image push` of row 1's build into an empty CNCF Distribution 2.8 (Debian's docker-registry) on 127.0.0.1, plain HTTP, a fresh registry per run; host wall is that cold push. Then a push of the same recipe built with --version 0.0.2-bench (v2: only unchanged layers are skipped) and a cold `pull` of v1 into an empty folder."
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return errors.New("docker-registry is not installed (Debian package docker-registry, scripts/deps.sh): registry row not measured")
	}
	v2 := filepath.Join(b.tmp, "hello-v2")
	if _, err := b.buildTurbo(ctx, helloRecipe, v2, nil, "-q", "--version", "0.0.2-bench"); err != nil {
		return fmt.Errorf("v2 build: %w", err)
	}
	var push, push2, pull []float64
	var bytes, up2, bytes2, pulled int64
	var skipped2 int
	for i := range runs {
		dir := filepath.Join(b.tmp, fmt.Sprintf("registry-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		reg, err := registrytest.Serve(bin, dir, "")
		if err != nil {
			return err
		}
		err = func() error {
			defer reg.Kill()
			repo := reg.Host + "/bench/hello"
			start := time.Now()
			p1, err := registry.Push(ctx, v1, repo+":1", registry.Options{})
			if err != nil {
				return fmt.Errorf("push: %w", err)
			}
			push = append(push, ms(time.Since(start)))
			start = time.Now()
			p2, err := registry.Push(ctx, v2, repo+":2", registry.Options{})
			if err != nil {
				return fmt.Errorf("push v2: %w", err)
			}
			push2 = append(push2, ms(time.Since(start)))
			start = time.Now()
			pr, err := registry.Pull(ctx, repo+"@"+p1.Digest.String(), filepath.Join(dir, "pulled"), registry.Options{})
			if err != nil {
				return fmt.Errorf("pull: %w", err)
			}
			pull = append(pull, ms(time.Since(start)))
			bytes, up2, bytes2, skipped2, pulled = p1.Uploaded, p2.Uploaded, p2.Bytes, p2.Skipped, pr.Bytes
			return nil
		}()
		if err != nil {
			return err
		}
	}
	rr.wall = push
	med := func(x []float64) string {
		s, _ := Summarize(x)
		return fmt.Sprintf("%.0f ms", s.Median)
	}
	r.Notes = append(r.Notes,
		fmt.Sprintf("Cold push: %s uploaded, median %s.", mib(bytes), med(push)),
		fmt.Sprintf("Push of v2 after v1: %s uploaded of %s (%d layer(s) already in the registry, %.0f%% of the bytes sent), median %s.", mib(up2), mib(bytes2), skipped2, 100*float64(up2)/float64(max(bytes2, 1)), med(push2)),
		fmt.Sprintf("Cold pull: %s fetched, every digest checked, median %s.", mib(pulled), med(pull)),
		"A fleet update (promote to N appliances ready on the new build) is row 7e.")
	r.Commands = append(r.Commands, "turbo-image push "+b.vars.word(v1)+" 127.0.0.1:PORT/bench/hello:1",
		"turbo-image push "+b.vars.word(v2)+" 127.0.0.1:PORT/bench/hello:2",
		"turbo-image pull 127.0.0.1:PORT/bench/hello@sha256:… -o pulled")
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
