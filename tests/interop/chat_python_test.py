"""The chat demo's protocol through Debian's python3-socketio client."""
import os
import queue
import sys

import socketio

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

SRV = None


def client(**kw):
    c = socketio.Client(reconnection=False)
    q = queue.Queue()
    # the chat has connection state recovery on: as with Node, every event
    # then carries its offset (a string) as an extra last argument, which
    # a client without recovery (python-socketio 5.7) sees
    def handler(e):
        def on(data, *offset):
            assert len(offset) <= 1 and all(isinstance(o, str) for o in offset), offset
            q.put((e, data))
        return on
    for ev in ("joined", "user-joined", "user-left", "message"):
        c.on(ev, handler(ev))
    c.connect(SRV.base, wait_timeout=5, **kw)
    return c, q


def expect(q, event):
    while True:
        e, data = q.get(timeout=5)
        if e == event:
            return data


@test
def start():
    """start the chat demo"""
    global SRV
    SRV = Server("chat")


@test
def room_chat():
    """join-room, user-joined, message to the room, user-left on leave"""
    a, qa = client(transports=["websocket"])
    b, qb = client()
    try:
        a.emit("join-room", "py")
        assert expect(qa, "joined") == {"room": "py"}
        b.emit("join-room", "py")
        assert expect(qb, "joined") == {"room": "py"}
        uj = expect(qa, "user-joined")
        assert uj["userId"] == b.get_sid() and uj["timestamp"] > 1.6e12
        b.emit("message", {"roomId": "py", "text": "from python"})
        for q in (qa, qb):
            m = expect(q, "message")
            assert (m["userId"], m["text"]) == (b.get_sid(), "from python")
        a.emit("leave-room", "py")
        assert expect(qb, "user-left") == {"userId": a.get_sid()}
    finally:
        a.disconnect()
        b.disconnect()


@test
def admin():
    """/admin refuses a wrong token and acknowledges admin-action with the right one"""
    c = socketio.Client(reconnection=False)
    errors = queue.Queue()
    c.on("connect_error", lambda data: errors.put(data), namespace="/admin")
    try:
        c.connect(SRV.base, namespaces=["/admin"], auth={"token": "wrong"}, wait_timeout=5)
        raise AssertionError("connected with a wrong token")
    except socketio.exceptions.ConnectionError:
        pass
    data = errors.get(timeout=5)
    assert data == {"message": "unauthorized"} or data == "unauthorized", data
    c.disconnect()
    c = socketio.Client(reconnection=False)
    c.connect(SRV.base, namespaces=["/admin"], auth={"token": "secret"}, wait_timeout=5)
    try:
        assert c.call("admin-action", {"x": 1}, namespace="/admin", timeout=5) == {"ok": True}
    finally:
        c.disconnect()


@test
def stop():
    """the server stops cleanly"""
    SRV.stop()


run()
