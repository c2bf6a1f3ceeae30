package boltapp

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func grow(t *testing.T, path string, n int) {
	t.Helper()
	db, err := Open(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < n; i++ {
		if _, err := Step(db); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStepCheckScrub: n steps give counter = records = n; Scrub masks
// every address and no unmasked address is left anywhere in the file's
// bytes (free pages included), and the result still passes Check.
func TestStepCheckScrub(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.db")
	grow(t, p, 300)
	s, err := CheckFile(p)
	if err != nil || s != (Summary{Counter: 300, Records: 300, Unmasked: 300}) {
		t.Fatalf("after 300 steps: %v %v", s, err)
	}
	// Overwriting in place would leave the old values in free pages.
	raw, _ := os.ReadFile(p)
	if !bytes.Contains(raw, []byte("user-7"+Domain)) {
		t.Fatal("the unscrubbed file lacks a record's address")
	}
	s, err = Scrub(p)
	if err != nil || s != (Summary{Counter: 300, Records: 300, Scrubbed: 300}) {
		t.Fatalf("scrub: %v %v", s, err)
	}
	raw, _ = os.ReadFile(p)
	if bytes.Contains(raw, []byte(Domain)) {
		t.Error("an address survived the scrub in the file's bytes")
	}
	if s2, err := CheckFile(p); err != nil || s2 != s {
		t.Errorf("re-check: %v %v", s2, err)
	}
	// The writer goes on from the scrubbed file.
	grow(t, p, 1)
	if s, err := CheckFile(p); err != nil || s.Counter != 301 || s.Unmasked != 1 {
		t.Errorf("after one more step: %v %v", s, err)
	}
	if _, err := os.Stat(p + ".scrub-tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

// TestCheckRefuses: a counter ahead of the records, a missing record, a
// damaged page and a scrub of a damaged file are each an error naming
// the fault, and the failed scrub leaves the file as it was.
func TestCheckRefuses(t *testing.T) {
	mk := func(t *testing.T, fix func(tx *bolt.Tx) error) string {
		p := filepath.Join(t.TempDir(), "app.db")
		grow(t, p, 50)
		db, err := Open(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fix); err != nil {
			t.Fatal(err)
		}
		db.Close()
		return p
	}
	for _, c := range []struct {
		name, want string
		fix        func(tx *bolt.Tx) error
	}{
		{"counter ahead", "counter 51 but 50 records", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyCounter, binary.BigEndian.AppendUint64(nil, 51))
		}},
		{"record missing", "record 20 has key", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRecords).Delete(key(20))
		}},
		{"record foreign", "record 3 holds", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRecords).Put(key(3), []byte("id=4 email=x"))
		}},
		{"no buckets", "no meta or records bucket", func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketMeta)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mk(t, c.fix)
			if _, err := CheckFile(p); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("check: %v, want %q", err, c.want)
			}
			before, _ := os.ReadFile(p)
			if _, err := Scrub(p); err == nil || !strings.Contains(err.Error(), "before the scrub: ") {
				t.Fatalf("scrub: %v", err)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
				t.Error("a refused scrub changed the file")
			}
		})
	}
	t.Run("damaged page", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "app.db")
		grow(t, p, 200)
		raw, _ := os.ReadFile(p)
		// Page 2 and 3 are the freelist and the first root; a branch or
		// leaf page further on loses its header: a torn copy's damage.
		ps := os.Getpagesize()
		for pg := 4; pg*ps+16 < len(raw); pg += 3 {
			copy(raw[pg*ps:], bytes.Repeat([]byte{0xff}, 16))
		}
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckFile(p); err == nil {
			t.Fatal("a damaged file passed the check")
		} else {
			t.Logf("damaged: %v", err)
		}
	})
}
