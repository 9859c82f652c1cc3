// The live dashboard in a real browser: headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core.
//
//   node dashboard_test.js BIN_DIR OUT_DIR
//     Runs scripts/demo --quick --keep-running (redis-server, the simulator
//     with automatic replies, smsgate with examples/demo.yaml and its admin
//     server) and opens the page while the campaign runs: the charts must get
//     data, a complaint must be listed with its ticket id, the token must
//     never be in a URL the browser requests, and a wrong token must be
//     refused. Saves OUT_DIR/dashboard.png.
//   node dashboard_test.js --static OUT_DIR
//     The same page served by a small server of this file with made-up data
//     (for working on the page without a gateway).
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForFile(file, ms, child) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim()) return fs.readFileSync(file, 'utf8').trim();
    if (child && child.exitCode !== null) fail(`scripts/demo exited (${child.exitCode}) before the dashboard was up`);
    await sleep(100);
  }
  fail(`${file} did not appear within ${ms / 1000}s`);
}

// ---- the made-up gateway for --static
function staticServer(token) {
  const started = Date.now();
  const series = () => {
    const now = Date.now();
    const n = Math.min(450, Math.floor((now - started) / 2000) + 60);
    const t = Array.from({ length: n }, (_, i) => now - (n - 1 - i) * 2000);
    const wave = (a, p) => t.map((x) => Math.max(0, Math.round(a * (1 + Math.sin(x / p)))));
    return {
      interval_s: 2, window_s: 900, now_ms: now,
      series: {
        t, in_per_s: wave(800, 60000), out_per_s: wave(500, 60000), deferred_per_s: wave(150, 90000),
        refused_per_s: { opted_out: wave(40, 50000), frequency_cap: wave(100, 70000), quiet_hours: wave(80, 80000) },
        deferred_depth: t.map((_, i) => i * 30),
      },
      per_minute: { t: [0, 1, 2, 3].map((m) => Math.floor(now / 60000 - 3 + m) * 60000), opt_outs: [12, 20, 8, 15], complaints: [1, 3, 0, 2] },
      totals: { submit_received: 50000, submit_ok: 30000, policy_opted_out: 1500, reply_opted_out: 300, complaint_ticketed: 6, deferred_depth: 9000 },
      binds: [{ kind: 'account', name: 'demo', state: 'bound', sessions: 3 }, { kind: 'carrier', name: 'simulator', state: 'bound', sessions: 2 }],
      complaints: [{ at_ms: now - 5000, ticket: 'T-0123456789abcdef', category: 'frequent_harassment', severity: 'high', number: '+86138****0123', account: 'demo' }],
    };
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/api/live') {
      if (req.headers.authorization !== 'Bearer ' + token) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"unauthorized","detail":"a bearer token is required"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(series()));
      return;
    }
    const name = req.url === '/' ? 'index.html' : req.url.slice(1).split('?')[0];
    const file = path.join(ROOT, 'gateway', 'dashboard', path.basename(name));
    if (!fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    const type = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }[path.extname(file)];
    res.writeHead(200, { 'content-type': type + '; charset=utf-8' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function checkPage(browser, url, token, out) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const requested = [];
  let authorized = 0;
  page.on('request', (r) => {
    requested.push(r.url());
    if (r.url().endsWith('/api/live') && r.headers().authorization === 'Bearer ' + token) authorized++;
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);

  // Data arrives: every chart has points, traffic shows, a complaint is listed.
  try {
    await page.waitForFunction(() => {
      const max = (id) => Number(document.getElementById(id).dataset.max || 0);
      const points = (id) => Number(document.getElementById(id).dataset.points || 0);
      const ticket = document.querySelector('#complaints tbody a');
      return max('chart-rate') > 0 && points('chart-refused') > 0 && points('chart-depth') > 0 &&
        max('chart-refused') > 0 && ticket && /^T-[0-9a-f]+$/.test(ticket.textContent);
    }, null, { timeout: 90000, polling: 500 });
  } catch (e) {
    await page.screenshot({ path: path.join(out, 'dashboard-failed.png'), fullPage: true });
    fail('the page did not show traffic and a complaint within 90 s: ' + (await page.textContent('#status')) +
         ' (screenshot: dashboard-failed.png)');
  }
  await sleep(2500);  // one more poll: a few more points on the charts
  const seen = await page.evaluate(() => ({
    status: document.getElementById('status').textContent,
    ratePeak: Number(document.getElementById('chart-rate').dataset.max),
    replyBars: document.querySelectorAll('#chart-replies rect').length,
    binds: [...document.querySelectorAll('#binds tbody tr')].map((tr) => tr.innerText.replace(/\s+/g, ' ')),
    complaint: document.querySelector('#complaints tbody tr').innerText.replace(/\s+/g, ' '),
    location: location.href,
  }));
  console.log('page:', JSON.stringify(seen));
  if (!/^updated/.test(seen.status)) fail('status line: ' + seen.status);
  if (seen.replyBars === 0) fail('no opt-out or complaint bars');
  if (!seen.binds.some((b) => /carrier simulator bound/.test(b))) fail('the simulator bind is not listed as bound: ' + seen.binds);
  if (!/\+\d+\*{4}\d{4}/.test(seen.complaint)) fail('the complaint\'s number is not masked: ' + seen.complaint);
  if (seen.location.includes(token)) fail('the token stays in the address bar');
  if (requested.some((u) => u.includes(token))) fail('the token was in a requested URL');
  if (authorized < 2) fail(`/api/live was read ${authorized} times with the token`);
  if (errors.length) fail('errors on the page: ' + errors.join('; '));
  await page.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
  await context.close();

  // A wrong token: refused, and the page says so and asks for one.
  const bad = await browser.newContext();
  const page2 = await bad.newPage();
  await page2.goto(url.replace(/#token=.*/, '#token=wrong'));
  await page2.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  const status = await page2.textContent('#status');
  if (!/refused/.test(status)) fail('a wrong token: ' + status);
  await bad.close();
}

async function main() {
  const args = process.argv.slice(2);
  const isStatic = args[0] === '--static';
  const out = path.resolve(isStatic ? args[1] : args[1] || '.');
  fs.mkdirSync(out, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  let demo = null, server = null;
  try {
    if (isStatic) {
      const token = 'static-test-token';
      server = await staticServer(token);
      await checkPage(browser, `http://127.0.0.1:${server.address().port}/#token=${token}`, token, out);
    } else {
      const bin = path.resolve(args[0]);
      const run = path.join(out, 'dashboard-run');
      fs.rmSync(run, { recursive: true, force: true });
      const log = fs.openSync(path.join(out, 'dashboard-demo.log'), 'w');
      demo = spawn(path.join(ROOT, 'scripts', 'demo'),
        ['--quick', '--keep-running', '--no-build', '--bin-dir', bin, '--run-dir', run],
        { cwd: ROOT, stdio: ['ignore', log, log], detached: true });
      const url = await waitForFile(path.join(run, 'dashboard-url'), 60000, demo);
      const token = decodeURIComponent(url.split('#token=')[1]);
      await checkPage(browser, url, token, out);
    }
    console.log('dashboard: ok, screenshot ' + path.join(out, 'dashboard.png'));
  } finally {
    await browser.close();
    if (server) server.close();
    if (demo && demo.exitCode === null) {
      // scripts/demo stops what it started on SIGTERM.
      demo.kill('SIGTERM');
      const until = Date.now() + 30000;
      while (demo.exitCode === null && demo.signalCode === null && Date.now() < until) await sleep(100);
      if (demo.exitCode === null && demo.signalCode === null) {
        process.kill(-demo.pid, 'SIGKILL');
        fail('scripts/demo did not stop within 30 s of SIGTERM');
      }
    }
  }
}

main().catch((e) => {
  if (!process.exitCode) console.error(e);
  process.exitCode = 1;
});
