package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
	"github.com/turbo-image/turbo-image/internal/shared/signing"
)

// ErrMissing is wrapped when a build folder has no provenance file.
var ErrMissing = errors.New("the build has no provenance")

// Read reads and parses the envelope of a build folder.
func Read(ctx context.Context, dir string) (*Envelope, []byte, error) {
	p := filepath.Join(dir, FileName)
	data, err := manifest.ReadRegular(ctx, p, MaxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w (no %s; builds by this turbo-image write one: build it again, then sign it)", dir, ErrMissing, FileName)
	}
	if err != nil {
		return nil, nil, err
	}
	e, err := ParseEnvelope(p, data)
	if err != nil {
		return nil, nil, err
	}
	return e, data, nil
}

// CheckSubjects checks that the statement is about the build whose
// manifest.json is d: its subjects are exactly manifest.json and the
// manifest's artifacts, with the same sha256. It does not read the
// artifacts (Dir.Verify does).
func CheckSubjects(s *Statement, d *manifest.Dir) error {
	return CheckSubjectsOf(s, d.Manifest, manifest.Digest(manifest.FileName, d.Bytes).SHA256)
}

// CheckSubjectsOf is CheckSubjects for a manifest m whose bytes have the
// sha256 mSHA256 (a registry's manifest.json layer digest, say).
func CheckSubjectsOf(s *Statement, m *manifest.Manifest, mSHA256 string) error {
	want := map[string]string{manifest.FileName: mSHA256}
	for _, a := range m.Artifacts {
		want[a.Name] = a.SHA256
	}
	var errs []string
	for _, r := range s.Subject {
		w, ok := want[r.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("subject %s is not a file of this build", r.Name))
		case w != r.Digest["sha256"]:
			errs = append(errs, fmt.Sprintf("subject %s has sha256 %s, this build's %s has %s", r.Name, r.Digest["sha256"], r.Name, w))
		}
		delete(want, r.Name)
	}
	missing := make([]string, 0, len(want))
	for n := range want {
		missing = append(missing, n)
	}
	slices.Sort(missing)
	for _, n := range missing {
		errs = append(errs, fmt.Sprintf("%s of this build is not a subject", n))
	}
	if n := len(errs); n > 3 {
		errs = append(errs[:3], fmt.Sprintf("and %d more", n-3))
	}
	if len(errs) > 0 {
		return fmt.Errorf("the provenance is not about this build: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Open parses envelope bytes and checks, without any key, that they hold
// a turbo-image provenance statement about the build whose manifest is m
// (its bytes' sha256 mSHA256). The signatures are not checked: use it to
// show what a registry holds, never to trust it (Check does that).
func Open(name string, data []byte, m *manifest.Manifest, mSHA256 string) (*Envelope, *Statement, error) {
	e, err := ParseEnvelope(name, data)
	if err != nil {
		return nil, nil, err
	}
	s, err := ParseStatement(e.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if bt := s.Predicate.BuildDefinition.BuildType; bt != BuildType {
		return nil, nil, fmt.Errorf("%s: buildType %q: not a turbo-image build's provenance (want %s)", name, bt, BuildType)
	}
	if err := CheckSubjectsOf(s, m, mSHA256); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return e, s, nil
}

// Result is a verified provenance.
type Result struct {
	Key       signing.PublicKey
	Statement *Statement
	Envelope  *Envelope
}

// Check verifies envelope bytes against the trusted keys and the build d
// (its manifest.json; the artifacts are not read): a trusted key's DSSE
// signature over the statement, the statement well formed, of our build
// type, and its subjects exactly this build's files.
func Check(name string, data []byte, d *manifest.Dir, trusted []signing.PublicKey) (*Result, error) {
	e, err := ParseEnvelope(name, data)
	if err != nil {
		return nil, err
	}
	k, err := signing.VerifyDSSE(e.PayloadType, e.Payload, e.Signatures, trusted)
	if errors.Is(err, signing.ErrDSSEUnsigned) {
		return nil, fmt.Errorf("%s: %w (sign the build: turbo-image sign %s --key KEY)", name, err, d.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s, err := ParseStatement(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if bt := s.Predicate.BuildDefinition.BuildType; bt != BuildType {
		return nil, fmt.Errorf("%s: buildType %q: not a turbo-image build's provenance (want %s)", name, bt, BuildType)
	}
	if err := CheckSubjects(s, d); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Result{Key: k, Statement: s, Envelope: e}, nil
}

// VerifyDir checks a build folder's provenance (see Check) and then every
// subject's bytes: manifest.json as read, and each artifact hashed from
// the folder, so an altered artifact is named as such.
func VerifyDir(ctx context.Context, dir string, trusted []signing.PublicKey) (*Result, error) {
	d, err := manifest.ReadDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	_, data, err := Read(ctx, dir)
	if err != nil {
		return nil, err
	}
	res, err := Check(filepath.Join(dir, FileName), data, d, trusted)
	if err != nil {
		return nil, err
	}
	for _, a := range d.Manifest.Artifacts {
		got, err := hashFile(ctx, filepath.Join(dir, a.Name))
		if err != nil {
			return nil, fmt.Errorf("%s: subject %s: %w", dir, a.Name, err)
		}
		if got != a.SHA256 {
			return nil, fmt.Errorf("%s: %s has sha256 %s, the signed provenance says %s: the file was altered", dir, a.Name, got, a.SHA256)
		}
	}
	return res, nil
}

func hashFile(ctx context.Context, path string) (string, error) {
	f, _, err := manifest.OpenRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxio.Reader(ctx, f)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SignDir adds k's signature to the provenance of the build folder dir
// (checked with manifest.LoadDir first; the statement must be about it)
// and writes the file atomically. It returns ErrMissing (wrapped) when the
// folder has no provenance. The file is not rewritten when it would not
// change.
func SignDir(ctx context.Context, dir string, k signing.PrivateKey) error {
	d, err := manifest.LoadDir(ctx, dir)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	e, old, err := Read(ctx, dir)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	p := filepath.Join(dir, FileName)
	s, err := ParseStatement(e.Payload)
	if err != nil {
		return fmt.Errorf("sign: %s: %w", p, err)
	}
	if err := CheckSubjects(s, d); err != nil {
		return fmt.Errorf("sign: %s: %w", p, err)
	}
	ne, err := e.AddSignature(k)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	out, err := ne.Marshal()
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if bytes.Equal(out, old) {
		return nil
	}
	if err := atomicfile.WriteFile(p, out, 0o644); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return nil
}
