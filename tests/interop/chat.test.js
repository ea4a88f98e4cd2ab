// The chat demo's event protocol through socket.io-client.
'use strict';
const assert = require('assert');
const { io } = require('socket.io-client');
const { test, run, startServer, once } = require('./lib/harness');

let srv;
const all = [];
function connect(nsp = '/', opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${srv.port}${nsp}`, { forceNew: true, reconnection: false, ...opts });
    all.push(s);
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}
async function joinRoom(s, room) {
  const j = once(s, 'joined');
  s.emit('join-room', room);
  assert.deepStrictEqual((await j)[0], { room });
}

test('start chat with --admin-token t0ken', async () => {
  srv = await startServer('chat', ['--admin-token', 't0ken']);
});

test('join-room: "joined" to the sender, "user-joined" to the others', async () => {
  const a = await connect();
  const b = await connect('/', { transports: ['websocket'] });
  await joinRoom(a, 'r1');
  const uj = once(a, 'user-joined');
  let bGotUserJoined = false;
  b.on('user-joined', () => { bGotUserJoined = true; });
  const t0 = Date.now();
  await joinRoom(b, 'r1');
  const [ev] = await uj;
  assert.strictEqual(ev.userId, b.id);
  assert.ok(Math.abs(ev.timestamp - t0) < 60000, `timestamp ${ev.timestamp} is milliseconds since the epoch`);
  // b's own message round trip proves nothing more is coming to b before it
  const m = once(b, 'message');
  b.emit('message', { roomId: 'r1', text: 'sync' });
  await m;
  assert.strictEqual(bGotUserJoined, false);
  a.disconnect();
  b.disconnect();
});

test('message: everyone in the room gets {userId,text,timestamp}, sender included', async () => {
  const [a, b, c] = await Promise.all([connect(), connect(), connect()]);
  await joinRoom(a, 'm');
  await joinRoom(b, 'm');
  await joinRoom(c, 'elsewhere');
  let cGot = false;
  c.on('message', (msg) => { if (msg.text === 'hello') cGot = true; });
  const [ma, mb] = [once(a, 'message'), once(b, 'message')];
  a.emit('message', { roomId: 'm', text: 'hello' });
  for (const [msg] of [await ma, await mb]) {
    assert.strictEqual(msg.userId, a.id);
    assert.strictEqual(msg.text, 'hello');
    assert.strictEqual(typeof msg.timestamp, 'number');
  }
  const mc = once(c, 'message');
  c.emit('message', { roomId: 'elsewhere', text: 'own' });
  await mc;
  assert.strictEqual(cGot, false);
  [a, b, c].forEach((s) => s.disconnect());
});

test('leave-room and disconnect: "user-left" to the room', async () => {
  const [a, b, c] = await Promise.all([connect(), connect(), connect()]);
  await joinRoom(a, 'l1');
  await joinRoom(a, 'l2');
  await joinRoom(b, 'l1');
  await joinRoom(c, 'l2');
  const left = once(b, 'user-left');
  a.emit('leave-room', 'l1');
  assert.deepStrictEqual((await left)[0], { userId: a.id });
  // a is still in l2: its disconnection reaches c
  const left2 = once(c, 'user-left');
  const aid = a.id;
  a.disconnect();
  assert.deepStrictEqual((await left2)[0], { userId: aid });
  b.disconnect();
  c.disconnect();
});

test('/admin: wrong or missing token gets connect_error "unauthorized"; the right one works', async () => {
  for (const auth of [{ token: 'nope' }, {}, undefined]) {
    const err = await connect('/admin', auth ? { auth } : {}).then(() => null, (e) => e);
    assert.ok(err, 'connected without the token');
    assert.strictEqual(err.message, 'unauthorized');
  }
  const adm = await connect('/admin', { auth: { token: 't0ken' } });
  const ack = await new Promise((res) => adm.emit('admin-action', { do: 'x' }, res));
  assert.deepStrictEqual(ack, { ok: true });
  adm.disconnect();
});

test('/workspace-N: message goes to the whole namespace; other names are refused', async () => {
  const [w1, w2] = await Promise.all([connect('/workspace-12'), connect('/workspace-12')]);
  const other = await connect('/workspace-13');
  let leaked = false;
  other.on('message', (m) => { if (m !== 'mine') leaked = true; });
  const [g1, g2] = [once(w1, 'message'), once(w2, 'message')];
  w1.emit('message', { any: ['data', 1] });
  assert.deepStrictEqual((await g1)[0], { any: ['data', 1] });
  assert.deepStrictEqual((await g2)[0], { any: ['data', 1] });
  const own = once(other, 'message');
  other.emit('message', 'mine');
  assert.deepStrictEqual((await own)[0], 'mine');
  assert.strictEqual(leaked, false);
  const err = await connect('/workspace-x').then(() => null, (e) => e);
  assert.strictEqual(err && err.message, 'Invalid namespace');
  [w1, w2, other].forEach((s) => s.disconnect());
});

test('GET / serves the page; the pinned client bundle is served under /socket.io/ with an ETag', async () => {
  const page = await fetch(`http://127.0.0.1:${srv.port}/`);
  assert.strictEqual(page.status, 200);
  assert.match(await page.text(), /<script src="\/socket.io\/socket.io.min.js"><\/script>/);
  const url = `http://127.0.0.1:${srv.port}/socket.io/socket.io.min.js`;
  const js = await fetch(url);
  assert.strictEqual(js.status, 200);
  assert.match(js.headers.get('content-type'), /^application\/javascript/);
  assert.strictEqual(js.headers.get('cache-control'), 'public, max-age=0');
  const etag = js.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  assert.match(await js.text(), /Socket\.IO v4\.8\.4/);
  // a cached copy is confirmed with 304 and no body
  const again = await fetch(url, { headers: { 'If-None-Match': etag } });
  assert.strictEqual(again.status, 304);
  assert.strictEqual(await again.text(), '');
  const map = await fetch(`${url}.map`);
  assert.strictEqual(map.status, 200);
  assert.match(map.headers.get('content-type'), /^application\/json/);
  assert.strictEqual((await fetch(`http://127.0.0.1:${srv.port}/missing`)).status, 404);
  assert.strictEqual((await fetch(`http://127.0.0.1:${srv.port}/socket.io/nope.js`)).status, 404);
});

test('started from another directory, the chat still serves its client bundle', async () => {
  const os = require('os');
  const other = await startServer('chat', [], { cwd: os.tmpdir() });
  const js = await fetch(`http://127.0.0.1:${other.port}/socket.io/socket.io.min.js`);
  assert.strictEqual(js.status, 200);
  assert.match(await js.text(), /Socket\.IO v4\.8\.4/);
  await other.stop();
});

test('server stops cleanly', async () => {
  all.forEach((s) => s.disconnect());
  await srv.stop();
});

run();
