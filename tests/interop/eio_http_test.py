"""Engine.IO v4 over raw HTTP and websocket: every reply checked by status
and body, and bad input that must close one client and nothing else."""
import base64
import json
import os
import socket
import sys
import threading

import requests
import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, recv_until_closed, run, test  # noqa: E402

SRV = None
P = "/engine.io/"


def url(**q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return f"{SRV.base}{P}?{qs}"


def handshake(**extra):
    r = requests.get(url(EIO=4, transport="polling", **extra), timeout=5)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.text[0] == "0", r.text
    return json.loads(r.text[1:])


def post(sid, body, **kw):
    return requests.post(url(EIO=4, transport="polling", sid=sid), data=body, timeout=5, **kw)


def get(sid, timeout=5):
    return requests.get(url(EIO=4, transport="polling", sid=sid), timeout=timeout)


def err(r, status, code, message):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert r.json() == {"code": code, "message": message}, r.text


def echo_ok(sid, text="still alive"):
    assert post(sid, "4" + text).text == "ok"
    assert get(sid).text == "4" + text


@test
def start():
    """start engine_echo with a small maxPayload"""
    global SRV, FAST
    SRV = Server("engine_echo", "--ping-interval", 20000, "--ping-timeout", 20000,
                 "--max-payload", 1000, "--cors", "http://good.example")
    FAST = Server("engine_echo", "--ping-interval", 300, "--ping-timeout", 200)


@test
def handshake_shape():
    """polling handshake has exactly the five keys, upgrades ["websocket"]"""
    h = handshake()
    assert set(h) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}, h
    assert h["upgrades"] == ["websocket"]
    assert (h["pingInterval"], h["pingTimeout"], h["maxPayload"]) == (20000, 20000, 1000)
    assert len(h["sid"]) == 20


@test
def ws_handshake_shape():
    """direct websocket handshake sends the open packet with upgrades []"""
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket", timeout=5)
    msg = ws.recv()
    assert msg[0] == "0"
    assert json.loads(msg[1:])["upgrades"] == []
    ws.send("4hi")
    assert ws.recv() == "4hi"
    ws.close()


@test
def error_replies():
    """bad requests get 400 and the JSON error code and message"""
    err(requests.get(f"{SRV.base}{P}?EIO=4", timeout=5), 400, 0, "Transport unknown")
    err(requests.get(url(EIO=4, transport="carrier-pigeon"), timeout=5), 400, 0, "Transport unknown")
    err(requests.get(url(EIO=3, transport="polling"), timeout=5), 400, 5, "Unsupported protocol version")
    err(requests.get(url(transport="polling"), timeout=5), 400, 5, "Unsupported protocol version")
    err(requests.get(url(EIO=4, transport="polling", sid="nope"), timeout=5), 400, 1, "Session ID unknown")
    err(requests.post(url(EIO=4, transport="polling"), data="4x", timeout=5), 400, 2, "Bad handshake method")
    err(requests.put(url(EIO=4, transport="polling"), data="4x", timeout=5), 400, 2, "Bad handshake method")
    # a websocket session refuses polling requests
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket", timeout=5)
    sid = json.loads(ws.recv()[1:])["sid"]
    err(get(sid), 400, 3, "Bad request")
    ws.close()
    r = requests.get(f"{SRV.base}/nowhere", timeout=5)
    assert r.status_code == 404


