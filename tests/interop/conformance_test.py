#!/usr/bin/python3
"""The cases where the official Engine.IO / Socket.IO suites and clients
depend on Node's exact behaviour: every reply checked byte for byte where it
matters (status, headers, body, close frame, whether TCP stays open)."""
import json
import os
import socket
import struct
import sys
import threading
import time

import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

EIO = None  # engine_echo as the Engine.IO suite wants it
SIO = None  # the Socket.IO suite's server
PING_INTERVAL, PING_TIMEOUT = 300, 200


class Http:
    """One raw HTTP/1.1 connection: exact request bytes, parsed replies."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def send(self, method, path, headers=(), body=b""):
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _fill(self):
        c = self.s.recv(65536)
        if not c:
            raise EOFError
        self.buf += c

    def reply(self):
        """(status, [(name, value)...] lower-cased names, body)"""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = [(l.split(":", 1)[0].strip().lower(), l.split(":", 1)[1].strip()) for l in lines[1:]]
        n = int(dict(hdrs).get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed_by_peer(self, timeout=5):
        """True when the server closes the connection (EOF) within timeout."""
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.s.close()


def hget(hdrs, name):
    vals = [v for k, v in hdrs if k == name]
    assert len(vals) <= 1, (name, hdrs)
    return vals[0] if vals else None


def eio_path(port_srv, base, **q):
    return f"{base}?" + "&".join(f"{k}={v}" for k, v in q.items())


def handshake(srv, base):
    h = Http(srv.port)
    h.send("GET", eio_path(srv, base, EIO=4, transport="polling"))
    st, hdrs, body = h.reply()
    h.close()
    assert st == 200 and body[:1] == b"0", (st, body)
    return json.loads(body[1:])["sid"]


def ws_connect(srv, base, sid=None):
    q = "EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
    return websocket.create_connection(f"ws://127.0.0.1:{srv.port}{base}?{q}", timeout=5)


def close_frame(ws):
    """(code or None, reason) of the close frame, skipping pings"""
    while True:
        op, frame = ws.recv_data_frame(True)
        if op == websocket.ABNF.OPCODE_TEXT and frame.data == b"2":
            ws.send("3")
            continue
        if op == websocket.ABNF.OPCODE_CLOSE:
            if not frame.data:
                return None, b""
            return struct.unpack("!H", frame.data[:2])[0], frame.data[2:]
        raise AssertionError(f"expected a close frame, got {op} {frame.data!r}")


@test
def start():
    """engine_echo and the Socket.IO suite's server, pingInterval 300, pingTimeout 200"""
    global EIO, SIO
    EIO = Server("engine_echo", "--ping-interval", PING_INTERVAL, "--ping-timeout", PING_TIMEOUT,
                 "--max-payload", 1000000, "--cors", "*")
    SIO = Server("progs/conformance_server")


@test
def connection_close_is_announced():
    """a reply after which the server closes says Connection: close, and the socket then closes"""
    base = "/engine.io/"
    cases = [
        ("GET", eio_path(EIO, base, EIO=4, transport="polling"), 200),
        ("GET", eio_path(EIO, base, EIO="abc", transport="polling"), 400),
        ("GET", eio_path(EIO, base, EIO=4, transport="polling", sid="nope"), 400),
        ("OPTIONS", eio_path(EIO, base, EIO=4, transport="polling"), 204),
    ]
    for method, path, status in cases:
        # keep-alive (HTTP/1.1 default): said, and the connection serves another request
        h = Http(EIO.port)
        h.send(method, path, [("Origin", "http://x.example")])
        st, hdrs, _ = h.reply()
        assert st == status and hget(hdrs, "connection") == "keep-alive", (method, path, st, hdrs)
        h.send("GET", eio_path(EIO, base, EIO="abc", transport="polling"))
        assert h.reply()[0] == 400
        h.close()
        # Connection: close asked: said, then the server closes
        h = Http(EIO.port)
        h.send(method, path, [("Origin", "http://x.example"), ("Connection", "close")])
        st, hdrs, _ = h.reply()
        assert st == status and hget(hdrs, "connection") == "close", (method, path, st, hdrs)
        assert h.closed_by_peer(), (method, path)
        h.close()


