// Embedding: posts from several threads, sios on the application's libuv
// loop, and TLS (https and wss) with a certificate made at test time.
'use strict';
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { io } = require('socket.io-client');
const { test, run, startServer, once } = require('./lib/harness');

const connect = (url, opts = {}) => new Promise((resolve, reject) => {
  const s = io(url, { forceNew: true, reconnection: false, ...opts });
  s.once('connect', () => resolve(s));
  s.once('connect_error', reject);
});

test('thread_post: 4 threads x 2000 posts all arrive, in order per thread; none after stop', async () => {
  const THREADS = 4;
  const COUNT = 2000;
  const srv = await startServer('thread_post', ['--threads', String(THREADS), '--count', String(COUNT)]);
  const s = await connect(`http://127.0.0.1:${srv.port}`, { transports: ['websocket'] });
  const next = Array(THREADS).fill(0);
  let total = 0;
  let bad = null;
  s.on('reading', (r) => {
    if (r.seq !== next[r.thread]) bad = bad || `thread ${r.thread}: got ${r.seq}, expected ${next[r.thread]}`;
    next[r.thread] = r.seq + 1;
    total++;
  });
  const done = once(s, 'done');
  await new Promise((res) => s.emit('subscribe', res));
  const [d] = await done;
  assert.strictEqual(bad, null, bad);
  assert.strictEqual(total, THREADS * COUNT);
  assert.strictEqual(d.posted, THREADS * COUNT);
  s.disconnect();
  await srv.stop();
  assert.match(srv.out, /post after stop: SIOS_ECLOSED/);
}, 60000);

test("uv_embed: sios runs on the application's loop beside its timer", async () => {
  const srv = await startServer('uv_embed', ['--ticks', '15']);
  const s = await connect(`http://127.0.0.1:${srv.port}`);
  const seen = [];
  s.on('tick', (t) => seen.push(t.n));
  await once(s, 'disconnect');
  await srv.exit(); // it stops itself after its 15th tick
  assert.match(srv.out, /ticks 15/);
  assert.ok(seen.length > 0, 'no tick arrived');
  assert.strictEqual(seen[seen.length - 1], 15);
  seen.forEach((n, i) => i && assert.strictEqual(n, seen[i - 1] + 1));
}, 30000);

test('TLS: https and wss with the CA given, in the three transport modes; refused without it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sios-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
  { stdio: 'ignore' });
  const srv = await startServer('echo', ['--tls-cert', cert, '--tls-key', key]);
  const ca = fs.readFileSync(cert);
  try {
    for (const transports of [['polling', 'websocket'], ['polling'], ['websocket']]) {
      const s = await connect(`https://127.0.0.1:${srv.port}`, { ca, transports });
      const ack = await new Promise((res) => s.emit('echo', 'over tls', Buffer.from([1, 2, 3]), (...a) => res(a)));
      assert.strictEqual(ack[0], 'over tls');
      assert.deepStrictEqual(Buffer.from(ack[1]), Buffer.from([1, 2, 3]));
      s.disconnect();
    }
    const err = await connect(`https://127.0.0.1:${srv.port}`, { transports: ['websocket'] }).then(() => null, (e) => e);
    assert.ok(err, 'connected without trusting the certificate');
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);

run();
