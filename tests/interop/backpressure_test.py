"""Backpressure: a client that stops reading while others receive a flood.
Its queue stays within bounds, the policy applies, the others receive
everything, and the drain callback fires once it reads again."""
import json
import os
import socket
import sys
import threading

import websocket

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import Server, run, test  # noqa: E402

LIMIT = 256 * 1024
CHUNKS, PER_CHUNK, SIZE = 160, 8, 8000  # 10 MB in 64 KB bursts


class Fast:
    """A websocket client that reads everything, in a thread."""

    def __init__(self, port):
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", timeout=30)
        self.ws.recv()
        self.ws.send("40")
        assert self.ws.recv().startswith("40{")
        self.seqs = []
        self.acks = {}
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while True:
            try:
                m = self.ws.recv()
            except Exception:  # noqa: BLE001 - closed
                return
            if m == "2":
                self.ws.send("3")
            elif m.startswith('42["f",'):
                with self.cond:
                    self.seqs.append(int(m[7:m.index(",", 7)]))
                    self.cond.notify_all()
            elif m.startswith("43"):
                i = 2
                while m[i].isdigit():
                    i += 1
                with self.cond:
                    self.acks[int(m[2:i])] = json.loads(m[i:])[0]
                    self.cond.notify_all()

    def call(self, ack, event, arg):
        self.ws.send(f"42{ack}" + json.dumps([event, arg]))
        with self.cond:
            assert self.cond.wait_for(lambda: ack in self.acks, 30), f"no ack {ack}"
            return self.acks.pop(ack)

    def wait_count(self, n):
        # the reader thread appends; wake up on every message it takes
        with self.cond:
            self.cond.wait_for(lambda: len(self.seqs) >= n, 30)
        return len(self.seqs)


def slow_client(port):
    """A raw socket with a tiny receive buffer that stops reading after connecting."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    sent40 = False
    while b"40{" not in buf:
        if b"0{" in buf and not sent40:
            s.sendall(b"\x81\x82\x00\x00\x00\x0040")  # masked "40", zero key
            sent40 = True
        buf += s.recv(4096)
    sid = buf[buf.index(b'40{"sid":"') + 10:][:20].decode()
    return s, sid


def flood(ctl, volatile=False, chunks=CHUNKS):
    res = None
    for i in range(chunks):
        res = ctl.call(1000 + i, "flood", {"n": PER_CHUNK, "size": SIZE, "volatile": volatile})
    return res


@test
def disconnect_policy():
    """policy disconnect: the slow client is closed as a slow consumer, others get all"""
    srv = Server("progs/flood_server", "--policy", "disconnect")
    try:
        a, b = Fast(srv.port), Fast(srv.port)
        slow, sid = slow_client(srv.port)
        res = flood(a)
        srv.wait_for(f"disconnect {sid} slow consumer")
        assert res["slowDisconnects"] == 1, res
        assert res["maxQueued"] <= LIMIT, res
        total = CHUNKS * PER_CHUNK
        for c in (a, b):
            assert c.wait_count(total) == total
            assert c.seqs == list(range(total)), "a fast client lost or reordered messages"
        slow.close()
    finally:
        srv.stop()


@test
def drop_oldest_policy_and_drain():
    """policy drop-oldest: bounded queue, drops counted, drain fires after resuming"""
    srv = Server("progs/flood_server", "--policy", "drop")
    try:
        a = Fast(srv.port)
        slow, sid = slow_client(srv.port)
        res = flood(a)
        assert res["drops"] > 0 and res["slowDisconnects"] == 0, res
        assert res["maxQueued"] <= LIMIT, res
        assert f"disconnect {sid}" not in srv.out
        total = CHUNKS * PER_CHUNK
        assert a.wait_count(total) == total and a.seqs == list(range(total))
        # volatile packets for the backed-up client are dropped and counted
        before = a.call(1, "stats", None)
        res = flood(a, volatile=True, chunks=4)
        assert res["volatileDrops"] > before["volatileDrops"], (before, res)
        # the slow client reads again: its queue drains and it is told so
        slow.settimeout(30)
        data = b""
        while b'42["drained"]' not in data:
            chunk = slow.recv(1 << 20)
            assert chunk, "connection closed"
            data = data[-64:] + chunk
        srv.wait_for(f"drain {sid}")
        slow.close()
    finally:
        srv.stop()


run()
