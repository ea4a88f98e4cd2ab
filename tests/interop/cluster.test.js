// Clusters through Redis: sios servers (tests/progs/cluster_server) and a
// Node socket.io 4.8 server with @socket.io/redis-adapter 8.3 on a private
// redis-server, with real socket.io-client clients.
'use strict';
const assert = require('assert');
const path = require('path');
const { spawn } = require('child_process');
const { io } = require('socket.io-client');
const { createClient } = require('redis');
const { Emitter } = require('@socket.io/redis-emitter');
const { test, run, startServer, once, startRedis, BUILD } = require('./lib/harness');

const clients = [];
let redis, A, B, C, N;

function startPeer(name) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.join(__dirname, 'lib', 'node_peer.js'), '--port', '0',
      '--redis', redis.url, '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const srv = { proc, port: 0, out: '', err: '' };
    proc.stdout.on('data', (d) => {
      srv.out += d;
      const m = srv.out.match(/listening on port (\d+)/);
      if (m && !srv.port) { srv.port = Number(m[1]); resolve(srv); }
    });
    proc.stderr.on('data', (d) => { srv.err += d; });
    proc.on('exit', (code) => { if (!srv.port) reject(new Error(`node peer exited ${code}: ${srv.err}`)); });
    srv.stop = () => new Promise((res) => { proc.on('exit', res); proc.kill('SIGTERM'); });
  });
}

