//go:build !linux

package data

import (
	"context"
	"errors"
	"io"
)

// ImportFolder is Linux-only: jails are Linux namespaces.
func ImportFolder(ctx context.Context, archive io.Reader, dir string, o ImportOptions) (Source, Stats, error) {
	return Source{}, Stats{}, errors.New("importing into a jail's data folder needs Linux (jails are Linux namespaces)")
}
