package turboinit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/turbo-image/turbo-image/internal/shared/atomicfile"
	"github.com/turbo-image/turbo-image/internal/shared/channelfile"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// channelRequest is the body of the update agent's POST /v1/channel
// (`turbo-image channel set|clear http://HOST:PORT`): the channel to
// follow, or "" for the recipe's update.follow.channel again.
type channelRequest struct {
	Channel string `json:"channel"`
}

// planChannel checks a request to follow channel name and returns the
// new bytes of the ESP file channelfile.Name (nil: remove it, so the
// recipe's channel applies) and the channel the follower will choose
// with it (cmdline is turbo.channel= of the running kernel, which still
// wins). It refuses an appliance that follows nothing and a channel
// update.channels does not list with a key: the file would be passed
// over at the next choice anyway (channelfile.Choose), and the caller
// should hear so now.
func planChannel(u initconfig.Update, cmdline, name string) ([]byte, channelfile.Choice, error) {
	if u.Follow == nil {
		return nil, channelfile.Choice{}, errors.New("this appliance follows no channel (its recipe has no update.follow)")
	}
	trusted := func(c string) bool { return len(u.Channels[c]) > 0 }
	var data []byte
	if name != "" {
		var err error
		if data, err = channelfile.Format(name); err != nil {
			return nil, channelfile.Choice{}, err
		}
		if !trusted(name) {
			var names []string
			for c := range u.Channels {
				if trusted(c) {
					names = append(names, c)
				}
			}
			slices.Sort(names)
			return nil, channelfile.Choice{}, fmt.Errorf("channel %q is not in this appliance's update.channels (it trusts %s): refused, nothing changed", name, strings.Join(names, ", "))
		}
	}
	src := channelfile.Sources{Cmdline: cmdline, File: data, Recipe: u.Follow.Channel}
	if data == nil {
		src.FileErr = fs.ErrNotExist
	}
	return data, channelfile.Choose(src, trusted), nil
}

// writeChannelFile replaces channelfile.Name under the ESP mounted at
// esp with data, or removes it when data is nil. The new file is written
// under a temporary name in the same folder and synced, then renamed over
// the old one (a rename is FAT's one atomic step), then the folder is
// synced: the init reads either the old channel or the new one, never a
// torn file. No mode is set: FAT has none to keep.
func writeChannelFile(esp string, data []byte) error {
	path := filepath.Join(esp, channelfile.Name)
	dir := filepath.Dir(path)
	if data == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return atomicfile.SyncDir(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "channel.tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", channelfile.Name, err)
	}
	return atomicfile.SyncDir(dir)
}
