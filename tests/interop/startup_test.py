#!/usr/bin/python3
"""What a user meets first: the address a server really listens on, a busy
port, an address that is not ours, bad TLS files; sios_server_new() must
return an error with a clear log line and freeing must be safe afterwards."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import BUILD, run, test  # noqa: E402

PROBE = os.path.join(BUILD, "progs", "start_probe")


def probe(*args, timeout=20):
    """Runs start_probe without --serve; returns (stdout, stderr)."""
    cp = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=timeout)
    assert cp.returncode == 0, f"exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert "Sanitizer" not in cp.stderr and "runtime error" not in cp.stderr, cp.stderr
    assert "freed" in cp.stdout, cp.stdout
    return cp.stdout, cp.stderr


class Serving:
    """start_probe --serve, stopped with SIGTERM."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([PROBE, "--serve", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on port (\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"no listening line: {line!r} {self.proc.stderr.read()}")
        self.port = int(m.group(1))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert "freed" in out, out


def listening(port, pid):
    """The local addresses `ss -ltn` shows for port, owned by pid."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    addrs = set()
    for line in out.splitlines():
        if f"pid={pid}," in line:
            addrs.add(line.split()[3])
    return addrs


def handshake(family, addr, port, timeout=3):
    """An Engine.IO polling handshake at addr; True when it is answered."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
    except OSError:
        return False
    host = f"[{addr}]" if family == socket.AF_INET6 else addr
    s.sendall(f"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {host}\r\n"
              "Connection: close\r\n\r\n".encode())
    data = b""
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
    except OSError:
        pass
    s.close()
    return data.startswith(b"HTTP/1.1 200") and b'0{"sid":' in data


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@test
def loopback_v4_only():
    """host 127.0.0.1: ss shows 127.0.0.1:PORT only; 127.0.0.2 and [::1] refuse"""
    srv = Serving("--host", "127.0.0.1")
    try:
        assert listening(srv.port, srv.proc.pid) == {f"127.0.0.1:{srv.port}"}, \
            listening(srv.port, srv.proc.pid)
        assert handshake(socket.AF_INET, "127.0.0.1", srv.port)
        assert not handshake(socket.AF_INET, "127.0.0.2", srv.port)
        if have_ipv6():
            assert not handshake(socket.AF_INET6, "::1", srv.port)
    finally:
        srv.stop()


@test
def loopback_v6_only():
    """host ::1: ss shows [::1]:PORT only; 127.0.0.1 refuses"""
    if not have_ipv6():
        print("# no IPv6 on this machine: nothing to check")
        return
    srv = Serving("--host", "::1")
    try:
        assert listening(srv.port, srv.proc.pid) == {f"[::1]:{srv.port}"}
        assert handshake(socket.AF_INET6, "::1", srv.port)
        assert not handshake(socket.AF_INET, "127.0.0.1", srv.port)
    finally:
        srv.stop()


@test
def localhost_every_address():
    """host localhost: every address it resolves to, on one port"""
    want = set()
    for fam, _, _, _, sa in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM):
        if fam == socket.AF_INET6 and not have_ipv6():
            continue
        want.add((fam, sa[0]))
    srv = Serving("--host", "localhost")
    try:
        shown = listening(srv.port, srv.proc.pid)
        expect = {f"[{a}]:{srv.port}" if f == socket.AF_INET6 else f"{a}:{srv.port}"
                  for f, a in want}
        assert shown == expect, (shown, expect)
        for f, a in want:
            assert handshake(f, a, srv.port), a
        assert not handshake(socket.AF_INET, "127.0.0.2", srv.port)
    finally:
        srv.stop()


@test
def any_address_dual_stack():
    """no host: every interface, IPv4 and IPv6 on one socket"""
    srv = Serving("--any")
    try:
        shown = listening(srv.port, srv.proc.pid)
        assert shown in ({f"*:{srv.port}"}, {f"[::]:{srv.port}"}, {f"0.0.0.0:{srv.port}"}), shown
        assert handshake(socket.AF_INET, "127.0.0.2", srv.port)
        if have_ipv6():
            assert handshake(socket.AF_INET6, "::1", srv.port)
    finally:
        srv.stop()


@test
def every_example_listens_on_loopback_only():
    """each example (and the bench server) asks for 127.0.0.1: ss -ltn shows 127.0.0.1:PORT and nothing else"""
    from sios_test import Server
    for name in ("chat", "echo", "engine_echo", "thread_post", "uv_embed"):
        srv = Server(name)
        try:
            assert listening(srv.port, srv.proc.pid) == {f"127.0.0.1:{srv.port}"}, \
                (name, listening(srv.port, srv.proc.pid))
            assert not handshake(socket.AF_INET, "127.0.0.2", srv.port), name
        finally:
            srv.stop()


