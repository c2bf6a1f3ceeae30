package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"go.etcd.io/etcd/server/v3/storage/wal"
)

func main() {
	// The benchmark's member keeps its data in /tmp, a tmpfs in a 256 MiB
	// guest. etcd preallocates each 64 MB WAL segment and the next one
	// ahead of need (storage/wal/file_pipeline.go), 128 MB of RAM that
	// filled the tmpfs in the app-as-init floor row (ENOSPC, then etcd's
	// fatal exit). An appliance with little RAM sets smaller segments, as
	// here; the start-up path measured is the same.
	wal.SegmentSizeBytes = 8 * 1000 * 1000
	etcdmain.Main(os.Args)
}
