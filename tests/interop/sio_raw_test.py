"""Socket.IO v5 on the wire, with a raw websocket: exact replies, and
malformed packets that must close only the client that sent them."""
import json
import os
import sys

import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

SRV = None


def ws_open():
    ws = websocket.create_connection(f"ws://127.0.0.1:{SRV.port}/socket.io/?EIO=4&transport=websocket", timeout=5)
    assert ws.recv()[0] == "0"
    return ws


def recv_skip_pings(ws):
    while True:
        m = ws.recv()
        if m != "2":
            return m
        ws.send("3")


def connected(nsp="", auth=None):
    ws = ws_open()
    ws.send("40" + (nsp + "," if nsp else "") + (json.dumps(auth) if auth else ""))
    m = recv_skip_pings(ws)
    prefix = "40" + (nsp + "," if nsp else "")
    assert m.startswith(prefix), m
    return ws, json.loads(m[len(prefix):])["sid"]


@test
def start():
    """start examples/echo"""
    global SRV
    SRV = Server("echo")


@test
def connect_replies():
    """CONNECT is answered 40{"sid"}, with and without the namespace comma"""
    ws, sid = connected()
    assert len(sid) == 20
    ws.send("40/admin")  # no comma, no payload
    m = recv_skip_pings(ws)
    assert m.startswith("40/admin,{\"sid\":\""), m
    ws.send("40/nope,")
    assert recv_skip_pings(ws) == '44/nope,{"message":"Invalid namespace"}'
    # the connection is still usable
    ws.send('420["echo","still"]')
    assert recv_skip_pings(ws) == '430["still"]'
    ws.close()


@test
def ack_ids_and_binary_on_the_wire():
    """multi-digit ack ids are echoed; binary acks are 46 with attachments"""
    ws, sid = connected()
    ws.send('42987654["echo",{"a":1}]')
    assert recv_skip_pings(ws) == '43987654[{"a":1}]'
    ws.send('451-12["echo",{"_placeholder":true,"num":0}]')
    ws.send_binary(b"\x00\xffbin")
    assert recv_skip_pings(ws) == '461-12[{"_placeholder":true,"num":0}]'
    op, data = ws.recv_data()
    assert op == websocket.ABNF.OPCODE_BINARY and data == b"\x00\xffbin"
    ws.close()


@test
def not_joined_namespace_closes_the_connection():
    """an event for a namespace the client did not join closes its connection (as Node does), after what was queued"""
    ws, sid = connected()
    ws.send('421["echo","y"]')
    ws.send('42/admin,["echo","x"]')
    assert recv_skip_pings(ws) == '431["y"]'
    op, frame = ws.recv_data_frame(True)
    assert op == websocket.ABNF.OPCODE_CLOSE and frame.data[:2] == b"\x03\xea", frame.data
    SRV.wait_for(f"disconnect {sid} parse error")
    ws.close()


BAD = [
    ("42{}", []),
    ("4abc", []),
    ('42abc["echo"]', []),
    ('42["disconnect"]', []),
    ("49", []),
    ("41{\"x\":1}", []),
    ('451-["echo",{"_placeholder":true,"num":3}]', [b"x"]),  # bad placeholder index
    ('42["echo"]', [b"unexpected binary"]),                  # binary nobody announced
    ('452-["echo",{"_placeholder":true,"num":0}]', ["42[\"text-in-between\"]"]),
    ('44{"message":"from a client"}', []),
]


@test
def malformed_packets_close_only_that_client():
    """each malformed packet closes its client with parse error, others go on"""
    bystander, bsid = connected()
    for text, extra in BAD:
        ws, sid = connected()
        ws.send(text)
        for e in extra:
            if isinstance(e, bytes):
                ws.send_binary(e)
            else:
                ws.send(e)
        SRV.wait_for(f"disconnect {sid} parse error")
        bystander.send('42["echo","ping"]')
        assert recv_skip_pings(bystander) == '42["echo","ping"]', text
    bystander.close()


@test
def stop():
    """the server stops cleanly, having logged one line per protocol error"""
    SRV.stop()
    assert SRV.err.count("closing") == len(BAD) + 1, SRV.err


run()
