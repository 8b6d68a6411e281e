#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The test command: KUnit and kselftests in QEMU virt arm64, on the qemu and
# the debug kernel, on an x86_64 guest (KVM where usable, else TCG) so that
# the driver stays portable, and on Debian's own arm64 kernel with 16 KiB
# pages (debian16k: a kernel nobody here built, as a board runs one);
# FLAVOURS overrides. Judged by report.py: ends with "N passed, N failed,
# N skipped" and exits non-zero on any failure or kernel report.
. "$(dirname "$0")/lib.sh"

t0=$(date +%s)
step "build root" "$TOP/scripts/buildroot.sh"
"$TOP/scripts/kernel.sh" qemu >/dev/null
step "rustfmt and checkpatch" "$TOP/scripts/lint.sh" || die "lint failed"
# The judge first: crafted logs that report.py must find red.
step "report.py's own tests" inroot python3 "$TOP/scripts/test_report.py" ||
	die "report.py let a broken run through"
logs=()
for f in ${FLAVOURS:-qemu debug x86 debian16k}; do
	mode=test
	[ "$f" = debian16k ] && mode=debian
	log=$("$TOP/scripts/vm.sh" "$f" "$mode") || die "could not run the $f VM"
	logs+=("$f=$log")
	# Two more boots on the fast kernel: a device tree with bad heap
	# nodes, and DMA without bouncing, where vivid imports buffers.
	if [ "$f" = qemu ]; then
		for m in badnodes direct; do
			log=$("$TOP/scripts/vm.sh" qemu $m) || die "could not run the qemu $m VM"
			logs+=("qemu-$m=$log")
		done
	fi
done
rc=0
# The module's imports, as Documentation/gki-symbols.txt lists them for a
# GKI vendor module: regenerated from the Debian build, they must match.
if [[ " ${FLAVOURS:-debian16k} " == *" debian16k "* ]]; then
	step "imported symbols (make symbols)" "$TOP/scripts/symbols.sh" --check || rc=1
fi
# scripts/manifest.txt lists what every boot must run. The default run
# must run every boot of it; FLAVOURS= is a developer's fast path, and the
# report names what it left out.
all=--all
[ -n "${FLAVOURS:-}" ] && all=
inroot python3 "$TOP/scripts/report.py" $all "${logs[@]}" || rc=$?
log "console logs: ${logs[*]}"
log "test run: $(($(date +%s) - t0)) s, exit $rc"
exit $rc