function connect(srv, nsp = '/') {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${srv.port}${nsp}`, { forceNew: true, reconnection: false, transports: ['websocket'] });
    clients.push(s);
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

// events of name on s, in order, until the returned stop()
function collect(s, name) {
  const got = [];
  const fn = (...a) => got.push(a.length === 1 ? a[0] : a);
  s.on(name, fn);
  got.stop = () => s.off(name, fn);
  return got;
}

// resolves when every socket of ss got a "bcast" with data `mark`: what was
// published before it on the same connection has been delivered too
async function fence(from, ss, mark) {
  const waits = ss.map((s) => new Promise((res) => {
    const fn = (d) => { if (d === mark) { s.off('bcast', fn); res(); } };
    s.on('bcast', fn);
  }));
  assert.strictEqual(await from.emitWithAck('bcast', { scope: { to: ['fence'] }, data: mark }), 'ok');
  await Promise.all(waits);
}

const bcasts = (got) => got.filter((d) => typeof d !== 'string' || !d.startsWith('fence'));

test('start a private redis-server and three sios servers on it', async () => {
  redis = await startRedis();
  [A, B, C] = await Promise.all(['A', 'B', 'C'].map((n) => startServer('progs/cluster_server', ['--redis', redis.url, '--name', n])));
});

test('every server counts the three (PUBSUB NUMSUB on the request channel)', async () => {
  const ss = await Promise.all([A, B, C].map((s) => connect(s)));
  for (const s of ss) assert.strictEqual(await s.emitWithAck('server-count'), 3);
  for (const s of ss) s.disconnect();
});

let a1, a2, b1, b2, c1;
test('room broadcasts cross servers: to, except, from a socket, several rooms, namespace-wide', async () => {
  [a1, a2, b1, b2, c1] = await Promise.all([connect(A), connect(A), connect(B), connect(B), connect(C)]);
  for (const s of [a1, a2, b1, b2, c1]) await s.emitWithAck('join', ['fence']);
  await a1.emitWithAck('join', ['red']);
  await b1.emitWithAck('join', ['red', 'blue']);
  await b2.emitWithAck('join', ['blue']);
  await c1.emitWithAck('join', ['green']);
  const all = [a1, a2, b1, b2, c1];
  const got = all.map((s) => collect(s, 'bcast'));
  const send = async (scope, data) => assert.strictEqual(await a2.emitWithAck('bcast', { scope, data }), 'ok');
  await send({ to: ['red'] }, 'red');
  await send({ to: ['blue', 'green'] }, 'blue+green');
  await send({ to: ['red', 'blue'], except: ['blue'] }, 'red-blue');
  await send({ except: [b2.id] }, 'all-but-b2');
  await send({}, 'everyone');
  await fence(a2, all, 'fence-1');
  await c1.emitWithAck('bcast', { scope: { fromSelf: true }, data: 'from-c1' });
  await fence(c1, all, 'fence-2');
  got.forEach((g) => g.stop());
  assert.deepStrictEqual(bcasts(got[0]), ['red', 'red-blue', 'all-but-b2', 'everyone', 'from-c1']);
  assert.deepStrictEqual(bcasts(got[1]), ['all-but-b2', 'everyone', 'from-c1']);
  assert.deepStrictEqual(bcasts(got[2]), ['red', 'blue+green', 'all-but-b2', 'everyone', 'from-c1']);
  assert.deepStrictEqual(bcasts(got[3]), ['blue+green', 'everyone', 'from-c1']);
  assert.deepStrictEqual(bcasts(got[4]), ['blue+green', 'all-but-b2', 'everyone']);
});

test('local broadcasts stay on their server; volatile ones still reach ready clients elsewhere', async () => {
  const all = [a1, a2, b1, b2, c1];
  const got = all.map((s) => collect(s, 'bcast'));
  await a2.emitWithAck('bcast', { scope: { local: true }, data: 'local' });
  await a2.emitWithAck('bcast', { scope: { volatile: true, to: ['blue'] }, data: 'volatile' });
  await fence(a2, all, 'fence-3');
  got.forEach((g) => g.stop());
  assert.deepStrictEqual(bcasts(got[0]), ['local']);
  assert.deepStrictEqual(bcasts(got[1]), ['local']);
  assert.deepStrictEqual(bcasts(got[2]), ['volatile']);
  assert.deepStrictEqual(bcasts(got[3]), ['volatile']);
  assert.deepStrictEqual(bcasts(got[4]), []);
});

test('namespaces stay apart: "/other" on another server gets none of "/"', async () => {
  const o = await connect(B, '/other');
  await o.emitWithAck('join', ['red', 'fence']);
  const got = collect(o, 'bcast');
  await a2.emitWithAck('bcast', { scope: { to: ['red'] }, data: 'slash only' });
  const oa = await connect(A, '/other');
  await fence(oa, [o], 'fence-other');
  got.stop();
  assert.deepStrictEqual(bcasts(got), []);
});

test('binary data crosses servers as binary', async () => {
  const p = once(b1, 'bcast');
  await a1.emitWithAck('bcast', { scope: { to: ['red'] }, data: { bytes: Buffer.from([0, 1, 2, 255]), n: 1.5 } });
  const [d] = await p;
  assert.ok(Buffer.isBuffer(d.bytes), `got ${JSON.stringify(d)}`);
  assert.deepStrictEqual([...d.bytes], [0, 1, 2, 255]);
  assert.strictEqual(d.n, 1.5);
});

test('broadcast with acks gathers every client of every server', async () => {
  for (const s of [a1, a2, b1, b2, c1]) { s.removeAllListeners('question'); s.on('question', (cb) => cb(`answer ${s.id}`)); }
  const res = once(a1, 'bcast-ack-result');
  assert.strictEqual(await a1.emitWithAck('bcast-ack', { scope: { timeout: 5000 } }), 'ok');
  const [r] = await res;
  assert.strictEqual(r.status, 'ok');
  assert.deepStrictEqual(r.answers.sort(), [a1, a2, b1, b2, c1].map((s) => `answer ${s.id}`).sort());
});

test('broadcast with acks and a server that never answers: the timeout ends it with the answers that came', async () => {
  // a subscriber that counts as a server and answers nothing
  const mute = createClient({ url: redis.url });
  await mute.connect();
  await mute.subscribe('socket.io-request#/#', () => {});
  try {
    const res = once(a1, 'bcast-ack-result');
    const t0 = Date.now();
    assert.strictEqual(await a1.emitWithAck('bcast-ack', { scope: { timeout: 800, to: ['red'] } }), 'ok');
    const [r] = await res;
    assert.strictEqual(r.status, 'SIOS_ETIMEDOUT');
    assert.ok(Date.now() - t0 >= 750, 'it waited for the timeout');
    assert.deepStrictEqual(r.answers.sort(), [a1, b1].map((s) => `answer ${s.id}`).sort());
  } finally {
    await mute.quit();
  }
});

test('fetch sockets, remote join, leave and disconnect span the cluster', async () => {
  assert.deepStrictEqual((await c1.emitWithAck('fetch', { scope: { to: ['red'] } })).sort(), [a1.id, b1.id].sort());
  assert.strictEqual(await c1.emitWithAck('scope-join', { scope: { to: ['blue'] }, room: 'joined-remotely' }), 'ok');
  // one server's messages reach each other server in order: the join is
  // applied on B before B answers C's later request
  assert.deepStrictEqual((await c1.emitWithAck('fetch', { scope: { to: ['joined-remotely'] } })).sort(), [b1.id, b2.id].sort());
  assert.strictEqual(await a1.emitWithAck('scope-leave', { scope: { to: [b2.id] }, room: 'joined-remotely' }), 'ok');
  assert.deepStrictEqual(await a1.emitWithAck('fetch', { scope: { to: ['joined-remotely'] } }), [b1.id]);
  const rooms = await a1.emitWithAck('all-rooms');
  for (const r of ['red', 'blue', 'green', 'joined-remotely', a1.id, c1.id]) assert.ok(rooms.includes(r), `${r} in ${rooms}`);
  assert.strictEqual(new Set(rooms).size, rooms.length, 'each room once');
  const gone = once(b2, 'disconnect');
  assert.strictEqual(await c1.emitWithAck('scope-disconnect', { scope: { to: [b2.id] } }), 'ok');
  assert.strictEqual((await gone)[0], 'io server disconnect');
});

test('server-side events reach the other servers, and their answers come back', async () => {
  const r = await a1.emitWithAck('server-emit', { event: 'hello', args: [1, 'two'], ack: true });
  assert.strictEqual(r.status, 'ok');
  assert.deepStrictEqual(r.answers.sort(), ['hello from B', 'hello from C']);
  await Promise.all([B, C].map((s) => s.waitFor(/server-event hello \[1,"two"\]/)));
  assert.ok(!/server-event hello/.test(A.out), 'the sender does not get its own event');
});

test('a Node server with @socket.io/redis-adapter joins: rooms, acks, fetch and server-side events both ways', async () => {
  N = await startPeer('N');
  const n1 = await connect(N);
  assert.strictEqual(await n1.emitWithAck('server-count'), 4);
  assert.strictEqual(await a1.emitWithAck('server-count'), 4);
  await n1.emitWithAck('join', ['red', 'fence']);
  // sios -> Node and Node -> sios
  const toN = once(n1, 'bcast');
  await a2.emitWithAck('bcast', { scope: { to: ['red'] }, data: { from: 'sios', bin: Buffer.from('x') } });
  const [dn] = await toN;
  assert.strictEqual(dn.from, 'sios');
  assert.ok(Buffer.isBuffer(dn.bin));
  const toA = once(a1, 'bcast');
  const toB = once(b1, 'bcast');
  await n1.emitWithAck('bcast', { scope: { to: ['red'], except: [b1.id] }, data: 'from node' });
  assert.deepStrictEqual(await toA, ['from node']);
  const gotB = collect(b1, 'bcast');
  await fence(n1, [b1], 'fence-n');
  gotB.stop();
  assert.deepStrictEqual(bcasts(gotB), [], 'except holds across the mixed cluster');
  void toB;
  // broadcast with acks from Node reaches sios clients, and back
  n1.on('question', (cb) => cb(`answer ${n1.id}`));
  const res = once(n1, 'bcast-ack-result');
  await n1.emitWithAck('bcast-ack', { scope: { to: ['red'], timeout: 5000 } });
  const [rn] = await res;
  assert.strictEqual(rn.status, 'ok');
  assert.deepStrictEqual(rn.answers.sort(), [a1, b1, n1].map((s) => `answer ${s.id}`).sort());
  const res2 = once(a1, 'bcast-ack-result');
  await a1.emitWithAck('bcast-ack', { scope: { to: ['red'], timeout: 5000 } });
  const [rs] = await res2;
  assert.strictEqual(rs.status, 'ok');
  assert.deepStrictEqual(rs.answers.sort(), [a1, b1, n1].map((s) => `answer ${s.id}`).sort());
  // fetch
  assert.deepStrictEqual((await n1.emitWithAck('fetch', { scope: { to: ['red'] } })).sort(), [a1.id, b1.id, n1.id].sort());
  assert.deepStrictEqual((await c1.emitWithAck('fetch', { scope: { to: ['red'] } })).sort(), [a1.id, b1.id, n1.id].sort());
  // server-side events with answers, both ways
  const fromNode = await n1.emitWithAck('server-emit', { event: 'hello', args: ['n'], ack: true });
  assert.deepStrictEqual(fromNode.answers.sort(), ['hello from A', 'hello from B', 'hello from C']);
  const fromSios = await a1.emitWithAck('server-emit', { event: 'hello', args: ['s'], ack: true });
  assert.deepStrictEqual(fromSios.answers.sort(), ['hello from B', 'hello from C', 'hello from N']);
  // remote join from sios applies on Node (asked through the same server,
  // whose messages N reads in order)
  await a1.emitWithAck('scope-join', { scope: { to: [n1.id] }, room: 'via-sios' });
  assert.deepStrictEqual(await a1.emitWithAck('fetch', { scope: { to: ['via-sios'] } }), [n1.id]);
});

test('@socket.io/redis-emitter reaches sios clients: rooms, namespaces, binary', async () => {
  const pub = createClient({ url: redis.url });
  await pub.connect();
  try {
    const emitter = new Emitter(pub);
    const o = await connect(C, '/other');
    const p1 = once(b1, 'news');
    const p2 = once(o, 'news');
    emitter.to('blue').emit('news', 'to blue', Buffer.from([7]));
    emitter.of('/other').emit('news', 'to /other');
    const [t1, bin] = await p1;
    assert.strictEqual(t1, 'to blue');
    assert.deepStrictEqual([...bin], [7]);
    assert.deepStrictEqual(await p2, ['to /other']);
  } finally {
    await pub.quit();
  }
});

test('the sios emitter reaches Node and sios clients alike', async () => {
  const n1 = await connect(N);
  await n1.emitWithAck('join', ['blue']);
  const o = await connect(N, '/other');
  const pn = once(n1, 'news');
  const pb = once(b1, 'news');
  const po = once(o, 'news');
  const probe = (...a) => new Promise((res, rej) => {
    const p = spawn(path.join(BUILD, 'progs', 'emit_probe'), [redis.url, ...a], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`emit_probe exit ${code}: ${err}`))));
  });
  await probe('/', 'news', '["from C", {"_placeholder":true,"num":0}]', '--to', 'blue', '--binary', '00ff');
  await probe('other', 'news', '["to /other"]');
  for (const [t, bin] of [await pn, await pb]) {
    assert.strictEqual(t, 'from C');
    assert.deepStrictEqual([...bin], [0, 255]);
  }
  assert.deepStrictEqual(await po, ['to /other']);
});

test('Redis killed and restarted under traffic: no crash, delivery resumes, what was lost is counted', async () => {
  const got = collect(b1, 'bcast');
  await redis.stop();
  // published while Redis is away: buffered, then delivered or counted
  assert.strictEqual(await a1.emitWithAck('bcast', { scope: { to: ['red'] }, data: 'while down' }), 'ok');
  assert.strictEqual(await a1.emitWithAck('server-count'), 'SIOS_EIO');
  const t0 = Date.now();
  await redis.start();
  let n = 0;
  while (!got.some((d) => typeof d === 'string' && d.startsWith('after '))) {
    await a1.emitWithAck('bcast', { scope: { to: ['red'] }, data: `after ${n++}` });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(Date.now() - t0 < 10000, 'delivery resumed within 10 s of Redis being back');
  }
  console.log(`# delivery resumed ${Date.now() - t0} ms after redis-server was back`);
  got.stop();
  const st = await a1.emitWithAck('stats');
  assert.ok(st.clusterReconnects >= 1, JSON.stringify(st));
  const delivered = got.includes('while down');
  assert.ok(delivered || st.clusterDrops >= 1, `"while down" neither delivered nor counted: ${JSON.stringify(st)}`);
  // and the whole cluster works again
  assert.strictEqual(await a1.emitWithAck('server-count'), 4);
  const r = await a1.emitWithAck('server-emit', { event: 'hello', args: [], ack: true });
  assert.deepStrictEqual(r.answers.sort(), ['hello from B', 'hello from C', 'hello from N']);
}, 30000);

