#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/):
real protocol traffic in each harness's input format, made by the project.
Run it again after changing the formats; the files are committed."""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(harness, items):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for data in items:
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def rec(kind, data):
    if isinstance(data, str):
        data = data.encode()
    return bytes([kind]) + struct.pack(">H", len(data)) + data


def ph(n):
    return {"_placeholder": True, "num": n}


def j(v):
    return json.dumps(v, separators=(",", ":"))


# Engine.IO: first byte's bit 0 = binary for the single-message decode;
# the whole input is also a polling payload
eio = [b"4hello", b"4a\x1e4b\x1e4c", b"4hello\x1ebAQIDBA==", b"2", b"3", b"1", b"6",
       b"2probe", b"5", b"bAA==", b"b", b"4\xe2\x82\xac", b"\x1e", b"4x\x1e", b"b!!!!",
       b"0{}", b"9", b"", b"4" + b"x" * 300, b"b" + b"QUJD" * 50]
write("eio_codec", eio)

# Socket.IO: records (kind bit 0 = binary, 2 bytes of length, data)
sio = [
    rec(0, "0"), rec(0, '0{"token":"t"}'), rec(0, "0/admin,"), rec(0, "1"), rec(0, "1/admin,"),
    rec(0, '2["hello",1,"two",{"three":3}]'), rec(0, '212["ask"]'), rec(0, '3/admin,7[1,2]'),
    rec(0, '4{"message":"no"}'), rec(0, "3"), rec(0, "2[1]"), rec(0, '2["x","\\ud83d"]'),
    rec(0, '29007199254740991["big id"]'),
    rec(0, "51-" + j(["up", ph(0)])) + rec(1, b"\x00\x01\x02"),
    rec(0, "52-/files,9" + j(["up", ph(0), {"deep": ph(1)}])) + rec(1, b"a") + rec(1, b"bc"),
    rec(0, "61-4" + j([ph(0)])) + rec(1, b"\xff"),
    rec(0, "51-" + j(["many", *[ph(0)] * 50])) + rec(1, b"x" * 100),
    rec(0, "52-" + j(["e", ph(1), ph(0), ph(1)])) + rec(1, b"A") + rec(1, b"B"),
    rec(0, "51-" + j(["e", ph(5)])) + rec(1, b"x"),
    rec(0, "51-" + j(["e", ph(0)])) + rec(0, '2["text in between"]'),
    rec(1, b"binary nobody announced"),
    rec(0, "2{}"), rec(0, "4abc"), rec(0, '2abc["e"]'), rec(0, '2["disconnect"]'),
]
write("sio_codec", sio)


# the server: records for three clients (bits 0-1 client, bit 2 binary, bit 3 reopen)
def c(n, data, binary=False, reopen=False):
    return rec((n + 1) | (4 if binary else 0) | (8 if reopen else 0), data)


srv = [
    c(0, "40") + c(0, '42["echo","hi"]') + c(0, '421["echo",{"a":[1,2]}]'),
    c(0, "40") + c(1, "40") + c(0, '421["join","r"]') + c(1, '421["join","r"]') +
    c(0, '42["say","r","hello room"]') + c(1, '42["leave","r"]') + c(0, '42["say","r","again"]'),
    c(0, "40") + c(0, '42["ask","q?"]') + c(0, "430[1]") + c(0, "431[2]") + c(0, "43999[]"),
    c(0, "40") + c(1, "40") + c(2, "40") + c(0, '42["ask"]') + c(1, "430[]") + c(2, "41"),
    c(0, "40") + c(0, "451-" + j(["echo", ph(0)])) + c(0, b"\x00\xff", True) +
    c(0, "452-3" + j(["echo", ph(1), ph(0)])) + c(0, b"A", True) + c(0, b"B", True),
    c(0, "40/admin,") + c(1, '40/admin,{"token":"t"}') + c(1, '42/admin,["echo","in"]'),
    c(0, "40/w-7,") + c(1, "40/w-7,") + c(0, '42/w-7,["say",null,"ws"]') + c(2, "40/nope,"),
    c(0, "40") + c(0, '42["bye"]') + c(0, "40") + c(0, '42["bye",true]') + c(0, "40"),
    c(0, "40") + c(0, "3") + c(0, "2") + c(0, "6") + c(0, "1") + c(0, "40", reopen=True),
    c(0, "40") + c(0, "41/nope,") + c(1, "40") + c(1, "40") + c(2, '42/admin,["x"]'),
    c(0, "40") + c(0, b'42["say",null,"\xff\xfe"]') + c(1, "40"),
    c(0, "40") + c(0, "451-" + j(["echo", ph(0)])) + c(0, '42["x"]'),
    c(0, "40") + c(0, '42["echo","cut \\ud83d"]') + c(0, "42[1]") + c(0, "43"),
    c(0, "40") + b"".join(c(0, '42["join","room-%d"]' % i) for i in range(20)) +
    c(0, '42["say",null,"all"]'),
]
write("server", srv)

# the Redis adapter's msgpack reader: messages as Node's adapter publishes
# them (captured), and the value forms notepack.io writes
redis_wire = [bytes.fromhex(h) for h in (
    # io.emit('hello', 1, 'two', {three: 3}) on socket.io#/#
    "93a638535a71543383a47479706502a46461746194a568656c6c6f01a374776f81a5746872656503a36e7370"
    "a12f83a5726f6f6d7390a665786365707490a5666c61677380",
    # a type 9 ack whose answer is binary
    "83a47479706509a9726571756573744964a6416e72563272a67061636b6574c402dead",
    # 1.5, -200, 70000, 2^40, NaN, nil
    "96cb3ff8000000000000d1ff38ce00011170cf0000010000000000cb7ff8000000000000c0",
    # {n: nil, d: a date}
    "82a16ec0a164d6ff00000001",
    # str8 for a short string, float32, a negative fixint
    "93d903616263ca3fc00000e0",
    # hostile: an array header announcing 134M items; 34 levels of nesting
    "dd08000000",
    "91" * 34 + "c0",
)]
write("redis_wire", redis_wire)
