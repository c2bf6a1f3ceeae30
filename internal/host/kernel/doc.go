// Package kernel builds Linux kernel images from a source tarball (or a
// clean source tree), a base configuration (tinyconfig or defconfig) and
// configuration fragments, and caches the results by content hash outside
// the repository. It knows nothing about recipes.
//
// # Configuration
//
// Fragments (Spec.Fragments) use the .config syntax and are merged in
// order, later assignments winning (kconfig.ParseFragment, kconfig.Merge),
// appended to the .config written by `make <base>`, and resolved by `make
// olddefconfig`. Kconfig silently drops options whose dependencies are
// unmet, so Build then checks the final .config against the fragments and
// fails before compiling with a *kconfig.CheckError naming each dropped
// option, the fragment line asking for it and the reason found in the
// tree's Kconfig files. The package internal/format/kconfig holds that
// engine (the .config syntax, the Kconfig language and the check).
//
// # Build
//
// Builds are out of tree (`make O=<dir>`, Documentation/kbuild/kbuild.rst)
// with ARCH from Spec.Arch (amd64 → x86_64 bzImage plus vmlinux for PVH
// direct boot; arm64 → Image, cross-built and booted by qemu-tests), CC
// from Spec.CC (a "<prefix>-gcc" compiler also sets CROSS_COMPILE) and -j
// Spec.Jobs. make's environment is
// reduced to PATH and TMPDIR plus the variables of
// Documentation/kbuild/reproducible-builds.rst: KBUILD_BUILD_TIMESTAMP (from
// Spec.SourceDateEpoch, default 1970-01-01), KBUILD_BUILD_USER,
// KBUILD_BUILD_HOST, KBUILD_BUILD_VERSION=1, and LOCALVERSION set empty (so
// that a git checkout does not add "+" to the release). Temporary build
// directories have fixed names per key, and kbuild maps the source path
// away (-fmacro-prefix-map): two builds of the 6.1 virt.config kernel in
// different cache directories gave byte-identical bzImage, vmlinux and
// .config.
//
// Tarballs are unpacked once per content hash with archive/tar; xz is
// decompressed by the host's xz (Go's decoder is ~15 times slower on the
// kernel tarball), gzip and zstd by github.com/klauspost/compress, bzip2 by
// compress/bzip2. Entry paths are checked so nothing lands outside the
// tree. A tree source is used in place and must be clean (no .config, as
// kbuild itself demands for O= builds).
//
// make's output goes to a log; during "compile" every kbuild step line
// ("  CC      init/main.o", "  LD ...", "  AR ...") advances Progress.Done.
// Progress.Total is the step count of the last successful build with the
// same arch and base (stored in the cache), or else a fixed estimate
// measured once for tinyconfig plus the project's virt.config fragment
// (amd64: `make bench` reports the current count; arm64: 1600 steps for
// recipes/kernel/arm64/virt.config; defconfig figures are guesses). A
// failing make returns its last 30 lines and the path of the full log.
// Cancelling the context kills make's whole process group.
//
// # Cache
//
// The key is the SHA-256 of a text listing a format version, the source
// identity ("tarball sha256:…" of the file, or "tree sha256:…"
// of every path, type, executable bit, content and link target, VCS
// directories excluded), the base target, the arch, the compiler identity
// (first line of `$CC --version` and `$CC -dumpmachine`), the linker
// identity (first line of `${CROSS_COMPILE}ld --version`), the epoch, and
// the merged options in canonical .config form (fragment names and line
// numbers excluded). Jobs does not enter the key.
//
// Hashing a kernel tarball is not free (`make bench` reports the time for
// Debian's linux-source-6.1), so the hash is memoized per source path
// together with the file's size, mtime, ctime, inode and device, and
// recomputed when any of them changes. For a tree, the memo holds a
// fingerprint of every entry's stat data, so a warm lookup costs one walk
// of the tree; tarballs are the fast path (a stat and a small read). Build
// on a hit costs that plus three short compiler processes and a read of
// meta.json.
//
// Layout below Spec.CacheDir:
//
//	kernels/<key>/            a finished kernel; renamed into place complete,
//	                          files read-only and never rewritten:
//	    bzImage | Image       the boot image (Result.Image)
//	    vmlinux               uncompressed ELF (Result.Vmlinux)
//	    config                the final .config (Result.Config)
//	    meta.json             release, file names, step count
//	    key.txt               the text hashed into <key>
//	    build.log             make's output
//	src/<sha256>/             unpacked tarball (top directory stripped),
//	                          renamed into place complete; shared by keys
//	srchash/<hash of path>.json   memo of a source's content hash
//	locks/kernel-<key>.lock   flock(2) held while building <key>
//	locks/src-<sha256>.lock   flock(2) held while unpacking
//	tmp/build-<key>/          out-of-tree build directory (removed after)
//	tmp/out-<key>/            outputs being assembled before the rename
//	tmp/src-<sha256>/         tarball being unpacked
//	logs/<key>.log            log of the last failed build of <key>
//	stats/<arch>-<base>.json  step count of the last build (progress estimate)
//
// Concurrent builds of the same key serialize on the key's lock; the
// second one finds the finished entry and returns it as cached. Locks are
// released by the kernel when a process dies, and a build removes the
// leftovers of a crashed one (tmp/*-<key>) before starting. Everything in
// the cache may be deleted while no build runs; src/ is only needed to
// build new keys.
//
// Building needs a Linux host with make, gcc (or Spec.CC), flex, bison, bc,
// the libelf and OpenSSL headers, and xz for .tar.xz sources.
package kernel
