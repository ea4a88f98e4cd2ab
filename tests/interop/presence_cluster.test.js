// Presence across a cluster: two (and three) chat servers with --redis on a
// private redis-server, real clients; crash of a server (kill -9), Redis
// restarting empty, and the hand-written pattern's keys read from Node.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { createClient } = require('redis');
const { test, run, startServer, once, startRedis } = require('./lib/harness');

const TTL = 3;
let redis, A, B;
const all = [];

const chat = () => startServer('chat', ['--redis', redis.url, '--presence-ttl', String(TTL)]);

function connect(srv, auth) {
  return new Promise((resolve, reject) => {
    const c = io(`http://127.0.0.1:${srv.port}`, { forceNew: true, reconnection: false, transports: ['websocket'], auth });
    all.push(c);
    c.once('connect', () => resolve(c));
    c.once('connect_error', reject);
  });
}

function collect(c) {
  const got = [];
  const fn = (p) => got.push(p);
  c.on('presence', fn);
  got.stop = () => { c.off('presence', fn); return [...got]; };
  return got;
}

// polls fn until it returns true, at most ms (no sleep as synchronisation:
// a bounded wait on something the test observes)
async function until(fn, ms, what) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const statusOf = async (c, user) => (await c.emitWithAck('get-presence', [user]))[0];

test('start a private redis-server and two chat servers on it', async () => {
  redis = await startRedis();
  [A, B] = await Promise.all([chat(), chat()]);
});

test('friends on different servers see each other come online and go offline', async () => {
  const bob = await connect(A, { userId: 'bob', friends: ['alice'] });
  const on = once(bob, 'presence');
  const alice = await connect(B, { userId: 'alice', friends: ['bob'] });
  assert.deepStrictEqual((await on)[0], { userId: 'alice', status: 'online' });
  // a second socket on the other server, then closing one: nothing
  const got = collect(bob);
  const alice2 = await connect(A, { userId: 'alice', friends: ['bob'] });
  alice.disconnect();
  await until(async () => (await statusOf(bob, 'alice')).status === 'online', 2000, 'alice online');
  const off = once(bob, 'presence');
  alice2.disconnect();
  const [p] = await off;
  assert.strictEqual(p.status, 'offline');
  assert.strictEqual(typeof p.lastSeen, 'number');
  assert.deepStrictEqual(got.stop().map((x) => x.status), ['offline']);
  bob.disconnect();
});

test('get-presence spans the cluster, in the order asked', async () => {
  const c = await connect(A, { userId: 'carol', friends: [] });
  const d = await connect(B, { userId: 'dave', friends: [] });
  const res = await c.emitWithAck('get-presence', ['dave', 'nobody', 'carol', 'alice']);
  assert.deepStrictEqual(res.map((r) => [r.userId, r.status]),
    [['dave', 'online'], ['nobody', 'offline'], ['carol', 'online'], ['alice', 'offline']]);
  assert.ok(!('lastSeen' in res[1]));
  assert.strictEqual(typeof res[3].lastSeen, 'number');
  c.disconnect();
  d.disconnect();
});

test('the same user connecting and leaving on two servers at once: exactly one online, one offline, 25 times', async () => {
  const w = await connect(A, { userId: 'watcher', friends: [] });
  const got = collect(w);
  for (let i = 0; i < 25; i++) {
    const [x, y] = await Promise.all([connect(A, { userId: 'zed', friends: ['watcher'] }),
      connect(B, { userId: 'zed', friends: ['watcher'] })]);
    await until(() => got.length === 2 * i + 1, 5000, `online ${i}`);
    x.disconnect();
    y.disconnect();
    await until(() => got.length === 2 * i + 2, 5000, `offline ${i}`);
  }
  // nothing more was coming: a last round trip through A
  await statusOf(w, 'zed');
  const seen = got.stop();
  assert.strictEqual(seen.length, 50, JSON.stringify(seen));
  seen.forEach((p, i) => assert.strictEqual(p.status, i % 2 ? 'offline' : 'online', `event ${i}`));
  w.disconnect();
});

test('a Node program using the hand-written pattern reads the same keys', async () => {
  const e = await connect(B, { userId: 'erin', friends: ['frank'] });
  const r = createClient({ url: redis.url });
  await r.connect();
  try {
    assert.strictEqual(JSON.parse(await r.hGet('presence', 'erin')).status, 'online');
    assert.deepStrictEqual(await r.sMembers('user:erin:sockets'), [e.id]);
    e.disconnect();
    await until(async () => JSON.parse(await r.hGet('presence', 'erin')).status === 'offline', 3000, 'erin offline');
    assert.strictEqual(typeof JSON.parse(await r.hGet('presence', 'erin')).lastSeen, 'number');
    assert.strictEqual(await r.sCard('user:erin:sockets'), 0);
  } finally {
    await r.quit();
  }
});

test(`kill -9 of a server: its users are offline within the TTL (${TTL} s) + 5 s, others stay`, async () => {
  const C = await chat();
  const gina = await connect(A, { userId: 'gina', friends: ['hank', 'ivy'] });
  const on = collect(gina);
  await connect(C, { userId: 'hank', friends: ['gina'] });
  await connect(C, { userId: 'ivy', friends: ['gina'] });
  await connect(B, { userId: 'ivy', friends: ['gina'] }); // ivy is on a live server too
  await until(() => on.length >= 2, 5000, 'hank and ivy online');
  const t0 = Date.now();
  C.proc.kill('SIGKILL');
  await until(() => on.some((p) => p.userId === 'hank' && p.status === 'offline'), (TTL + 5) * 1000, 'hank offline');
  console.log(`# hank reported offline ${Date.now() - t0} ms after kill -9 (TTL ${TTL} s)`);
  assert.strictEqual((await statusOf(gina, 'ivy')).status, 'online');
  assert.ok(!on.some((p) => p.userId === 'ivy' && p.status === 'offline'), JSON.stringify(on));
  on.stop();
}, 20000);

test('Redis restarting empty: every server counts its live sockets again within 5 s', async () => {
  const j = await connect(A, { userId: 'judy', friends: [] });
  const k = await connect(B, { userId: 'kim', friends: [] });
  await redis.stop();
  await redis.start();
  const r = createClient({ url: redis.url });
  await r.connect();
  try {
    const ms = await until(async () => {
      const v = await r.hmGet('presence', ['judy', 'kim']);
      return v.every((x) => x && JSON.parse(x).status === 'online');
    }, 5000, 'judy and kim online again');
    console.log(`# presence rebuilt ${ms} ms after redis-server was back`);
    assert.ok(j.connected && k.connected, 'the clients stayed connected');
  } finally {
    await r.quit();
  }
}, 20000);

test('the servers stop cleanly', async () => {
  for (const c of all) c.disconnect();
  await Promise.all([A.stop(), B.stop()]);
  await redis.stop();
});

run();
