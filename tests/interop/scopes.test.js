// Rooms, broadcast scopes, middleware and dynamic namespaces with real
// socket.io-client sockets against tests/progs/scope_server.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { test, run, startServer, once } = require('./lib/harness');

let srv;
const all = [];
function connect(nsp = '/', opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${srv.port}${nsp}`, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
    all.push(s);
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => { e.socket = s; reject(e); });
  });
}
const call = (s, ev, ...args) => new Promise((res) => s.emit(ev, ...args, (r) => res(r)));
const connectError = (nsp, opts) => connect(nsp, opts).then(() => { throw new Error('connected'); }, (e) => e);

// collects 'bcast' events per socket
function recorder(socks) {
  const got = new Map(socks.map((s) => [s, []]));
  socks.forEach((s) => s.on('bcast', (d) => got.get(s).push(d)));
  return got;
}
// a broadcast is followed by a marker to every socket: once each socket has
// the marker, everything before it has arrived (same connection, in order)
async function settle(sender, socks) {
  const marks = socks.map((s) => new Promise((res) => {
    const on = (d) => { if (d === '__mark') { s.off('bcast', on); res(); } };
    s.on('bcast', on);
  }));
  await call(sender, 'bcast', { data: '__mark' });
  await Promise.all(marks);
}
const seen = (got, s) => got.get(s).filter((d) => d !== '__mark');

test('start scope_server', async () => { srv = await startServer('progs/scope_server'); });

test('rooms: join several, list them (own id included), leave, sizes', async () => {
  const a = await connect();
  assert.strictEqual(await call(a, 'join', ['r1', 'r2', 'r3']), 4);
  const rooms = await call(a, 'rooms');
  assert.deepStrictEqual(rooms.sort(), ['r1', 'r2', 'r3', a.id].sort());
  assert.strictEqual(await call(a, 'room-size', 'r2'), 1);
  assert.strictEqual(await call(a, 'leave', 'r2'), 3);
  assert.strictEqual(await call(a, 'room-size', 'r2'), 0);
  await srv.waitFor(new RegExp(`room / deleted r2 -`));
  a.disconnect();
});

test('scope: several rooms, each socket receives once', async () => {
  const [a, b, c, d] = await Promise.all([connect(), connect(), connect(), connect()]);
  await call(a, 'join', ['x', 'y']);
  await call(b, 'join', ['x']);
  await call(c, 'join', ['y']);
  const got = recorder([a, b, c, d]);
  await call(d, 'bcast', { to: ['x', 'y'], data: 'xy' });
  await settle(d, [a, b, c, d]);
  assert.deepStrictEqual(seen(got, a), ['xy']);
  assert.deepStrictEqual(seen(got, b), ['xy']);
  assert.deepStrictEqual(seen(got, c), ['xy']);
  assert.deepStrictEqual(seen(got, d), []);
  [a, b, c, d].forEach((s) => s.disconnect());
});

test('scope: except by room and by socket id; from a socket excludes the sender', async () => {
  const [a, b, c] = await Promise.all([connect(), connect(), connect()]);
  await call(a, 'join', ['team', 'muted']);
  await call(b, 'join', ['team']);
  await call(c, 'join', ['team']);
  const got = recorder([a, b, c]);
  await call(c, 'bcast', { to: ['team'], except: ['muted'], data: 'no-muted' });
  await call(c, 'bcast', { to: ['team'], except: [b.id], data: 'no-b' });
  await call(c, 'bcast', { to: ['team'], fromSelf: true, data: 'not-me' });
  await call(c, 'bcast', { fromSelf: true, except: ['muted'], data: 'nsp-minus' });
  await settle(c, [a, b, c]);
  assert.deepStrictEqual(seen(got, a), ['no-b', 'not-me']);
  assert.deepStrictEqual(seen(got, b), ['no-muted', 'not-me', 'nsp-minus']);
  assert.deepStrictEqual(seen(got, c), ['no-muted', 'no-b']);
  [a, b, c].forEach((s) => s.disconnect());
});

test('encode once: a broadcast to 12 sockets costs one encode and 12 queue pushes', async () => {
  const socks = await Promise.all(Array.from({ length: 12 }, () => connect()));
  await Promise.all(socks.map((s) => call(s, 'join', ['many'])));
  const before = await call(socks[0], 'stats');
  const after = await call(socks[0], 'bcast', { to: ['many'], data: 'fan' });
  assert.strictEqual(after.broadcasts - before.broadcasts, 1);
  // the stats reply itself is one more encode, made after the broadcast's
  assert.strictEqual(after.encoded - before.encoded, 2);
  assert.strictEqual(after.deliveries - before.deliveries, 12);
  socks.forEach((s) => s.disconnect());
});

test('broadcast with acks: all answer; some never answer (timeout); one leaves', async () => {
  const socks = await Promise.all([connect(), connect(), connect()]);
  await Promise.all(socks.map((s) => call(s, 'join', ['q'])));
  const [asker] = await Promise.all([connect()]);
  socks.forEach((s, i) => s.on('question', (cb) => cb(`answer-${i}`)));
  let res = once(asker, 'bcast-ack-result');
  assert.strictEqual(await call(asker, 'bcast-ack', { to: ['q'] }), 'SIOS_OK');
  let [r] = await res;
  assert.strictEqual(r.status, 'SIOS_OK');
  assert.deepStrictEqual(r.answers.sort(), ['answer-0', 'answer-1', 'answer-2']);
  assert.deepStrictEqual(r.ids.sort(), socks.map((s) => s.id).sort());
  // socket 2 stops answering: with a timeout the others' answers arrive
  socks[2].off('question');
  socks[2].on('question', () => {});
  res = once(asker, 'bcast-ack-result');
  await call(asker, 'bcast-ack', { to: ['q'], timeout: 300 });
  [r] = await res;
  assert.strictEqual(r.status, 'SIOS_ETIMEDOUT');
  assert.deepStrictEqual(r.answers.sort(), ['answer-0', 'answer-1']);
  // socket 2 leaves instead of answering: done without it, no timeout needed
  socks[2].off('question');
  socks[2].on('question', () => socks[2].disconnect());
  res = once(asker, 'bcast-ack-result');
  await call(asker, 'bcast-ack', { to: ['q'] });
  [r] = await res;
  assert.strictEqual(r.status, 'SIOS_OK');
  assert.strictEqual(r.answers.length, 2);
  // nobody selected: the callback still runs, once, at once
  res = once(asker, 'bcast-ack-result');
  await call(asker, 'bcast-ack', { to: ['empty-room'] });
  [r] = await res;
  assert.deepStrictEqual([r.status, r.answers], ['SIOS_OK', []]);
  [...socks, asker].forEach((s) => s.disconnect());
});

test('fetch sockets: ids, rooms and handshake data', async () => {
  const a = await connect('/', { auth: { user: 'ann' }, query: { q: '1' } });
  const b = await connect();
  await call(a, 'join', ['f']);
  const list = await call(b, 'fetch', { to: ['f'] });
  assert.strictEqual(list.length, 1);
  assert.strictEqual(list[0].id, a.id);
  assert.deepStrictEqual(list[0].rooms.sort(), ['f', a.id].sort());
  assert.deepStrictEqual(list[0].handshake.auth, { user: 'ann' });
  assert.strictEqual(list[0].handshake.query.q, '1');
  assert.strictEqual(list[0].handshake.address, '127.0.0.1');
  assert.ok(list[0].handshake.headers.host);
  const everyone = await call(b, 'fetch', { fromSelf: true });
  assert.deepStrictEqual(everyone.map((x) => x.id), [a.id]);
  a.disconnect();
  b.disconnect();
});

test('scope operations: make sockets join, leave, disconnect', async () => {
  const [a, b, c] = await Promise.all([connect(), connect(), connect()]);
  await call(a, 'join', ['src']);
  await call(b, 'join', ['src']);
  assert.strictEqual(await call(c, 'scope-join', { to: ['src'], room: 'dst' }), 'SIOS_OK');
  assert.strictEqual(await call(c, 'room-size', 'dst'), 2);
  assert.strictEqual(await call(c, 'scope-leave', { to: ['dst'], except: [a.id], room: 'dst' }), 'SIOS_OK');
  assert.deepStrictEqual((await call(a, 'rooms')).sort(), ['dst', 'src', a.id].sort());
  assert.deepStrictEqual((await call(b, 'rooms')).sort(), ['src', b.id].sort());
  const da = once(a, 'disconnect');
  const db = once(b, 'disconnect');
  assert.strictEqual(await call(c, 'scope-disconnect', { to: ['src'] }), 'SIOS_OK');
  assert.deepStrictEqual([(await da)[0], (await db)[0]], ['io server disconnect', 'io server disconnect']);
  assert.strictEqual(await call(c, 'room-size', 'src'), 0);
  assert.strictEqual(await call(c, 'server-side'), 'SIOS_OK');
  c.disconnect();
});

test('rooms are left on disconnect; disconnecting still sees them; empty rooms go', async () => {
  const a = await connect();
  await call(a, 'join', ['gone-1', 'gone-2']);
  const id = a.id;
  a.disconnect();
  await srv.waitFor(new RegExp(`disconnecting ${id} client namespace disconnect rooms=3`));
  await srv.waitFor(new RegExp(`room / deleted gone-2 -`));
  const b = await connect();
  assert.strictEqual(await call(b, 'room-size', 'gone-1'), 0);
  assert.strictEqual(await call(b, 'room-size', id), 0);
  b.disconnect();
});

test('dynamic namespaces: regex and predicate, the child name reaches handlers', async () => {
  const a = await connect('/dyn-alpha');
  await srv.waitFor(new RegExp(`connect /dyn-alpha ${a.id} parent=\\^/dyn-\\[a-z\\]\\+\\$`));
  const b = await connect('/dyn-alpha');
  const got = recorder([a, b]);
  await call(a, 'bcast', { data: 'in-alpha' });
  const other = await connect('/dyn-beta');
  await call(other, 'bcast', { data: 'in-beta' });
  await settle(a, [a, b]);
  assert.deepStrictEqual(seen(got, b), ['in-alpha']);
  const e1 = await connectError('/dyn-123');
  assert.strictEqual(e1.message, 'Invalid namespace');
  const p = await connect('/pred-x', { auth: { allow: true } });
  await srv.waitFor(new RegExp(`connect /pred-x ${p.id} parent=\\(predicate\\)`));
  const e2 = await connectError('/pred-y', { auth: { allow: false } });
  assert.strictEqual(e2.message, 'Invalid namespace');
  // emptied children are cleaned up and come back on demand
  [a, b, other, p].forEach((s) => s.disconnect());
  const again = await connect('/dyn-alpha');
  assert.strictEqual(await call(again, 'echo', 'fresh'), 'fresh');
  again.disconnect();
});

test('middleware: asynchronous accept, and rejections with message and data', async () => {
  const ctl = await connect();
  // first in the chain waits for "decide"; second refuses name=second
  const waiting = connect('/guarded', { auth: { name: 'first' } });
  while ((await call(ctl, 'pending')) !== 1);
  assert.strictEqual(await call(ctl, 'decide', { accept: true }), 'SIOS_OK');
  const g = await waiting;
  assert.strictEqual(await call(g, 'echo', 'inside'), 'inside');

  const refused = connectError('/guarded', { auth: { name: 'x' } });
  while ((await call(ctl, 'pending')) !== 1);
  await call(ctl, 'decide', { accept: false, message: 'not today', data: { code: 42, why: ['a'] } });
  const e = await refused;
  assert.strictEqual(e.message, 'not today');
  assert.deepStrictEqual(e.data, { code: 42, why: ['a'] });

  const second = connectError('/guarded', { auth: { name: 'second' } });
  while ((await call(ctl, 'pending')) !== 1);
  await call(ctl, 'decide', { accept: true });
  const e3 = await second;
  assert.strictEqual(e3.message, 'refused by the second middleware');
  assert.deepStrictEqual(e3.data, { stage: 'second' });

  // the client leaves while the middleware decides: the late decision is refused
  const leaver = io(`http://127.0.0.1:${srv.port}/guarded`, { transports: ['websocket'], forceNew: true, reconnection: false });
  while ((await call(ctl, 'pending')) !== 1);
  const before = (await call(ctl, 'stats')).connections;
  leaver.io.engine.close();
  while ((await call(ctl, 'stats')).connections !== before - 1);
  assert.strictEqual(await call(ctl, 'decide', { accept: true }), 'SIOS_ECLOSED');
  g.disconnect();
  ctl.disconnect();
});

test('event middleware: pass, drop, reject with an error', async () => {
  const a = await connect();
  assert.strictEqual(await call(a, 'echo', 'passes'), 'passes');
  const errP = once(a, 'mw-error');
  a.emit('dropped', 'x', () => assert.fail('a dropped event was handled'));
  a.emit('forbidden', 'y', () => assert.fail('a rejected event was handled'));
  const [msg] = await errP;
  assert.strictEqual(msg, 'forbidden event');
  assert.strictEqual(await call(a, 'echo', 'still'), 'still');
  a.disconnect();
});

test('server stops cleanly', async () => {
  all.forEach((s) => s.disconnect());
  await srv.stop();
});

run();
