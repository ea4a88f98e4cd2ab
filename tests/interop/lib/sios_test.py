"""A small TAP harness for Python interop tests, and the server launcher."""
import os
import re
import resource
import select
import signal
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("SIOS_BUILD", os.path.join(ROOT, "build"))
_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def run():
    print(f"1..{len(_tests)}", flush=True)
    failed = 0
    for i, fn in enumerate(_tests, 1):
        name = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        try:
            fn()
            print(f"ok {i} - {name}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"not ok {i} - {name}", flush=True)
            for line in traceback.format_exc().splitlines():
                print(f"# {line}", flush=True)
    sys.exit(1 if failed else 0)


class Server:
    """BUILD/examples/<name> on a free loopback port."""

    def __init__(self, name, *args, nofile=None):
        def limits():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, name) if "/" in name else os.path.join(BUILD, "examples", name),
             "--port", "0", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limits)
        self.out = ""
        self.err = ""
        self._lock = threading.Condition()
        threading.Thread(target=self._read, args=(self.proc.stdout, "out"), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, "err"), daemon=True).start()
        m = self.wait_for(r"listening on port (\d+)", 20)
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"

    def _read(self, f, attr):
        for line in iter(f.readline, b""):
            with self._lock:
                setattr(self, attr, getattr(self, attr) + line.decode(errors="replace"))
                if os.environ.get("SIOS_TEST_VERBOSE"):
                    sys.stderr.write(f"[srv {attr}] {line.decode(errors='replace')}")
                self._lock.notify_all()

    def wait_for(self, pattern, timeout=10):
        """Waits until the server's stdout matches pattern."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        with self._lock:
            while True:
                m = rx.search(self.out)
                if m:
                    return m
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"server never printed {pattern!r}; stdout:\n{self.out[-2000:]}\nstderr:\n{self.err[-2000:]}")
                self._lock.wait(min(left, 0.5))

    def wait_err(self, pattern, timeout=10):
        """Waits until the server's stderr matches pattern."""
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        with self._lock:
            while True:
                m = rx.search(self.err)
                if m:
                    return m
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"server never logged {pattern!r}; stderr:\n{self.err[-2000:]}")
                self._lock.wait(min(left, 0.5))

    def stop(self):
        """SIGTERM; the server must exit 0 with no sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        time.sleep(0)  # let the reader threads drain
        for t in threading.enumerate():
            if t is not threading.current_thread() and t.daemon:
                t.join(2)
        assert rc == 0, f"server exit status {rc}; stderr:\n{self.err[-4000:]}"
        assert "Sanitizer" not in self.err and "runtime error" not in self.err, self.err[-4000:]

    def alive(self):
        return self.proc.poll() is None


def recv_until_closed(sock, timeout=5):
    """Everything the peer sends until it closes (or timeout)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


__all__ = ["test", "run", "Server", "recv_until_closed", "select"]
