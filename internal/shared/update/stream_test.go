package update

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

func TestStreamRoundTrip(t *testing.T) {
	m := mf("hello", "1")
	mb, _ := m.Marshal()
	payload := map[string]string{"kernel": "k", "root.squashfs": "root", "slot-initramfs.cpio.zst": "i"}
	open := func(a manifest.File) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(payload[a.Name])), nil
	}
	var buf bytes.Buffer
	if err := WriteStream(&buf, m, mb, []byte("sig\n"), open); err != nil {
		t.Fatal(err)
	}
	if n, err := StreamSize(m, mb, []byte("sig\n")); err != nil || n != int64(buf.Len()) {
		t.Errorf("StreamSize = %d, %v; WriteStream wrote %d bytes", n, err, buf.Len())
	}
	s, err := ReadStream(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.ManifestBytes, mb) || string(s.Signature) != "sig\n" {
		t.Fatal("head")
	}
	order, _ := StreamOrder(m)
	for _, a := range order {
		r, err := s.Open(a)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if string(b) != payload[a.Name] {
			t.Fatalf("%s: %q", a.Name, b)
		}
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	// Out of order is refused.
	s, _ = ReadStream(bytes.NewReader(buf.Bytes()))
	if _, err := s.Open(order[1]); err == nil || !strings.Contains(err.Error(), "expecting kernel") {
		t.Fatalf("out of order: %v", err)
	}
	// A stream that does not start with the manifest is refused.
	if _, err := ReadStream(strings.NewReader("garbage")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzReadStream(f *testing.F) {
	m := mf("hello", "1")
	mb, _ := m.Marshal()
	var buf bytes.Buffer
	WriteStream(&buf, m, mb, nil, func(a manifest.File) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(map[string]string{"kernel": "k", "root.squashfs": "root", "slot-initramfs.cpio.zst": "i"}[a.Name])), nil
	})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadStream(bytes.NewReader(data))
		if err != nil {
			return
		}
		order, err := StreamOrder(s.Manifest)
		if err != nil {
			return
		}
		for _, a := range order {
			r, err := s.Open(a)
			if err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
		s.Finish()
	})
}
