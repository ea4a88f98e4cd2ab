// The bench contract of ../shared/BENCH.md on Node's socket.io (pinned in
// package.json): identical handlers to bench_server.c. Loopback only.
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[process.argv.indexOf('--port') + 1] || 3000);
const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });
io.on('connection', (socket) => {
  socket.join('room');
  socket.on('bcast', (data) => { io.to('room').emit('msg', data); });
  socket.on('echo', (data, ack) => { if (typeof ack === 'function') ack(data); });
});
httpServer.listen(port, '127.0.0.1', () => {
  console.log(`listening on port ${httpServer.address().port}`);
});
const stop = () => io.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
