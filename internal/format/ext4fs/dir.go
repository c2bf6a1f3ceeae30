package ext4fs

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// DirEntry is one name in a directory.
type DirEntry struct {
	Name  string
	Inode uint32
}

// Directory entry file types (directory.rst, "file_type").
const (
	ftUnknown = 0
	ftFile    = 1
	ftDir     = 2
	ftChar    = 3
	ftBlock   = 4
	ftFIFO    = 5
	ftSocket  = 6
	ftLink    = 7
)

func fileTypeOf(mode uint16) uint8 {
	switch mode & modeType {
	case ModeFile:
		return ftFile
	case ModeDir:
		return ftDir
	case ModeChar:
		return ftChar
	case ModeBlock:
		return ftBlock
	case ModeFIFO:
		return ftFIFO
	case ModeSocket:
		return ftSocket
	case ModeLink:
		return ftLink
	}
	return ftUnknown
}

// parseDirBlock decodes the linear entries of one directory block
// (directory.rst, "Linear (Classic) Directories"). Hash tree blocks are
// read the same way: their index nodes hide behind an entry with inode 0
// that spans the block, and the metadata_csum tail is such an entry too.
// "." and ".." are left out.
func parseDirBlock(b []byte, filetype bool, out []DirEntry) ([]DirEntry, error) {
	le := binary.LittleEndian
	for off := 0; off < len(b); {
		if off+8 > len(b) {
			return nil, fmt.Errorf("entry at %d runs past the block", off)
		}
		ino := le.Uint32(b[off:])
		recLen := int(le.Uint16(b[off+4:]))
		if recLen == 0 && len(b) == 65536 {
			recLen = 65536 // a 64 KiB block's one entry (EXT4_MAX_REC_LEN)
		}
		nameLen := int(b[off+6])
		if !filetype {
			nameLen |= int(b[off+7]) << 8
		}
		if recLen < 8 || recLen%4 != 0 || off+recLen > len(b) {
			return nil, fmt.Errorf("entry at %d: record length %d", off, recLen)
		}
		if ino != 0 {
			if nameLen == 0 || 8+nameLen > recLen {
				return nil, fmt.Errorf("entry at %d: name length %d in a %d-byte record", off, nameLen, recLen)
			}
			name := b[off+8 : off+8+nameLen]
			if bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, 0) >= 0 {
				return nil, fmt.Errorf("entry at %d: name %q holds '/' or NUL", off, name)
			}
			if s := string(name); s != "." && s != ".." {
				out = append(out, DirEntry{Name: s, Inode: ino})
			}
		}
		off += recLen
	}
	return out, nil
}

// dirEntrySize is the record length a name needs.
func dirEntrySize(nameLen int) int { return (8 + nameLen + 3) &^ 3 }

// putDirEntry writes one entry at b[0:recLen].
func putDirEntry(b []byte, ino uint32, recLen int, name string, ft uint8) {
	le := binary.LittleEndian
	le.PutUint32(b, ino)
	le.PutUint16(b[4:], uint16(recLen))
	b[6] = byte(len(name))
	b[7] = ft
	copy(b[8:], name)
}
