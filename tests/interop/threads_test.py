#!/usr/bin/python3
"""Calls from a thread that is not the loop's: refused with SIOS_EMISUSE in
the build with thread checks (the sanitizer build); sios_server_post() is
the one call that works from anywhere."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import BUILD, run, test  # noqa: E402


@test
def off_loop_calls():
    """API calls off the loop thread: SIOS_EMISUSE when checked; a post from anywhere stops the server"""
    cp = subprocess.run([os.path.join(BUILD, "progs", "thread_probe")], capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, (cp.stdout, cp.stderr)
    assert "Sanitizer" not in cp.stderr and "runtime error" not in cp.stderr, cp.stderr
    out = dict(l.split(" ", 1) for l in cp.stdout.splitlines())
    assert out["posted"] == "SIOS_OK", out
    if out["checks"] == "on":
        for f in ("sios_of", "sios_nsp_on", "sios_room_emit", "sios_scope_new", "sios_server_stop"):
            assert out[f] == "SIOS_EMISUSE", (f, out)
    else:
        print("# this build has no thread checks (the sanitizer build has)")


if __name__ == "__main__":
    run()
