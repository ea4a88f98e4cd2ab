// A real browser: Debian's chromium driven by playwright-core opens two
// pages of the chat demo; a message typed in one appears in the other.
'use strict';
const assert = require('assert');
const { chromium } = require('playwright-core');
const { test, run, startServer } = require('./lib/harness');

let srv;
let browser;

test('start chat and a headless chromium', async () => {
  srv = await startServer('chat');
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60000);

test('two tabs join one room; a message typed in one appears in the other', async () => {
  const url = `http://127.0.0.1:${srv.port}/`;
  const [p1, p2] = [await browser.newPage(), await browser.newPage()];
  for (const p of [p1, p2]) {
    await p.goto(url);
    await p.waitForFunction(() => document.getElementById('status').textContent.startsWith('connected'));
    await p.fill('#room', 'browser-room');
    await p.click('#join');
    await p.waitForFunction(() => document.getElementById('status').textContent === 'in browser-room');
  }
  await p1.fill('#text', 'hello from tab one');
  await p1.click('#send');
  await p2.waitForFunction(() => [...document.querySelectorAll('#log li.message')]
    .some((li) => li.textContent.endsWith(': hello from tab one')));
  const mine = await p1.waitForFunction(() => [...document.querySelectorAll('#log li.message')]
    .some((li) => li.textContent === 'me: hello from tab one'));
  assert.ok(mine);
  // the second tab saw the first join, the first sees the second leave
  await p1.waitForFunction(() => [...document.querySelectorAll('#log li.info')].some((li) => li.textContent.endsWith(' joined')));
  await p2.close();
  await p1.waitForFunction(() => [...document.querySelectorAll('#log li.info')].some((li) => li.textContent.endsWith(' left')));
  await p1.close();
}, 60000);

test('server stops cleanly; browser closed', async () => {
  await browser.close();
  await srv.stop();
}, 30000);

run();
