#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark: rust-ion against the kernel's dma-buf system heap, in the
# same boot, with no swiotlb bouncing and no debug options: on QEMU virt
# arm64 (TCG) and, where /dev/kvm is usable, on an x86_64 KVM guest, whose
# timings are closer to hardware.
#   scripts/bench.sh [ROUNDS]   JSON: ~/.cache/rust-ion/out/bench-<guest>.json
#   RUST_ION_ARGS=pool_zero_on_alloc=0 scripts/bench.sh   (module parameters)
. "$(dirname "$0")/lib.sh"

rounds=${1:-3}
"$TOP/scripts/buildroot.sh"
# The x86_64 guest runs where KVM is usable (lib.sh: kvm_usable); elsewhere
# RUST_ION_BENCH_GUESTS=x86 runs it under TCG, which is no closer to hardware.
guests=${RUST_ION_BENCH_GUESTS:-qemu x86}
for f in $guests; do
	if [ "$f" = x86 ] && [ -z "${RUST_ION_BENCH_GUESTS:-}" ] && ! kvm_usable; then
		log "no usable /dev/kvm (missing, or kvm_pvm): the x86_64 KVM guest is left out"
		continue
	fi
	log=$(RUST_ION_NO_SWIOTLB=1 RUST_ION_BENCH_ROUNDS=$rounds RUST_ION_VM_TIMEOUT=900 \
		"$TOP/scripts/vm.sh" "$f" bench)
	grep -q '^@@@ rc=0' "$log" || die "the benchmark failed: $log"
	json=$CACHE/out/bench-$f.json
	sed -n '/^@@@ BEGIN bench.json/,/^@@@ END bench.json/p' "$log" | sed '1d;$d' |
		tr -d '\r' >"$json"
	what="arm64, QEMU TCG"
	if [ "$f" = x86 ]; then
		what="x86_64, QEMU TCG"
		kvm_usable && what="x86_64, KVM"
	fi
	echo "== $f guest ($what): $rounds rounds"
	inroot python3 "$TOP/scripts/bench_table.py" "$json"
	log "JSON: $json"
done