test('a Node chat and a sios chat on one Redis serve one chat: messages and room-size span both', async () => {
  const chat = await startServer('chat', ['--redis', redis.url]);
  try {
    const c = (srv) => new Promise((res, rej) => {
      const s = io(`http://127.0.0.1:${srv.port}`, { forceNew: true, reconnection: false });
      clients.push(s);
      s.once('connect', () => res(s));
      s.once('connect_error', rej);
    });
    const [onSios, onNode] = await Promise.all([c(chat), c(N)]);
    const join = async (s) => { const j = once(s, 'joined'); s.emit('join-room', 'lobby'); await j; };
    await join(onSios);
    const uj = once(onSios, 'user-joined');
    await join(onNode);
    assert.strictEqual((await uj)[0].userId, onNode.id);
    const m1 = once(onNode, 'message');
    onSios.emit('message', { roomId: 'lobby', text: 'from sios' });
    assert.strictEqual((await m1)[0].text, 'from sios');
    const m2 = once(onSios, 'message');
    onNode.emit('message', { roomId: 'lobby', text: 'from node' });
    assert.strictEqual((await m2)[0].text, 'from node');
    assert.strictEqual(await onSios.emitWithAck('room-size', 'lobby'), 2);
    assert.strictEqual(await onNode.emitWithAck('room-size', 'lobby'), 2);
    const left = once(onNode, 'user-left');
    const sid = onSios.id;
    onSios.disconnect();
    assert.strictEqual((await left)[0].userId, sid);
    assert.strictEqual(await onNode.emitWithAck('room-size', 'lobby'), 1);
  } finally {
    await chat.stop();
  }
});

