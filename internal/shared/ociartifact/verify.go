package ociartifact

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// VerifyBlob returns rc checked as it streams against the descriptor d of
// a blob from registry (named in errors): never more than d.Size bytes,
// not fewer, and the sha256 of d.Digest, checked with the last byte so
// that a reader stopping at the size it expects sees the error. The
// error for other bytes says the registry's copy was altered.
func VerifyBlob(rc io.ReadCloser, d ocispec.Descriptor, registry string) io.ReadCloser {
	return &verifier{rc: rc, want: d, h: sha256.New(), registry: registry}
}

// verifier is VerifyBlob's reader.
type verifier struct {
	rc       io.ReadCloser
	want     ocispec.Descriptor
	h        hash.Hash
	n        int64
	registry string
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.n >= v.want.Size {
		var one [1]byte
		if k, _ := v.rc.Read(one[:]); k > 0 {
			return 0, fmt.Errorf("registry %s: blob %s is longer than its %d bytes: refusing it", v.registry, v.want.Digest, v.want.Size)
		}
		if got := digest.NewDigestFromBytes(digest.SHA256, v.h.Sum(nil)); got != v.want.Digest {
			return 0, fmt.Errorf("registry %s: blob %s has digest %s: its bytes in the registry were altered; refusing it", v.registry, v.want.Digest, got)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > v.want.Size-v.n {
		p = p[:v.want.Size-v.n]
	}
	k, err := v.rc.Read(p)
	v.h.Write(p[:k])
	v.n += int64(k)
	if v.n == v.want.Size {
		// The last byte: check now, so the error reaches a reader that
		// stops at the size it expects.
		if got := digest.NewDigestFromBytes(digest.SHA256, v.h.Sum(nil)); got != v.want.Digest {
			return k, fmt.Errorf("registry %s: blob %s has digest %s: its bytes in the registry were altered; refusing it", v.registry, v.want.Digest, got)
		}
	}
	if err == io.EOF {
		if v.n < v.want.Size {
			return k, fmt.Errorf("registry %s: blob %s ended after %d of %d bytes: %w", v.registry, v.want.Digest, v.n, v.want.Size, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	if err != nil {
		return k, fmt.Errorf("registry %s: blob %s: %w", v.registry, v.want.Digest, err)
	}
	return k, nil
}

func (v *verifier) Close() error { return v.rc.Close() }
