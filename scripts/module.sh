#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build ion_rs.ko both ways against a built kernel, warning-free:
#   - external: make -C BUILD M=TOP MO=... W=1 CLIPPY=1 (the .ko the VM loads)
#   - in-tree:  drivers/ion_rs in the kernel tree, CONFIG_ION_RS=m
#   scripts/module.sh FLAVOUR BUILD      prints the external output directory
# A Debian flavour (debian-arm64, debian-arm64-16k) is a tree that
# scripts/debian.sh prepared: Debian's compiler (GCC) instead of LLVM, no
# KUnit (Debian's kernel has none) and no in-tree build.
. "$(dirname "$0")/lib.sh"

flavour=$1
BUILD=$2
MOD=$CACHE/mod/$flavour
mkdir -p "$MOD"
SRC=$(readlink -f "$BUILD/source" 2>/dev/null || echo "$BUILD")
intree=
[ -f "$SRC/drivers/ion_rs/Kconfig" ] && intree=1
[ -n "$intree" ] && ln -sfn "$TOP" "$SRC/drivers/ion_rs"
# make judges by timestamps: objects built from another work tree (a second
# clone, an older checkout) may look newer than these sources. Start the
# in-tree objects afresh when the tree they came from is not this one.
if [ -n "$intree" ] && [ "$(cat "$BUILD/drivers/ion_rs/.rust-ion-tree" 2>/dev/null)" != "$TOP" ]; then
	rm -rf "$BUILD/drivers/ion_rs"
	mkdir -p "$BUILD/drivers/ion_rs"
	echo "$TOP" >"$BUILD/drivers/ion_rs/.rust-ion-tree"
fi

# The toolchain the kernel was built with: LLVM for ours, the compiler its
# .config names for Debian's.
tools=(LLVM=1)
kunit=CONFIG_ION_RS_KUNIT_TEST=y
case $flavour in
debian-*)
	cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$BUILD/.config")
	tools=(CROSS_COMPILE=aarch64-linux-gnu- CC="$cc" HOSTCC=gcc)
	grep -qx 'CONFIG_KUNIT=y' "$BUILD/.config" || kunit=
	;;
esac

# Warnings are errors here: rustc, clippy and W=1 C warnings alike.
checked_make() {
	local logf=$1
	shift
	inroot make -C "$BUILD" ARCH="$(karch "$flavour")" "${tools[@]}" -j"$(nproc)" "$@" >"$logf" 2>&1 || {
		cat "$logf" >&2
		return 1
	}
	if grep -E '(^|[ :])(warning|error|ERROR)(\[[a-z0-9_:]+\])?:' "$logf" >&2; then
		log "warnings in the build: $logf"
		return 1
	fi
}

step "external module build (W=1 CLIPPY=1, $flavour)" checked_make "$MOD/build.log" \
	M="$TOP" MO="$MOD" W=1 CLIPPY=1 \
	$ION_RS_ALL $kunit modules

# The kernel's `make rustdoc` documents its own crates, never a module's.
# So rustdoc runs here on the module crate, private items included, with
# the flags rustc had for it (kbuild's saved command for rust_ion.o), and
# any warning (a broken or ambiguous intra-doc link) fails the build. It
# is skipped while rust_ion.o is older than the last clean run.
module_rustdoc() {
	local cmd
	# Up to the first ';': x86 runs objtool on the object after rustc.
	cmd=$(sed -n 's/^savedcmd_rust_ion.o := \([^;]*\).*/\1/p' "$MOD/.rust_ion.o.cmd")
	[ -n "$cmd" ] || die "no saved rustc command in $MOD/.rust_ion.o.cmd"
	cmd=$(sed -e 's/ \(clippy-driver\|rustc\) / rustdoc /' -e 's/ -Zbinary_dep_depinfo=y//' \
		-e 's/ --out-dir [^ ]*//' -e 's/ --emit=[^ ]*//g' <<<"$cmd")
	rm -rf "$MOD/doc" "$MOD/rustdoc.ok"
	inroot bash -c "cd '$MOD' && RUSTC_BOOTSTRAP=1 $cmd --crate-name ion_rs \
		--document-private-items --output '$MOD/doc'" >"$MOD/rustdoc.log" 2>&1 || {
		cat "$MOD/rustdoc.log" >&2
		return 1
	}
	if grep -E '^(warning|error)' "$MOD/rustdoc.log" >/dev/null; then
		cat "$MOD/rustdoc.log" >&2
		return 1
	fi
	touch "$MOD/rustdoc.ok"
}
if [ -n "$NATIVE" ] && ! command -v rustdoc >/dev/null; then
	log "rustdoc ($flavour): no rustdoc on this machine, not run"
elif [ "$MOD/rustdoc.ok" -nt "$MOD/rust_ion.o" ]; then
	log "rustdoc ($flavour): rust_ion.o unchanged since the last clean run"
else
	step "rustdoc (private items, $flavour)" module_rustdoc
fi
# In-tree: the kernel's .config has CONFIG_ION_RS=m (see kernel.sh), so an
# incremental `modules` rebuilds only drivers/ion_rs. Even with nothing to
# rebuild, kbuild walks the whole tree (seconds per boot), so the build is
# skipped when the driver's sources are those it last built, warning-free.
srcsum=$( (echo "$BUILD"; cd "$TOP" && find . -path ./tools -prune -o -path ./.git -prune -o \
	\( -name '*.rs' -o -name '*.[ch]' -o -name Kbuild -o -name Kconfig -o -name Makefile \) \
	-type f -print | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16)
if [ -n "$intree" ] && [ "$(cat "$MOD/intree.sum" 2>/dev/null)" = "$srcsum" ] &&
	[ -f "$BUILD/drivers/ion_rs/ion_rs.ko" ]; then
	log "in-tree module build ($flavour): sources unchanged since the last warning-free build"
elif [ -n "$intree" ]; then
	rm -f "$MOD/intree.sum"
	step "in-tree module build ($flavour)" checked_make "$MOD/intree.log" RUST_ION_INTREE=1 modules
	[ -f "$BUILD/drivers/ion_rs/ion_rs.ko" ] || die "in-tree build made no ion_rs.ko"
	echo "$srcsum" >"$MOD/intree.sum"
else
	log "KDIR has no drivers/ion_rs hook: in-tree build skipped"
fi
# Without its tests, against a kernel with KUnit built in: the tests' cfg
# is the module's own (Kbuild), and a board may build the module so. Skipped
# as the in-tree build is.
if [ -n "$kunit" ] && [ "$(cat "$MOD-notests/notests.sum" 2>/dev/null)" = "$srcsum" ]; then
	log "module build without its tests ($flavour): sources unchanged since the last warning-free build"
elif [ -n "$kunit" ]; then
	mkdir -p "$MOD-notests"
	rm -f "$MOD-notests/notests.sum"
	step "module build without its tests (W=1 CLIPPY=1, $flavour)" checked_make \
		"$MOD-notests/build.log" M="$TOP" MO="$MOD-notests" W=1 CLIPPY=1 \
		$ION_RS_ALL CONFIG_ION_RS_KUNIT_TEST= modules
	echo "$srcsum" >"$MOD-notests/notests.sum"
fi
echo "$MOD"