test('SO_REUSEPORT: with sios_config_set_reuse_port two servers share a port; without it the port is in use', async () => {
  const first = await startServer('progs/cluster_server', ['--redis', redis.url, '--reuse-port', '1']);
  const second = await startServer('progs/cluster_server', ['--redis', redis.url, '--reuse-port', '1', '--port', String(first.port)]);
  try {
    assert.strictEqual(second.port, first.port);
    await assert.rejects(startServer('progs/cluster_server', ['--redis', redis.url, '--port', String(first.port)]),
      /SIOS_EADDR/);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
  }
});

test('malformed messages on every channel are dropped; the servers go on', async () => {
  // Node's adapter throws on the first of these and its process exits (a
  // trap of its own): the Node peer leaves first
  await N.stop();
  const pub = createClient({ url: redis.url });
  await pub.connect();
  try {
    const bad = [
      ['socket.io#/#', '{"not":"msgpack"}'],
      ['socket.io#/#', Buffer.from([0xc1])],
      ['socket.io#/#', Buffer.from([0x92, 0xa1, 0x78, 0x80])], // a 2-element array
      ['socket.io#/#', Buffer.from([0x93, 0xa1, 0x78, 0x81, 0xa4, 0x64, 0x61, 0x74, 0x61, 0x91, 0xa2, 0xff, 0xfe, 0x80])], // not UTF-8
      ['socket.io#/#', Buffer.concat([Buffer.alloc(64, 0x91), Buffer.from([0xc0])])], // deep nesting
      ['socket.io#/#', Buffer.from([0xdd, 0x08, 0x00, 0x00, 0x00])], // "an array of 134M items"
      ['socket.io-request#/#', Buffer.from([0x93, 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0])],
      ['socket.io#/#red#', Buffer.from([0x93, 0xa1, 0x78, 0x80, 0x80, 0x00])], // trailing bytes
      ['socket.io-request#/#', '{"type":5,"requestId":"x","opts":{"rooms":"red"}}'],
      ['socket.io-request#/#', '{"type":7,"requestId":"y","packet":{"data":[]}}'],
      ['socket.io-request#/#', Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x07])],
      ['socket.io-request#/#', '{"type":6,"data":"not an array"}'],
      ['socket.io-request#/#', '{"type":2,"opts":{"rooms":[1,2]},"rooms":["x"]}'],
      ['socket.io-response#/#', '{"type":8,"requestId":"nobody","clientCount":-5}'],
      ['socket.io-response#/#', 'garbage'],
    ];
    for (const [ch, msg] of bad) await pub.publish(ch, msg);
  } finally {
    await pub.quit();
  }
  // everything still works, across the whole cluster
  const p = once(b1, 'bcast');
  await a1.emitWithAck('bcast', { scope: { to: ['red'] }, data: 'still fine' });
  assert.deepStrictEqual(await p, ['still fine']);
  assert.strictEqual(await a1.emitWithAck('server-count'), 3);
  for (const s of [A, B, C]) assert.ok(!/Sanitizer|runtime error/.test(s.err), s.err);
});

test('every server stops cleanly', async () => {
  for (const s of clients) s.disconnect();
  await Promise.all([A.stop(), B.stop(), C.stop()]);
  await redis.stop();
});

run();
