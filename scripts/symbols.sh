#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What ion_rs.ko imports from the kernel (nm -u), split as a GKI vendor
# module would need it: the C symbols, which a KMI symbol list carries, and
# the Rust kernel-crate symbols (demangled, so that the list does not
# depend on the build's crate hashes), which no KMI list carries today.
# From the module built for Debian's 16 KiB arm64 kernel (a kernel without
# KUnit, as a product kernel is: no test code in the list).
#
#   scripts/symbols.sh            prints the list (make symbols)
#   scripts/symbols.sh --check    fails if Documentation/gki-symbols.txt
#                                 is not what it prints
. "$(dirname "$0")/lib.sh"

ko=$CACHE/mod/debian-arm64-16k/ion_rs.ko
[ -f "$ko" ] || "$TOP/scripts/board.sh" build debian-16k >/dev/null

list() {
	local syms c r
	syms=$(inroot llvm-nm -u "$ko" | awk '{print $2}')
	c=$(echo "$syms" | grep -v '^_R' | LC_ALL=C sort -u)
	r=$(echo "$syms" | grep '^_R' | inroot llvm-cxxfilt | LC_ALL=C sort -u)
	echo "# ion_rs.ko's imports against Debian's 7.3 arm64-16k kernel; 'make symbols'"
	echo "# regenerates this file's content, and make test checks it."
	echo "#"
	echo "# C symbols ($(echo "$c" | grep -c .)): what a GKI KMI symbol list must carry."
	echo "$c"
	echo "#"
	echo "# Rust kernel-crate and core symbols ($(echo "$r" | grep -c .)): no KMI list"
	echo "# carries these; a GKI kernel would have to export them, with versions."
	echo "$r"
}

if [ "${1:-}" = --check ]; then
	want=$TOP/Documentation/gki-symbols.txt
	if ! list | diff -u "$want" - >&2; then
		log "Documentation/gki-symbols.txt is stale: run 'make symbols > Documentation/gki-symbols.txt'"
		exit 1
	fi
	log "Documentation/gki-symbols.txt matches the module's imports"
else
	list
fi
