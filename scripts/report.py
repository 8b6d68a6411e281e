#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read the guests' console logs and judge the run.

usage: report.py NAME=CONSOLE.LOG ...

Prints one TAP line per test (kselftests, and KUnit cases from dmesg), every
kernel report found, and a last line "N passed, N failed, N skipped". Exits
non-zero on any failure, any kernel report, a guest that did not finish, a
test binary that did not finish its plan, or a run in which nothing passed.
"""
import re
import sys

RESULT = re.compile(r"^(not ok|ok) (\d+) (.*?)(?:\s+#\s*(SKIP|TODO)\b(.*))?$")
KUNIT_CASE = re.compile(r"^ {4}(not ok|ok) (\d+) (\S.*?)(?:\s+#\s*(SKIP)\b(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)$")
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
# What the kernel prints when something is wrong. Any of these fails the run.
REPORTS = [
    r"\bBUG:", r"\bWARNING:", r"\bOops\b", r"KASAN:", r"Kernel panic",
    r"suspected memory leak", r"unreferenced object", r"possible circular locking",
    r"possible recursive locking", r"inconsistent lock state", r"suspicious RCU usage",
    r"lockdep is turned off", r"DMA-API: (?!preallocated|debugging enabled)", r"Unable to handle kernel", r"UBSAN:", r"list_(add|del) corruption",
    r"rcu_sched self-detected stall", r"hung_task", r"Call trace:", r"@@@ FAIL",
    r"blocked for more than", r"soft lockup", r"enqueued on deprecated workqueue",
]
REPORT = re.compile("|".join(REPORTS))


def judge(name, path):
    counts = {"pass": 0, "fail": 0, "skip": 0}
    problems = []
    lines = open(path, errors="replace").read().splitlines()

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

    # Under fault injection the kernel's own allocation-failure report
    # (warn_alloc: "page allocation failure" or "vmalloc error", then a
    # stack dump) is expected; its "Call trace:" is no finding there. Any
    # other report in those lines still is.
    since_alloc_report = 99
    for ln in lines:
        injected = ln.startswith("[injected]")
        if injected and re.search(r"page allocation failure|vmalloc error", ln):
            since_alloc_report = 0
        since_alloc_report += 1
        if injected and since_alloc_report < 12 and "Call trace:" in ln:
            continue
        if REPORT.search(ln):
            problems.append(ln.strip())

    section = None
    plan = seen = 0
    in_dmesg = finished = False
    kunit_suite = None
    kunit_cases = kunit_plan = kunit_seen = 0
    # KUnit runs at every insmod: a case counts once per kernel, and fails
    # if any of its runs failed. Insertion order keeps the report stable.
    kunit = {}
    for raw in lines:
        ln = raw.rstrip("\r")
        m = re.match(r"^@@@ BEGIN kselftest (\S+)", ln)
        if m:
            section, plan, seen = m.group(1), None, 0
            skipped_all = False
            continue
        m = re.match(r"^@@@ END kselftest (\S+) rc=(\d+)", ln)
        if m and section:
            if plan is None or seen != plan:
                result(False, f"{section}: plan {plan}, {seen} results (did it crash?)")
            elif m.group(2) != "0" and counts["fail"] == 0 and not (skipped_all and m.group(2) == "4"):
                result(False, f"{section}: exit status {m.group(2)}")
            section = None
            continue
        if section:
            m = re.match(r"^1\.\.0 # SKIP\b(.*)$", ln)
            if m:
                # A whole program skipped (no such feature on this kernel).
                plan = seen = 1
                skipped_all = True
                result(True, f"{section}:{m.group(1)}", skip=True)
                continue
            m = PLAN.match(ln)
            if m:
                plan = int(m.group(1))
            m = RESULT.match(ln)
            if m:
                seen += 1
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
                    kunit.setdefault(f"kunit {kunit_suite}: plan {kunit_plan}, {kunit_seen} results", []).append("fail")
                kunit_suite = None
                continue
            m = KUNIT_CASE.match(body)
            if m and kunit_suite:
                kunit_cases += 1
                kunit_seen += 1
                what = "skip" if m.group(4) == "SKIP" else "pass" if m.group(1) == "ok" else "fail"
                kunit.setdefault(f"kunit {kunit_suite}: {m.group(3)}", []).append(what)
    for what, runs in kunit.items():
        runs_note = f" ({len(runs)} runs)" if len(runs) > 1 else ""
        if "fail" in runs:
            result(False, what + runs_note)
        else:
            result(True, what + runs_note, all(r == "skip" for r in runs))
    if section:
        result(False, f"{section}: the guest stopped inside this test")
    if not finished:
        problems.append("the guest did not finish (hang, crash or timeout)")
    if "rust_ion.mode=test" in open(path, errors="replace").read() and kunit_cases == 0:
        problems.append("no KUnit case ran")
    for p in problems:
        print(f"# [{name}] kernel report: {p}")
    return counts, problems


def main(argv):
    total = {"pass": 0, "fail": 0, "skip": 0}
    bad = 0
    for arg in argv:
        name, path = arg.split("=", 1)
        counts, problems = judge(name, path)
        for k in total:
            total[k] += counts[k]
        if problems:
            # A kernel report is a failure of its own, even if every test passed.
            total["fail"] += 1
            print(f"not ok - [{name}] console free of kernel reports ({path})")
            bad = 1
    if total["pass"] == 0:
        print("# nothing passed: a run that tests nothing is not green")
        bad = 1
    print(f"{total['pass']} passed, {total['fail']} failed, {total['skip']} skipped")
    return 1 if bad or total["fail"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
