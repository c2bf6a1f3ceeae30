package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// terminalSafe returns s with everything a terminal would act on instead of
// show written as an escape: C0 and C1 control characters other than
// newline and tab (ESC starts the sequences that move the cursor, clear
// the screen or set the window title), DEL, invalid UTF-8, and the
// invisible formatting characters that reorder or hide text (U+202E and its
// kin, zero-width characters, line and paragraph separators). Error
// messages carry names from hostile inputs (file systems, archives,
// manifests, registries); the parsers quote most of them, and this is the
// one place that makes sure none of what they miss reaches the user's
// terminal raw. Newlines stay: multi-problem reports (all recipe errors at
// once) are one problem a line.
func terminalSafe(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f ||
			(r >= 0x80 && (unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029')) {
			return true
		}
		i += size
	}
	return false
}
