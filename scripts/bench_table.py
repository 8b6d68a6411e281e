#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise ion_bench's JSON: per test and size, the median latency of
rust-ion and of the dma-buf system heap (mean over rounds), and the ratio
dma-heap / ion (above 1: rust-ion is faster) with its spread over rounds.
With a second JSON (the same benchmark on another build of the module, in
the same boot), a last column gives that build's ratio beside this one's."""
import json
import statistics
import sys
from collections import defaultdict



def load(path):
    by = defaultdict(list)
    for r in json.load(open(path)):
        by[(r["test"], r["size"], r["allocator"])].append(r["median_us"])
    return by


def ratios(by, test, size):
    ion, heap = by.get((test, size, "ion"), []), by.get((test, size, "dma-heap"), [])
    return [h / i for i, h in zip(ion, heap) if i > 0]


by = load(sys.argv[1])
before = load(sys.argv[2]) if len(sys.argv) > 2 else None

print(f"{'test':<20} {'size':>9} {'ion us':>10} {'dma-heap us':>12} {'ratio':>7}  "
      f"{'spread (rounds)':<18}" + (f" {'before':>7}" if before else ""))
memset = by.get(("memset", 32 << 20, "cpu"))
seen = []
for (test, size, alloc) in by:
    if alloc != "ion" or (test, size) in seen:
        continue
    seen.append((test, size))
    ion, heap = by[(test, size, "ion")], by.get((test, size, "dma-heap"), [])
    rs = ratios(by, test, size)
    spread = f"{min(rs):.2f}-{max(rs):.2f} ({len(rs)})" if rs else "-"
    line = (f"{test:<20} {size:>9} {statistics.mean(ion):>10.1f} "
            f"{statistics.mean(heap):>12.1f} {statistics.mean(rs):>7.2f}  {spread:<18}")
    if before:
        b = ratios(before, test, size)
        line += f" {statistics.mean(b):>7.2f}" if b else f" {'-':>7}"
    print(line)
if memset:
    bw = (32 << 20) / statistics.mean(memset) / 1e3
    print(f"memset bandwidth: {bw:.2f} GB/s (32 MiB, median over runs)")
    cold = by.get(("alloc_cold", 32 << 20, "ion"))
    if cold:
        zbw = (32 << 20) / statistics.mean(cold) / 1e3
        print(f"rust-ion cold 32 MiB allocation: {zbw:.2f} GB/s = {100 * zbw / bw:.0f}% of memset")
