// Connection state recovery with socket.io-client's connectionStateRecovery:
// a client whose transport breaks comes back with the same id, its rooms,
// and every packet it missed, in order; after the window it starts anew.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { test, run, startServer, once, startRedis } = require('./lib/harness');

let srv, short;
const all = [];
function connect(s, opts = {}) {
  return new Promise((resolve, reject) => {
    const c = io(`http://127.0.0.1:${s.port}`, { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100, ...opts });
    all.push(c);
    c.once('connect', () => resolve(c));
    c.once('connect_error', reject);
  });
}

test('start servers with a recovery window of 60 s, and of 300 ms', async () => {
  srv = await startServer('progs/cluster_server', ['--recovery', '60000']);
  short = await startServer('progs/cluster_server', ['--recovery', '300']);
});

for (const transport of ['websocket', 'polling']) {
  test(`${transport}: the transport breaks, the client comes back: same id, rooms kept, what it missed in order, recovered`, async () => {
    const a = await connect(srv, { transports: [transport] });
    const sender = await connect(srv, { transports: ['websocket'] });
    assert.strictEqual(a.recovered, false);
    assert.strictEqual(await a.emitWithAck('join', ['r1']), 2);
    const got = [];
    a.on('bcast', (d) => got.push(d));
    // one before, so the client has an offset
    await sender.emitWithAck('bcast', { scope: { to: ['r1'] }, data: 'before' });
    await new Promise((r) => { const t = () => (got.length ? r() : setTimeout(t, 5)); t(); });
    const id = a.id;
    const back = once(a, 'connect');
    a.io.engine.close(); // the transport breaks under it
    for (let i = 0; i < 3; i++) await sender.emitWithAck('bcast', { scope: { to: ['r1'] }, data: `missed ${i}` });
    await back;
    assert.strictEqual(a.id, id);
    assert.strictEqual(a.recovered, true);
    assert.strictEqual(await a.emitWithAck('recovered'), true);
    await sender.emitWithAck('bcast', { scope: { to: ['r1'] }, data: 'after' });
    assert.strictEqual(await a.emitWithAck('self', { data: 'to me' }), 'ok');
    await new Promise((r) => { const t = () => (got.length >= 6 ? r() : setTimeout(t, 5)); t(); });
    // each event carries its offset as a last argument, as with Node
    assert.deepStrictEqual(got, ['before', 'missed 0', 'missed 1', 'missed 2', 'after', 'to me']);
    a.disconnect();
    sender.disconnect();
  });
}

test('a client that disconnects on purpose, or comes back after the window, starts anew', async () => {
  const a = await connect(short, { transports: ['websocket'], reconnection: false });
  await a.emitWithAck('join', ['r2']);
  const id = a.id;
  a.io.engine.close();
  await new Promise((r) => setTimeout(r, 600)); // longer than the 300 ms window
  const back = once(a, 'connect');
  a.connect();
  await back;
  assert.notStrictEqual(a.id, id);
  assert.strictEqual(a.recovered, false);
  assert.strictEqual(await a.emitWithAck('recovered'), false);
  a.disconnect();
});

test('across a cluster: the client comes back on another server, which has its session and what it missed', async () => {
  const redis = await startRedis();
  const { url } = redis;
  const [A, B] = await Promise.all([startServer('progs/cluster_server', ['--redis', url, '--recovery', '60000']),
    startServer('progs/cluster_server', ['--redis', url, '--recovery', '60000'])]);
  try {
    const a = await connect(A, { transports: ['websocket'] });
    const sender = await connect(B, { transports: ['websocket'] });
    assert.strictEqual(await a.emitWithAck('join', ['r3']), 2);
    const got = [];
    a.on('bcast', (d) => got.push(d));
    await sender.emitWithAck('bcast', { scope: { to: ['r3'] }, data: 'before' });
    await new Promise((r) => { const t = () => (got.length ? r() : setTimeout(t, 5)); t(); });
    const id = a.id;
    a.io.uri = `http://127.0.0.1:${B.port}`; // it comes back to B
    const back = once(a, 'connect');
    a.io.engine.close();
    for (let i = 0; i < 3; i++) await sender.emitWithAck('bcast', { scope: { to: ['r3'] }, data: `missed ${i}` });
    await back;
    assert.strictEqual(a.id, id);
    assert.strictEqual(a.recovered, true);
    assert.strictEqual(await a.emitWithAck('recovered'), true); // asked of B
    await sender.emitWithAck('bcast', { scope: { to: ['r3'] }, data: 'after' });
    await new Promise((r) => { const t = () => (got.length >= 5 ? r() : setTimeout(t, 5)); t(); });
    assert.deepStrictEqual(got, ['before', 'missed 0', 'missed 1', 'missed 2', 'after']);
    a.disconnect();
    sender.disconnect();
  } finally {
    await Promise.all([A.stop(), B.stop()]);
    await redis.stop();
  }
});

test('the servers stop cleanly', async () => {
  for (const c of all) c.disconnect();
  await srv.stop();
  await short.stop();
});

run();
