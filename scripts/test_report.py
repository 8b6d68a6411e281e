#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""report.py's own tests: crafted console logs that it must judge red (or
green), one for each way a run can go wrong without a test failing. Run by
scripts/test.sh before any guest boots; prints TAP and exits non-zero if
report.py lets one through.
"""
import contextlib
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

MANIFEST = """
boot  @heaps 0:sys
boot  prog   2 0
boot  maybe  1 1 whole-skip
boot  kunit:suite 1 0
boot  wrapped 2 0
"""

GOOD = """rust_ion.mode=test
@@@ heaps 0:sys
@@@ BEGIN dmesg
[    1.0]     # Subtest: suite
[    1.0]     1..1
[    1.0]     ok 1 case
[    1.0] ok 1 suite
@@@ END dmesg
@@@ BEGIN kselftest prog
1..2
ok 1 a
ok 2 b
@@@ END kselftest prog rc=0
@@@ BEGIN kselftest wrapped
TAP version 13
1..1
# timeout set to 600
# selftests: ion: wrapped
# TAP version 13
# 1..2
# # a comment
# ok 1 x
# ok 2 y
ok 1 selftests: ion: wrapped
# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0
@@@ END kselftest wrapped rc=0
@@@ BEGIN kselftest maybe
1..0 # SKIP no such feature
@@@ END kselftest maybe rc=4
@@@ DONE
"""

# What the kernel prints when an injected allocation failure hits a module's
# jump-label entries during load: expected inside the insmod walk only.
JUMP_LABEL_WARN = """[  153.76] Failed to allocate memory: jump_label may not work properly.
[  153.76] WARNING: kernel/jump_label.c:829 at jump_label_module_notify+0xa6c/0xacc, CPU#1: ion_insmod_walk/1646
[  153.76] Call trace:
[  153.77] WARNING: kernel/jump_label.c:783 at jump_label_del_module+0x520/0x684, CPU#1: ion_insmod_walk/1646
[  153.77] Call trace:
"""

# What slab prints when an injected failure hits kmem_cache_create() at load.
SLAB_CREATE_FAILED = """[  255.03] __kmem_cache_create_args(ion_rs_pool0_c4) failed with error -12
[  255.03] CPU: 0 UID: 0 PID: 2420 Comm: ion_insmod_walk Tainted: G        W  O     N  7.3.4 #1
[  255.03] Call trace:
"""

# (what, how the good log is changed, expected exit: 0 green, 1 red, and a
# line of the report that says why)
CASES = [
    ("a good log is green", lambda s: s, 0, "sections: 4 of 4 expected ran"),
    ("a missing section", lambda s: s.replace("@@@ BEGIN kselftest maybe\n1..0 # SKIP no such feature\n@@@ END kselftest maybe rc=4\n", ""), 1, "section maybe did not run"),
    ("a plan of 1..0", lambda s: s.replace("1..2\nok 1 a\nok 2 b\n", "1..0\n"), 1, "section prog has 0 results"),
    ("a whole-program skip the manifest does not allow",
     lambda s: s.replace("1..2\nok 1 a\nok 2 b\n", "1..0 # SKIP nothing\n").replace("prog rc=0", "prog rc=4"), 1, "section prog skipped as a whole"),
    ("a count under the minimum", lambda s: s.replace("1..2\nok 1 a\nok 2 b\n", "1..1\nok 1 a\n"), 1, "section prog has 1 results, at least 2"),
    ("more skips than allowed", lambda s: s.replace("ok 2 b\n", "ok 2 b # SKIP\n"), 1, "section prog skipped 1, at most 0"),
    ("a lost END line", lambda s: s.replace("@@@ END kselftest prog rc=0\n", ""), 1, "prog: no END line"),
    ("a section the manifest does not know",
     lambda s: s.replace("@@@ DONE", "@@@ BEGIN kselftest extra\n1..1\nok 1 x\n@@@ END kselftest extra rc=0\n@@@ DONE"), 1, "section extra is not in the manifest"),
    ("a missing heap", lambda s: s.replace("@@@ heaps 0:sys", "@@@ heaps "), 1, "heap ids , expected 0:sys"),
    ("an extra heap", lambda s: s.replace("@@@ heaps 0:sys", "@@@ heaps 0:sys,1:other"), 1, "heap ids 0:sys,1:other"),
    ("a missing KUnit suite", lambda s: s.replace("    # Subtest: suite", "    # Subtest: other"), 1, "section kunit:suite did not run"),
    ("x86's Call Trace: on the console",
     lambda s: s.replace("@@@ DONE", "[    9.0] Call Trace:\n@@@ DONE"), 1, "kernel report: [    9.0] Call Trace:"),
    ("a WARNING on the console inside a test",
     lambda s: s.replace("ok 1 a\n", "ok 1 a\n[    2.0] WARNING: CPU: 0 PID: 1 at tests.rs:9\n"), 1, "kernel report: [    2.0] WARNING:"),
    ("an RCU stall", lambda s: s.replace("@@@ DONE", "[    9.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n@@@ DONE"), 1, "detected stalls on CPUs"),
    ("an expedited RCU stall", lambda s: s.replace("@@@ DONE", "[    9.0] rcu: INFO: rcu_sched detected expedited stalls on CPUs/tasks: {\n@@@ DONE"), 1, "detected expedited stalls"),
    ("a self-detected RCU stall", lambda s: s.replace("@@@ DONE", "[    9.0] rcu: \t0-....: (1 GPs behind) self-detected stall on CPU\n@@@ DONE"), 1, "self-detected stall on CPU"),
    ("dropped console messages", lambda s: s.replace("@@@ DONE", "[    9.0] ** 12 printk messages dropped **\n@@@ DONE"), 1, "printk messages dropped"),
    ("a guest that did not finish", lambda s: s.replace("@@@ DONE\n", ""), 1, "the guest did not finish"),
    ("the kernel's jump-label WARN outside an injecting section",
     lambda s: s.replace("ok 1 a\n", "ok 1 a\n" + JUMP_LABEL_WARN), 1, "jump_label_module_notify"),
    ("slab's failed cache creation outside an injecting section",
     lambda s: s.replace("ok 1 a\n", "ok 1 a\n" + SLAB_CREATE_FAILED), 1, "kernel report: [  255.03] Call trace:"),
    ("a failure inside kselftest's runner", lambda s: s.replace("# ok 2 y", "# not ok 2 y"), 1, "wrapped: y"),
    ("a short plan inside kselftest's runner", lambda s: s.replace("# ok 2 y\n", ""), 1, "wrapped: plan 2, 1 results"),
    ("the runner's own verdict", lambda s: s.replace("ok 1 selftests: ion: wrapped", "not ok 1 selftests: ion: wrapped # exit=1"), 1,
     "kselftest runner: selftests: ion: wrapped"),
    ("a program that exits non-zero", lambda s: s.replace("prog rc=0", "prog rc=1"), 1, "prog: exit status 1"),
]


def run(log, manifest, need_all=False, boots=("boot",)):
    with tempfile.TemporaryDirectory() as d:
        m = os.path.join(d, "manifest")
        open(m, "w").write(manifest)
        args = ["--manifest", m] + (["--all"] if need_all else [])
        for b in boots:
            p = os.path.join(d, b + ".log")
            open(p, "w").write(log)
            args.append(f"{b}={p}")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = report.main(args)
    return rc, out.getvalue()


def main():
    cases = CASES + [("a boot left out under --all", None, 1, "every boot of the manifest ran (left out: other)"),
                     ("the kernel's jump-label WARN and slab's failed cache creation inside the insmod walk",
                      "walk", 0, "sections: 5 of 5"),
                     ("an @extra boot left out under --all", "extra", 0, "sections: 4 of 4 expected ran\n"),
                     ("an @extra boot that ran and failed", "extra-ran", 1, "[other] prog: exit status 1")]
    print("TAP version 13")
    print(f"1..{len(cases)}")
    bad = 0
    for i, (what, change, want, why) in enumerate(cases, 1):
        if change is None:
            rc, out = run(GOOD, MANIFEST + "other prog 1 0\n", need_all=True)
        elif change == "walk":
            walk = ("@@@ BEGIN kselftest ion_insmod_walk\n1..1\n" + JUMP_LABEL_WARN + SLAB_CREATE_FAILED +
                    "ok 1 walk\n@@@ END kselftest ion_insmod_walk rc=0\n@@@ DONE")
            rc, out = run(GOOD.replace("@@@ DONE", walk), MANIFEST + "boot ion_insmod_walk 1 0\n")
        elif change == "extra":
            rc, out = run(GOOD, MANIFEST + "other prog 1 0\nother @extra\n", need_all=True)
        elif change == "extra-ran":
            rc, out = run(GOOD.replace("prog rc=0", "prog rc=1"), MANIFEST.replace("boot ", "other ") +
                          "other @extra\n", boots=("other",))
        else:
            rc, out = run(change(GOOD), MANIFEST)
        ok = (rc != 0) == (want != 0) and why in out
        bad += not ok
        print(f"{'ok' if ok else 'not ok'} {i} report.py: {what}: {'red' if rc else 'green'}")
        if not ok:
            print("\n".join("# " + ln for ln in out.splitlines()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
