// Presence on one server (the in-memory store) through the chat's contract:
// auth.userId and auth.friends, "presence" events in the friends' rooms,
// get-presence, set-status, the grace period.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { test, run, startServer, once } = require('./lib/harness');

let srv, graceful;
const all = [];
function connect(s, auth, transports = ['websocket']) {
  return new Promise((resolve, reject) => {
    const c = io(`http://127.0.0.1:${s.port}`, { forceNew: true, reconnection: false, transports, auth });
    all.push(c);
    c.once('connect', () => resolve(c));
    c.once('connect_error', reject);
  });
}
// the presence events c gets until stop()
function collect(c) {
  const got = [];
  const fn = (p) => got.push(p);
  c.on('presence', fn);
  got.stop = () => c.off('presence', fn);
  return got;
}
// what c has been sent before now has arrived: a round trip through the
// same server after it
const sync = (c) => c.emitWithAck('get-presence', []);

test('start the chat, and one with a grace period of 300 ms', async () => {
  srv = await startServer('chat');
  graceful = await startServer('chat', ['--presence-grace', '300']);
});

test('a friend is told "online" at the first socket and "offline" with lastSeen at the last', async () => {
  const bob = await connect(srv, { userId: 'bob', friends: ['alice'] });
  const got = collect(bob);
  const online = once(bob, 'presence');
  const a1 = await connect(srv, { userId: 'alice', friends: ['bob'] });
  assert.deepStrictEqual((await online)[0], { userId: 'alice', status: 'online' });
  // a second socket, and closing one of two, announce nothing
  const a2 = await connect(srv, { userId: 'alice', friends: ['bob'] }, ['polling']);
  a1.disconnect();
  await sync(bob);
  assert.strictEqual(got.length, 1, JSON.stringify(got));
  const t0 = Date.now();
  const offline = once(bob, 'presence');
  a2.disconnect();
  const [p] = await offline;
  assert.strictEqual(p.userId, 'alice');
  assert.strictEqual(p.status, 'offline');
  assert.ok(Math.abs(p.lastSeen - t0) < 60000, `lastSeen ${p.lastSeen} is ms since the epoch`);
  got.stop();
  bob.disconnect();
});

test('only friends are told, in their own rooms', async () => {
  const carol = await connect(srv, { userId: 'carol', friends: [] });
  const dave = await connect(srv, { userId: 'dave', friends: [] });
  const gotC = collect(carol);
  const gotD = collect(dave);
  const e = await connect(srv, { userId: 'erin', friends: ['carol'] });
  await once(carol, 'presence');
  await sync(dave);
  gotC.stop();
  gotD.stop();
  assert.deepStrictEqual([...gotC], [{ userId: 'erin', status: 'online' }]);
  assert.deepStrictEqual([...gotD], []);
  for (const c of [carol, dave, e]) c.disconnect();
});

test('get-presence answers in the order asked; a user never seen has no lastSeen', async () => {
  const f = await connect(srv, { userId: 'frank', friends: [] });
  const g = await connect(srv, { userId: 'grace', friends: [] });
  g.disconnect();
  let res;
  // grace's disconnect reaches the server before a later request of f's:
  // poll the answer, bounded, never a sleep
  for (let i = 0; i < 50; i++) {
    res = await f.emitWithAck('get-presence', ['nobody', 'frank', 'grace', 'alice']);
    if (res[2].status === 'offline') break;
  }
  assert.deepStrictEqual(res.map((r) => [r.userId, r.status]),
    [['nobody', 'offline'], ['frank', 'online'], ['grace', 'offline'], ['alice', 'offline']]);
  assert.ok(!('lastSeen' in res[0]) && !('lastSeen' in res[1]), JSON.stringify(res));
  assert.strictEqual(typeof res[2].lastSeen, 'number');
  f.disconnect();
});

test('an application status ("away") reaches the friends and the queries; "online" sets it back', async () => {
  const h = await connect(srv, { userId: 'heidi', friends: [] });
  const on = once(h, 'presence');
  const i = await connect(srv, { userId: 'ivan', friends: ['heidi'] });
  assert.deepStrictEqual((await on)[0], { userId: 'ivan', status: 'online' });
  const away = once(h, 'presence');
  i.emit('set-status', 'away');
  assert.deepStrictEqual((await away)[0], { userId: 'ivan', status: 'away' });
  assert.strictEqual((await h.emitWithAck('get-presence', ['ivan']))[0].status, 'away');
  const back = once(h, 'presence');
  i.emit('set-status', 'online');
  assert.deepStrictEqual((await back)[0], { userId: 'ivan', status: 'online' });
  h.disconnect();
  i.disconnect();
});

test('grace period: a reload within it announces nothing; staying away announces offline', async () => {
  const w = await connect(graceful, { userId: 'walt', friends: [] });
  const got = collect(w);
  const v1 = await connect(graceful, { userId: 'vic', friends: ['walt'] });
  await once(w, 'presence'); // online
  v1.disconnect();
  const v2 = await connect(graceful, { userId: 'vic', friends: ['walt'] }); // the reload
  assert.strictEqual((await w.emitWithAck('get-presence', ['vic']))[0].status, 'online');
  const t0 = Date.now();
  const off = once(w, 'presence');
  v2.disconnect();
  const [p] = await off;
  assert.strictEqual(p.status, 'offline');
  assert.ok(Date.now() - t0 >= 250, 'offline came after the grace period');
  got.stop();
  assert.deepStrictEqual(got.map((x) => x.status), ['online', 'offline']);
  w.disconnect();
});

test('hostile names: a 300-byte userId is not counted, a 100000-entry friends list costs nothing lasting, the server answers on', async () => {
  const long = 'x'.repeat(300);
  const friends = Array.from({ length: 100000 }, (_, i) => `f${i}`);
  const h = await connect(srv, { userId: long, friends }, ['websocket']);
  const res = await h.emitWithAck('get-presence', [long, 'nobody']);
  assert.deepStrictEqual(res.map((r) => r.status), ['offline', 'offline']);
  const j = await connect(srv, { userId: 'judy', friends: [] });
  assert.strictEqual((await j.emitWithAck('get-presence', ['judy']))[0].status, 'online');
  h.disconnect();
  j.disconnect();
});

test('the servers stop cleanly', async () => {
  for (const c of all) c.disconnect();
  await srv.stop();
  await graceful.stop();
});

run();
