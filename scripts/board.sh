#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A board's owner's path: ion_rs.ko for Debian's own arm64 kernel, built
# from Debian's packages and nothing else (scripts/debian.sh), and its
# installation.
#
#   scripts/board.sh default                 debian or debian-16k, for the
#                                            running arm64 Debian kernel
#   scripts/board.sh build KERNEL            prints the module's directory
#   scripts/board.sh install KERNEL [ROOT]   ROOT/lib/modules/<release>/
#                                            updates/ion_rs.ko, then depmod
#
# KERNEL is debian (arm64, 4 KiB pages) or debian-16k (arm64-16k). The
# kernel's release must be the one of the linux-source-7.3 upload the
# project builds from; debian.sh says so if it is not.
. "$(dirname "$0")/lib.sh"

# The Debian flavour of KERNEL.
flavour_of() {
	case $1 in
	debian) echo arm64 ;;
	debian-16k) echo arm64-16k ;;
	*) die "KERNEL=$1: only debian and debian-16k (Debian's arm64 kernels) are known" ;;
	esac
}

case ${1:-} in
default)
	# The running kernel, on an arm64 Debian machine; elsewhere nothing
	# to guess from, and the 16 KiB flavour that make test boots.
	r=$(uname -r)
	case $(uname -m)-$r in
	aarch64-*+deb*-arm64-16k) echo debian-16k ;;
	aarch64-*+deb*-arm64) echo debian ;;
	*) echo debian-16k ;;
	esac
	;;
build)
	f=$(flavour_of "${2:?usage: board.sh build KERNEL}")
	"$TOP/scripts/buildroot.sh" >&2
	KB=$("$TOP/scripts/debian.sh" "$f")
	"$TOP/scripts/module.sh" "debian-$f" "$KB"
	;;
install)
	f=$(flavour_of "${2:?usage: board.sh install KERNEL [ROOT]}")
	root=${3:-}
	KB=$("$TOP/scripts/debian.sh" "$f")
	MOD=$CACHE/mod/debian-$f
	[ -f "$MOD/ion_rs.ko" ] || die "no ion_rs.ko for $f: make module KERNEL=$2 first"
	rel=$(cat "$KB/include/config/kernel.release")
	dir=${root:+$root}/lib/modules/$rel/updates
	mkdir -p "$dir"
	install -m 0644 "$MOD/ion_rs.ko" "$dir/ion_rs.ko"
	# depmod of the installed release: Debian's own modules.* when ROOT is
	# the system, a staging tree's otherwise (its updates/ alone). A host
	# without kmod uses the build root's, which sees only the cache and the
	# work tree.
	if command -v depmod >/dev/null; then
		depmod -b "${root:-/}" "$rel"
	else
		case $(readlink -f "${root:-/}") in
		"$CACHE"/* | "$TOP"/*) inroot depmod -b "$root" "$rel" ;;
		*) die "no depmod here (apt-get install kmod), and the build root cannot see $root" ;;
		esac
	fi
	# Console users get the nodes whose every byte is charged (see the
	# file): udev reads it at the next uevent of each node.
	rules=${root:+$root}/etc/udev/rules.d
	mkdir -p "$rules"
	install -m 0644 "$TOP/udev/70-ion-rs.rules" "$rules/70-ion-rs.rules"
	log "installed $rules/70-ion-rs.rules: console users get the charged nodes that /sys/devices/faux/ion_rs/charged lists"
	log "installed $dir/ion_rs.ko; modprobe ion_rs loads it (unsigned: it taints the kernel)"
	;;
*) die "usage: board.sh default|build KERNEL|install KERNEL [ROOT]" ;;
esac
