// A small TAP harness for the interop tests, plus the server launcher.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const path = require('path');

const BUILD = process.env.SIOS_BUILD || path.join(__dirname, '..', '..', '..', 'build');
const tests = [];

function test(name, fn, timeout = 15000) {
  tests.push({ name, fn, timeout });
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

async function run() {
  console.log(`1..${tests.length}`);
  let n = 0;
  let failed = 0;
  for (const t of tests) {
    n++;
    try {
      await withTimeout(Promise.resolve().then(t.fn), t.timeout, t.name);
      console.log(`ok ${n} - ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`not ok ${n} - ${t.name}`);
      console.log(String((e && e.stack) || e).split('\n').map((l) => `# ${l}`).join('\n'));
    }
  }
  process.exit(failed ? 1 : 0);
}

// Starts BUILD/examples/<name> on a free port; resolves once it listens.
function startServer(name, args = [], opts = {}) {
  return new Promise((resolve, reject) => {
    const bin = name.includes('/') ? path.join(BUILD, name) : path.join(BUILD, 'examples', name);
    const proc = spawn(bin, ['--port', '0', ...args], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const srv = { proc, port: 0, out: '', err: '', waiters: [], exited: null };
    srv.exitPromise = new Promise((res) => proc.on('exit', (code, sig) => { srv.exited = { code, sig }; res(srv.exited); }));
    const check = () => {
      srv.waiters = srv.waiters.filter((w) => {
        const m = srv.out.match(w.re);
        if (m) { w.resolve(m); return false; }
        return true;
      });
    };
    proc.stdout.on('data', (d) => {
      srv.out += d;
      const m = srv.out.match(/listening on port (\d+)/);
      if (m && !srv.port) { srv.port = Number(m[1]); resolve(srv); }
      check();
    });
    proc.stderr.on('data', (d) => { srv.err += d; if (process.env.SIOS_TEST_VERBOSE) process.stderr.write(d); });
    if (process.env.SIOS_TEST_VERBOSE) proc.stdout.on('data', (d) => process.stderr.write('[srv] ' + d));
    proc.on('error', reject);
    proc.on('exit', (code) => { if (!srv.port) reject(new Error(`server exited (${code}): ${srv.err}`)); });
    // resolves when the server's stdout matches re
    srv.waitFor = (re) => new Promise((res) => { srv.waiters.push({ re, resolve: res }); check(); });
    // waits for it to exit by itself; rejects unless 0 with no sanitizer report
    srv.exit = async () => {
      const ex = await srv.exitPromise;
      if (ex.code !== 0 || /Sanitizer|runtime error/.test(srv.err)) {
        throw new Error(`server exit ${JSON.stringify(ex)}; stderr:\n${srv.err}`);
      }
    };
    // stops it with SIGTERM; rejects unless it exits 0 with no sanitizer report
    srv.stop = async () => {
      if (!srv.exited) proc.kill('SIGTERM');
      const ex = await srv.exitPromise;
      if (ex.code !== 0 || /Sanitizer|runtime error/.test(srv.err)) {
        throw new Error(`server exit ${JSON.stringify(ex)}; stderr:\n${srv.err}`);
      }
    };
  });
}

// a free loopback port (closed again at once: taken by the next binder)
function freePort() {
  return new Promise((res) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// a private redis-server on a loopback port (no persistence), resolved
// once it says it is ready; stop() kills it (-9), start() again keeps the port
async function startRedis() {
  const port = await freePort();
  const r = { port, url: `redis://127.0.0.1:${port}` };
  r.start = () => new Promise((resolve, reject) => {
    r.proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    r.proc.stdout.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) resolve(r); });
    r.proc.on('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  r.stop = () => new Promise((resolve) => {
    if (!r.proc || r.proc.exitCode !== null) return resolve();
    r.proc.removeAllListeners('exit');
    r.proc.on('exit', () => resolve());
    r.proc.kill('SIGKILL');
  });
  return r.start();
}

function once(emitter, ev) {
  return new Promise((res) => emitter.once(ev, (...a) => res(a)));
}

module.exports = { test, run, startServer, once, freePort, startRedis, BUILD };
