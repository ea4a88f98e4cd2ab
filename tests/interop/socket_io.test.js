// socket.io-client (pinned) against examples/echo, in the three transport modes.
'use strict';
const assert = require('assert');
const { io, Manager } = require('socket.io-client');
const { test, run, startServer, once } = require('./lib/harness');

const MODES = {
  'polling+upgrade': { transports: ['polling', 'websocket'], upgrade: true },
  'polling only': { transports: ['polling'], upgrade: false },
  'websocket only': { transports: ['websocket'], upgrade: false },
};

let srv;
let fast;

function url(s, nsp = '/') { return `http://127.0.0.1:${s.port}${nsp}`; }

function connect(mode, nsp = '/', extra = {}, server = srv) {
  return new Promise((resolve, reject) => {
    const s = io(url(server, nsp), { ...MODES[mode], forceNew: true, reconnection: false, ...extra });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

const emitAck = (s, ...args) => new Promise((res) => s.emit(...args, (...r) => res(r)));

test('start echo (and a second one with short heartbeats)', async () => {
  srv = await startServer('echo');
  fast = await startServer('echo', ['--ping-interval', '300', '--ping-timeout', '200']);
});

for (const mode of Object.keys(MODES)) {
  test(`${mode}: connect with auth; the handler sees it`, async () => {
    const s = await connect(mode, '/', { auth: { token: 'tok-' + mode, n: 1 } });
    assert.match(s.id, /^[A-Za-z0-9_-]{20}$/);
    await srv.waitFor(new RegExp(`connect / ${s.id} auth  \\{"token":"tok-${mode.replace('+', '\\+')}","n":1\\}`));
    s.disconnect();
  });

  test(`${mode}: the handler reads headers, query and peer address`, async () => {
    const s = await connect(mode, '/', { extraHeaders: { 'X-Client': 'node-' + mode }, query: { room: 'r42' } });
    await srv.waitFor(new RegExp(`handshake ${s.id} x-client=node-${mode.replace('+', '\\+')} room=r42 addr=127\\.0\\.0\\.1`));
    s.disconnect();
  });

  test(`${mode}: two namespaces share one connection`, async () => {
    const m = new Manager(url(srv), { ...MODES[mode], reconnection: false });
    const a = m.socket('/');
    const b = m.socket('/admin', { auth: { role: 'admin' } });
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    assert.notStrictEqual(a.id, b.id);
    await srv.waitFor(new RegExp(`connect /admin ${b.id} auth  \\{"role":"admin"\\}`));
    const [ra, rb] = await Promise.all([emitAck(a, 'echo', 'to-root'), emitAck(b, 'echo', 'to-admin')]);
    assert.deepStrictEqual(ra, ['to-root']);
    assert.deepStrictEqual(rb, ['to-admin']);
    a.disconnect();
    b.disconnect();
  });

  test(`${mode}: an unknown namespace gets connect_error, the others stay up`, async () => {
    const m = new Manager(url(srv), { ...MODES[mode], reconnection: false });
    const ok = m.socket('/');
    await once(ok, 'connect');
    const bad = m.socket('/nope');
    const [err] = await once(bad, 'connect_error');
    assert.strictEqual(err.message, 'Invalid namespace');
    assert.deepStrictEqual(await emitAck(ok, 'echo', 1), [1]);
    ok.disconnect();
    bad.disconnect();
  });

  test(`${mode}: events with acks, many in flight (multi-digit ids)`, async () => {
    const s = await connect(mode);
    const N = 150;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => emitAck(s, 'echo', i, { i, s: 'x'.repeat(i) }, [i, null, true])));
    answers.forEach((a, i) => assert.deepStrictEqual(a, [i, { i, s: 'x'.repeat(i) }, [i, null, true]]));
    s.disconnect();
  });

  test(`${mode}: large and small messages interleaved arrive whole, in order`, async () => {
    // the websocket receive buffer is 1 KB: bigger messages come in pieces
    // and are reassembled, smaller ones are read in place
    const s = await connect(mode);
    const sizes = [10, 1023, 1024, 1025, 5000, 3, 70000, 200, 2048, 1];
    const bin = Buffer.alloc(3000, 7);
    const answers = await Promise.all(sizes.map((n, i) => emitAck(s, 'echo', i, 'é'.repeat(n), i === 6 ? bin : null)));
    answers.forEach((a, i) => {
      assert.strictEqual(a[0], i);
      assert.strictEqual(a[1], 'é'.repeat(sizes[i]));
      if (i === 6) assert.ok(Buffer.from(a[2]).equals(bin), 'binary attachment intact');
      else assert.strictEqual(a[2], null);
    });
    s.disconnect();
  });

  test(`${mode}: a client ack times out when the server never answers`, async () => {
    const s = await connect(mode);
    const err = await new Promise((res) => s.timeout(200).emit('nobody-listens', 1, (e) => res(e)));
    assert.ok(err instanceof Error, 'expected a timeout error');
    assert.deepStrictEqual(await emitAck(s, 'echo', 'after'), ['after']);
    s.disconnect();
  });

  test(`${mode}: server emit with ack: answered, timed out, and closed`, async () => {
    const s = await connect(mode);
    const id = s.id;
    s.once('pong', (msg, cb) => { assert.strictEqual(msg, 'hello from sios'); cb('answer', { n: 42 }); });
    s.emit('ping-me', {});
    await srv.waitFor(new RegExp(`pong-answer ${id} \\["answer",\\{"n":42\\}\\]`));
    s.once('pong', () => {}); // never answered
    s.emit('ping-me', { timeout: 150 });
    await srv.waitFor(new RegExp(`pong-failed ${id} SIOS_ETIMEDOUT`));
    s.once('pong', () => { s.disconnect(); });
    s.emit('ping-me', { timeout: 60000 });
    await srv.waitFor(new RegExp(`pong-failed ${id} SIOS_ECLOSED`));
  });

  test(`${mode}: binary both ways, nested at any depth`, async () => {
    const s = await connect(mode);
    const b1 = Buffer.from([0, 1, 2, 253, 254, 255]);
    const b2 = Buffer.alloc(70000, 7);
    const ack = await emitAck(s, 'echo', 'files', { deep: [1, { b: b1 }] }, b2, Buffer.alloc(0));
    assert.strictEqual(ack[0], 'files');
    assert.deepStrictEqual(Buffer.from(ack[1].deep[1].b), b1);
    assert.strictEqual(ack[1].deep[0], 1);
    assert.deepStrictEqual(Buffer.from(ack[2]), b2);
    assert.strictEqual(Buffer.from(ack[3]).length, 0);
    // without an ack the server emits "echo" back: binary server -> client
    const got = once(s, 'echo');
    s.emit('echo', { x: b1 }, 'tail');
    const [obj, tail] = await got;
    assert.deepStrictEqual(Buffer.from(obj.x), b1);
    assert.strictEqual(tail, 'tail');
    s.disconnect();
  });

  test(`${mode}: disconnect reasons: client namespace disconnect`, async () => {
    const s = await connect(mode);
    const id = s.id;
    s.disconnect();
    await srv.waitFor(new RegExp(`disconnect ${id} client namespace disconnect`));
  });

  test(`${mode}: disconnect reasons: transport close`, async () => {
    const s = await connect(mode);
    const id = s.id;
    s.io.engine.close();
    await srv.waitFor(new RegExp(`disconnect ${id} transport close`));
  });

  test(`${mode}: disconnect reasons: server disconnect, with and without the connection`, async () => {
    for (const closeConn of [false, true]) {
      const s = await connect(mode);
      const id = s.id;
      const d = once(s, 'disconnect');
      s.emit('bye', closeConn);
      const [reason] = await d;
      assert.strictEqual(reason, 'io server disconnect');
      await srv.waitFor(new RegExp(`disconnect ${id} server namespace disconnect`));
    }
  });

  test(`${mode}: disconnect reasons: ping timeout`, async () => {
    const s = await connect(mode, '/', {}, fast);
    const id = s.id;
    const eng = s.io.engine;
    const orig = eng._sendPacket.bind(eng);
    eng._sendPacket = (type, ...a) => (type === 'pong' ? undefined : orig(type, ...a));
    await fast.waitFor(new RegExp(`disconnect ${id} ping timeout`));
    s.disconnect();
  });

  test(`${mode}: disconnect reasons: transport error (message over maxPayload)`, async () => {
    const s = await connect(mode);
    const id = s.id;
    s.emit('echo', 'z'.repeat(1100000));
    await srv.waitFor(new RegExp(`disconnect ${id} transport error`));
    s.disconnect();
  });
}

test('server shutting down: connected sockets are told, the process exits cleanly', async () => {
  const s = await connect('websocket only');
  const id = s.id;
  const d = once(s, 'disconnect');
  await srv.stop();
  assert.match(srv.out, new RegExp(`disconnect ${id} server shutting down`));
  await d;
  await fast.stop();
});

run();
