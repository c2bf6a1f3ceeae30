package data

import (
	"context"
	"io"

	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// List reads an archive and calls fn with every member, checked as import
// checks it (a hostile member stops the listing with its error). Nothing
// is written anywhere.
func List(ctx context.Context, r io.Reader, lim Limits, fn func(*Entry) error) (Source, error) {
	if lim.Entries == 0 {
		lim = DefaultLimits
	}
	return readArchive(ctxio.Reader(ctx, r), lim, nil, func(e *Entry, body io.Reader) error {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		return fn(e)
	})
}
