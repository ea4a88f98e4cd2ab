// engine.io-client (pinned in tests/package.json) against examples/engine_echo,
// in the three transport modes.
'use strict';
const assert = require('assert');
const { Socket } = require('engine.io-client');
const { test, run, startServer, once } = require('./lib/harness');

const MODES = {
  'polling+upgrade': { transports: ['polling', 'websocket'], upgrade: true },
  'polling only': { transports: ['polling'], upgrade: false },
  'websocket only': { transports: ['websocket'], upgrade: false },
};

let srv;

function connect(mode, extra = {}) {
  return new Promise((resolve, reject) => {
    const s = new Socket(`http://127.0.0.1:${srv.port}`, {
      path: '/engine.io/', ...MODES[mode], ...extra,
    });
    s.once('open', () => resolve(s));
    s.once('error', reject);
  });
}

// resolves with the next n messages
function nextMessages(s, n) {
  return new Promise((resolve) => {
    const got = [];
    const on = (m) => { got.push(m); if (got.length === n) { s.off('message', on); resolve(got); } };
    s.on('message', on);
  });
}

test('start engine_echo (pingInterval 300, pingTimeout 200)', async () => {
  srv = await startServer('engine_echo', ['--ping-interval', '300', '--ping-timeout', '200', '--max-payload', '100000']);
});

for (const mode of Object.keys(MODES)) {
  test(`${mode}: handshake gives a 20-character sid and the configured timers`, async () => {
    const s = await connect(mode);
    const id = s.id; // the client forgets it on close
    assert.match(id, /^[A-Za-z0-9_-]{20}$/);
    assert.strictEqual(s.pingInterval ?? s._pingInterval, 300);
    assert.strictEqual(s.pingTimeout ?? s._pingTimeout, 200);
    await srv.waitFor(new RegExp(`open ${id}`));
    s.close();
    await srv.waitFor(new RegExp(`close ${id} transport close`));
  });

  test(`${mode}: text echo, in order, including during the upgrade`, async () => {
    const s = await connect(mode);
    const N = 300;
    const p = nextMessages(s, N);
    for (let i = 0; i < N; i++) s.send(`msg ${i} ` + 'é✓'.repeat(i % 5));
    const got = await p;
    for (let i = 0; i < N; i++) assert.strictEqual(got[i], `msg ${i} ` + 'é✓'.repeat(i % 5));
    if (mode === 'polling+upgrade' && s.transport.name !== 'websocket') await once(s, 'upgrade');
    assert.strictEqual(s.transport.name, mode === 'polling only' ? 'polling' : 'websocket');
    s.close();
  });

  test(`${mode}: binary echo keeps every byte value`, async () => {
    const s = await connect(mode);
    const buf = Buffer.alloc(1024);
    for (let i = 0; i < buf.length; i++) buf[i] = i & 255;
    const p = nextMessages(s, 3);
    s.send(buf);
    s.send(Buffer.from([]));
    s.send('text between');
    const [a, b, c] = await p;
    assert.ok(Buffer.isBuffer(a) || a instanceof ArrayBuffer, `got ${typeof a}`);
    assert.deepStrictEqual(Buffer.from(a), buf);
    assert.strictEqual(Buffer.from(b).length, 0);
    assert.strictEqual(c, 'text between');
    s.close();
  });

  test(`${mode}: heartbeats keep an idle connection open`, async () => {
    const s = await connect(mode);
    let pings = 0;
    let closed = false;
    s.on('close', () => { closed = true; });
    await new Promise((res) => s.on('ping', () => { if (++pings === 4) res(); }));
    assert.strictEqual(closed, false);
    s.close();
  });

  test(`${mode}: a client that stops answering pings is closed with "ping timeout"`, async () => {
    const s = await connect(mode);
    const id = s.id;
    const orig = s._sendPacket.bind(s);
    s._sendPacket = (type, ...a) => (type === 'pong' ? undefined : orig(type, ...a));
    await srv.waitFor(new RegExp(`close ${id} ping timeout`));
    s.close();
  });

  test(`${mode}: the server closes a connection on request`, async () => {
    const s = await connect(mode);
    const id = s.id;
    const closed = once(s, 'close');
    s.send('bye');
    const [reason] = await closed;
    assert.ok(/transport close|forced close/.test(reason), reason);
    await srv.waitFor(new RegExp(`close ${id} forced close`));
  });
}

test('websocket: a message over maxPayload closes only that client', async () => {
  const big = await connect('websocket only');
  const other = await connect('websocket only');
  const id = big.id;
  const closed = once(big, 'close');
  big.send('x'.repeat(200000));
  await closed;
  await srv.waitFor(new RegExp(`close ${id} transport error`));
  const p = nextMessages(other, 1);
  other.send('still here');
  assert.deepStrictEqual(await p, ['still here']);
  other.close();
});

test('many clients at once, each gets only its own echoes', async () => {
  const clients = await Promise.all(Array.from({ length: 30 }, (_, i) => connect(Object.keys(MODES)[i % 3])));
  await Promise.all(clients.map(async (c, i) => {
    const p = nextMessages(c, 5);
    for (let k = 0; k < 5; k++) c.send(`c${i}-${k}`);
    assert.deepStrictEqual(await p, [0, 1, 2, 3, 4].map((k) => `c${i}-${k}`));
  }));
  clients.forEach((c) => c.close());
});

test('server stops cleanly on SIGTERM (no leak or sanitizer report)', async () => {
  await srv.stop();
});

run();
