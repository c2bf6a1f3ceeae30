// Package boltapp is the continuous writer of the data round-trip test
// (qemu-tests TestDataBoltRoundTrip, issue 13): a bbolt database
// (go.etcd.io/bbolt, pure Go, B+tree pages with a copy-on-write commit)
// that one transaction after another grows. Each transaction increments
// the counter in bucket "meta" and appends record number counter to
// bucket "records", holding a personal e-mail address and filler. So a
// consistent copy has counter == number of records == the last key, and
// bbolt's own Check (tx.Check: every page reachable once, no page both
// used and free) passes; a copy taken while a commit is half on disk has
// pages of two different transactions and, as a rule, fails one of them.
//
// Scrub masks the addresses the way a real scrub must: by writing a new
// compacted file (bbolt keeps overwritten values in free pages, so an
// in-place rewrite would leave every address readable in the file).
package boltapp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta    = []byte("meta")
	bucketRecords = []byte("records")
	keyCounter    = []byte("counter")
	keyScrubbed   = []byte("scrubbed")
)

// recordSize is a record's size: about one 4 KiB page each, so a few
// hundred commits make a file of several MiB that the agent reads in
// several 1 MiB steps (a copy in one read would rarely be torn).
const recordSize = 4000

// Domain is the e-mail domain of the personal data; Masked replaces it.
const (
	Domain = "@example.com"
	Masked = "@masked.invalid"
)

// Summary is what Check found.
type Summary struct {
	Counter, Records uint64
	// Scrubbed is the number of records Scrub masked (0: not scrubbed);
	// Unmasked counts the records still holding a Domain address.
	Scrubbed, Unmasked uint64
}

func (s Summary) String() string {
	return fmt.Sprintf("counter=%d records=%d scrubbed=%d unmasked=%d", s.Counter, s.Records, s.Scrubbed, s.Unmasked)
}

func key(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// record is record n's value: an address and filler to recordSize bytes,
// letters from a generator seeded with n (the same every run, and as
// hard to compress as real notes, so the export moves real bytes).
func record(n uint64) []byte {
	v := fmt.Appendf(nil, "id=%d email=user-%d%s note=", n, n, Domain)
	x := n*0x9E3779B97F4A7C15 | 1
	for len(v) < recordSize {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v = append(v, 'a'+byte(x%26))
	}
	return v
}

// Open opens path (read-only when ro), waiting at most 5 s for its lock.
func Open(path string, ro bool) (*bolt.DB, error) {
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: ro})
}

// Step commits one transaction: counter+1 and its record.
func Step(db *bolt.DB) (uint64, error) {
	var n uint64
	err := db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		r, err := tx.CreateBucketIfNotExists(bucketRecords)
		if err != nil {
			return err
		}
		if v := m.Get(keyCounter); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		n++
		if err := r.Put(key(n), record(n)); err != nil {
			return err
		}
		return m.Put(keyCounter, key(n))
	})
	return n, err
}

// Check runs bbolt's page check and the counter invariant on db and
// summarises it; the error names what is wrong. bbolt trusts page
// headers and may panic on a damaged page: that is an error here.
func Check(db *bolt.DB) (s Summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("bbolt check: %w", errors.Join(errs...))
		}
		m, r := tx.Bucket(bucketMeta), tx.Bucket(bucketRecords)
		if m == nil || r == nil {
			return errors.New("no meta or records bucket")
		}
		if v := m.Get(keyCounter); len(v) == 8 {
			s.Counter = binary.BigEndian.Uint64(v)
		} else {
			return fmt.Errorf("counter is %d bytes", len(v))
		}
		if v := m.Get(keyScrubbed); v != nil {
			s.Scrubbed, _ = strconv.ParseUint(string(v), 10, 64)
		}
		want := uint64(1)
		err := r.ForEach(func(k, v []byte) error {
			if len(k) != 8 || binary.BigEndian.Uint64(k) != want {
				return fmt.Errorf("record %d has key %x", want, k)
			}
			if !bytes.HasPrefix(v, fmt.Appendf(nil, "id=%d email=user-%d@", want, want)) {
				return fmt.Errorf("record %d holds %.40q", want, v)
			}
			if bytes.Contains(v, []byte(Domain)) {
				s.Unmasked++
			}
			want++
			return nil
		})
		s.Records = want - 1
		if err != nil {
			return err
		}
		if s.Records != s.Counter {
			return fmt.Errorf("counter %d but %d records", s.Counter, s.Records)
		}
		return nil
	})
	return s, err
}

// CheckFile opens path read-only and Checks it.
func CheckFile(path string) (s Summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked opening %s: %v", path, r)
		}
	}()
	db, err := Open(path, true)
	if err != nil {
		return Summary{}, err
	}
	defer db.Close()
	return Check(db)
}

// Scrub checks path, then writes a compacted copy with every address
// masked and "scrubbed" set beside it (path.scrub-tmp) and renames it
// over path: old values stay in no free page.
func Scrub(path string) (Summary, error) {
	src, err := Open(path, true)
	if err != nil {
		return Summary{}, err
	}
	defer src.Close()
	if _, err := Check(src); err != nil {
		return Summary{}, fmt.Errorf("%s before the scrub: %w", path, err)
	}
	tmp := path + ".scrub-tmp"
	os.Remove(tmp)
	dst, err := Open(tmp, false)
	if err != nil {
		return Summary{}, err
	}
	defer os.Remove(tmp)
	var masked uint64
	err = src.View(func(stx *bolt.Tx) error {
		return dst.Update(func(dtx *bolt.Tx) error {
			m, err := dtx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			r, err := dtx.CreateBucket(bucketRecords)
			if err != nil {
				return err
			}
			r.FillPercent = 1 // appended in key order: full pages
			if err := stx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
				masked++
				return r.Put(k, bytes.ReplaceAll(v, []byte(Domain), []byte(Masked)))
			}); err != nil {
				return err
			}
			if err := m.Put(keyCounter, stx.Bucket(bucketMeta).Get(keyCounter)); err != nil {
				return err
			}
			return m.Put(keyScrubbed, strconv.AppendUint(nil, masked, 10))
		})
	})
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Summary{}, err
	}
	s, err := CheckFile(tmp)
	if err != nil {
		return s, fmt.Errorf("scrubbed copy: %w", err)
	}
	if s.Unmasked != 0 || s.Scrubbed != s.Records {
		return s, fmt.Errorf("scrubbed copy: %v", s)
	}
	if err := os.Rename(tmp, path); err != nil {
		return s, err
	}
	d, err := os.Open(filepath.Dir(path))
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	return s, err
}
