// Package kconfig reads the two languages of the Linux kernel's
// configuration system, enough to tell a user why a requested option did
// not make it into a kernel's .config. It knows nothing about building.
//
// The .config syntax (ParseFragment, ParseConfig, FormatOptions) is the
// one scripts/kconfig/confdata.c writes and reads: "CONFIG_FOO=y",
// "CONFIG_FOO=\"text\"", "CONFIG_FOO=0x10", "# CONFIG_FOO is not set",
// comments and blank lines. Merge combines fragments, later assignments
// winning as later lines do in confdata.c.
//
// The Kconfig language (Load, following
// Documentation/kbuild/kconfig-language.rst) is read from a source tree,
// starting at the top-level Kconfig and following source statements, into
// a Tree that indexes every symbol's definitions: type, prompts, its own
// "depends on" and those of its enclosing if/menu/choice blocks, selects
// and choice membership.
//
// The check (Mismatches, CheckConfig) compares the final .config that
// `make olddefconfig` left with what fragments asked for: every option set
// to y, m or a value must have exactly that value, and every "is not set"
// option must be absent or n. A *CheckError lists each Problem with the
// fragment line asking for it and, given a Tree, the reason:
// the failing "depends on" expressions with the values of their symbols,
// e.g.
//
//	CONFIG_SQUASHFS=y (recipes/kernel/virt.config:82) was dropped by Kconfig:
//	depends on MISC_FILESYSTEMS && BLOCK; MISC_FILESYSTEMS is not set [fs/squashfs/Kconfig:2]
//
// or the symbols selecting an option asked to be off, the chosen member of
// a choice, a prompt that is hidden, or a symbol no Kconfig file defines.
package kconfig
