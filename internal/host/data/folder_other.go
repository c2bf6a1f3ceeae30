//go:build !linux

package data

import (
	"context"
	"errors"
	"io"

	"github.com/turbo-image/turbo-image/internal/host/jail"
)

// ImportFolder is Linux-only: jails are Linux namespaces.
func ImportFolder(ctx context.Context, archive io.Reader, dir string, o ImportOptions) (Source, Stats, error) {
	return Source{}, Stats{}, errors.New("importing into a jail's data folder needs Linux (jails are Linux namespaces)")
}

// Scrub is Linux-only: the scrub program runs in a jail.
func Scrub(ctx context.Context, spec ScrubSpec) (Source, Stats, error) {
	return Source{}, Stats{}, errors.New("data scrub needs Linux (the scrub program runs in a jail, made of Linux namespaces)")
}

// ScrubSpec is what Scrub needs (see the Linux build).
type ScrubSpec struct {
	Archive  io.Reader
	Out      string
	Root     string
	Argv     []string
	User     jail.User
	Hostname string
	TempDir  string
	Jail     jail.Options
}
