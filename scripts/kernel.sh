#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Unpack Debian's linux-source-7.3, apply patches/, and build one flavour
# (qemu, debug or x86) under O=. Prints the build directory on stdout.
#
#   scripts/kernel.sh qemu|debug|x86
#   scripts/kernel.sh --unpack      only fetch and unpack the source
#
# The build is cached by a hash of the kernel version, the configuration
# fragments and the patch series. The driver is built
# in-tree too: drivers/ion_rs is a link to this work tree, sourced by an
# `source` that the unpack step adds, so the same kernel tree checks
# both the in-tree (Kconfig) and the external (M=) build.
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: kernel.sh qemu|debug|x86|--unpack}
[ "$flavour" = --unpack ] || [ -f "$TOP/configs/$flavour.config" ] || die "no configs/$flavour.config"
if [ -n "$NATIVE" ]; then
	# KDIR= names a kernel already built (arm64, LLVM, Rust) with the
	# host's tools; it is used as it is, for every flavour.
	[ -f "$KDIR/$(kimage "$flavour")" ] || die "KDIR=$KDIR has no $(kimage "$flavour")"
	echo "$KDIR"
	exit 0
fi

kmake() {
	inroot make -s -C "$SRC" O="$BUILD" ARCH="$ARCH" LLVM=1 "$@"
}

fetch_source() {
	local dl=$CACHE/dl deb
	mkdir -p "$dl"
	deb=$(ls "$dl"/linux-source-"$KVER"_*.deb 2>/dev/null | tail -n1 || true)
	if [ -z "$deb" ]; then
		(cd "$dl" && apt_get download -qq -o APT::Sandbox::User=root "linux-source-$KVER" >&2)
		deb=$(ls "$dl"/linux-source-"$KVER"_*.deb | tail -n1)
	fi
	echo "$deb"
}

deb=$(step "fetch linux-source-$KVER" fetch_source)
debver=$(basename "$deb" .deb)
# The in-tree hook. The kernel's own build never descends into
# drivers/ion_rs, so that it does not depend on the driver's state (a
# broken driver still gets a kernel to be tested on); module.sh builds the
# in-tree module with RUST_ION_INTREE=1.
HOOK_KCONFIG='source "drivers/ion_rs/Kconfig"'
HOOK_MAKE='obj-$(if $(RUST_ION_INTREE),$(CONFIG_ION_RS)) += ion_rs/'
phash=$( (cat "$TOP"/patches/*.patch 2>/dev/null || true; echo "$HOOK_KCONFIG $HOOK_MAKE") |
	sha256sum | cut -c1-12)
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
	echo "$HOOK_KCONFIG" >>"$tmp/drivers/Kconfig"
	echo "$HOOK_MAKE" >>"$tmp/drivers/Makefile"
	mv "$tmp" "$SRC"
}
if [ ! -d "$SRC" ]; then
	step "unpack $debver" unpack
	# Trees unpacked under another patch series or hook are stale now
	# (Debian's own, debian.sh's, is not one of them).
	for old in "$CACHE/src/$debver"-*; do
		case $old in "$SRC" | *-debian) ;; *) rm -rf "$old" ;; esac
	done
fi
# drivers/ion_rs is this work tree: its Kconfig gives the kernel's .config
# the driver's options (CONFIG_ION_RS=m, set below), which the in-tree
# build needs; nothing else of it is read until module.sh builds it.
ln -sfn "$TOP" "$SRC/drivers/ion_rs"
if [ "$flavour" = --unpack ]; then
	echo "$SRC"
	exit 0
fi
ARCH=$(karch "$flavour")
IMAGE=$(kimage "$flavour")
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

# One build of a flavour at a time: test.sh builds the later boots'
# kernels in the background, and a boot that needs one waits here.
mkdir -p "$CACHE/build"
exec 9>"$CACHE/build/.$flavour.lock"
flock 9
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