@test
def ws_upgrade_errors():
    """refused websocket upgrades get 400 with the JSON body"""
    for q, code, msg in [("EIO=3&transport=websocket", 5, "Unsupported protocol version"),
                         ("EIO=4&transport=websocket&sid=unknownsid", 1, "Session ID unknown"),
                         ("EIO=4&transport=polling", 0, "Transport unknown")]:
        s = socket.create_connection(("127.0.0.1", SRV.port), timeout=5)
        s.sendall((f"GET {P}?{q} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        data = recv_until_closed(s).decode()
        s.close()
        head, _, body = data.partition("\r\n\r\n")
        assert head.split(" ")[1] == "400", data
        assert json.loads(body) == {"code": code, "message": msg}, data


@test
def allow_request_rejects():
    """the application's request filter refuses with 403 and its message"""
    r = requests.get(url(EIO=4, transport="polling", deny=1), timeout=5)
    err(r, 403, 4, "denied by the application")
    try:
        websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket&deny=1", timeout=5)
        raise AssertionError("websocket accepted")
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 403


@test
def filter_reads_headers_and_handshake_data_kept():
    """the request filter reads headers; the handshake's query, headers and address are kept"""
    r = requests.get(url(EIO=4, transport="polling"), headers={"X-Deny": "yes"}, timeout=5)
    err(r, 403, 4, "Forbidden")
    r = requests.get(url(EIO=4, transport="polling", tag="t42"), headers={"User-Agent": "probe/1.0"}, timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    SRV.wait_for(f"open {sid} tag=t42 ua=probe/1.0 addr=127.0.0.1 transport=polling")
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket&tag=w1", timeout=5)
    wsid = json.loads(ws.recv()[1:])["sid"]
    SRV.wait_for(f"open {wsid} tag=w1 ua=- addr=127.0.0.1 transport=websocket")
    ws.close()


@test
def polling_payloads():
    """several packets per POST and per GET, binary as b+base64"""
    sid = handshake()["sid"]
    blob = bytes(range(256))[:200]
    body = "4one\x1e4two\x1eb" + base64.b64encode(blob).decode() + "\x1e4thrée"
    r = post(sid, body.encode())
    assert (r.status_code, r.text) == (200, "ok")
    r = get(sid)
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    parts = r.content.decode().split("\x1e")
    assert parts[:2] == ["4one", "4two"], parts
    assert parts[2][0] == "b" and base64.b64decode(parts[2][1:]) == blob
    assert parts[3] == "4thrée"
    assert not r.content.decode().endswith("\x1e")


@test
def held_get_answered_later():
    """a GET is held open until there is something to send"""
    sid = handshake()["sid"]
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("r", get(sid)))
    t.start()
    t.join(0.05)
    assert t.is_alive(), "the GET was answered with nothing to send"
    post(sid, "4late")
    t.join(5)
    # the first thing sent may be a ping if one was due
    assert "4late" in res["r"].text.split("\x1e") or res["r"].text == "2", res["r"].text


@test
def concurrent_gets_break_session():
    """two GETs at once: one gets 400, the other the close packet, the session ends"""
    sid = handshake()["sid"]
    res = []
    ts = [threading.Thread(target=lambda: res.append(get(sid))) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    # they travel on two connections: whichever the server reads second is refused
    bad = [r for r in res if r.status_code == 400]
    good = [r for r in res if r.status_code == 200]
    assert len(bad) == 1 and len(good) == 1, [(r.status_code, r.text) for r in res]
    err(bad[0], 400, 3, "Bad request")
    assert good[0].text.split("\x1e")[-1] == "1", good[0].text
    SRV.wait_for(f"close {sid} transport error")
    err(get(sid), 400, 1, "Session ID unknown")


@test
def close_packet_while_get_pending():
    """a POSTed close answers the pending GET with a noop and ends the session"""
    pending_seen = False
    for _ in range(30):  # stops at the first try where the GET was pending
        sid = handshake()["sid"]
        res = {}
        t = threading.Thread(target=lambda: res.setdefault("r", get(sid)))
        t.start()
        assert post(sid, "1").text == "ok"
        t.join(5)
        SRV.wait_for(f"close {sid} transport close")
        r = res["r"]
        if r.status_code == 200:
            # the GET was pending when the close came: it gets a noop
            assert r.text == "6", r.text
            pending_seen = True
        else:
            # the GET came after the close: the session is already gone
            err(r, 400, 1, "Session ID unknown")
        err(get(sid), 400, 1, "Session ID unknown")
        if pending_seen:
            break
    assert pending_seen, "the GET never reached the server first in 30 tries"


@test
def oversized_post():
    """a POST over maxPayload gets 413 and ends only that session"""
    other = handshake()["sid"]
    sid = handshake()["sid"]
    r = post(sid, "4" + "x" * 5000)
    assert r.status_code == 413, r.status_code
    assert r.json()["message"] == "Payload too large"
    SRV.wait_for(f"close {sid} transport error")
    echo_ok(other)


@test
def oversized_ws_frame():
    """a websocket frame over maxPayload is closed with 1009"""
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket", timeout=5)
    ws.recv()
    ws.send("4" + "y" * 5000)
    op, data = None, b""
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            data = frame.data
            break
    assert int.from_bytes(data[:2], "big") == 1009, data
    ws.close()


@test
def malformed_payloads():
    """malformed packets close that session with 400 and nothing else"""
    other = handshake()["sid"]
    for body in ["", "9nine", "4a\x1e\x1e4b", "b!!!notbase64", "\x1e"]:
        sid = handshake()["sid"]
        r = post(sid, body.encode())
        assert r.status_code == 400, (body, r.status_code)
        if body:
            SRV.wait_for(f"close {sid} parse error")
    echo_ok(other)
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket", timeout=5)
    sid = json.loads(ws.recv()[1:])["sid"]
    ws.send("x-not-a-packet")
    SRV.wait_for(f"close {sid} parse error")
    ws.close()
    echo_ok(other)


@test
def garbage_and_cut_requests():
    """garbage bytes and requests cut halfway leave the server serving others"""
    other = handshake()["sid"]
    for raw in [b"\x00\xff\x10garbage\r\n\r\n", b"GET /engine.io/?EIO=4&transport=pol",
                b"POST " + P.encode() + b"?EIO=4&transport=polling&sid=" + other.encode() +
                b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n4abc",
                b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n"]:
        s = socket.create_connection(("127.0.0.1", SRV.port), timeout=5)
        try:
            s.sendall(raw)
        except OSError:
            pass
        s.close()
    assert SRV.alive()
    # the cut POST above belonged to `other`; the session may have been
    # closed by it only if it completed, which it did not
    echo_ok(handshake()["sid"])


def fast_url(**q):
    return f"{FAST.base}{P}?" + "&".join(f"{k}={v}" for k, v in q.items())


@test
def ping_timeout_polling():
    """a polling client that never answers pings is closed with ping timeout"""
    r = requests.get(fast_url(EIO=4, transport="polling"), timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    assert requests.get(fast_url(EIO=4, transport="polling", sid=sid), timeout=5).text == "2"
    FAST.wait_for(f"close {sid} ping timeout")
    err(requests.get(fast_url(EIO=4, transport="polling", sid=sid), timeout=5), 400, 1, "Session ID unknown")


@test
def ping_timeout_without_polling():
    """the pong deadline runs from the ping, even when no GET carries it"""
    r = requests.get(fast_url(EIO=4, transport="polling"), timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    FAST.wait_for(f"close {sid} ping timeout")


@test
def ping_timeout_websocket():
    """a websocket client that never answers pings is closed with ping timeout"""
    ws = websocket.create_connection(f"ws://127.0.0.1:{FAST.port}{P}?EIO=4&transport=websocket", timeout=5)
    sid = json.loads(ws.recv()[1:])["sid"]
    assert ws.recv() == "2"
    FAST.wait_for(f"close {sid} ping timeout")
    ws.close()


@test
def cut_poll_ends_session():
    """a held poll whose client goes away ends its session at once (transport close), costing no CPU meanwhile"""
    def cpu():
        with open(f"/proc/{SRV.proc.pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    r = requests.get(url(EIO=4, transport="polling"), timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    s = socket.create_connection(("127.0.0.1", SRV.port), timeout=5)
    s.sendall(f"GET {P}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    c0 = cpu()
    s.close()
    # this server pings every 20 s: the close is noticed long before
    SRV.wait_for(f"close {sid} transport close", 5)
    err(requests.get(url(EIO=4, transport="polling", sid=sid), timeout=5), 400, 1, "Session ID unknown")
    assert cpu() - c0 < 0.5, f"the server spent {cpu() - c0:.2f} s of CPU on a vanished client"


@test
def ping_pong_keeps_session():
    """answering pings keeps a polling session open across several intervals"""
    FAST.stop()
    # pings every 300 ms, but a pong may take its time: a loaded machine
    # must not turn a slow answer into a failure. Each GET gets the next
    # ping only once the previous pong was taken.
    steady = Server("engine_echo", "--ping-interval", 300, "--ping-timeout", 5000)
    u = lambda **q: f"{steady.base}{P}?" + "&".join(f"{k}={v}" for k, v in q.items())
    sid = json.loads(requests.get(u(EIO=4, transport="polling"), timeout=5).text[1:])["sid"]
    for _ in range(4):
        assert requests.get(u(EIO=4, transport="polling", sid=sid), timeout=10).text == "2"
        assert requests.post(u(EIO=4, transport="polling", sid=sid), data="3", timeout=5).text == "ok"
    assert f"close {sid}" not in steady.out
    steady.stop()


@test
def upgrade_sequence():
    """2probe/3probe, the pending GET gets a noop, then websocket only"""
    sid = handshake()["sid"]
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("r", get(sid)))
    t.start()
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket&sid={sid}", timeout=5)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    t.join(5)
    assert res["r"].text in ("6", "2"), res["r"].text
    ws.send("5")
    ws.send("4over ws")
    got = ws.recv()
    while got == "2":
        ws.send("3")
        got = ws.recv()
    assert got == "4over ws"
    err(get(sid), 400, 3, "Bad request")
    # a second websocket on the upgraded session is accepted, then closed
    # with an empty close frame (as Node does); the first one goes on
    ws2 = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket&sid={sid}", timeout=5)
    op, frame = ws2.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_CLOSE and frame.data == b"", (op, frame.data)
    ws2.close()
    ws.send("4still")
    got = ws.recv()
    while got == "2":
        ws.send("3")
        got = ws.recv()
    assert got == "4still"
    ws.close()
    SRV.wait_for(f"close {sid} transport close")


@test
def cors():
    """allowed origins get CORS headers, others none; preflight answers 204"""
    r = requests.get(url(EIO=4, transport="polling"), headers={"Origin": "http://good.example"}, timeout=5)
    assert r.headers.get("access-control-allow-origin") == "http://good.example", r.headers
    assert "Origin" in r.headers.get("vary", "")
    r = requests.get(url(EIO=4, transport="polling"), headers={"Origin": "http://evil.example"}, timeout=5)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    r = requests.options(url(EIO=4, transport="polling"), timeout=5, headers={
        "Origin": "http://good.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-token"})
    assert r.status_code == 204, r.status_code
    assert r.headers["access-control-allow-origin"] == "http://good.example"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "content-type,x-token"


@test
def large_cookie():
    """a 6 KB cookie header does not make the request disappear"""
    h = handshake_with_headers({"Cookie": "c=" + "z" * 6000})
    assert len(h["sid"]) == 20


def handshake_with_headers(headers):
    r = requests.get(url(EIO=4, transport="polling"), headers=headers, timeout=5)
    assert r.status_code == 200, r.status_code
    return json.loads(r.text[1:])


@test
def stop_clean():
    """the server stops cleanly on SIGTERM with sessions open"""
    handshake()
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}{P}?EIO=4&transport=websocket", timeout=5)
    ws.recv()
    SRV.stop()
    ws.close()


@test
def session_cap():
    """over --max-connections, handshakes get 503 and the rest keep working"""
    srv = Server("engine_echo", "--max-connections", 2)
    try:
        base = f"{srv.base}{P}?EIO=4&transport=polling"
        a = requests.get(base, timeout=5)
        b = requests.get(base, timeout=5)
        assert a.status_code == b.status_code == 200
        c = requests.get(base, timeout=5)
        assert c.status_code == 503 and c.json()["message"] == "Server is full", c.text
        sid = json.loads(a.text[1:])["sid"]
        requests.post(f"{base}&sid={sid}", data="1", timeout=5)
        srv.wait_for(f"close {sid} transport close")
        assert requests.get(base, timeout=5).status_code == 200
    finally:
        srv.stop()


@test
def fd_cap():
    """past the descriptor limit connections are refused cleanly, no accept spin"""
    srv = Server("engine_echo", nofile=64)
    socks = []
    try:
        for _ in range(120):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            socks.append(s)
        # refused ones are closed by the server at once
        refused = 0
        for s in socks:
            s.settimeout(0.5)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except socket.timeout:
                pass
        assert refused > 0, "no connection was refused"
        assert srv.err.count("\n") < 20, srv.err[-2000:]
        for s in socks:
            s.close()
        socks = []
        r = requests.get(f"{srv.base}{P}?EIO=4&transport=polling", timeout=5)
        assert r.status_code == 200
    finally:
        for s in socks:
            s.close()
        srv.stop()


run()
