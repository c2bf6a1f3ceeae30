package data

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/datatree"
)

// fakeAgent serves /v1/data/export as the update agent does
// (internal/guest/turboinit/dataexport_linux.go): headers, the folder dir
// as a plain tar by datatree.Write, trailers. cut, when set, rewrites
// the stream (to cut it short or make it hostile) and sets the error.
func fakeAgent(t *testing.T, dir string, cut func(tarBytes []byte) ([]byte, string)) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"bad or missing token"}`)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1/data/export" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Trailer", strings.Join([]string{trlLiveError, trlLiveMembers, trlLivePausedUs, trlLivePause}, ", "))
		h.Set(hdrLiveName, "hello")
		h.Set(hdrLiveVersion, "1.0.0")
		h.Set(hdrLiveBuild, "sha256:"+strings.Repeat("ab", 32))
		w.WriteHeader(http.StatusOK)
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		st, err := datatree.Write(r.Context(), tw, dir, datatree.Options{})
		if err != nil {
			t.Error(err)
		}
		tw.Close()
		out, e := b.Bytes(), ""
		if cut != nil {
			out, e = cut(out)
		}
		w.Write(out)
		h.Set(trlLiveError, e)
		h.Set(trlLiveMembers, strconv.Itoa(st.Files+st.Dirs+st.Links+st.Symlinks+st.Special))
		h.Set(trlLivePausedUs, "1500")
		h.Set(trlLivePause, "stopped hello (SIGSTOP to the process group); /data frozen (FIFREEZE)")
	}))
}

// liveTree is a small /data: a folder, a file with an xattr where the
// file system keeps them, a hard link, a symlink and a FIFO.
func liveTree(t *testing.T) string {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "db"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "db", "app.db"), bytes.Repeat([]byte("row\n"), 100000), 0o640))
	must(os.Link(filepath.Join(dir, "db", "app.db"), filepath.Join(dir, "db", "hard")))
	must(os.Symlink("app.db", filepath.Join(dir, "db", "current")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	return dir
}

// TestExportLive: the agent's stream becomes an archive with the source
// from its headers, every member, and the pause from its trailers.
func TestExportLive(t *testing.T) {
	dir := liveTree(t)
	srv := fakeAgent(t, dir, nil)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "live.tar.zst")
	src, st, pause, err := ExportLive(context.Background(), srv.URL, "secret", out, LiveOptions{Channel: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if src.Name != "hello" || src.Version != "1.0.0" || src.From != "live" || src.Channel != "prod" || !strings.HasPrefix(src.Build, "sha256:") {
		t.Errorf("source %+v", src)
	}
	if st.Files != 1 || st.Links != 1 || st.Symlinks != 1 || st.Special != 1 || st.Dirs != 2 || st.Bytes != 400000 {
		t.Errorf("stats %+v", st)
	}
	if pause.Took.Microseconds() != 1500 || !strings.Contains(pause.How, "FIFREEZE") {
		t.Errorf("pause %+v", pause)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]*tar.Header{}
	lsrc, err := List(context.Background(), f, Limits{}, func(e *Entry) error { got[e.Path] = e.Header; return nil })
	if err != nil || lsrc != src {
		t.Fatalf("List: %+v, %v", lsrc, err)
	}
	for p, want := range map[string]byte{".": tar.TypeDir, "db": tar.TypeDir, "db/app.db": tar.TypeReg, "db/hard": tar.TypeLink, "db/current": tar.TypeSymlink, "fifo": tar.TypeFifo} {
		if h := got[p]; h == nil || h.Typeflag != want {
			t.Errorf("%s: %+v, want type %q", p, h, want)
		}
	}
	if h := got["db/app.db"]; h != nil && (h.Mode != 0o640 || h.Uid != os.Getuid()) {
		t.Errorf("db/app.db: mode %#o uid %d", h.Mode, h.Uid)
	}
}

// TestExportLiveRefusals: a refused, cut or hostile stream writes no
// archive and leaves no temporary file; the error says why.
func TestExportLiveRefusals(t *testing.T) {
	dir := liveTree(t)
	cases := []struct {
		name    string
		cut     func([]byte) ([]byte, string)
		token   string
		wantErr string
	}{
		{"bad token", nil, "wrong", "bad or missing token"},
		{"agent error mid-stream", func(b []byte) ([]byte, string) { return b[:len(b)/2], "db/app.db: input/output error" }, "secret", "input/output error"},
		{"cut at a member boundary", func(b []byte) ([]byte, string) { return b[:512*3], "" }, "secret", "the appliance says it sent"},
		{"hostile member", func([]byte) ([]byte, string) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
			tw.WriteHeader(&tar.Header{Name: "./esc", Typeflag: tar.TypeSymlink, Linkname: "../../etc/shadow"})
			tw.Close()
			return b.Bytes(), ""
		}, "secret", "leads out of /data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := fakeAgent(t, dir, c.cut)
			defer srv.Close()
			outDir := t.TempDir()
			_, _, _, err := ExportLive(context.Background(), srv.URL, c.token, filepath.Join(outDir, "x.tar.zst"), LiveOptions{})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ExportLive: %v, want %q", err, c.wantErr)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// FuzzRelay reads any bytes as the agent's tar stream: it never panics,
// and what it relays is an archive List accepts.
func FuzzRelay(f *testing.F) {
	root := func(tw *tar.Writer) { tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}) }
	for _, add := range []func(tw *tar.Writer){
		func(tw *tar.Writer) {},
		func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: "./a", Size: 3, Mode: 0o644})
			tw.Write([]byte("abc"))
		},
		func(tw *tar.Writer) { tw.WriteHeader(&tar.Header{Name: "../x", Mode: 0o644}) },
		func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: "./l", Typeflag: tar.TypeLink, Linkname: "./nope"})
		},
		func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: "./s", Typeflag: tar.TypeSymlink, Linkname: "/etc"})
		},
		func(tw *tar.Writer) { tw.WriteHeader(&tar.Header{Name: "/abs", Mode: 0o644}) },
	} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		root(tw)
		add(tw)
		tw.Close()
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		zw, err := newZstdWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: globalHeaderName, PAXRecords: Source{From: "live"}.records(), Format: tar.FormatPAX})
		if _, _, err := relayTree(bytes.NewReader(in), tw, Limits{Entries: 10000}, nil); err != nil {
			return
		}
		tw.Close()
		zw.Close()
		if _, err := List(context.Background(), &out, Limits{Entries: 10000}, func(*Entry) error { return nil }); err != nil {
			t.Errorf("relayed stream not accepted by List: %v", err)
		}
	})
}
