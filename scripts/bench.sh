#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark: rust-ion against the kernel's dma-buf system heap, in the
# same boot, with no swiotlb bouncing and no debug options: on QEMU virt
# arm64 (TCG) and, where /dev/kvm is usable, on an x86_64 KVM guest, whose
# timings are closer to hardware.
#   scripts/bench.sh [ROUNDS]   JSON: ~/.cache/rust-ion/out/bench-<guest>.json
#   RUST_ION_ARGS=pool_zero_on_alloc=0 scripts/bench.sh   (module parameters)
#   RUST_ION_BENCH_BEFORE=REV scripts/bench.sh   also the module of commit
#       REV, in the same boot, after this one: the table gains its ratios
#   RUST_ION_BENCH_BEFORE=HEAD RUST_ION_BENCH_ACCOUNTING=0 \
#   RUST_ION_APPEND="dma_heap.mem_accounting=1 rust_ion.memcg=bench \
#   rust_ion.before_args=mem_accounting=0" scripts/bench.sh
#       one boot, both heaps charged, then the same module uncharged:
#       what charging costs rust-ion, in one boot
#   RUST_ION_BENCH_ACCOUNTING=0 scripts/bench.sh   without the second boot,
#       which runs it all again with memory-cgroup accounting on for both
#       (dma_heap.mem_accounting=1, and rust-ion's default), in a child
#       cgroup: the price of charging, for both heaps
. "$(dirname "$0")/lib.sh"

# The module of commit $1, built as board_module builds, for flavour $2,
# for a before/after comparison.
before_module() {
	local rev=$1 f=$2 wt=$CACHE/before/src ko
	rm -rf "$wt"
	git -C "$TOP" worktree prune
	git -C "$TOP" worktree add -f --detach "$wt" "$rev" >/dev/null || return 1
	ko=$(board_module "$wt" "$f" "$CACHE/before/mod-$f") || return 1
	git -C "$TOP" worktree remove --force "$wt"
	echo "$ko"
}

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
	ko=$(step "module ($f, as a board builds it)" board_module "$TOP" "$f" "$CACHE/bench/mod-$f") ||
		die "cannot build the module"
	before_ko=
	if [ -n "${RUST_ION_BENCH_BEFORE:-}" ]; then
		before_ko=$(step "module of $RUST_ION_BENCH_BEFORE ($f)" before_module \
			"$RUST_ION_BENCH_BEFORE" "$f") || die "cannot build $RUST_ION_BENCH_BEFORE"
	fi
	# In the first boot rust-ion charges as the kernel's heap does: not at
	# all, unless RUST_ION_APPEND turns dma_heap.mem_accounting on.
	log=$(RUST_ION_NO_SWIOTLB=1 RUST_ION_BENCH_ROUNDS=$rounds RUST_ION_VM_TIMEOUT=900 \
		RUST_ION_ARGS="mem_accounting=-1${RUST_ION_ARGS:+,$RUST_ION_ARGS}" \
		RUST_ION_KO=$ko RUST_ION_BEFORE_KO=$before_ko "$TOP/scripts/vm.sh" "$f" bench)
	grep -q '^@@@ rc=0' "$log" || die "the benchmark failed: $log"
	json=$CACHE/out/bench-$f.json
	sed -n '/^@@@ BEGIN bench.json/,/^@@@ END bench.json/p' "$log" | sed '1d;$d' |
		tr -d '\r' >"$json"
	set -- "$json"
	if [ -n "$before_ko" ]; then
		bjson=$CACHE/out/bench-$f-before.json
		sed -n '/^@@@ BEGIN bench-before.json/,/^@@@ END bench-before.json/p' "$log" |
			sed '1d;$d' | tr -d '\r' >"$bjson"
		[ -s "$bjson" ] || die "the module of $RUST_ION_BENCH_BEFORE did not run: $log"
		set -- "$json" "$bjson"
	fi
	what="arm64, QEMU TCG"
	if [ "$f" = x86 ]; then
		what="x86_64, QEMU TCG"
		kvm_usable && what="x86_64, KVM"
	fi
	echo "== $f guest ($what): $rounds rounds"
	inroot python3 "$TOP/scripts/bench_table.py" "$@"
	log "JSON: $json"
	[ "${RUST_ION_BENCH_ACCOUNTING:-1}" = 1 ] || continue
	log=$(RUST_ION_NO_SWIOTLB=1 RUST_ION_BENCH_ROUNDS=$rounds RUST_ION_VM_TIMEOUT=900 \
		RUST_ION_APPEND="dma_heap.mem_accounting=1 rust_ion.memcg=bench" \
		RUST_ION_KO=$ko "$TOP/scripts/vm.sh" "$f" bench)
	grep -q '^@@@ rc=0' "$log" && ! grep -q '^@@@ FAIL' "$log" ||
		die "the benchmark with accounting failed: $log"
	grep -q '^mem_accounting: mem_accounting 1, dma_heap.s Y' "$log" ||
		die "accounting was not on for both heaps: $log"
	json=$CACHE/out/bench-$f-memcg.json
	sed -n '/^@@@ BEGIN bench.json/,/^@@@ END bench.json/p' "$log" | sed '1d;$d' |
		tr -d '\r' >"$json"
	echo "== $f guest ($what), memory-cgroup accounting on for both heaps: $rounds rounds"
	inroot python3 "$TOP/scripts/bench_table.py" "$json"
	log "JSON: $json"
done
