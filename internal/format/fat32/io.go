package fat32

import "io"

// Device is what a volume lives on: offsets are relative to the start of
// the volume (a partition of a disk image, a block device, memory). When
// it has a Sync() error method, FS.Sync calls it.
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// readFull reads exactly len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// writeFull writes b at off.
func writeFull(w io.WriterAt, b []byte, off int64) error {
	n, err := w.WriteAt(b, off)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}
