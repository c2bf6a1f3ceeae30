// Package ctxio makes long reads stop when their context is done: a copy
// of a large file, an archive or a network body checks the context before
// every read, so ctrl-C ends it within one read.
package ctxio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Reader returns a reader that fails with ctx's error once ctx is done;
// it is checked before every read of r.
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// FileSHA256 returns the hex SHA-256 of the file at path, reading it
// through Reader; errors name the path.
func FileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, Reader(ctx, f)); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
