package qemutests

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/registry"
	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// TestFleetFollowsChannel boots three appliances that follow the channel
// "prod" of one real registry (CNCF Distribution on the host; the guests
// reach it through QEMU's user network at 10.0.2.2). Promoting v2 to prod
// brings all three to v2, each reporting the same build digest; promoting
// a v3 whose service is never healthy makes each try it and roll back to
// v2 by itself, and not try it again. Three guests at once under TCG on
// two shared cores take 30-60 s to boot: the trial deadline is 150 s.
func TestFleetFollowsChannel(t *testing.T) {
	setup(t)
	reg := registrytest.Start(t, registrytest.Config{})
	port := reg.Host[strings.LastIndex(reg.Host, ":")+1:]
	prod, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	canary, _ := signing.GenerateKey(nil)
	files := map[string][]byte{"prod.pub": prod.Public().MarshalText(), "canary.pub": canary.Public().MarshalText()}
	upd := `update:
  settle: 1s
  trial_deadline: 150s
  channels: {prod: [prod.pub], canary: [canary.pub]}
  follow: {ref: "10.0.2.2:` + port + `/acme/hello", channel: prod, interval: 1s, plain_http: true}
`
	good := helloRecipe(t, goodHealth, "", upd, files)
	bad := helloRecipe(t, "http://127.0.0.1:9999/healthz", "", upd, files)
	v1 := buildOnce(t, good)
	v2 := buildOnce(t, good, "--version", "1.0.1")
	v3 := buildOnce(t, bad, "--version", "1.0.2")

	ctx := context.Background()
	repo := reg.Host + "/acme/hello"
	refs := map[string]string{}
	for v, dir := range map[string]string{"1.0.0": v1, "1.0.1": v2, "1.0.2": v3} {
		start := time.Now()
		r, err := registry.Push(ctx, dir, repo+":"+v, registry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("push %s: %d layers, %.1f MiB uploaded of %.1f MiB, in %v", v, r.Layers, float64(r.Uploaded)/(1<<20), float64(r.Bytes)/(1<<20), time.Since(start).Round(time.Millisecond))
		refs[v] = repo + "@" + r.Digest.String()
	}
	promote := func(v, channel string) time.Time {
		t.Helper()
		k := prod
		if channel == "canary" {
			k = canary
		}
		start := time.Now()
		if _, err := registry.Promote(ctx, refs[v], channel, k, registry.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("promote %s to %s: %v", v, channel, time.Since(start).Round(time.Millisecond))
		return start
	}
	promote("1.0.0", "prod")
	promote("1.0.0", "canary")

	// Appliance 0 is the canary: the same image, provisioned with
	// `channel set DISK canary` (a file on its ESP, which a disk booted
	// through its boot entries reads as any other: no per-machine
	// kernel command line).
	const n = 3
	vms := make([]*vm, n)
	for i := range vms {
		disk := copyDisk(t, v1)
		if i == 0 {
			if r := turbo(t, ctx, "channel", "set", disk, "canary"); r.code != 0 {
				t.Fatalf("channel set: %s", r)
			}
		}
		vms[i] = startVM(t, disk, "--boot", "disk", "--max-boots", "8", "--memory", "256", "--timeout", "1700s")
	}
	each := func(what string, fn func(i int, v *vm)) {
		t.Helper()
		var wg sync.WaitGroup
		for i, v := range vms {
			if what == "canary" && i != 0 || what == "prod" && i == 0 {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); fn(i, v) }()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("all %d: %s", n, what)
	}
	// Goroutines cannot t.Fatal: they report through t.Errorf.
	var mu sync.Mutex
	expect := func(i int, v *vm, timeout time.Duration, res ...string) [][]string {
		m, err := v.expectAll(timeout, res...)
		if err != nil {
			mu.Lock()
			t.Errorf("appliance %d: %v\nconsole:\n%s", i, err, v.console())
			mu.Unlock()
		}
		return m
	}
	each("ready on 1.0.0 and up to date", func(i int, v *vm) {
		ch, from := "prod", "update.follow.channel"
		if i == 0 {
			ch, from = "canary", "the ESP file turbo/channel"
		}
		expect(i, v, 3*bootTimeout, `TURBO_READY name=hello version=1\.0\.0 slot=a build=sha256:[0-9a-f]{64}`,
			`follow: channel .*:`+ch+` \(from `+from+`\)`,
			`follow: .*:`+ch+` holds 1\.0\.0 .*which runs here`)
	})

	v2m, _, err := manifest.Load(v2)
	if err != nil {
		t.Fatal(err)
	}
	want2, _ := v2m.BuildDigest()
	ready := make([]time.Duration, n)
	var start time.Time
	onV2 := func(i int, v *vm) {
		k, ch := prod, "prod"
		if i == 0 {
			k, ch = canary, "canary"
		}
		expect(i, v, 3*bootTimeout, `follow: hello 1\.0\.1 .*signed for `+ch+` by key `+k.Public().ID())
		expect(i, v, 3*bootTimeout, `TURBO_TRIAL slot=b version=1\.0\.1`)
		m := expect(i, v, 3*bootTimeout, `TURBO_READY name=hello version=1\.0\.1 slot=b build=(sha256:[0-9a-f]{64})`)
		ready[i] = time.Since(start)
		if m != nil && m[0] != nil && m[0][1] != want2 {
			mu.Lock()
			t.Errorf("appliance %d runs build=%s, the promoted build is %s", i, m[0][1], want2)
			mu.Unlock()
		}
		expect(i, v, 2*bootTimeout, `TURBO_BLESSED slot=b version=1\.0\.1`)
	}
	// The canary first: only appliance 0 moves.
	start = promote("1.0.1", "canary")
	each("canary", onV2)
	t.Logf("promote 1.0.1 to canary -> canary ready on 1.0.1: %v", ready[0])
	for i := 1; i < n; i++ {
		if c := vms[i].console(); strings.Contains(c, "follow: hello 1.0.1") || strings.Contains(c, "version=1.0.1") {
			t.Fatalf("appliance %d follows prod but took the canary's 1.0.1:\n%s", i, c)
		}
	}
	start = promote("1.0.1", "prod")
	each("prod", onV2)
	t.Logf("promote 1.0.1 to prod -> TURBO_READY on 1.0.1: %v (both: %v); build=%s on all three", ready[1:], slicesMax(ready[1:]), want2)

	promote("1.0.2", "canary")
	start = promote("1.0.2", "prod")
	each("tried 1.0.2, rolled back to 1.0.1, not retried", func(i int, v *vm) {
		expect(i, v, 3*bootTimeout, `TURBO_TRIAL slot=a version=1\.0\.2`)
		expect(i, v, 4*bootTimeout, `TURBO_ROLLBACK from=a version=1\.0\.2`)
		expect(i, v, 3*bootTimeout, `TURBO_READY name=hello version=1\.0\.1 slot=b build=`+want2,
			`follow: refused: .*version 1\.0\.2 failed its trial on this appliance`)
		ready[i] = time.Since(start)
	})
	t.Logf("promote 1.0.2 (unhealthy) -> back on 1.0.1: %v", ready)
	for _, v := range vms {
		v.stop()
	}
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// expectAll reads console lines until each of res has matched a line (in
// any order: the follower's first poll and TURBO_READY race) and returns
// the submatches in the order of res.
func (v *vm) expectAll(timeout time.Duration, res ...string) ([][]string, error) {
	rxs := make([]*regexp.Regexp, len(res))
	for i, re := range res {
		rxs[i] = regexp.MustCompile(re)
	}
	out := make([][]string, len(res))
	left := len(res)
	deadline := time.After(timeout)
	for left > 0 {
		l, err := v.nextLine(deadline)
		switch {
		case errors.Is(err, errConsoleEnded):
			return out, fmt.Errorf("VM ended before %q appeared", res)
		case err != nil:
			return out, fmt.Errorf("not all of %q within %v", res, timeout)
		}
		for i, rx := range rxs {
			if out[i] == nil {
				if m := rx.FindStringSubmatch(l); m != nil {
					out[i] = m
					left--
				}
			}
		}
	}
	return out, nil
}
