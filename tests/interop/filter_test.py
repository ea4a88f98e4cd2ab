#!/usr/bin/python3
"""An asynchronous handshake filter (sios_request_defer): a polling
handshake is held until the application decides, a websocket one opens or
closes then; and the handshake as Node's socket.handshake shows it."""
import json
import os
import re
import sys
import threading
import time

import requests
import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

SRV = None


def base():
    return f"http://127.0.0.1:{SRV.port}/socket.io/"


class Control:
    """A Socket.IO client on a raw websocket that asks the server to decide."""

    def __init__(self):
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{SRV.port}/socket.io/?EIO=4&transport=websocket", timeout=5)
        assert self.ws.recv()[0] == "0"
        self.ws.send("40")
        assert self.recv().startswith("40")
        assert self.recv().startswith('42["handshake"')
        self.id = 0

    def recv(self):
        while True:
            m = self.ws.recv()
            if m != "2":
                return m
            self.ws.send("3")

    def call(self, event, *args):
        self.id += 1
        self.ws.send(f"42{self.id}" + json.dumps([event, *args]))
        m = self.recv()
        assert m.startswith(f"43{self.id}["), m
        return json.loads(m[len(f"43{self.id}"):])[0]


HOLDS = 0


def held_one(ctl):
    """Waits until the server's filter has seen one more held handshake (it
    prints a line per handshake); it is then the only one waiting."""
    global HOLDS
    HOLDS += 1
    SRV.wait_for(r"(?s)(filter \S+ hold=1.*){%d}" % HOLDS)
    assert ctl.call("held") == 1


@test
def start():
    """start the filter server"""
    global SRV
    SRV = Server("progs/filter_server")


@test
def polling_handshake_waits_for_the_decision():
    """a deferred polling handshake is answered when the application accepts it"""
    ctl = Control()
    res = {}
    t = threading.Thread(target=lambda: res.setdefault(
        "r", requests.get(base() + "?EIO=4&transport=polling&hold=1", timeout=10)))
    t.start()
    held_one(ctl)
    assert "r" not in res  # still held: nothing has been decided
    assert ctl.call("decide", {"accept": True}) == "SIOS_OK"
    t.join(10)
    r = res["r"]
    assert r.status_code == 200 and r.text.startswith('0{"sid":'), (r.status_code, r.text)
    sid = json.loads(r.text[1:])["sid"]
    # the session works
    assert requests.post(base() + f"?EIO=4&transport=polling&sid={sid}", data="40",
                         timeout=5).text == "ok"
    got = requests.get(base() + f"?EIO=4&transport=polling&sid={sid}", timeout=5).text
    assert got.startswith("40{"), got
    ctl.ws.close()


@test
def polling_handshake_rejected_later():
    """a deferred polling handshake rejected later gets 403 and the message"""
    ctl = Control()
    res = {}
    t = threading.Thread(target=lambda: res.setdefault(
        "r", requests.get(base() + "?EIO=4&transport=polling&hold=1", timeout=10)))
    t.start()
    held_one(ctl)
    assert ctl.call("decide", {"accept": False, "message": "not today"}) == "SIOS_OK"
    t.join(10)
    r = res["r"]
    assert r.status_code == 403 and r.json() == {"code": 4, "message": "not today"}, r.text
    assert ctl.call("decide", {"accept": True}) == "none"
    ctl.ws.close()


@test
def websocket_handshake_opens_or_closes_on_the_decision():
    """a deferred websocket handshake: upgraded, then the open packet on accept, close 1008 on reject"""
    ctl = Control()
    url = f"ws://127.0.0.1:{SRV.port}/socket.io/?EIO=4&transport=websocket&hold=1"
    a = websocket.create_connection(url, timeout=5)
    held_one(ctl)
    assert ctl.call("decide", {"accept": True}) == "SIOS_OK"
    m = a.recv()
    assert m.startswith('0{"sid":') and json.loads(m[1:])["upgrades"] == [], m
    a.send("40")
    m = a.recv()
    while m == "2":
        a.send("3")
        m = a.recv()
    assert m.startswith("40{"), m
    a.close()
    b = websocket.create_connection(url, timeout=5)
    held_one(ctl)
    assert ctl.call("decide", {"accept": False, "message": "go away"}) == "SIOS_OK"
    op, frame = b.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_CLOSE and frame.data == b"\x03\xf0go away", frame.data
    b.close()
    ctl.ws.close()


@test
def handshake_as_node_shows_it():
    """sios_socket_handshake: headers, time, address, xdomain, secure, issued, url, query, auth"""
    before = time.time() * 1000
    r = requests.get(base() + "?EIO=4&transport=polling&room=a%20b&room=last",
                     headers={"X-Custom": "kept", "Origin": "http://o.example"}, timeout=5)
    sid = json.loads(r.text[1:])["sid"]
    requests.post(base() + f"?EIO=4&transport=polling&sid={sid}", data='40{"token":"t"}', timeout=5)
    got = ""
    while "42[" not in got:
        got += requests.get(base() + f"?EIO=4&transport=polling&sid={sid}", timeout=5).text
    pkt = [p for p in got.split("\x1e") if p.startswith('42["handshake"')][0]
    h = json.loads(pkt[2:])[1]
    assert list(h) == ["headers", "time", "address", "xdomain", "secure", "issued", "url",
                       "query", "auth"], list(h)
    assert h["headers"]["x-custom"] == "kept" and h["headers"]["origin"] == "http://o.example"
    assert h["headers"]["host"] == f"127.0.0.1:{SRV.port}", h["headers"]
    assert re.match(r"^\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d GMT\+0000 \(Coordinated Universal Time\)$",
                    h["time"]), h["time"]
    assert before - 1000 <= h["issued"] <= time.time() * 1000 + 1000, h["issued"]
    assert h["address"] == "127.0.0.1" and h["xdomain"] is True and h["secure"] is False, h
    assert h["query"] == {"EIO": "4", "transport": "polling", "room": "last"}, h["query"]
    assert h["url"] == "/socket.io/?EIO=4&transport=polling&room=last", h["url"]
    assert h["auth"] == {"token": "t"}, h["auth"]


@test
def stop():
    """the server stops cleanly with nothing held"""
    SRV.stop()


if __name__ == "__main__":
    run()
