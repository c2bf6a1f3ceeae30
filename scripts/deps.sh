#!/usr/bin/env bash
# Installs what turbo-image needs on a fresh Debian 12 machine, only where it
# is missing: QEMU, OVMF firmware, systemd-boot, the Linux source and the
# tools to build it, and the tools the tests use to check formats; for arm64
# images also the cross compiler, qemu-system-aarch64, AAVMF and the arm64
# systemd-boot (from Debian's arm64 port, hence the foreign architecture).
set -euo pipefail

pkgs=(
  qemu-system-x86 ovmf systemd-boot-efi        # boot: QEMU, UEFI firmware, boot loader
  linux-source-6.1 build-essential flex bison bc libelf-dev libssl-dev  # kernel build
  cpio zstd lz4 squashfs-tools dosfstools mtools e2fsprogs fdisk curl   # format checks, demo
  qemu-utils                                   # qemu-img: checks the qcow2, VMDK and VHD outputs
  sbsigntool openssl                           # build --sb-key/--sb-cert: sbsign signs the EFI binaries; tests: sbverify, a test key
  xorriso                                      # isoimage tests: an independent reader of the ISO and its El Torito catalog
  debootstrap kmod                             # make bench: the Debian rows (debootstrap, depmod -b)
  zsh fish                                     # cli tests: zsh -n / fish -n check the generated completion scripts (bash is always there)
  passt                                        # run --vmm jail --net private: pasta, user-mode networking for a jail's own network namespace
  docker-registry                              # push/pull tests: CNCF Distribution 2.8, run by the tests on 127.0.0.1 (the system service is not used)
  busybox-static                               # recipes/busybox-httpd: a prebuilt static program that is not Go (/bin/busybox)
  gcc-aarch64-linux-gnu                        # arch: arm64: cross-compiles the kernel (CROSS_COMPILE=aarch64-linux-gnu-)
  qemu-system-arm qemu-efi-aarch64             # arch: arm64: qemu-system-aarch64 -M virt and AAVMF (UEFI for arm64)
  systemd-boot-efi:arm64                       # arch: arm64: systemd-bootaa64.efi and linuxaa64.efi.stub (needs the arm64 foreign architecture)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed (need Go 1.26 or newer on PATH)" >&2
  exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# systemd-boot-efi:arm64 comes from the arm64 port: add that architecture
# once (dpkg --print-foreign-architectures lists it afterwards).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
