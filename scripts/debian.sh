#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Debian's own arm64 kernel, as a board runs it: its packages, fetched by
# name from Debian's archive, and the matching source tree prepared for
# external modules with Debian's .config and Debian's compiler. Nothing of
# the kernel is built here but what `modules_prepare` builds.
#
#   scripts/debian.sh FLAVOUR     (arm64 or arm64-16k)
#
# Prints the prepared tree (a KDIR for `make M=`) on stdout. Beside it,
# under $CACHE/debian/<release>/, each package unpacked: binary/ (the
# kernel, usr/lib/modules/<release>/vmlinuz), headers/ (.config,
# Module.symvers) and modules/ (usr/lib/modules/<release>: Debian's
# modules, vgem and vivid among them, with a modules.dep made here). The packages are those of the same upload as linux-source-7.3,
# which the other kernels are built from; if one is missing, this says so
# and stops: versions are never mixed.
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: debian.sh arm64|arm64-16k}

UNPACKED=$("$TOP/scripts/kernel.sh" --unpack)
[ -d "$UNPACKED" ] || die "no unpacked linux-source-$KVER (scripts/kernel.sh unpacks it)"
deb=$(ls "$CACHE"/dl/linux-source-"$KVER"_*.deb | tail -n1)
srcver=$(dpkg-deb -f "$deb" Version)
debver=$(basename "$deb" .deb)
# Debian's source as Debian built it: the unpacked tree without the
# in-tree hook that kernel.sh adds for drivers/ion_rs (hard links, so no
# second copy; the two edited files become files of their own).
SRC=$CACHE/src/$debver-debian
# One preparation of a flavour at a time (test.sh prepares in the
# background what a later boot waits for here).
mkdir -p "$CACHE/debian"
exec 9>"$CACHE/debian/.$flavour.lock"
flock 9
if [ ! -f "$SRC/.rust-ion-debian" ]; then
	rm -rf "$SRC"
	cp -al "$UNPACKED" "$SRC"
	rm -f "$SRC/drivers/ion_rs"
	sed -i '/ion_rs/d' "$SRC/drivers/Kconfig" "$SRC/drivers/Makefile"
	touch "$SRC/.rust-ion-debian"
fi

# The release of that upload for this flavour: the linux-binary package
# whose version is the source's (7.3.4+deb13-arm64-16k for 7.3.4-1~bpo13+1).
release() {
	local p v
	for p in $(inroot apt-cache search --names-only "^linux-binary-$KVER\.[0-9]+\+deb[0-9]+-$flavour\$" |
		cut -d' ' -f1); do
		for v in $(inroot apt-cache show "$p:arm64" 2>/dev/null | awk '/^Version:/ {print $2}'); do
			[ "$v" = "$srcver" ] && echo "${p#linux-binary-}" && return 0
		done
	done
	return 1
}

rel_file=$CACHE/debian/release-$flavour-$srcver
if [ ! -s "$rel_file" ]; then
	mkdir -p "$CACHE/debian"
	apt_get update -qq >&2 || true
	rel=$(release) || die "Debian has no linux-binary-*-$flavour at $srcver, the version of $debver: not mixing versions"
	echo "$rel" >"$rel_file"
fi
rel=$(cat "$rel_file")
D=$CACHE/debian/$rel

fetch() {
	local what p
	for what in binary headers modules; do
		p=linux-$what-$rel
		[ -d "$D/$what" ] && continue
		rm -rf "$D/$what.tmp"
		mkdir -p "$D/$what.tmp"
		(cd "$D/$what.tmp" && apt_get download -qq -o APT::Sandbox::User=root "$p:arm64=$srcver" >&2) ||
			die "apt-get download $p:arm64=$srcver failed: Debian's $flavour kernel is not to be had"
		inroot sh -c "dpkg-deb -x '$D/$what.tmp'/*.deb '$D/$what.tmp/root' && rm '$D/$what.tmp'/*.deb"
		mv "$D/$what.tmp/root" "$D/$what"
		rm -rf "$D/$what.tmp"
	done
}
if [ ! -f "$D/.fetched" ]; then
	step "fetch Debian's $rel packages" fetch || die "fetching Debian's $rel failed"
	# The package ships no modules.dep (depmod makes it on install).
	inroot depmod -b "$D/modules/usr" "$rel" 2>&1 | { grep -v 'could not open modules\.' || true; } >&2
	[ -s "$D/modules/usr/lib/modules/$rel/modules.dep" ] || die "depmod of Debian's $rel modules failed"
	touch "$D/.fetched"
fi

HDR=$D/headers/usr/src/linux-headers-$rel
[ -f "$HDR/.config" ] || die "linux-headers-$rel has no .config"
[ -f "$HDR/Module.symvers" ] || die "linux-headers-$rel has no Module.symvers"
KB=$D/kbuild

# Debian's compiler, as its .config names it (aarch64-linux-gnu-gcc-14).
cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$HDR/.config")
[ -n "$cc" ] || die "the .config of $rel names no compiler"
inroot sh -c "command -v $cc" >/dev/null || die "$cc is not in the build root (scripts/buildroot.sh installs it)"

dkmake() {
	inroot make -s -C "$SRC" O="$KB" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC="$cc" \
		HOSTCC=gcc LOCALVERSION="${rel#"$KVER".[0-9]*}" "$@"
}

prepare() {
	rm -rf "$KB"
	mkdir -p "$KB"
	cp "$HDR/.config" "$KB/.config"
	dkmake olddefconfig
	# Debian's configuration, as it is: a Rust kernel, RUST still set.
	grep -qx 'CONFIG_RUST=y' "$KB/.config" || die "CONFIG_RUST did not survive olddefconfig (rustc or bindgen not Debian's?)"
	dkmake -j"$(nproc)" modules_prepare
	cp "$HDR/Module.symvers" "$KB/Module.symvers"
	local got
	got=$(cat "$KB/include/config/kernel.release")
	[ "$got" = "$rel" ] || die "prepared tree is $got, not $rel: vermagic would not match"
}
if [ ! -f "$KB/.prepared" ]; then
	step "prepare $rel for external modules" prepare || die "preparing $rel failed"
	touch "$KB/.prepared"
fi
echo "$KB"
