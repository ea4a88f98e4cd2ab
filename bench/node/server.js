// The bench contract of ../shared/BENCH.md on Node's socket.io (pinned in
// package.json): identical handlers to bench_server.c. Loopback only.
// With --redis URL it joins a cluster through @socket.io/redis-adapter.
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const arg = (k) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
const port = Number(arg('--port') || 3000);

(async () => {
  const opts = { serveClient: false };
  if (arg('--recovery')) opts.connectionStateRecovery = { maxDisconnectionDuration: Number(arg('--recovery')) };
  let clients = [];
  if (arg('--redis')) {
    const { createClient } = require('redis');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pub = createClient({ url: arg('--redis') });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    opts.adapter = createAdapter(pub, sub);
    clients = [pub, sub];
  }
  const httpServer = http.createServer();
  const io = new Server(httpServer, opts);
  // --presence 1: the hand-written pattern sios replaces: a Map on one
  // server, or with --redis user:<id>:sockets sets and a presence hash of
  // JSON (one pipelined round trip for a query)
  const presence = arg('--presence') === '1';
  const local = new Map();
  const redis = clients[0];
  async function online(user, sid) {
    if (!redis) { local.set(user, (local.get(user) || 0) + 1); return; }
    await redis.sAdd(`user:${user}:sockets`, sid);
    await redis.hSet('presence', user, JSON.stringify({ status: 'online' }));
  }
  async function offline(user, sid) {
    if (!redis) {
      const n = (local.get(user) || 1) - 1;
      local.set(user, n);
      return;
    }
    await redis.sRem(`user:${user}:sockets`, sid);
    if ((await redis.sCard(`user:${user}:sockets`)) === 0) {
      await redis.hSet('presence', user, JSON.stringify({ status: 'offline', lastSeen: Date.now() }));
    }
  }
  if (presence) {
    io.use(async (socket, next) => {
      const user = socket.handshake.auth && socket.handshake.auth.userId;
      if (typeof user === 'string') { socket.data.user = user; await online(user, socket.id); }
      next();
    });
  }
  io.on('connection', (socket) => {
    if (presence) {
      socket.on('disconnect', () => { if (socket.data.user) offline(socket.data.user, socket.id).catch(() => {}); });
      socket.on('get-presence', async (ids, ack) => {
        if (!redis) return ack(ids.map((u) => ({ userId: u, status: local.get(u) ? 'online' : 'offline' })));
        const v = await redis.hmGet('presence', ids);
        ack(ids.map((u, i) => ({ userId: u, ...(v[i] ? JSON.parse(v[i]) : { status: 'offline' }) })));
      });
    }
    socket.join('room');
    socket.on('bcast', (data) => { io.to('room').emit('msg', data); });
    socket.on('echo', (data, ack) => { if (typeof ack === 'function') ack(data); });
  });
  httpServer.listen(port, '127.0.0.1', () => {
    console.log(`listening on port ${httpServer.address().port}`);
  });
  const stop = () => io.close(() => { for (const c of clients) c.disconnect().catch(() => {}); process.exit(0); });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
})();
