#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Instructions per allocate + close, per kernel function: rust-ion's
# /dev/ion against the dma-heap system heap, on the qemu kernel. A TCG
# plugin (scripts/tbcount.c) counts every run of every kernel translated
# block while ion_bench -c allocates and closes buffers on one face; each
# face boots twice, with 1000 and with 3000 buffers, and the difference
# over 2000 is one allocate + close, whatever else the boot did. One vCPU,
# so that no count depends on another CPU (a lock's spinning). Counts, not
# time: the same from run to run, and what TCG's time follows once the
# code is hot (make bench's back-to-back rows). Rust code is counted too,
# which the function tracer (make profile) cannot see.
#   scripts/icount.sh [BYTES]     (default 4096)
#   RUST_ION_APPEND="dma_heap.mem_accounting=1 rust_ion.memcg=bench" \
#   scripts/icount.sh             both heaps charged, in a child cgroup
. "$(dirname "$0")/lib.sh"

size=${1:-4096}
runs=(1000 3000)
out=$CACHE/icount
mkdir -p "$out"
"$TOP/scripts/buildroot.sh"
build=$("$TOP/scripts/kernel.sh" qemu) || die "no qemu kernel"
inroot gcc -O2 -Wall -shared -fPIC -fvisibility=hidden -o "$out/tbcount.so" \
	"$TOP/scripts/tbcount.c" || die "cannot build the plugin"
ko=$(step "module (qemu, as a board builds it)" board_module "$TOP" qemu "$out/mod") ||
	die "cannot build the module"
inroot llvm-objdump-19 -t --demangle "$ko" >"$out/module.syms"
counts=()
for face in ion dma-heap; do
	for n in "${runs[@]}"; do
		rm -f "$out/$face-$n.txt"
		# mem_accounting=-1: rust-ion charges as the kernel's heap does.
		log=$(RUST_ION_SMP=1 RUST_ION_NO_SWIOTLB=1 RUST_ION_OUT=icount RUST_ION_KO=$ko \
			RUST_ION_ARGS=mem_accounting=-1 RUST_ION_VM_TIMEOUT=600 \
			RUST_ION_QEMU_PLUGIN="$out/tbcount.so,out=$out/$face-$n.txt" \
			RUST_ION_APPEND="rust_ion.bench=-c,$n,-F,$face,-L,$size ${RUST_ION_APPEND:-}" \
			"$TOP/scripts/vm.sh" qemu bench)
		grep -q "icount: $n x $size on $face" "$log" || die "ion_bench -c did not finish: $log"
		[ -s "$out/$face-$n.txt" ] || die "the plugin wrote no counts: $out/$face-$n.txt"
		text=$(sed -n 's/.*icount: ion_rs .text \(0x[0-9a-f]*\).*/\1/p' "$log" | tr -d '\r')
		[ -z "${base:-}" ] || [ "$base" = "$text" ] ||
			die "the module's text moved between boots ($base, $text)"
		base=$text
		counts+=("$out/$face-$n.txt")
	done
done
inroot python3 "$TOP/scripts/icount.py" --system-map "$build/System.map" \
	--module "$out/module.syms" --base "$base" --runs "${runs[@]}" --bytes "$size" "${counts[@]}"
