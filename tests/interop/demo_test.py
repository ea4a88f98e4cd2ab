"""make demo as a newcomer meets it: it installs only what the demo needs
(tools/deps.sh demo), serves the chat on 127.0.0.1 only, on PORT."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import BUILD, ROOT, run, test  # noqa: E402

SAN = os.path.basename(BUILD) == "san"
BUILD_DEBS = {"build-essential", "pkg-config", "libwebsockets-dev", "libwebsockets-evlib-uv",
              "libuv1-dev", "libcjson-dev", "libssl-dev", "libhiredis-dev", "libmsgpack-dev"}
TEST_ONLY = {"chromium", "python3", "python3-socketio", "python3-websocket", "python3-requests",
             "redis-server", "mandoc", "openssl"}


def fake_machine(d):
    """A PATH on which nothing is installed and the user is not root: only
    the commands deps.sh needs, and no node or npm."""
    bin_ = os.path.join(d, "bin")
    os.makedirs(bin_)
    for tool in ("dirname", "grep"):
        os.symlink(shutil.which(tool), os.path.join(bin_, tool))
    for name, body in (("id", "echo 1000"), ("dpkg-query", "exit 1")):
        with open(os.path.join(bin_, name), "w") as f:
            f.write(f"#!/bin/sh\n{body}\n")
        os.chmod(os.path.join(bin_, name), 0o755)
    return dict(os.environ, PATH=bin_)


def apt_line(*args):
    with tempfile.TemporaryDirectory() as d:
        cp = subprocess.run(["/bin/sh", os.path.join(ROOT, "tools", "deps.sh"), *args],
                            env=fake_machine(d), capture_output=True, text=True)
    assert cp.returncode == 1, (cp.returncode, cp.stdout, cp.stderr)
    lines = [l for l in cp.stdout.splitlines() if l.startswith("deps: run: sudo apt-get install -y ")]
    assert len(lines) == 1, cp.stdout
    return set(lines[0].split()[6:])


@test
def deps_demo_without_root():
    """without root, tools/deps.sh demo prints an apt-get line with the build dependencies, node and npm only"""
    assert apt_line("demo") == BUILD_DEBS | {"nodejs", "npm"}, apt_line("demo")


@test
def deps_full_without_root():
    """without root, tools/deps.sh (make deps) prints an apt-get line with the test packages too"""
    full = apt_line()
    assert full == BUILD_DEBS | {"nodejs", "npm"} | TEST_ONLY, full
    assert apt_line("check") == full


def npm_tree(top):
    nm = os.path.join(top, "tests", "node_modules")
    return set(os.listdir(nm)) if os.path.isdir(nm) else set()


def stamps(top):
    """deps.sh's stamps in node_modules, each with what tells a new file"""
    nm = os.path.join(top, "tests", "node_modules")
    return {f: (os.stat(os.path.join(nm, f)).st_ino, os.stat(os.path.join(nm, f)).st_mtime_ns)
            for f in os.listdir(nm) if f.startswith(".sios-deps")}


@test
def deps_npm_sets():
    """deps.sh demo installs socket.io-client without the test-only packages; make deps adds them; demo keeps them"""
    if SAN:
        return  # nothing here depends on the build
    with tempfile.TemporaryDirectory() as top:
        os.makedirs(os.path.join(top, "tools"))
        os.makedirs(os.path.join(top, "tests"))
        shutil.copy(os.path.join(ROOT, "tools", "deps.sh"), os.path.join(top, "tools"))
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(ROOT, "tests", f), os.path.join(top, "tests"))
        env = dict(os.environ, npm_config_prefer_offline="true")

        def deps(*args):
            cp = subprocess.run(["/bin/sh", os.path.join(top, "tools", "deps.sh"), *args], env=env,
                                capture_output=True, text=True, timeout=300)
            assert cp.returncode == 0, (args, cp.stdout, cp.stderr)

        deps("demo")
        tree = npm_tree(top)
        assert "socket.io-client" in tree and "playwright-core" not in tree, tree
        assert os.path.isfile(os.path.join(top, "tests", "node_modules", "socket.io-client", "dist",
                                           "socket.io.min.js"))
        before = stamps(top)
        deps("demo")
        assert stamps(top) == before, "demo set installed again though nothing changed"
        deps()
        assert {"socket.io-client", "engine.io-client", "playwright-core"} <= npm_tree(top)
        # the full set serves the demo: nothing is removed or installed again
        before = stamps(top)
        deps("demo")
        assert stamps(top) == before and "playwright-core" in npm_tree(top)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listeners(port):
    """(local address, pid) of every TCP socket listening on port"""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        pid = line.split("pid=", 1)[1].split(",", 1)[0] if "pid=" in line else None
        res.append((line.split()[3], pid))
    return res


@test
def make_demo_port():
    """make demo PORT=N serves the chat page and its client script on 127.0.0.1:N only; Ctrl-C stops it cleanly"""
    if SAN:
        return  # make demo builds the regular way
    stamp = os.path.join(ROOT, "tests", "node_modules", ".sios-deps-check")
    assert os.path.exists(stamp), "tests/node_modules is not the full locked set: run make deps first"
    port = free_port()
    proc = subprocess.Popen(["make", "-s", "-C", ROOT, "demo", f"PORT={port}",
                             f"BUILD={os.path.relpath(BUILD, ROOT)}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    err = []
    threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True).start()
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("listening on port"):
                break
        assert lines and lines[-1].strip() == f"listening on port {port}", (lines, err)
        ls = listeners(port)
        assert [a for a, _ in ls] == [f"127.0.0.1:{port}"], ls
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "sios chat" in page and "/socket.io/socket.io.min.js" in page, page[:300]
        js = urllib.request.urlopen(f"http://127.0.0.1:{port}/socket.io/socket.io.min.js", timeout=10)
        assert js.status == 200 and len(js.read()) > 10000
        # Ctrl-C reaches the chat server; it stops and make ends with it
        os.kill(int(ls[0][1]), signal.SIGINT)
        rest = proc.stdout.read()
        assert proc.wait(30) == 0, (proc.returncode, rest, err)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


run()
