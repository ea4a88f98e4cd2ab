#!/usr/bin/python3
"""One hostile client against a server with real handlers: what it sends
must cost the server no more than its bounded share. For every attack the
attacker is refused or closed, the server's RSS grows by less than 64 MB,
and a bystander's echo is answered within a second throughout."""
import json
import os
import socket
import struct
import sys
import threading
import time

import requests
import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

SRV = None
RSS_BOUND_KB = 64 * 1024


def J(v):
    """compact JSON, as clients send it"""
    return json.dumps(v, separators=(",", ":"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sio:
    """A Socket.IO client on a raw websocket (connected to "/")."""

    def __init__(self, srv=None, connect=True):
        srv = srv or SRV
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{srv.port}/socket.io/?EIO=4&transport=websocket", timeout=20)
        assert self.ws.recv()[0] == "0"
        self.id = 0
        if connect:
            self.ws.send("40")
            assert self.recv().startswith("40{")

    def recv(self):
        while True:
            m = self.ws.recv()
            if m != "2":
                return m
            self.ws.send("3")

    def call(self, event, *args):
        self.id += 1
        self.ws.send(f"42{self.id}" + J([event, *args]))
        while True:
            m = self.recv()
            if m.startswith(f"43{self.id}["):
                return json.loads(m[len(f"43{self.id}"):])

    def close_frame(self):
        """(code, reason) of the close frame that ends the connection"""
        while True:
            frame = self.ws.recv_frame()  # no automatic close reply
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                if len(frame.data) < 2:
                    return None, b""
                return struct.unpack("!H", frame.data[:2])[0], frame.data[2:]
            if frame.opcode == websocket.ABNF.OPCODE_TEXT and frame.data == b"2":
                self.ws.send("3")


class Watch:
    """A bystander echoing once every 50 ms on its own connection, and the
    server's RSS, while an attack runs."""

    def __init__(self):
        self.client = Sio()
        self.pid = SRV.proc.pid
        self.rss0 = rss_kb(self.pid)
        self.rss_max = self.rss0
        self.worst = 0.0
        self.answers = 0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            assert self.client.call("echo", "still here") == ["still here"]
            self.worst = max(self.worst, time.monotonic() - t0)
            self.answers += 1
            self.rss_max = max(self.rss_max, rss_kb(self.pid))
            self.stop_ev.wait(0.05)

    def done(self):
        self.stop_ev.set()
        self.t.join(30)
        assert not self.t.is_alive(), "the bystander got no answer"
        assert self.answers >= 1
        assert self.worst < 1.0, f"a bystander waited {self.worst:.2f} s for its echo"
        grew = self.rss_max - self.rss0
        assert grew < RSS_BOUND_KB, f"the server grew by {grew} KB"
        self.client.ws.close()
        print(f"# server RSS +{grew} KB, slowest bystander echo {self.worst * 1000:.0f} ms "
              f"({self.answers} echoes)")
        return grew


@test
def start():
    """start the limits server (default limits)"""
    global SRV
    SRV = Server("progs/limits_server")


@test
def one_attachment_many_placeholders():
    """30000 placeholders for one 64 KB attachment: echoed with one attachment, no copy each"""
    w = Watch()
    a = Sio()
    ph = [{"_placeholder": True, "num": 0}] * 30000
    for _ in range(3):
        a.id += 1
        a.ws.send(f"451-{a.id}" + J(["echo", *ph]))
        a.ws.send_binary(b"\x01" * 65536)
        head = a.recv()
        assert head.startswith(f"461-{a.id}["), head[:40]
        op, data = a.ws.recv_data()
        assert op == websocket.ABNF.OPCODE_BINARY and len(data) == 65536
    a.ws.close()
    w.done()


@test
def invalid_utf8_never_reaches_the_room():
    """invalid UTF-8: the sender is closed with 1007, the room never sees it; over polling 400"""
    w = Watch()
    a, b = Sio(), Sio()
    assert a.call("join", "r") == ["SIOS_OK"] and b.call("join", "r") == ["SIOS_OK"]
    a.ws.send(b'42["say","r","\xff\xfe"]', opcode=websocket.ABNF.OPCODE_TEXT)
    code, _ = a.close_frame()
    assert code == 1007, code
    b.ws.send('42["say","r","fine"]')
    assert b.recv() == '42["said","fine"]'  # the first and only thing b got
    b.ws.close()
    # polling: the payload is refused and the session ends
    r = requests.get(f"{SRV.base}/socket.io/?EIO=4&transport=polling", timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    r = requests.post(f"{SRV.base}/socket.io/?EIO=4&transport=polling&sid={sid}",
                      data=b'40\x1e42["say","r","\xff"]', timeout=5)
    assert r.status_code == 400, (r.status_code, r.text)
    r = requests.get(f"{SRV.base}/socket.io/?EIO=4&transport=polling&sid={sid}", timeout=5)
    assert r.status_code == 400 and r.json()["code"] == 1, r.text
    w.done()


@test
def many_rooms_from_one_socket():
    """100k joins from one socket: up to 4096 rooms, the rest refused (SIOS_ETOOBIG), nobody stalls"""
    w = Watch()
    a = Sio()
    n = 100000
    batch = "".join(f'42{i + 1}["join","room-{i}"]\x00' for i in range(n)).split("\x00")[:-1]
    for m in batch:
        a.ws.send(m)
    ok = refused = 0
    for i in range(n):
        m = a.recv()
        assert m.startswith("43"), m[:40]
        v = json.loads(m[m.index("["):])[0]
        ok += v == "SIOS_OK"
        refused += v == "SIOS_ETOOBIG"
    # its own-id room is one of its 4096
    assert (ok, refused) == (4095, n - 4095), (ok, refused)
    a.id = n
    assert a.call("join", "x" * 2000) == ["SIOS_ETOOBIG"]  # name over 1024 bytes
    a.ws.close()
    w.done()


@test
def many_pending_acks_and_unknown_answers():
    """asked for 60000 acks the server owes at most 4096; 60000 answers for unknown ids cost nothing"""
    w = Watch()
    a = Sio()
    assert a.call("ask", 60000) == [4096, "SIOS_ETOOBIG"]
    for i in range(60000):
        a.ws.send(f"43{10**9 + i}[]")
    # the 4096 questions arrive, then the connection still answers
    assert a.call("echo", 1) == [1]
    a.ws.close()
    w.done()


@test
def unfinished_attachments_are_bounded():
    """attachments announced and not finished: closed over the byte limit, or at the deadline"""
    global SRV
    SRV.stop()
    SRV = Server("progs/limits_server", "--max-attachment-bytes", 1 << 20,
                 "--attachment-timeout", 1500)
    w = Watch()
    a = Sio()
    a.ws.send("451000-" + J(["echo", {"_placeholder": True, "num": 0}]))
    for _ in range(20):
        try:
            a.ws.send_binary(b"\x00" * 100000)
        except OSError:
            break
    code, reason = a.close_frame()
    assert code == 1002 and b"over the limit" in reason, (code, reason)
    b = Sio()
    b.ws.send("452-" + J(["echo", {"_placeholder": True, "num": 0}]))
    b.ws.send_binary(b"one of two")
    t0 = time.monotonic()
    code, reason = b.close_frame()
    assert code == 1002 and b"not finished in time" in reason, (code, reason)
    assert time.monotonic() - t0 >= 1.0
    w.done()


@test
def lone_surrogates_and_big_ack_ids():
    """a lone UTF-16 surrogate and an ack id of 2^53-1 are valid JavaScript: answered, not closed"""
    a = Sio()
    a.ws.send('429007199254740991["echo","cut \\ud83d"]')
    m = a.recv()
    assert m.startswith("439007199254740991["), m
    assert json.loads(m[len("439007199254740991"):]) == ["cut \ufffd"], m
    assert a.call("echo", "alive") == ["alive"]
    a.ws.close()


@test
def protocol_error_warnings_are_rate_limited():
    """200 malformed packets: the log keeps a burst, then says how many lines it held back"""
    before = SRV.err.count("closing")
    for _ in range(200):
        a = Sio()
        a.ws.send("4abc")
        a.close_frame()
        a.ws.close()
    lines = SRV.err.count("closing") - before
    assert lines < 100, f"{lines} warning lines for 200 bad clients"
    # a later one, once the budget has refilled, reports the held-back count
    time.sleep(0.2)
    a = Sio()
    a.ws.send("4abc")
    a.close_frame()
    a.ws.close()
    SRV.wait_err(r"\d+ similar lines were held back")


def raw(port, data, pace=None, timeout=10):
    """Sends data (a byte every pace seconds when given) and returns what
    came back until the server closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        if pace:
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                time.sleep(pace)  # the attack itself: a slow client
        else:
            s.sendall(data)
    except OSError:
        pass
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            got += c
    except OSError:
        pass
    s.close()
    return got


@test
def slow_requests_are_cut_off():
    """a head or a body sent a byte at a time is answered 408 at the request deadline"""
    global SRV
    SRV.stop()
    SRV = Server("progs/limits_server", "--request-timeout", 1500)
    w = Watch()
    t0 = time.monotonic()
    got = raw(SRV.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", pace=0.2)
    assert got.startswith(b"HTTP/1.1 408"), got[:60]
    assert time.monotonic() - t0 < 8
    r = requests.get(f"{SRV.base}/socket.io/?EIO=4&transport=polling", timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    head = (f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 40\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=10)
    s.sendall(head)
    got = b""
    try:
        for _ in range(40):
            s.sendall(b"4")
            time.sleep(0.2)  # the attack itself: a slow body
    except OSError:
        pass
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            got += c
    except OSError:
        pass
    s.close()
    assert b" 408 " in got.split(b"\r\n")[0], got[:80]
    w.done()


@test
def http_limits_answer_like_node():
    """431 for a 20 KB header, 414 for 150 query arguments, 400 JSON for %zz, a 1.8 KB preflight answered"""
    got = raw(SRV.port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Big: " +
              b"a" * 20000 + b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 431 "), got[:60]
    q = "".join(f"&p{i}=1" for i in range(150))
    got = raw(SRV.port, f"GET /socket.io/?EIO=4&transport=polling{q} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert got.startswith(b"HTTP/1.1 414 "), got[:60]
    got = raw(SRV.port, b"GET /socket.io/?EIO=4&transport=polling&x=%zz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400 ") and got.endswith(b'{"code":3,"message":"Bad request"}'), got
    ee = Server("engine_echo", "--cors", "http://app.example")
    try:
        want = ",".join(f"x-header-{i:03d}" for i in range(120))  # about 1.8 KB
        r = requests.options(f"{ee.base}/engine.io/?EIO=4&transport=polling", timeout=5,
                             headers={"Origin": "http://app.example",
                                      "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": want})
        assert r.status_code == 204 and r.headers["access-control-allow-headers"] == want, r.headers
    finally:
        ee.stop()


@test
def echo_example_negative_timeout():
    """examples/echo: ping-me with a negative timeout is refused cleanly (no undefined behaviour)"""
    ex = Server("echo")
    try:
        a = Sio(ex)
        a.ws.send('42["ping-me",{"timeout":-1}]')
        a.ws.send('421["echo","after"]')
        m = a.recv()
        while not m.startswith("431"):
            m = a.recv()
        assert m == '431["after"]', m
        a.ws.close()
    finally:
        ex.stop()


@test
def stop():
    """the server stops cleanly"""
    SRV.stop()


if __name__ == "__main__":
    run()
