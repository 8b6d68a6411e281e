#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where a small allocation's time goes: boots the profile kernel (the qemu
# kernel plus the function-graph tracer, configs/profile.config) without
# swiotlb, runs ion_bench -q under function_graph and prints, per ioctl
# handler (rust-ion's and the dma-heap's), the mean time of each callee;
# then, per face, how often one allocate + close calls each kernel function
# (ion_bench -t under the function tracer). TCG and the tracer both slow everything: compare the two faces' columns
# with each other, not with make bench.
. "$(dirname "$0")/lib.sh"

"$TOP/scripts/buildroot.sh"
log=$(RUST_ION_NO_SWIOTLB=1 RUST_ION_VM_TIMEOUT=900 "$TOP/scripts/vm.sh" profile profile)
grep -q '^@@@ rc=0' "$log" || die "the profile failed: $log"
sed -n '/^@@@ BEGIN profile/,/^@@@ END profile/p' "$log" | sed '1d;$d' | grep -v '^@@@' | tr -d '\r'
