// Package turboimage holds the files the turbo-image binary embeds at build
// time (see embed.go). deps.go pins the project's chosen dependencies while
// the packages that use them are being written.
package turboimage

import (
	_ "github.com/cavaliergopher/cpio"
	_ "github.com/diskfs/go-diskfs"
	_ "github.com/diskfs/go-diskfs/filesystem/fat32"
	_ "github.com/diskfs/go-diskfs/filesystem/squashfs"
	_ "github.com/diskfs/go-diskfs/partition/gpt"
	_ "github.com/hashicorp/go-multierror"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/pierrec/lz4/v4"
	_ "github.com/u-root/u-root/pkg/dhclient"
	_ "golang.org/x/sys/unix"
	_ "gopkg.in/yaml.v3"
)
