#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read the guests' console logs and judge the run against the manifest.

usage: report.py [--all] [--manifest FILE] BOOT=CONSOLE.LOG ...
       report.py --print-manifest BOOT=CONSOLE.LOG ...

Prints one TAP line per test (kselftests, and KUnit cases from dmesg), every
kernel report found, one line per section of scripts/manifest.txt that is
missing, short or skipped more than it may, and last "N passed, N failed,
N skipped" after a line "sections: N of N expected ran". Exits non-zero on
any failure, any kernel report, a guest that did not finish, or a section
that the manifest expects and did not run as it should. With --all every
boot of the manifest must be given; without it, the boots left out are
named (FLAVOURS=qemu, a developer's fast path). --print-manifest prints
what the logs ran, in the manifest's form, with each section's count and
skips as they were: the starting point of a change to the manifest.
"""
import contextlib
import io
import os
import re
import sys

RESULT = re.compile(r"^(not ok|ok) (\d+) (.*?)(?:\s+#\s*(SKIP|TODO)\b(.*))?$")
KUNIT_CASE = re.compile(r"^ {4}(not ok|ok) (\d+) (\S.*?)(?:\s+#\s*(SKIP)\b(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)$")
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
# What the kernel prints when something is wrong. Any of these fails the run.
# Stack dumps: arm64 says "Call trace:", x86 "Call Trace:". RCU stalls:
# "rcu: INFO: rcu_sched detected stalls on CPUs/tasks", "... self-detected
# stall on CPU", "... detected expedited stalls", and the tasks flavours'
# "rcu_tasks detected stalls on tasks".
REPORTS = [
    r"\bBUG:", r"\bWARNING:", r"\bOops\b", r"KASAN:", r"Kernel panic",
    r"suspected memory leak", r"unreferenced object", r"possible circular locking",
    r"possible recursive locking", r"inconsistent lock state", r"suspicious RCU usage",
    r"lockdep is turned off", r"DMA-API: (?!preallocated|debugging enabled)",
    r"Unable to handle kernel", r"UBSAN:", r"list_(add|del) corruption",
    r"rcu\w*: INFO:", r"INFO: rcu", r"self-detected stall", r"detected (expedited )?stalls",
    r"rcu_tasks\w* detected stalls", r"hung_task", r"Call [Tt]race:", r"@@@ FAIL",
    r"blocked for more than", r"soft lockup", r"hard LOCKUP", r"enqueued on deprecated workqueue",
    r"printk messages dropped", r"general protection fault", r"stack-protector",
]
REPORT = re.compile("|".join(REPORTS))
TRACE = re.compile(r"Call [Tt]race:")
ALLOC_FAILURE = re.compile(r"page allocation failure|vmalloc error|"
                           r"jump_label may not work properly|"
                           r"__kmem_cache_create_args\(\S+\) failed with error -\d+")
# The kernel's own WARNs that follow an injected allocation failure in the
# module loader: jump_label_module_notify() warns when it cannot allocate a
# module's jump-label entries, and jump_label_del_module() then warns that
# the key was never linked.
ALLOC_FAILURE_WARN = re.compile(r"WARNING: kernel/jump_label\.c:\d+ at jump_label_(module_notify|del_module)\+")
# Sections that inject allocation failures on purpose: the kernel's own
# report of one (warn_alloc, or the WARNs above, then a stack dump) is
# expected inside them.
INJECTING = {"ion_insmod_walk"}


def read_manifest(path):
    """{boot: {"sections": {name: (min, skips, whole_skip)}, "heaps": str}}"""
    boots = {}
    for n, raw in enumerate(open(path), 1):
        ln = raw.split("#", 1)[0].split()
        if not ln:
            continue
        boot, what = ln[0], ln[1]
        b = boots.setdefault(boot, {"sections": {}, "heaps": None, "extra": False})
        if what == "@extra":
            b["extra"] = True
            continue
        if what == "@heaps":
            b["heaps"] = ln[2]
            continue
        if len(ln) < 4 or not ln[2].isdigit() or not ln[3].isdigit():
            sys.exit(f"{path}:{n}: want BOOT SECTION MIN SKIPS [whole-skip]")
        b["sections"][what] = (int(ln[2]), int(ln[3]), "whole-skip" in ln[4:])
    return boots


def judge(name, path, want):
    counts = {"pass": 0, "fail": 0, "skip": 0}
    problems = []
    text = open(path, errors="replace").read()
    lines = text.splitlines()

    def result(ok, what, skip=False):
        if skip:
            counts["skip"] += 1
            print(f"ok - [{name}] {what} # SKIP")
        elif ok:
            counts["pass"] += 1
            print(f"ok - [{name}] {what}")
        else:
            counts["fail"] += 1
            print(f"not ok - [{name}] {what}")

    # Every line of the console is judged: kernel messages at warning level
    # and above reach it as they happen (loglevel=5), dmesg dumps add the
    # rest. Under fault injection the kernel's own allocation-failure
    # report (warn_alloc: "page allocation failure" or "vmalloc error";
    # slab's "__kmem_cache_create_args(NAME) failed with error -12"; then a
    # stack dump) is expected, in the injecting sections and in the
    # dmesg they leave ("[injected]"); its stack dump is no finding there.
    # Any other report in those lines still is.
    since_alloc_report = 99
    current = None
    for ln in lines:
        m = re.match(r"^@@@ (BEGIN|END) kselftest (\S+)", ln)
        if m:
            current = m.group(2) if m.group(1) == "BEGIN" else None
        injected = ln.startswith("[injected]") or current in INJECTING
        if injected and ALLOC_FAILURE.search(ln):
            since_alloc_report = 0
        since_alloc_report += 1
        if injected and since_alloc_report < 40 and ALLOC_FAILURE_WARN.search(ln):
            # Its own stack dump follows.
            since_alloc_report = 0
            continue
        if injected and since_alloc_report < 40 and TRACE.search(ln):
            continue
        if REPORT.search(ln):
            problems.append(ln.strip())

    # Per section: [results, skips, skipped as a whole].
    sections = {}
    section = None
    plan = seen = 0
    skipped_all = runner = False
    in_dmesg = finished = False
    heaps = None
    kunit_suite = None
    kunit_cases = kunit_plan = kunit_seen = 0
    # KUnit runs at every insmod: a case counts once per kernel, and fails
    # if any of its runs failed. Insertion order keeps the report stable.
    kunit = {}

    def close_section(rc):
        """Judges the open section's plan and exit status."""
        if plan is None or seen != plan:
            result(False, f"{section}: plan {plan}, {seen} results (did it crash?)")
        elif rc is None:
            result(False, f"{section}: no END line (lost, or the guest moved on)")
        elif rc != "0" and not (skipped_all and rc == "4"):
            # A program that exits non-zero failed, whatever it printed.
            result(False, f"{section}: exit status {rc}")

    for raw in lines:
        ln = raw.rstrip("\r")
        m = re.match(r"^@@@ BEGIN kselftest (\S+)", ln)
        if m:
            if section:
                close_section(None)
            section, plan, seen = m.group(1), None, 0
            skipped_all = runner = False
            if section in sections:
                result(False, f"{section}: ran twice")
            sections[section] = [0, 0, False]
            continue
        m = re.match(r"^@@@ END kselftest (\S+) rc=(\d+)", ln)
        if m:
            if section != m.group(1):
                result(False, f"{m.group(1)}: END without its BEGIN")
            else:
                close_section(m.group(2))
            section = None
            continue
        m = re.match(r"^@@@ heaps (\S*)$", ln)
        if m:
            heaps = m.group(1)
            continue
        if section:
            # kselftest's runner (run_kselftest.sh): after its header, the
            # program's own TAP comes prefixed "# ", and the runner's
            # verdict on the program ends it.
            if re.match(r"^# selftests: \S+: \S+$", ln):
                runner, plan = True, None
                continue
            if runner:
                if not ln.startswith("# "):
                    m = RESULT.match(ln)
                    if m and m.group(1) == "not ok":
                        result(False, f"{section}: kselftest runner: {m.group(3)} {m.group(5) or ''}".rstrip())
                    continue
                ln = ln[2:]
            m = re.match(r"^1\.\.0 # SKIP\b(.*)$", ln)
            if m:
                # A whole program skipped: the manifest says whether it may.
                plan = seen = 1
                skipped_all = True
                sections[section][0] += 1
                sections[section][1] += 1
                sections[section][2] = True
                result(True, f"{section}:{m.group(1)}", skip=True)
                continue
            m = PLAN.match(ln)
            if m:
                plan = int(m.group(1))
            m = RESULT.match(ln)
            if m:
                seen += 1
                sections[section][0] += 1
                if m.group(4) == "SKIP":
                    sections[section][1] += 1
                result(m.group(1) == "ok", f"{section}: {m.group(3)}", m.group(4) == "SKIP")
            continue
        if ln.startswith("@@@ BEGIN dmesg"):
            in_dmesg = True
            continue
        if ln.startswith("@@@ END dmesg"):
            in_dmesg = False
            continue
        if ln.startswith("@@@ DONE"):
            finished = True
            continue
        if in_dmesg:
            body = STAMP.sub("", ln)
            m = re.match(r"^ {4}# Subtest: (\S+)", body)
            if m:
                kunit_suite = m.group(1)
                kunit_plan = None
                kunit_seen = 0
                continue
            m = re.match(r"^ {4}1\.\.(\d+)$", body)
            if m and kunit_suite:
                kunit_plan = int(m.group(1))
                continue
            m = re.match(r"^(not ok|ok) \d+ (\S+)", body)
            if m and kunit_suite == m.group(2):
                if kunit_plan != kunit_seen:
                    kunit.setdefault((kunit_suite, f"plan {kunit_plan}, {kunit_seen} results"), []).append("fail")
                kunit_suite = None
                continue
            m = KUNIT_CASE.match(body)
            if m and kunit_suite:
                kunit_cases += 1
                kunit_seen += 1
                what = "skip" if m.group(4) == "SKIP" else "pass" if m.group(1) == "ok" else "fail"
                kunit.setdefault((kunit_suite, m.group(3)), []).append(what)
    if section:
        result(False, f"{section}: the guest stopped inside this test")
    for (suite, case), runs in kunit.items():
        runs_note = f" ({len(runs)} runs)" if len(runs) > 1 else ""
        s = sections.setdefault(f"kunit:{suite}", [0, 0, False])
        s[0] += 1
        skip = all(r == "skip" for r in runs)
        s[1] += skip
        if "fail" in runs:
            result(False, f"kunit {suite}: {case}{runs_note}")
        else:
            result(True, f"kunit {suite}: {case}{runs_note}", skip)
    if not finished:
        problems.append("the guest did not finish (hang, crash or timeout)")
    if "rust_ion.mode=test" in text and kunit_cases == 0:
        problems.append("no KUnit case ran")

    # The manifest: every section this boot must run, with enough results
    # and no more skips than it allows; nothing it does not know.
    ran = 0
    for sec, (least, skips, whole) in want["sections"].items():
        got = sections.get(sec)
        if got is None:
            result(False, f"manifest: section {sec} did not run")
        elif got[2] and not whole:
            result(False, f"manifest: section {sec} skipped as a whole")
        elif not got[2] and got[0] < least:
            result(False, f"manifest: section {sec} has {got[0]} results, at least {least} expected")
        elif got[1] > skips:
            result(False, f"manifest: section {sec} skipped {got[1]}, at most {skips} expected")
        else:
            ran += 1
    for sec in sections:
        if sec not in want["sections"]:
            result(False, f"manifest: section {sec} is not in the manifest for {name}")
    if want["heaps"] is not None and heaps != want["heaps"]:
        result(False, f"manifest: heap ids {heaps}, expected {want['heaps']}")
    for p in dict.fromkeys(problems):
        print(f"# [{name}] kernel report: {p}")
    print(f"# [{name}] sections: {ran} of {len(want['sections'])} expected ran as expected")
    return counts, problems, ran, sections, heaps


def print_manifest(argv):
    """The manifest that the logs meet exactly."""
    print("# boot         section                          min  skips")
    for arg in argv:
        name, path = arg.split("=", 1)
        with contextlib.redirect_stdout(io.StringIO()):
            sections, heaps = judge(name, path, {"sections": {}, "heaps": None})[3:]
        print(f"{name:<14} @heaps {heaps}")
        for sec, (n, skips, whole) in sections.items():
            print(f"{name:<14} {sec:<32} {n:>4} {skips:>5}{'  whole-skip' if whole else ''}")


def main(argv):
    top = os.path.dirname(os.path.abspath(__file__))
    manifest = os.path.join(top, "manifest.txt")
    need_all = False
    while argv and argv[0].startswith("--"):
        if argv[0] == "--all":
            need_all = True
            argv = argv[1:]
        elif argv[0] == "--print-manifest":
            print_manifest(argv[1:])
            return 0
        elif argv[0] == "--manifest":
            manifest = argv[1]
            argv = argv[2:]
        else:
            sys.exit(__doc__)
    boots = read_manifest(manifest)
    total = {"pass": 0, "fail": 0, "skip": 0}
    bad = 0
    ran = expected = 0
    given = []
    for arg in argv:
        name, path = arg.split("=", 1)
        given.append(name)
        want = boots.get(name)
        if want is None:
            print(f"not ok - [{name}] boot is not in the manifest ({manifest})")
            total["fail"] += 1
            want = {"sections": {}, "heaps": None, "extra": False}
        counts, problems, n = judge(name, path, want)[:3]
        ran += n
        expected += len(want["sections"])
        for k in total:
            total[k] += counts[k]
        if problems:
            # A kernel report is a failure of its own, even if every test passed.
            total["fail"] += 1
            print(f"not ok - [{name}] console free of kernel reports ({path})")
            bad = 1
    # An @extra boot that did not run is no gap in the default run.
    left = [b for b in boots if b not in given and not boots[b]["extra"]]
    for b in left:
        secs = boots[b]["sections"]
        print(f"# left out: {b}, {len(secs)} sections ({', '.join(secs)})")
    if left and need_all:
        print(f"not ok - every boot of the manifest ran (left out: {', '.join(left)})")
        total["fail"] += 1
    if total["pass"] == 0:
        print("# nothing passed: a run that tests nothing is not green")
        bad = 1
    more = f"; left out: {', '.join(left)}" if left else ""
    print(f"sections: {ran} of {expected} expected ran{more}")
    print(f"{total['pass']} passed, {total['fail']} failed, {total['skip']} skipped")
    return 1 if bad or total["fail"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
