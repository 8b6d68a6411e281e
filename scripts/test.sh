#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The test command: KUnit and kselftests on the debug kernel (KASAN,
# lockdep, kmemleak, fault injection) in QEMU virt arm64, on an x86_64 guest
# (KVM where usable, else TCG) so that the driver stays portable, and on
# Debian's own arm64 kernel with 16 KiB pages (debian16k: a kernel nobody
# here built, as a board runs one), which also boots the device tree with
# bad heap nodes. Judged by report.py: ends with "N passed, N failed,
# N skipped" and exits non-zero on any failure or kernel report.
#
# FLAVOURS= overrides the kernels, for a developer's fast path: qemu is the
# debug kernel without its checkers, booted three ways (test, bad nodes,
# and direct DMA with vivid). The default run leaves it out: its sections
# are the debug boot's, and the bad-node and vivid boots run on Debian's
# kernel; its build is what `make run` and `make bench` boot.
. "$(dirname "$0")/lib.sh"

t0=$(date +%s)
step "build root" "$TOP/scripts/buildroot.sh"
"$TOP/scripts/kernel.sh" --unpack >/dev/null
# shellcheck disable=SC2206 # a list of words
flavours=(${FLAVOURS:-debug x86 debian16k})
# The later boots' kernels build in the background, at the lowest priority,
# while the first one's VM runs (a VM under TCG leaves most of a core
# idle); a boot whose kernel is not ready waits for it (kernel.sh and
# debian.sh hold a lock per flavour). Whatever fails there fails again in
# the foreground, with its log. x86 comes first: its build is the longest,
# and it soaks up what the debug boot leaves idle.
prebuild() {
	local f
	for f in "$@"; do
		case $f in
		debian16k) nice -n 19 "$TOP/scripts/debian.sh" arm64-16k ;;
		*) nice -n 19 "$TOP/scripts/kernel.sh" "$f" ;;
		esac >/dev/null || log "background build of $f failed (the boot retries it)"
	done
}
case ${flavours[0]} in
debian16k) ;;
*) "$TOP/scripts/kernel.sh" "${flavours[0]}" >/dev/null || die "building the ${flavours[0]} kernel failed" ;;
esac
mkdir -p "$CACHE/out"
prebuild "${flavours[@]:1}" 2>"$CACHE/out/prebuild.log" &
bg=$!
step "rustfmt and checkpatch" "$TOP/scripts/lint.sh" || die "lint failed"
# The judge first: crafted logs that report.py must find red.
step "report.py's own tests" inroot python3 "$TOP/scripts/test_report.py" ||
	die "report.py let a broken run through"
rc=0
# A boot's name in the manifest: its flavour, then its mode unless that is
# the flavour's usual one. Each boot adds NAME=LOG to a list, in the order
# the boots end.
booted=$(mktemp "$CACHE/out/boots.XXXXXX")
boot() {
	local f=$1 m=$2 log name=$1
	case $m in test | debian) ;; *) name=$f-$m ;; esac
	log=$("$TOP/scripts/vm.sh" "$f" "$m") || {
		log "could not run the $f $m VM"
		return 1
	}
	echo "$name=$log" >>"$booted"
}
boots_of() {
	case $1 in
	qemu) boot qemu test && boot qemu badnodes && boot qemu direct ;;
	debian16k) boot debian16k debian && boot debian16k badnodes ;;
	*) boot "$1" test ;;
	esac
}
# The first kernel's boots run beside the others': a VM under TCG keeps
# about 1.2 of the 2 cores busy (the debug boot, 60 % over its 380 s), so
# that one alone leaves most of a core idle.
# The others run at a lower priority: the first is the long pole (the
# debug boot, 410 s alone, against about 150 s for all the others).
boots_of "${flavours[0]}" &
first=$!
renice -n 10 -p $$ >/dev/null
for f in "${flavours[@]:1}"; do
	boots_of "$f" || rc=1
done
wait "$first" || rc=1
wait "$bg" || true
mapfile -t logs <"$booted"
rm -f "$booted"
# The module's imports, as Documentation/gki-symbols.txt lists them for a
# GKI vendor module: regenerated from the Debian build, they must match.
if [[ " ${flavours[*]} " == *" debian16k "* ]]; then
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
