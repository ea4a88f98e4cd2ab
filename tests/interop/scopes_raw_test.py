"""Volatile broadcasts on the wire: a long-polling client with no poll
pending is not ready and misses volatile packets, and only those."""
import json
import os
import sys

import requests
import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

SRV = None


@test
def start():
    """start scope_server"""
    global SRV
    SRV = Server("progs/scope_server")


def ws_client():
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}/socket.io/?EIO=4&transport=websocket", timeout=5)
    ws.recv()
    ws.send("40")
    assert ws.recv().startswith("40{")
    return ws


def ws_call(ws, ack, event, arg):
    ws.send(f"42{ack}" + json.dumps([event, arg]))
    while True:
        m = ws.recv()
        if m.startswith(f"43{ack}["):
            return json.loads(m[2 + len(str(ack)):])[0]


@test
def volatile_dropped_for_client_not_ready():
    """volatile skips a poller with no pending GET; non-volatile waits for it"""
    base = f"{SRV.base}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    poll = f"{base}&sid={sid}"
    assert requests.post(poll, data="40", timeout=5).text == "ok"
    assert requests.get(poll, timeout=5).text.startswith("40{")
    assert requests.post(poll, data='421["join",["v"]]', timeout=5).text == "ok"
    assert requests.get(poll, timeout=5).text == "431[2]"
    # the poller now has no GET pending: it is not ready
    ws = ws_client()
    assert ws_call(ws, 1, "join", ["v"]) == 2
    before = ws_call(ws, 2, "stats", None)
    after = ws_call(ws, 3, "bcast", {"to": ["v"], "volatile": True, "data": "vol"})
    assert after["volatileDrops"] - before["volatileDrops"] == 1, (before, after)
    ws_call(ws, 4, "bcast", {"to": ["v"], "data": "solid"})
    got = requests.get(poll, timeout=5).text.split("\x1e")
    assert '42["bcast","solid"]' in got, got
    assert '42["bcast","vol"]' not in got, got
    ws.close()


@test
def stop():
    """the server stops cleanly"""
    SRV.stop()


run()
