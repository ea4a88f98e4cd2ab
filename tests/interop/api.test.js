// API edge cases through a real client: reserved names, handler precedence,
// catch-all handlers, acknowledgements answered later or after the socket left.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { test, run, startServer } = require('./lib/harness');

let srv;
const connect = () => new Promise((resolve, reject) => {
  const s = io(`http://127.0.0.1:${srv.port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
  s.once('connect', () => resolve(s));
  s.once('connect_error', reject);
});
const emitAck = (s, ...args) => new Promise((res) => s.emit(...args, (...r) => res(r)));

test('start api_server', async () => { srv = await startServer('progs/api_server'); });

test('reserved event names and a missing ack callback give SIOS_EINVAL', async () => {
  const s = await connect();
  assert.deepStrictEqual(await emitAck(s, 'reserved'), Array(8).fill('SIOS_EINVAL'));
  s.disconnect();
});

test("a socket's own handler takes precedence over the namespace's", async () => {
  const s = await connect();
  assert.deepStrictEqual(await emitAck(s, 'who'), ['socket']);
  s.disconnect();
});

test('catch-all handlers see every event, socket and namespace alike', async () => {
  const s = await connect();
  const before = (await emitAck(s, 'any-count'))[1];
  s.emit('whatever', 1);
  s.emit('unknown-too');
  const [mine, nsp] = await emitAck(s, 'any-count');
  assert.strictEqual(mine, 4); // any-count, whatever, unknown-too, any-count
  assert.strictEqual(nsp - before, 3);
  s.disconnect();
});

test('an ack taken in a handler can be answered later', async () => {
  const s = await connect();
  const held = emitAck(s, 'hold', 'first');
  assert.deepStrictEqual(await emitAck(s, 'release', 'later', { n: 1 }), ['SIOS_OK']);
  assert.deepStrictEqual(await held, ['later', { n: 1 }]);
  s.disconnect();
});

test('answering an ack after its socket left gives SIOS_ECLOSED', async () => {
  const a = await connect();
  const b = await connect();
  a.emit('hold', 'x', () => assert.fail('answered a departed socket'));
  assert.deepStrictEqual(await emitAck(b, 'lookup', a.id), ['found']);
  const id = a.id;
  a.disconnect();
  await srv.waitFor(new RegExp(`disconnect ${id} client namespace disconnect`));
  assert.deepStrictEqual(await emitAck(b, 'lookup', id), ['missing']);
  assert.deepStrictEqual(await emitAck(b, 'release', 'too late'), ['SIOS_ECLOSED']);
  b.disconnect();
});

test('the log hook receives the line a protocol error produces', async () => {
  const { WebSocket } = require('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`);
  await new Promise((res) => ws.once('message', res)); // the open packet
  ws.send('40');
  await new Promise((res) => ws.once('message', res)); // the CONNECT reply
  ws.send('42{"not":"an array"}');
  await srv.waitFor(/LOG 2 client [A-Za-z0-9_-]{20}: malformed Socket\.IO packet, closing/);
  ws.close();
});

test('a client past its namespace limit (3 here) is refused that namespace, the others go on', async () => {
  const { Manager } = require('socket.io-client');
  const m = new Manager(`http://127.0.0.1:${srv.port}`, { transports: ['websocket'], reconnection: false });
  const join = (nsp) => new Promise((resolve) => {
    const s = m.socket(nsp);
    s.once('connect', () => resolve({ s, err: null }));
    s.once('connect_error', (err) => resolve({ s, err }));
  });
  const ok = [];
  for (const n of ['/', '/n1', '/n2']) {
    const r = await join(n);
    assert.strictEqual(r.err, null, `${n} connects`);
    ok.push(r.s);
  }
  const over = await join('/n3');
  assert.ok(over.err, 'the fourth namespace is refused');
  assert.strictEqual(over.err.message, 'Too many namespaces');
  for (const s of ok.slice(1)) assert.deepStrictEqual(await emitAck(s, 'who'), ['namespace']);
  // leaving one makes room again
  ok[2].disconnect();
  const again = await join('/n4');
  assert.strictEqual(again.err, null, 'room again after a namespace is left');
  assert.deepStrictEqual(await emitAck(again.s, 'who'), ['namespace']);
  for (const s of [...ok, over.s, again.s]) s.disconnect();
});

test('server stops cleanly', async () => { await srv.stop(); });

run();
