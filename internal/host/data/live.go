package data

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/turbo-image/turbo-image/internal/host/stallnet"
	"github.com/turbo-image/turbo-image/internal/shared/ctxio"
)

// The live export's headers and trailers: the contract with the update
// agent (internal/guest/turboinit/dataexport_linux.go).
const (
	hdrLiveName     = "Turbo-Data-Name"
	hdrLiveVersion  = "Turbo-Data-Version"
	hdrLiveBuild    = "Turbo-Data-Build"
	trlLiveError    = "Turbo-Data-Error"
	trlLiveMembers  = "Turbo-Data-Members"
	trlLivePausedUs = "Turbo-Data-Paused-Us"
	trlLivePause    = "Turbo-Data-Pause"
)

// LiveOptions are the options of ExportLive.
type LiveOptions struct {
	// Client sends the request (nil: stallnet.Client(stallnet.DefaultStall):
	// it fails once the appliance has been silent for two minutes).
	Client *http.Client
	// Channel the data comes from, recorded in the archive.
	Channel string
	// Progress hears the bytes of file data received.
	Progress Progress
}

// Pause is how the appliance held its app still for the copy.
type Pause struct {
	// Took is from the start of the pause to the resume: the time the
	// app could not write.
	Took time.Duration
	// How says what the agent did (data.quiesce, services frozen, FIFREEZE).
	How string
}

// ExportLive asks the update agent at baseURL (http://host:port, the
// address network flash uses) for its /data and writes the archive to
// out: a temporary file beside it, renamed into place only when the
// agent's stream was whole (the tar's end, then the agent's trailer with
// no error and the member count that arrived). Every member passes
// import's checks on the way. The appliance pauses its app for the copy
// (see docs/data.md); the returned Pause says for how long.
func ExportLive(ctx context.Context, baseURL, token, out string, o LiveOptions) (Source, Stats, Pause, error) {
	client := o.Client
	if client == nil {
		client = stallnet.Client(stallnet.DefaultStall)
	}
	var pause Pause
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/v1/data/export", nil)
	if err != nil {
		return Source{}, Stats{}, pause, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return Source{}, Stats{}, pause, fmt.Errorf("export %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var r struct {
			Error string `json:"error"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil || r.Error == "" {
			return Source{}, Stats{}, pause, fmt.Errorf("export %s: %s (an agent without live export answers 404: flash a build of this turbo-image first)", baseURL, resp.Status)
		}
		return Source{}, Stats{}, pause, fmt.Errorf("the appliance refused the export: %s", r.Error)
	}
	src := Source{Name: resp.Header.Get(hdrLiveName), Version: resp.Header.Get(hdrLiveVersion),
		Build: resp.Header.Get(hdrLiveBuild), Channel: o.Channel, From: "live"}
	if err := src.Check(); err != nil {
		return src, Stats{}, pause, fmt.Errorf("export %s: the agent's headers: %w", baseURL, err)
	}
	var members int
	st, err := writeFile(out, func(w io.Writer) (Stats, error) {
		zw, err := newZstdWriter(w)
		if err != nil {
			return Stats{}, err
		}
		tw := tar.NewWriter(zw)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: globalHeaderName, PAXRecords: src.records(), Format: tar.FormatPAX}); err != nil {
			return Stats{}, err
		}
		st, n, err := relayTree(ctxio.Reader(ctx, resp.Body), tw, DefaultLimits, o.Progress)
		members = n
		if err != nil {
			if e := resp.Trailer.Get(trlLiveError); e != "" {
				err = fmt.Errorf("%w (the appliance: %s)", err, e)
			}
			return st, err
		}
		// The tar's end may come at a member boundary of a cut stream:
		// only the trailer, after the last chunk, says the stream is whole.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return st, err
		}
		if e := resp.Trailer.Get(trlLiveError); e != "" {
			return st, fmt.Errorf("the appliance: %s", e)
		}
		if want := resp.Trailer.Get(trlLiveMembers); want != strconv.Itoa(members) {
			return st, fmt.Errorf("the stream ended after %d members, the appliance says it sent %q", members, want)
		}
		if err := tw.Close(); err != nil {
			return st, err
		}
		return st, zw.Close()
	})
	if us, perr := strconv.ParseInt(resp.Trailer.Get(trlLivePausedUs), 10, 64); perr == nil {
		pause.Took = time.Duration(us) * time.Microsecond
	}
	pause.How = resp.Trailer.Get(trlLivePause)
	if err != nil {
		return src, st, pause, fmt.Errorf("export %s: %w; no archive written", baseURL, err)
	}
	return src, st, pause, nil
}

// relayTree reads the agent's plain tar (no global header), checks every
// member as import does, and writes it to tw in the archive's form. It
// returns the members relayed.
func relayTree(r io.Reader, tw *tar.Writer, lim Limits, progress Progress) (Stats, int, error) {
	var st Stats
	tr := tar.NewReader(r)
	seen := map[string]byte{}
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			if i == 0 {
				return st, 0, errors.New("the stream holds no member (not even the root)")
			}
			return st, i, nil
		}
		if err != nil {
			return st, i, fmt.Errorf("member %d: %w", i+1, err)
		}
		if i >= lim.Entries {
			return st, i, fmt.Errorf("more than %d members", lim.Entries)
		}
		if i == 0 && h.Name != "./" {
			return st, i, fmt.Errorf("member 1 is %q, not the root ./", h.Name)
		}
		e, err := checkMember(h, seen)
		if err != nil {
			return st, i, fmt.Errorf("member %d (%q): %w", i+1, h.Name, err)
		}
		out := &tar.Header{Name: h.Name, Typeflag: h.Typeflag, Linkname: h.Linkname, Format: tar.FormatPAX}
		switch {
		case e.LinkTo != "":
			st.Links++
		default:
			out.Mode, out.Uid, out.Gid = h.Mode, h.Uid, h.Gid
			out.ModTime, out.AccessTime, out.ChangeTime = h.ModTime, h.AccessTime, h.ChangeTime
			out.Devmajor, out.Devminor, out.Size = h.Devmajor, h.Devminor, h.Size
			for _, x := range xattrsOf(h) {
				if out.PAXRecords == nil {
					out.PAXRecords = map[string]string{}
				}
				out.PAXRecords[xattrPAX+x.name] = string(x.value)
			}
			switch h.Typeflag {
			case tar.TypeDir:
				st.Dirs++
			case tar.TypeSymlink:
				st.Symlinks++
			case tar.TypeReg, tar.TypeRegA:
				out.Typeflag = tar.TypeReg
				st.Files++
			default:
				if h.Typeflag != tar.TypeChar && h.Typeflag != tar.TypeBlock && h.Typeflag != tar.TypeFifo {
					return st, i, fmt.Errorf("member %d (%q): type %q is not what the agent sends", i+1, h.Name, h.Typeflag)
				}
				st.Special++
			}
		}
		if err := tw.WriteHeader(out); err != nil {
			return st, i, fmt.Errorf("member %d (%q): %w", i+1, h.Name, err)
		}
		if out.Typeflag == tar.TypeReg {
			n, err := io.CopyBuffer(tw, tr, buf)
			st.Bytes += n
			if progress != nil {
				progress(st.Bytes)
			}
			if err != nil {
				return st, i, fmt.Errorf("member %d (%q): %w", i+1, h.Name, err)
			}
		}
	}
}
