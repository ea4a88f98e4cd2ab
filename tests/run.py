#!/usr/bin/python3
"""Runs every sios test and prints one closing line: N passed, M failed.

Each test program prints TAP ("ok N - name" / "not ok N - name"). Programs:
unit tests (BUILD/tests/*), interop tests (tests/interop/*.test.js with node,
tests/interop/*_test.py with /usr/bin/python3) and every example's test.
Every program gets SIOS_BUILD; --build may be given several times (the
sanitizer build is the second)."""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAP = re.compile(r"^(not ok|ok)\s+(\d+)\s*(?:-\s*)?(.*)$")
PLAN = re.compile(r"^1\.\.(\d+)")


def programs(build):
    out = []
    tdir = os.path.join(ROOT, build, "tests")
    if os.path.isdir(tdir):
        for f in sorted(os.listdir(tdir)):
            p = os.path.join(tdir, f)
            if os.access(p, os.X_OK) and not os.path.isdir(p):
                out.append((f"unit/{f}", [p]))
    fdir = os.path.join(ROOT, build, "fuzz")
    if os.path.isdir(fdir):
        for f in sorted(os.listdir(fdir)):
            p = os.path.join(fdir, f)
            corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", f)
            if os.access(p, os.X_OK) and os.path.isdir(corpus):
                out.append((f"fuzz/{f}", [p, corpus]))
    idir = os.path.join(ROOT, "tests", "interop")
    for f in sorted(os.listdir(idir)):
        p = os.path.join(idir, f)
        if f.endswith(".test.js"):
            out.append((f"interop/{f}", ["node", p]))
        elif f.endswith("_test.py"):
            out.append((f"interop/{f}", ["/usr/bin/python3", p]))
    return out


def run_one(label, cmd, env, timeout):
    t0 = time.time()
    try:
        cp = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=timeout, text=True,
                            errors="replace")
        out, rc = cp.stdout, cp.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += f"\n# timed out after {timeout}s\n"
        rc = -1
    passed, failed, plan, seen = 0, 0, None, 0
    lines = out.splitlines()
    fails = []
    for i, line in enumerate(lines):
        m = TAP.match(line)
        if m:
            seen += 1
            if m.group(1) == "ok":
                passed += 1
            else:
                failed += 1
                detail = [l for l in lines[i + 1:i + 15] if l.startswith("#")]
                fails.append((m.group(3), detail))
            continue
        m = PLAN.match(line)
        if m:
            plan = int(m.group(1))
    problem = None
    if plan is not None and seen < plan:
        problem = f"only {seen} of {plan} planned results"
        failed += plan - seen
    elif rc != 0 and not failed:
        problem = f"exit status {rc}"
        failed += 1
    elif seen == 0:
        problem = "no results"
        failed += 1
    status = "ok  " if not failed else "FAIL"
    print(f"{status} {label}: {passed} passed, {failed} failed ({time.time() - t0:.1f}s)")
    for name, detail in fails:
        print(f"     not ok - {name}")
        for d in detail:
            print(f"       {d}")
    if problem:
        print(f"     {problem}")
        tail = lines[-25:]
        for l in tail:
            print(f"       | {l}")
    sys.stdout.flush()
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--only", default=None, help="substring of the test label")
    a = ap.parse_args()
    builds = a.build or ["build"]
    total_p = total_f = 0
    for b in builds:
        env = dict(os.environ)
        env["SIOS_BUILD"] = os.path.join(ROOT, b)
        # a smaller quarantine (256 MB by default): freed memory is kept
        # back from reuse for less long, so RSS bounds mean something there
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99:quarantine_size_mb=16"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        env["LSAN_OPTIONS"] = "suppressions=" + os.path.join(ROOT, "tests", "lsan.supp")
        print(f"== {b}")
        for label, cmd in programs(b):
            if a.only and a.only not in label:
                continue
            p, f = run_one(f"[{os.path.basename(b)}] {label}", cmd, env, a.timeout)
            total_p += p
            total_f += f
    print(f"{total_p} passed, {total_f} failed")
    sys.exit(1 if total_f else 0)


if __name__ == "__main__":
    main()