@test
def held_poll_remembers_connection_close():
    """a held GET answered later (by the ping) still says Connection: close, recorded on arrival"""
    sid = handshake(EIO, "/engine.io/")
    h = Http(EIO.port)
    h.send("GET", eio_path(EIO, "/engine.io/", EIO=4, transport="polling", sid=sid),
           [("Connection", "close")])
    st, hdrs, body = h.reply()
    assert (st, body) == (200, b"2"), (st, body)
    assert hget(hdrs, "connection") == "close", hdrs
    assert h.closed_by_peer()
    h.close()


@test
def polling_replies_are_not_cached():
    """Cache-Control: no-store on polling payloads and the POST "ok", not on errors"""
    base = "/engine.io/"
    h = Http(EIO.port)
    h.send("GET", eio_path(EIO, base, EIO=4, transport="polling"))
    st, hdrs, body = h.reply()
    sid = json.loads(body[1:])["sid"]
    assert hget(hdrs, "cache-control") == "no-store", hdrs
    assert hget(hdrs, "access-control-allow-origin") == "*", hdrs
    h.send("POST", eio_path(EIO, base, EIO=4, transport="polling", sid=sid), body=b"4hi")
    st, hdrs, body = h.reply()
    assert (st, body, hget(hdrs, "cache-control")) == (200, b"ok", "no-store"), (st, hdrs, body)
    h.send("GET", eio_path(EIO, base, EIO=4, transport="polling", sid=sid))
    st, hdrs, body = h.reply()
    assert (st, body, hget(hdrs, "cache-control")) == (200, b"4hi", "no-store"), (st, hdrs, body)
    h.send("GET", eio_path(EIO, base, EIO=4, transport="polling", sid="nope"))
    st, hdrs, body = h.reply()
    assert st == 400 and hget(hdrs, "cache-control") is None, hdrs
    assert json.loads(body) == {"code": 1, "message": "Session ID unknown"}
    h.close()


@test
def ping_timeout_is_exact():
    """a session that never answers is dead at pingInterval + pingTimeout, not a tick later"""
    for _ in range(5):
        sid = handshake(EIO, "/engine.io/")
        # the client idles as long as the server allows, counted from after
        # the handshake reply reached it (the server's clock started earlier)
        t0 = time.monotonic()
        time.sleep(max(0, (PING_INTERVAL + PING_TIMEOUT) / 1000 - (time.monotonic() - t0)))
        h = Http(EIO.port)
        h.send("GET", eio_path(EIO, "/engine.io/", EIO=4, transport="polling", sid=sid))
        st, _, body = h.reply()
        h.close()
        assert st == 400 and json.loads(body)["code"] == 1, (st, body)


@test
def client_ping_closes_the_session():
    """a client "2" over polling is an error in v4 (Node: "invalid heartbeat direction"): 400, the session closes"""
    base = "/engine.io/"
    sid = handshake(EIO, base)
    p = Http(EIO.port)
    p.send("POST", eio_path(EIO, base, EIO=4, transport="polling", sid=sid), body=b"2")
    st, _, body = p.reply()
    # Node answers "ok" and closes the session; sios says so in the reply
    assert st == 400 and json.loads(body)["code"] == 3, (st, body)
    EIO.wait_for(f"close {sid} parse error")
    p.send("GET", eio_path(EIO, base, EIO=4, transport="polling", sid=sid))
    st, _, body = p.reply()
    assert st == 400 and json.loads(body)["code"] == 1, (st, body)
    p.close()


@test
def octet_stream_post_refused():
    """a POST with Content-Type application/octet-stream: 400 with no body, session closed"""
    base = "/engine.io/"
    sid = handshake(EIO, base)
    h = Http(EIO.port)
    h.send("POST", eio_path(EIO, base, EIO=4, transport="polling", sid=sid),
           [("Content-Type", "application/octet-stream")], body=b"4hello")
    st, hdrs, body = h.reply()
    assert (st, body) == (400, b""), (st, body)
    EIO.wait_for(f"close {sid} parse error")
    h.close()
    h = Http(EIO.port)
    h.send("GET", eio_path(EIO, base, EIO=4, transport="polling", sid=sid))
    st, _, body = h.reply()
    assert st == 400 and json.loads(body)["code"] == 1, (st, body)
    h.close()


