#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark: rust-ion against the kernel's dma-buf system heap, in the
# same boot of the fast kernel (no swiotlb bouncing, no debug options).
#   scripts/bench.sh [ROUNDS]     JSON lands in ~/.cache/rust-ion/out/bench.json
. "$(dirname "$0")/lib.sh"

rounds=${1:-3}
# Module parameters for this run, e.g. RUST_ION_ARGS=pool_zero_on_alloc=1
[ -n "${RUST_ION_ARGS:-}" ] && export RUST_ION_APPEND="rust_ion.args=$RUST_ION_ARGS"
"$TOP/scripts/buildroot.sh"
log=$(RUST_ION_NO_SWIOTLB=1 RUST_ION_BENCH_ROUNDS=$rounds RUST_ION_VM_TIMEOUT=900 \
	"$TOP/scripts/vm.sh" qemu bench)
grep -q '^@@@ rc=0' "$log" || die "the benchmark failed: $log"
sed -n '/^@@@ BEGIN bench.json/,/^@@@ END bench.json/p' "$log" | sed '1d;$d' | tr -d '\r' \
	>"$CACHE/out/bench.json"
inroot python3 "$TOP/scripts/bench_table.py" "$CACHE/out/bench.json"
log "JSON: $CACHE/out/bench.json"
