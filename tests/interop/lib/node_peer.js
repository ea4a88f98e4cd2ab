// A Node socket.io 4.8 server with @socket.io/redis-adapter 8.3 (its
// default createAdapter): the reference peer of sios in a mixed cluster
// (tests/interop/cluster.test.js). It speaks the events of
// tests/progs/cluster_server.c and those of the chat example.
//
//   node node_peer.js --port 0 --redis redis://127.0.0.1:P [--name NAME]
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const name = arg('--name', 'node');

function scopeOf(io, socket, o = {}) {
  let op = o.fromSelf ? socket.broadcast : io.of(socket.nsp.name);
  if (o.to && o.to.length) op = op.to(o.to);
  if (o.except && o.except.length) op = op.except(o.except);
  if (o.volatile) op = op.volatile;
  if (o.local) op = op.local;
  if (o.timeout !== undefined) op = op.timeout(o.timeout);
  return op;
}

function setup(io, nsp) {
  nsp.on('connection', (socket) => {
    // tests/progs/cluster_server.c's events
    socket.on('join', (rooms, cb) => { socket.join(rooms); cb(socket.rooms.size); });
    socket.on('bcast', (o, cb) => { scopeOf(io, socket, o.scope).emit('bcast', o.data); cb('ok'); });
    socket.on('bcast-ack', (o, cb) => {
      scopeOf(io, socket, o.scope).emit('question', (err, answers) => {
        socket.emit('bcast-ack-result', { status: err ? 'SIOS_ETIMEDOUT' : 'ok', answers });
      });
      cb('ok');
    });
    socket.on('fetch', async (o, cb) => {
      try { cb((await scopeOf(io, socket, o.scope).fetchSockets()).map((s) => s.id)); } catch (e) { cb(String(e.message)); }
    });
    socket.on('scope-join', (o, cb) => { scopeOf(io, socket, o.scope).socketsJoin(o.room); cb('ok'); });
    socket.on('scope-leave', (o, cb) => { scopeOf(io, socket, o.scope).socketsLeave(o.room); cb('ok'); });
    socket.on('scope-disconnect', (o, cb) => { scopeOf(io, socket, o.scope).disconnectSockets(); cb('ok'); });
    socket.on('server-emit', (o, cb) => {
      if (!o.ack) { nsp.serverSideEmit(o.event, ...(o.args || [])); return cb('ok'); }
      nsp.serverSideEmit(o.event, ...(o.args || []), (err, answers) => cb({ status: err ? 'SIOS_ETIMEDOUT' : 'ok', answers }));
    });
    socket.on('server-count', async (cb) => cb(await nsp.adapter.serverCount()));
    socket.on('all-rooms', async (cb) => cb([...(await nsp.adapter.allRooms())]));
    // the chat example's events
    socket.on('join-room', (room) => {
      socket.join(room);
      socket.emit('joined', { room });
      socket.to(room).emit('user-joined', { userId: socket.id, timestamp: Date.now() });
    });
    socket.on('message', (m) => {
      if (m && typeof m.roomId === 'string') nsp.to(m.roomId).emit('message', { userId: socket.id, text: m.text, timestamp: Date.now() });
    });
    socket.on('room-size', async (room, cb) => {
      try { cb((await nsp.in(room).fetchSockets()).length); } catch { cb(null); }
    });
    socket.on('disconnecting', () => {
      for (const room of socket.rooms) if (room !== socket.id) socket.to(room).emit('user-left', { userId: socket.id });
    });
  });
  nsp.on('hello', (...args) => {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    console.log(`server-event hello ${JSON.stringify(args)}`);
    if (cb) cb(`hello from ${name}`);
  });
}

(async () => {
  const url = arg('--redis');
  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on('error', () => {});
  sub.on('error', () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  const io = new Server(server, { adapter: createAdapter(pub, sub) });
  setup(io, io.of('/'));
  setup(io, io.of('/other'));
  server.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
    console.log(`listening on port ${server.address().port}`);
  });
  process.on('SIGTERM', () => { io.close(); pub.disconnect().catch(() => {}); sub.disconnect().catch(() => {}); setTimeout(() => process.exit(0), 100); });
})();
