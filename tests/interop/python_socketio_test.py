"""Debian's python3-socketio client against examples/echo, in each transport
mode: connect with auth, namespaces, call with an ack, events, binary, and
server-to-client acks."""
import os
import sys
import threading

import socketio

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

SRV = None
MODES = {"polling+upgrade": ["polling", "websocket"], "polling only": ["polling"],
         "websocket only": ["websocket"]}


@test
def start():
    """start examples/echo"""
    global SRV
    SRV = Server("echo")


def client(mode, **kw):
    c = socketio.Client(reconnection=False)
    got = {"echo": threading.Event(), "pong": threading.Event()}

    @c.on("echo")
    def on_echo(*args):
        got["echo_args"] = args
        got["echo"].set()

    @c.on("pong")
    def on_pong(msg):
        got["pong_msg"] = msg
        got["pong"].set()
        return "py-answer", {"mode": mode}

    c.connect(SRV.base, transports=MODES[mode], wait_timeout=5, **kw)
    return c, got


def make_test(mode):
    def t():
        c, got = client(mode, auth={"user": "py", "mode": mode}, namespaces=["/", "/admin"])
        try:
            sid = c.get_sid("/")
            SRV.wait_for(rf'connect / {sid} auth  {{"user":"py","mode":"{mode.replace("+", "[+]")}"}}')
            assert c.get_sid("/admin") and c.get_sid("/admin") != sid
            # call with an ack, on both namespaces
            assert c.call("echo", {"a": [1, 2.5, None, "é"]}, timeout=5) == {"a": [1, 2.5, None, "é"]}
            assert c.call("echo", "adm", namespace="/admin", timeout=5) == "adm"
            # several arguments come back as a tuple
            assert c.call("echo", ("x", 2), timeout=5) == ("x", 2)
            # binary, alone and nested
            blob = bytes(range(256)) * 4
            assert c.call("echo", blob, timeout=5) == blob
            assert c.call("echo", {"k": [blob[:3], "s"]}, timeout=5) == {"k": [blob[:3], "s"]}
            # an event from the server
            c.emit("echo", "evt")
            assert got["echo"].wait(5) and got["echo_args"] == ("evt",)
            # the server asks this client for an ack
            c.emit("ping-me", {})
            assert got["pong"].wait(5) and got["pong_msg"] == "hello from sios"
            SRV.wait_for(rf'pong-answer {sid} \["py-answer",{{"mode":"{mode.replace("+", "[+]")}"}}\]')
        finally:
            # python-socketio 5.7 aborts the transport here without flushing
            # its DISCONNECT packets; the Node suite checks the reasons
            c.disconnect()
    t.__doc__ = f"{mode}: auth, namespaces, call with ack, event, binary, server ack"
    return t


for m in MODES:
    test(make_test(m))


@test
def stop():
    """the server stops cleanly"""
    SRV.stop()


run()
