// The offline queue through the chat's contract ("direct", "queued-messages"),
// on one server (memory) and on two servers with Redis, where it survives a
// restart of every server.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { test, run, startServer, once, startRedis } = require('./lib/harness');

let mem, redis, A, B;
const all = [];

// a client that does not answer "queued-messages" unless told to
function connect(srv, userId, { ack = true } = {}) {
  return new Promise((resolve, reject) => {
    const c = io(`http://127.0.0.1:${srv.port}`, { forceNew: true, reconnection: false, transports: ['websocket'], auth: { userId, friends: [] } });
    all.push(c);
    c.queued = [];
    c.gotQueue = new Promise((r) => c.on('queued-messages', (msgs, cb) => { c.queued.push(msgs); if (ack) cb('ok'); r(msgs); }));
    c.once('connect', () => resolve(c));
    c.once('connect_error', reject);
  });
}

async function sendTo(from, to, text) {
  return (await from.emitWithAck('direct', { to, text })).status;
}

for (const mode of ['memory', 'redis']) {
  test(`${mode}: start`, async () => {
    if (mode === 'memory') {
      mem = await startServer('chat');
      A = B = mem;
    } else {
      redis = await startRedis();
      [A, B] = await Promise.all([startServer('chat', ['--redis', redis.url]), startServer('chat', ['--redis', redis.url])]);
    }
  });

  test(`${mode}: online: delivered at once to every socket of the user; offline: queued, then delivered in order on connect`, async () => {
    const sam = await connect(A, `sam-${mode}`);
    const tom = await connect(B, `tom-${mode}`);
    const got = once(tom, 'message');
    assert.strictEqual(await sendTo(sam, `tom-${mode}`, 'hi'), 'delivered');
    const [m] = await got;
    assert.deepStrictEqual([m.from, m.text, typeof m.timestamp], [`sam-${mode}`, 'hi', 'number']);
    for (let i = 0; i < 3; i++) assert.strictEqual(await sendTo(sam, `ursula-${mode}`, `q${i}`), 'queued');
    const u = await connect(B, `ursula-${mode}`);
    const msgs = await u.gotQueue;
    assert.deepStrictEqual(msgs.map((x) => [x.from, x.text]), [0, 1, 2].map((i) => [`sam-${mode}`, `q${i}`]));
    // acknowledged: a second connection gets nothing queued
    const u2 = await connect(B, `ursula-${mode}`); // where the ack went
    await u2.emitWithAck('get-presence', []); // a round trip after its connect
    assert.strictEqual(u2.queued.length, 0);
    for (const c of [sam, tom, u, u2]) c.disconnect();
  });

  test(`${mode}: at its bound (100 a user) the oldest messages go first`, async () => {
    const sam = await connect(A, `sam4-${mode}`);
    await Promise.all(Array.from({ length: 103 }, (_, i) => sendTo(sam, `xena-${mode}`, `n${i}`)));
    const x = await connect(B, `xena-${mode}`);
    const texts = (await x.gotQueue).map((m) => m.text);
    assert.strictEqual(texts.length, 100);
    assert.deepStrictEqual(texts, Array.from({ length: 100 }, (_, i) => `n${i + 3}`));
    sam.disconnect();
    x.disconnect();
  });

  test(`${mode}: a direct message to a 300-byte user name is refused, not queued`, async () => {
    const sam = await connect(A, `sam5-${mode}`);
    assert.strictEqual(await sendTo(sam, 'y'.repeat(300), 'nope'), 'error');
    sam.disconnect();
  });

  test(`${mode}: no acknowledgement: the next connection gets them again`, async () => {
    const sam = await connect(A, `sam2-${mode}`);
    assert.strictEqual(await sendTo(sam, `vera-${mode}`, 'again'), 'queued');
    const v1 = await connect(B, `vera-${mode}`, { ack: false });
    assert.deepStrictEqual((await v1.gotQueue).map((x) => x.text), ['again']);
    v1.disconnect();
    // offline again (the server hears the disconnect first): poll, bounded
    for (let i = 0; i < 100 && (await sam.emitWithAck('get-presence', [`vera-${mode}`]))[0].status !== 'offline'; i++);
    const v2 = await connect(A, `vera-${mode}`);
    assert.deepStrictEqual((await v2.gotQueue).map((x) => x.text), ['again']);
    sam.disconnect();
    v2.disconnect();
  });
}

test('redis: messages sent while their user connects on another server: each arrives exactly once, 10 rounds', async () => {
  const sender = await connect(B, 'sender');
  for (let round = 0; round < 10; round++) {
    const user = `racer${round}`;
    const seen = new Map();
    const count = (text) => seen.set(text, (seen.get(text) || 0) + 1);
    const sends = [];
    const conn = new Promise((resolve, reject) => {
      const c = io(`http://127.0.0.1:${A.port}`, { forceNew: true, reconnection: false, transports: ['websocket'], auth: { userId: user, friends: [] } });
      all.push(c);
      c.on('message', (m) => count(m.text));
      c.on('queued-messages', (msgs, cb) => { msgs.forEach((m) => count(m.text)); cb('ok'); });
      c.once('connect', () => resolve(c));
      c.once('connect_error', reject);
    });
    for (let i = 0; i < 8; i++) sends.push(sender.emitWithAck('direct', { to: user, text: `m${i}` }));
    const c = await conn;
    for (let i = 8; i < 12; i++) sends.push(sender.emitWithAck('direct', { to: user, text: `m${i}` }));
    const st = await Promise.all(sends);
    assert.ok(st.every((x) => x.status === 'queued' || x.status === 'delivered'), JSON.stringify(st));
    for (let t = 0; t < 200 && seen.size < 12; t++) await new Promise((r) => setTimeout(r, 10));
    await c.emitWithAck('get-presence', []); // and nothing more was on its way
    assert.strictEqual(seen.size, 12, `round ${round}: ${JSON.stringify([...seen])}`);
    for (const [text, n] of seen) assert.strictEqual(n, 1, `round ${round}: ${text} arrived ${n} times`);
    c.disconnect();
  }
  sender.disconnect();
}, 30000);

test('redis: queued messages survive a restart of every server', async () => {
  const sam = await connect(A, 'sam3');
  assert.strictEqual(await sendTo(sam, 'wes', 'kept'), 'queued');
  sam.disconnect();
  await Promise.all([A.stop(), B.stop()]);
  [A, B] = await Promise.all([startServer('chat', ['--redis', redis.url]), startServer('chat', ['--redis', redis.url])]);
  const w = await connect(B, 'wes');
  assert.deepStrictEqual((await w.gotQueue).map((x) => [x.from, x.text]), [['sam3', 'kept']]);
  w.disconnect();
});

test('the servers stop cleanly', async () => {
  for (const c of all) c.disconnect();
  await Promise.all([mem.stop(), A.stop(), B.stop()]);
  await redis.stop();
});

run();
