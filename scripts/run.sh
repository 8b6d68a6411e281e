#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The run command: build what is missing, boot QEMU virt arm64, load ion,
# list the heaps, allocate, map, write, sync and free a buffer.
. "$(dirname "$0")/lib.sh"

flavour=${1:-qemu}
"$TOP/scripts/buildroot.sh"
log=$("$TOP/scripts/vm.sh" "$flavour" run)
sed -n '/^@@@ insmod/,/^@@@ rc=/p' "$log" | tr -d '\r'
log "console log: $log"
grep -q '^@@@ rc=0' "$log" || die "the demo failed"
