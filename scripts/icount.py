#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make icount's table: instructions per allocate + close, per function.

Each face has two counts of one boot each (scripts/tbcount.c's output: a
line "address instructions runs" per translated kernel block), with N1 and
N2 allocations; a block's instructions times its runs go to the function
holding its address (System.map, and the module's .text symbols at the
address the guest printed). (count(N2) - count(N1)) / (N2 - N1) is one
allocate + close.

It also prints each face's footprint: the translated blocks that run on
every allocate + close (at least N2 - N1 more runs in the second count),
and the 64-byte lines and pages of code they span. Under TCG, what an
allocation costs after an idle period (make bench's paced rows) follows
how many distinct blocks it runs, not how often it runs them.
"""
import argparse
import bisect
import collections
import re


def kernel_symbols(system_map):
    syms = []
    with open(system_map) as f:
        for line in f:
            addr, kind, name = line.split()[:3]
            if kind in "tTwW":
                syms.append((int(addr, 16), name))
    return syms


def module_symbols(objdump_t, base):
    """Functions of the module's .text, from llvm-objdump -t --demangle."""
    syms = []
    with open(objdump_t) as f:
        for line in f:
            if "\t" not in line or " F .text\t" not in line:
                continue
            addr = int(line.split()[0], 16)
            name = line.split("\t", 1)[1].split(None, 1)[1].strip()
            # Paths dropped: <SystemHeap as HeapOps>::allocate.
            name = re.sub(r"\b(rust_ion|kernel|core|pin_init)::([a-z_0-9]+::(?=[A-Za-z_]))*",
                          "", name)
            syms.append((base + addr, "[ion_rs] " + name))
    return syms


def blocks(path):
    """(address, instructions, runs) of every translation of a block."""
    with open(path) as f:
        return [(int(v, 16), int(i), int(r)) for v, i, r in (line.split() for line in f)]


def per_function(b, addrs, names):
    counts = collections.Counter()
    for vaddr, insns, runs in b:
        i = bisect.bisect_right(addrs, vaddr) - 1
        counts[names[i] if i >= 0 else "?"] += insns * runs
    return counts


def footprint(lo, hi, n):
    """Blocks that ran at least once more per allocate + close, and the
    64-byte lines and 4 KiB pages of code they span (arm64: 4 bytes an
    instruction). The translations of one address count as one block."""
    def by_address(b):
        out = collections.defaultdict(lambda: [0, 0])
        for vaddr, insns, runs in b:
            out[vaddr][0] = max(out[vaddr][0], insns)
            out[vaddr][1] += runs
        return out
    lo, hi = by_address(lo), by_address(hi)
    run = [(a, i) for a, (i, r) in hi.items() if r - lo.get(a, (0, 0))[1] >= n]
    lines = {x >> 6 for a, i in run for x in range(a, a + 4 * i, 64)}
    lines |= {(a + 4 * i - 1) >> 6 for a, i in run}
    return len(run), len(lines), len({a >> 12 for a, _ in run})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--system-map", required=True)
    ap.add_argument("--module", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--runs", type=int, nargs=2, required=True)
    ap.add_argument("--bytes", type=int, required=True)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("face", nargs=4, help="ion N1, ion N2, dma-heap N1, dma-heap N2 counts")
    a = ap.parse_args()
    syms = sorted(kernel_symbols(a.system_map) + module_symbols(a.module, int(a.base, 16)))
    addrs = [s[0] for s in syms]
    names = [s[1] for s in syms]
    n = a.runs[1] - a.runs[0]
    per, foot = [], []
    for lo, hi in ((a.face[0], a.face[1]), (a.face[2], a.face[3])):
        lo, hi = blocks(lo), blocks(hi)
        c1 = per_function(lo, addrs, names)
        c2 = per_function(hi, addrs, names)
        per.append({k: (c2[k] - c1[k]) / n for k in set(c1) | set(c2)})
        foot.append(footprint(lo, hi, n))
    ion, heap = per
    keys = set(ion) | set(heap)

    def total(d, pred=lambda k: True):
        return sum(v for k, v in d.items() if pred(k))

    print(f"instructions per allocate + close of {a.bytes} bytes "
          f"(kernel code, one vCPU; ({a.runs[1]} - {a.runs[0]} runs) / {n})")
    print(f"{'':60} {'ion':>8} {'dma-heap':>9} {'ion - dma':>10}")
    for label, pred in (("all kernel code", lambda k: True),
                        ("rust-ion's module", lambda k: k.startswith("[ion_rs] ")),
                        ("Rust helpers (rust_helper_*)", lambda k: k.startswith("rust_helper_"))):
        i, h = total(ion, pred), total(heap, pred)
        print(f"{label:60} {i:8.0f} {h:9.0f} {i - h:10.0f}")
    for k, label in enumerate(("distinct blocks run every time", "their 64-byte lines",
                               "their 4 KiB pages")):
        i, h = foot[0][k], foot[1][k]
        print(f"{label:60} {i:8} {h:9} {i - h:10}")
    print()
    rows = sorted(keys, key=lambda k: -abs(ion.get(k, 0) - heap.get(k, 0)))
    for k in rows[:a.rows]:
        i, h = ion.get(k, 0), heap.get(k, 0)
        print(f"{k[:60]:60} {i:8.0f} {h:9.0f} {i - h:10.0f}")


if __name__ == "__main__":
    main()
