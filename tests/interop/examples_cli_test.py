"""Every example's command line: --help prints the usage on stdout and exits
0; a bad value, a missing value or an unknown option gets one line on stderr
naming the problem, and exit status 2, before anything is served."""
import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import BUILD, ROOT, run, test  # noqa: E402

NAMES = sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(ROOT, "examples", "*.c")))

# (arguments, words the message must contain)
BAD = [
    (["--port", "abc"], ["--port", "abc"]),
    (["--port", "70000"], ["--port", "70000"]),
    (["--port", "-1"], ["--port", "-1"]),
    (["--port", "80x"], ["--port", "80x"]),
    (["--port"], ["--port", "needs a value"]),
    (["--bogus"], ["unknown option", "--bogus"]),
    (["--port", "0", "--bogus", "1"], ["unknown option", "--bogus"]),
]
# a value each example's own options refuse
OWN_BAD = {
    "chat": (["--admin-token"], ["--admin-token", "needs a value"]),
    "echo": (["--ping-interval", "0"], ["--ping-interval", "0"]),
    "engine_echo": (["--transports", "sideways"], ["--transports", "sideways"]),
    "thread_post": (["--threads", "0"], ["--threads", "0"]),
    "uv_embed": (["--ticks", "many"], ["--ticks", "many"]),
}


def example(name, *args):
    # a refused command line must end at once, never serve
    return subprocess.run([os.path.join(BUILD, "examples", name), *args], capture_output=True,
                          text=True, timeout=20, cwd=ROOT)


@test
def all_examples_covered():
    """the five examples are here and each has its own bad value below"""
    assert set(NAMES) >= {"chat", "echo", "engine_echo", "thread_post", "uv_embed"}, NAMES
    assert set(OWN_BAD) == set(NAMES), (sorted(OWN_BAD), NAMES)


def help_test(name):
    def fn():
        cp = example(name, "--help")
        assert cp.returncode == 0, (cp.returncode, cp.stdout, cp.stderr)
        assert cp.stdout.startswith(f"usage: {name} "), cp.stdout
        assert "--port N" in cp.stdout and cp.stderr == "", (cp.stdout, cp.stderr)
    fn.__doc__ = f"{name} --help: usage on stdout, exit status 0"
    return fn


def bad_test(name):
    def fn():
        for args, words in BAD + [OWN_BAD[name]]:
            cp = example(name, *args)
            where = f"{name} {' '.join(args)}"
            assert cp.returncode == 2, (where, cp.returncode, cp.stdout, cp.stderr)
            assert cp.stdout == "", (where, cp.stdout)
            lines = cp.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"{name}: "), (where, cp.stderr)
            for w in words:
                assert w in lines[0], (where, w, lines[0])
    fn.__doc__ = f"{name}: bad, missing and unknown options: one line on stderr, exit status 2"
    return fn


for n in NAMES:
    test(help_test(n))
    test(bad_test(n))

run()
