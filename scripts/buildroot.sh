#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Create the Debian trixie build root with the pinned toolchain. Idempotent:
# a root whose stamp matches the package list is reused as it is.
. "$(dirname "$0")/lib.sh"

PKGS="make gcc libc6-dev clang-19 lld-19 llvm-19 libclang-19-dev bindgen
rustc rust-src rustfmt rust-clippy flex bison bc libelf-dev libssl-dev cpio kmod
python3 perl qemu-system-arm qemu-system-x86 device-tree-compiler busybox-static:arm64
gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf
libc6-dev-armhf-cross xz-utils dwarves dt-schema rsync"
# On an arm64 machine (a board), its own gcc is the aarch64 compiler
# (aarch64-linux-gnu-gcc-14): Debian has no arm64-to-arm64 cross packages.
if [ "$(uname -m)" = aarch64 ]; then
	PKGS=$(echo "$PKGS" | tr ' ' '\n' | grep -vx 'gcc-aarch64-linux-gnu\|libc6-dev-arm64-cross' | tr '\n' ' ')
fi
stamp=$ROOT/.rust-ion-stamp
want=$(echo "$PKGS" | sha256sum | cut -c1-16)

[ -n "$NATIVE" ] && { log "KDIR set: using host tools, no build root"; exit 0; }
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	log "build root up to date: $ROOT"
	exit 0
fi

mirror=$(debian_mirror)
[ -n "$mirror" ] || die "cannot find a Debian mirror in the host's apt sources"

if ! command -v debootstrap >/dev/null; then
	step "host: apt-get install debootstrap" \
		sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null'
fi

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
	rm -rf "$ROOT"
	mkdir -p "$CACHE"
	step "debootstrap trixie" debootstrap --variant=minbase \
		--include=ca-certificates trixie "$ROOT.tmp" "$mirror" >/dev/null
	mv "$ROOT.tmp" "$ROOT"
fi

cat >"$ROOT/etc/apt/sources.list" <<SRC
deb $mirror trixie main
deb $mirror trixie-updates main
deb $mirror trixie-backports main
SRC
# The security suite lives under its own path next to the main archive.
sec=${mirror%/debian}/debian-security
[ "$sec" != "$mirror/debian-security" ] &&
	echo "deb $sec trixie-security main" >>"$ROOT/etc/apt/sources.list"
printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
	>"$ROOT/etc/apt/apt.conf.d/90rust-ion"

install_pkgs() {
	NATIVE='' ROOT_BOOTSTRAP=1 inroot sh -c "dpkg --add-architecture arm64 &&
		apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(echo $PKGS) >/dev/null"
}
step "apt-get install toolchain (clang-19, bindgen, rustc, qemu, ...)" install_pkgs
ROOT_BOOTSTRAP=1 inroot sh -c 'rustc --version; bindgen --version; clang-19 --version | head -1; qemu-system-aarch64 --version | head -1' >&2
echo "$want" >"$stamp"
