#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Unpack Debian's linux-source-7.3, apply patches/, and build one flavour
# (qemu or debug) for arm64 under O=. Prints the build directory on stdout.
#
#   scripts/kernel.sh qemu|debug
#
# The build is cached by a hash of the kernel version, the configuration
# fragments and the patch series. The driver is built
# in-tree too: drivers/ion_rs is a link to this work tree, sourced by an
# `source` that the unpack step adds, so the same kernel tree checks
# both the in-tree (Kconfig) and the external (M=) build.
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: kernel.sh qemu|debug}
[ -f "$TOP/configs/$flavour.config" ] || die "no configs/$flavour.config"
if [ -n "$NATIVE" ]; then
	# KDIR= names a kernel already built (arm64, LLVM, Rust) with the
	# host's tools; it is used as it is, for every flavour.
	[ -f "$KDIR/$(kimage "$flavour")" ] || die "KDIR=$KDIR has no $(kimage "$flavour")"
	echo "$KDIR"
	exit 0
fi

ARCH=$(karch "$flavour")
IMAGE=$(kimage "$flavour")
kmake() {
	inroot make -s -C "$SRC" O="$BUILD" ARCH="$ARCH" LLVM=1 "$@"
}

fetch_source() {
	local dl=$CACHE/dl deb
	mkdir -p "$dl"
	deb=$(ls "$dl"/linux-source-"$KVER"_*.deb 2>/dev/null | tail -n1 || true)
	if [ -z "$deb" ]; then
		(cd "$dl" && inroot apt-get download -qq -o APT::Sandbox::User=root "linux-source-$KVER" >&2)
		deb=$(ls "$dl"/linux-source-"$KVER"_*.deb | tail -n1)
	fi
	echo "$deb"
}

deb=$(step "fetch linux-source-$KVER" fetch_source)
debver=$(basename "$deb" .deb)
phash=$( (cat "$TOP"/patches/*.patch 2>/dev/null || true) | sha256sum | cut -c1-12)
SRC=$CACHE/src/$debver-$phash

unpack() {
	local tmp=$SRC.tmp p
	rm -rf "$tmp"
	mkdir -p "$tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*/linux-source-*.tar.xz' |
		xz -dT0 | tar -x -C "$tmp" --strip-components=1
	for p in "$TOP"/patches/*.patch; do
		[ -f "$p" ] || continue
		log "applying $(basename "$p")"
		patch -d "$tmp" -p1 -s <"$p"
	done
	# The in-tree hook; drivers/ion_rs is linked to the work tree below.
	echo 'source "drivers/ion_rs/Kconfig"' >>"$tmp/drivers/Kconfig"
	echo 'obj-$(CONFIG_ION_RS) += ion_rs/' >>"$tmp/drivers/Makefile"
	mv "$tmp" "$SRC"
}
[ -d "$SRC" ] || step "unpack $debver" unpack
# The kernel itself must not depend on the driver's state: it is built with
# drivers/ion_rs pointing at a stub that has only the Kconfig. module.sh
# points the link at the work tree for the in-tree module build.
STUB=$CACHE/ion_rs-stub
mkdir -p "$STUB"
cp "$TOP/Kconfig" "$STUB/Kconfig"
: >"$STUB/Kbuild"
ln -sfn "$STUB" "$SRC/drivers/ion_rs"

case $flavour in
qemu | x86) frags="$TOP/configs/$flavour.config" ;;
*) frags="$TOP/configs/qemu.config $TOP/configs/$flavour.config" ;;
esac
key=$( (echo "$debver $phash"; cat $frags) | sha256sum | cut -c1-12)
BUILD=$CACHE/build/$flavour-$key

configure() {
	mkdir -p "$BUILD"
	kmake allnoconfig
	cat $frags - >"$BUILD/fragment.config" <<-FRAG
	CONFIG_ION_RS=m
	CONFIG_ION_RS_HEAP_SYSTEM=y
	CONFIG_ION_RS_KUNIT_TEST=y
	FRAG
	inroot "$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" \
		"$BUILD/.config" "$BUILD/fragment.config" >/dev/null
	kmake olddefconfig
	# merge_config only warns when an option does not stick: insist.
	local missing
	# A later fragment may override an earlier one (debug turns off what
	# qemu turns on): only the last word on each option counts.
	missing=$(awk '/^CONFIG_[A-Z0-9_]+=[ym]$/ { split($0, a, "="); last[a[1]] = $0 }
		/^# CONFIG_[A-Z0-9_]+ is not set$/ { last[$2] = $0 }
		END { for (k in last) print last[k] }' "$BUILD/fragment.config" |
		while read -r l; do
			case $l in
			"# "*) o=${l#\# }; o=${o%% *}; ! grep -q "^$o=" "$BUILD/.config" || echo "$l" ;;
			*) grep -qx "$l" "$BUILD/.config" || echo "$l" ;;
			esac
		done)
	[ -z "$missing" ] || die "options that did not stick in $flavour: $missing"
}

if [ ! -f "$BUILD/.built" ]; then
	# A configuration change need not rebuild everything: kbuild rebuilds
	# exactly what the changed options reach, so a stale build of this
	# flavour becomes the new one (it would be removed below anyway).
	if [ ! -d "$BUILD" ]; then
		for old in "$CACHE/build/$flavour"-*; do
			[ -f "$old/.built" ] || continue
			log "reusing $(basename "$old") for $(basename "$BUILD")"
			rm -f "$old/.built"
			mv "$old" "$BUILD"
			break
		done
	fi
	step "configure $flavour kernel" configure
	step "build $flavour kernel ($(basename "$IMAGE"), modules)" kmake -j"$(nproc)" "$(basename "$IMAGE")" modules
	touch "$BUILD/.built"
	# Builds of this flavour under other keys are stale now.
	for old in "$CACHE/build/$flavour"-*; do
		[ "$old" = "$BUILD" ] || rm -rf "$old"
	done
fi
echo "$BUILD"
