#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise ion_bench's JSON: per test and size, the median latency of
rust-ion and of the dma-buf system heap (mean over rounds), and the ratio
dma-heap / ion (above 1: rust-ion is faster) with its spread over rounds."""
import json
import statistics
import sys
from collections import defaultdict

rows = json.load(open(sys.argv[1]))
by = defaultdict(list)
for r in rows:
    by[(r["test"], r["size"], r["allocator"])].append(r["median_us"])

print(f"{'test':<20} {'size':>9} {'ion us':>10} {'dma-heap us':>12} {'ratio':>7}  spread (rounds)")
memset = by.get(("memset", 32 << 20, "cpu"))
seen = []
for (test, size, alloc) in by:
    if alloc != "ion" or (test, size) in seen:
        continue
    seen.append((test, size))
    ion, heap = by[(test, size, "ion")], by.get((test, size, "dma-heap"), [])
    ratios = [h / i for i, h in zip(ion, heap) if i > 0]
    spread = f"{min(ratios):.2f}-{max(ratios):.2f} ({len(ratios)})" if ratios else "-"
    print(f"{test:<20} {size:>9} {statistics.mean(ion):>10.1f} "
          f"{statistics.mean(heap):>12.1f} {statistics.mean(ratios):>7.2f}  {spread}")
if memset:
    bw = (32 << 20) / statistics.mean(memset) / 1e3
    print(f"memset bandwidth: {bw:.2f} GB/s (32 MiB, median over runs)")
    cold = by.get(("alloc_cold", 32 << 20, "ion"))
    if cold:
        zbw = (32 << 20) / statistics.mean(cold) / 1e3
        print(f"rust-ion cold 32 MiB allocation: {zbw:.2f} GB/s = {100 * zbw / bw:.0f}% of memset")