@test
def repeated_query_key_keeps_the_last():
    """?tag=1&tag=2 is tag=2, once; EIO=3&EIO=4 is EIO 4 (last value wins, as in Node)"""
    h = Http(EIO.port)
    h.send("GET", "/engine.io/?EIO=3&transport=polling&tag=first&tag=last&EIO=4")
    st, _, body = h.reply()
    assert st == 200, (st, body)
    sid = json.loads(body[1:])["sid"]
    EIO.wait_for(f"open {sid} tag=last ")
    h.close()


@test
def upgrade_noop_comes_from_the_100ms_check():
    """during an upgrade the pending GET is answered "6" by a 100 ms check, not at once"""
    base = "/engine.io/"
    sid = handshake(EIO, base)
    res = {}
    g = Http(EIO.port)

    def poll():
        g.send("GET", eio_path(EIO, base, EIO=4, transport="polling", sid=sid))
        res["r"] = g.reply()
        res["t"] = time.monotonic()
    ws = ws_connect(EIO, base, sid)
    t = threading.Thread(target=poll)
    t.start()
    # whether the GET arrives before or after the probe, the first check
    # runs 100 ms after the probe
    ws.send("2probe")
    t_probe = time.monotonic()
    assert ws.recv() == "3probe"
    t.join(5)
    if res["r"][2] == b"2":
        return  # the ping came first: nothing to say about the noop this time
    assert res["r"][:1] == (200,) and res["r"][2] == b"6", res["r"]
    assert res["t"] - t_probe >= 0.09, res["t"] - t_probe
    ws.send("5")
    ws.send("4after")
    got = ws.recv()
    while got == "2":
        ws.send("3")
        got = ws.recv()
    assert got == "4after"
    ws.close()
    g.close()


@test
def websocket_protocol_error_gets_a_close_frame():
    """a malformed Engine.IO packet on a websocket: close frame 1002 with a reason, not a bare TCP close"""
    ws = ws_connect(EIO, "/engine.io/")
    assert ws.recv()[0] == "0"
    ws.send("9")
    code, reason = close_frame(ws)
    assert code == 1002 and reason, (code, reason)
    ws.close()


def sio_ws():
    ws = ws_connect(SIO, "/socket.io/")
    assert ws.recv()[0] == "0"
    return ws


def sio_recv(ws):
    while True:
        m = ws.recv()
        if m != "2":
            return m
        ws.send("3")


def sio_connected():
    ws = sio_ws()
    ws.send("40")
    assert sio_recv(ws).startswith('40{"sid":')
    assert sio_recv(ws) == '42["auth",{}]'  # no auth sent: {} as in Node
    return ws


@test
def odd_but_valid_packets_are_ignored():
    """42[1] (a numeric event name) and 43 (an ack without id) are ignored; the connection goes on"""
    ws = sio_connected()
    ws.send("42[1]")
    ws.send("43")
    ws.send('425["message-with-ack","still here"]')
    assert sio_recv(ws) == '435["still here"]'
    ws.close()


@test
def invalid_state_closes_the_connection():
    """41/nope, / a second 40 / an event for a namespace not joined close the whole connection"""
    for bad in ("41/nope,", "40", '42/custom,["message"]'):
        ws = sio_connected()
        ws.send(bad)
        code, reason = close_frame(ws)
        assert code == 1002 and reason, (bad, code, reason)
        ws.close()


@test
def connect_timeout_closes_idle_connections():
    """no namespace joined within connectTimeout (1000 ms here): closed; a joined one stays"""
    joined = sio_connected()
    got = []
    answered = threading.Event()

    def keep_alive():  # answers pings until the main thread is done
        while True:
            try:
                m = joined.recv()
            except Exception:  # noqa: BLE001 - closed at the end
                return
            if m == "2":
                joined.send("3")
            else:
                got.append(m)
                answered.set()
    t = threading.Thread(target=keep_alive, daemon=True)
    t.start()
    idle = sio_ws()
    t0 = time.monotonic()
    code, reason = close_frame(idle)
    assert code is None and time.monotonic() - t0 >= 0.9, (code, time.monotonic() - t0)
    idle.close()
    # the joined connection outlives the deadline and still answers
    joined.send('427["message-with-ack",1]')
    assert answered.wait(5) and got == ["437[1]"], got
    joined.close()
    t.join(5)


@test
def stop():
    """both servers stop cleanly"""
    EIO.stop()
    SIO.stop()


if __name__ == "__main__":
    run()