@test
def port_in_use():
    """a busy port: SIOS_EADDR, a log line naming the address, free is safe"""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        out, err = probe("--host", "127.0.0.1", "--port", str(port))
        assert "new: SIOS_EADDR" in out and "server handle" not in out, out
        assert f"127.0.0.1:{port}" in err and "Address already in use" in err, err
        # the wildcard address conflicts with it too
        out, err = probe("--any", "--port", str(port))
        assert "new: SIOS_EADDR" in out, out
        # and again on the application's own libuv loop
        out, err = probe("--host", "127.0.0.1", "--port", str(port), "--uv-loop")
        assert "new: SIOS_EADDR" in out, out
    finally:
        busy.close()


@test
def port_in_use_on_one_of_several_addresses():
    """localhost with the port busy on one of its addresses: nothing is left bound"""
    addrs = {sa[0] for fam, _, _, _, sa in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)
             if fam == socket.AF_INET}
    if not addrs:
        return
    busy = socket.socket()
    busy.bind((sorted(addrs)[0], 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        out, _ = probe("--host", "localhost", "--port", str(port))
        assert "new: SIOS_EADDR" in out, out
    finally:
        busy.close()


@test
def address_not_ours():
    """an address of no interface here (192.0.2.1): SIOS_EADDR and why"""
    out, err = probe("--host", "192.0.2.1")
    assert "new: SIOS_EADDR" in out, out
    assert "192.0.2.1" in err and "Cannot assign requested address" in err, err


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@test
def tls_files():
    """missing, non-PEM and mismatched TLS files: SIOS_ETLS with the reason; good ones serve"""
    with tempfile.TemporaryDirectory() as d:
        cert, key, key2 = (os.path.join(d, n) for n in ("cert.pem", "key.pem", "key2.pem"))
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost")
        openssl("genrsa", "-out", key2, "2048")
        garbage = os.path.join(d, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("this is not a certificate\n")
        cases = [
            ((os.path.join(d, "missing.pem"), key), "No such file or directory"),
            ((garbage, key), "not a PEM certificate"),
            ((cert, garbage), "not an unencrypted PEM private key"),
            ((cert, key2), "does not belong to certificate"),
        ]
        for (c, k), why in cases:
            out, err = probe("--tls", c, k)
            assert "config_set_tls: SIOS_ETLS" in out and "listening" in out, (c, k, out)
            assert why in err, (why, err)
        # files that were good for the setter and are not when the server
        # starts are caught by sios_server_new()
        for bad, why in (("cert", "No such file or directory"), ("key", "not an unencrypted")):
            c2, k2 = os.path.join(d, "c2.pem"), os.path.join(d, "k2.pem")
            with open(cert) as f, open(c2, "w") as g:
                g.write(f.read())
            with open(key) as f, open(k2, "w") as g:
                g.write(f.read())
            p = subprocess.Popen([PROBE, "--pause", "--tls", c2, k2], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert p.stdout.readline().strip() == "configured"
            if bad == "cert":
                os.unlink(c2)
            else:
                with open(k2, "w") as g:
                    g.write("garbage\n")
            out, err = p.communicate("go\n", timeout=20)
            assert p.returncode == 0 and "new: SIOS_ETLS" in out and "freed" in out, (out, err)
            assert why in err and "Sanitizer" not in err, err
        srv = Serving("--tls", cert, key)
        try:
            ctx = ssl.create_default_context(cafile=cert)
            ctx.check_hostname = False
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
                              b"Host: localhost\r\nConnection: close\r\n\r\n")
                    data = b""
                    while True:
                        c = s.recv(4096)
                        if not c:
                            break
                        data += c
            assert data.startswith(b"HTTP/1.1 200") and b'0{"sid":' in data, data[:200]
        finally:
            srv.stop()


@test
def failures_leave_nothing():
    """200 failed starts in one process: no descriptor kept (and no leak under ASan)"""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        out, _ = probe("--host", "127.0.0.1", "--port", str(port), "--repeat", "200")
        assert "new: SIOS_EADDR" in out, out
        m = re.search(r"fds before (\d+) after (\d+)", out)
        assert m and m.group(1) == m.group(2), out
    finally:
        busy.close()


if __name__ == "__main__":
    run()
