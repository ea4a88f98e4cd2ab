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
  io.on('connection', (socket) => {
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
