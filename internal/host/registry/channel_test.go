package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/turbo-image/turbo-image/internal/host/registry/registrytest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

func testKey(t *testing.T, b byte) signing.PrivateKey {
	t.Helper()
	k, err := signing.GenerateKey(strings.NewReader(strings.Repeat(string(rune('A'+b)), 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// refused checks a refused pull: the error wraps ErrNotInChannel (unless
// notIn is false) and names every want, and out was not created, nor
// anything next to it.
func refused(t *testing.T, err error, out string, notIn bool, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("pull into %s was not refused", out)
	}
	if notIn && !errors.Is(err, ErrNotInChannel) {
		t.Fatalf("refusal does not wrap ErrNotInChannel: %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("refusal does not say %q: %v", w, err)
		}
	}
	t.Logf("user sees: %v", err)
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("refused pull created %s", out)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("refused pull left %s", e.Name())
		}
	}
}

// TestChannels: promote one build to "at" and then "prod" in a real
// registry (CNCF Distribution 2.8, which has no referrers API: the
// signatures go through the referrers tag schema), pull both channels into
// identical folders, list the channels, and refuse every build that is not
// signed for the channel asked for.
func TestChannels(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "build")
	fakeBuild(t, src, 1)
	repo := reg.Host + "/acme/hello"
	p, err := Push(ctx, src, repo+":1.0.1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	atKey, prodKey, otherKey := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	atPub, prodPub, otherPub := atKey.Public(), prodKey.Public(), otherKey.Public()

	// Before any promote: not in the channel.
	out := filepath.Join(root, "pulled", "x")
	os.MkdirAll(filepath.Dir(out), 0o755)
	_, err = PullChannel(ctx, repo+":1.0.1", out, "at", []signing.PublicKey{atPub}, Options{})
	refused(t, err, out, true, "no channel signatures", `"at"`)

	start := time.Now()
	r1, err := Promote(ctx, repo+"@"+p.Digest.String(), "at", atKey, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("promote to at: %s", time.Since(start))
	start = time.Now()
	r2, err := Promote(ctx, repo+":at", "prod", prodKey, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("promote at to prod: %s", time.Since(start))
	if r1.Digest != p.Digest || r2.Digest != p.Digest || r1.Previous != "" || r2.Previous != "" || r1.KeyID != atPub.ID() {
		t.Fatalf("promotes: %+v %+v, pushed %s", r1, r2, p.Digest)
	}
	// Promoting again changes nothing: same signature, no second one.
	r3, err := Promote(ctx, repo+":at", "prod", prodKey, Options{})
	if err != nil || r3.Signature != r2.Signature || r3.Previous != p.Digest {
		t.Fatalf("second promote: %+v %v (first %+v)", r3, err, r2)
	}
	// The registry has no referrers API: the fallback tag holds the index.
	var tags []string
	r, err := open(ctx, repo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tags(ctx, "", func(p []string) error { tags = append(tags, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	fallback := "sha256-" + p.Digest.Encoded()
	if !slices.Contains(tags, fallback) || !slices.Contains(tags, "at") || !slices.Contains(tags, "prod") {
		t.Fatalf("tags %v: want at, prod and %s", tags, fallback)
	}

	// :at and :prod are the same bytes as the build.
	outAt, outProd := filepath.Join(root, "at"), filepath.Join(root, "prod")
	ra, err := PullChannel(ctx, repo+":at", outAt, "at", []signing.PublicKey{atPub}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := PullChannel(ctx, repo+":prod", outProd, "prod", []signing.PublicKey{otherPub, prodPub}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ra.Digest != p.Digest || rp.Digest != p.Digest || ra.Channel.Key.ID() != atPub.ID() || rp.Channel.Key.ID() != prodPub.ID() {
		t.Fatalf("pulls: %+v %+v", ra, rp)
	}
	sameFolder(t, outAt, outProd)
	sameFolder(t, src, outAt)

	// channels lists both, verified with the keys given, key ids without.
	chans, err := Channels(ctx, repo, []signing.PublicKey{atPub, prodPub}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 2 || chans[0].Name != "at" || chans[1].Name != "prod" {
		t.Fatalf("channels: %+v", chans)
	}
	for _, c := range chans {
		if c.Err != nil || c.Build.Digest != p.Digest || c.Build.Manifest.Version != "1.0.1" || len(c.Build.Sigs) != 2 {
			t.Fatalf("channel %s: %+v %v", c.Name, c.Build, c.Err)
		}
		for i, want := range []signing.PublicKey{atPub, prodPub} {
			s := c.Build.Sigs[i]
			if !s.Verified || s.Err != nil || s.Key.ID() != want.ID() || s.Statement.Channel != []string{"at", "prod"}[i] {
				t.Fatalf("channel %s signature %d: %+v", c.Name, i, s)
			}
		}
	}
	unverified, err := Channels(ctx, repo, nil, Options{})
	if err != nil || len(unverified) != 2 || unverified[0].Build.Sigs[1].Sig.KeyID != prodPub.ID() || unverified[0].Build.Sigs[1].Verified {
		t.Fatalf("channels without keys: %+v %v", unverified, err)
	}

	// Refusals.
	// Unsigned: a second build, never promoted.
	src2 := filepath.Join(root, "build2")
	fakeBuild(t, src2, 2)
	p2, err := Push(ctx, src2, repo+":1.0.2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = PullChannel(ctx, repo+":1.0.2", out, "prod", []signing.PublicKey{prodPub}, Options{})
	refused(t, err, out, true, "no channel signatures", `"prod"`, p2.Digest.String())
	// Signed for another channel: at only, asked for prod, even when the
	// at key is trusted.
	if _, err := Promote(ctx, repo+":1.0.2", "at", atKey, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]signing.PublicKey{{prodPub}, {atPub, prodPub}} {
		_, err = PullChannel(ctx, repo+":at", out, "prod", keys, Options{})
		refused(t, err, out, true, `signed for channel "at"`, `channel "prod"`)
	}
	// An at signature replayed as prod: the statement says prod, the
	// signature is the at one.
	stmtAt, _ := signing.MarshalStatement(signing.Statement{Schema: signing.StatementSchema, Digest: p2.Digest.String(), Name: "hello", Version: "1.0.1", Channel: "at"})
	sigAt, err := signing.SignStatement(atKey, stmtAt)
	if err != nil {
		t.Fatal(err)
	}
	stmtProd := []byte(strings.Replace(string(stmtAt), `"channel":"at"`, `"channel":"prod"`, 1))
	sf, _ := signing.MarshalSignatures([]signing.Signature{sigAt})
	r2repo, _ := open(ctx, repo+":1.0.2", Options{})
	_, _, raw2, err := r2repo.fetchPlanBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subj2 := descOfManifest(p2.Digest, raw2)
	if _, err := r2repo.pushChannelSig(ctx, subj2, stmtProd, sf, map[string]string{AnnotationChannel: "prod", AnnotationKeyID: sigAt.KeyID}); err != nil {
		t.Fatal(err)
	}
	_, err = PullChannel(ctx, repo+":1.0.2", out, "prod", []signing.PublicKey{atPub}, Options{})
	refused(t, err, out, true, "does not match", `"prod"`)

	// Wrong key: v1 is signed for prod, but not by the key given.
	_, err = PullChannel(ctx, repo+":prod", out, "prod", []signing.PublicKey{otherPub}, Options{})
	refused(t, err, out, true, prodPub.ID(), otherPub.ID(), `"prod"`)

	// A tampered signature blob in the registry's storage.
	stmt, _ := signing.MarshalStatement(signing.Statement{Schema: signing.StatementSchema, Digest: p.Digest.String(), Name: "hello", Version: "1.0.1", Channel: "prod"})
	sig, _ := signing.SignStatement(prodKey, stmt)
	sigFile, _ := signing.MarshalSignatures([]signing.Signature{sig})
	blob := digest.FromBytes(sigFile).Encoded()
	data := filepath.Join(reg.Storage, "docker/registry/v2/blobs/sha256", blob[:2], blob, "data")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(b)
	b[len(b)-10] ^= 0x01
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = PullChannel(ctx, repo+":prod", out, "prod", []signing.PublicKey{prodPub}, Options{})
	refused(t, err, out, true, "altered", `"prod"`)
	os.WriteFile(data, orig, 0o644)

	// None of the refusals moved a tag.
	for tag, want := range map[string]digest.Digest{"prod": p.Digest, "at": p2.Digest, "1.0.1": p.Digest, "1.0.2": p2.Digest} {
		d, err := r.Resolve(ctx, tag)
		if err != nil || d.Digest != want {
			t.Fatalf("tag %s: %s %v, want %s", tag, d.Digest, err, want)
		}
	}
	// And the untouched build still pulls.
	if _, err := PullChannel(ctx, repo+":prod", out, "prod", []signing.PublicKey{prodPub}, Options{}); err != nil {
		t.Fatal(err)
	}
	sameFolder(t, src, out)
}

func TestPromoteRefusesBadChannel(t *testing.T) {
	for _, c := range []string{"", "Prod", "1.0.1", "sha256-abc"} {
		if _, err := Promote(context.Background(), "127.0.0.1:1/acme/hello:1", c, testKey(t, 0), Options{}); err == nil || !strings.Contains(err.Error(), "channel") {
			t.Errorf("channel %q: %v", c, err)
		}
	}
}
