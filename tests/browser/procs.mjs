// What the browser tests share about processes: free loopback ports, child processes (all
// of them ended after the tests: see `children`), and sipp runs against hotline.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join, dirname, resolve, isAbsolute, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// Every child still running; the tests' `after` ends them.
export const children = new Set();

// A TCP port that is free now; sipp binds UDP on it (the same check the Rust harness makes).
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

// Starts `cmd`; `child.done` resolves with its exit code, signal and output.
export function run(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  child.done = new Promise((res) => child.on('exit', (code, signal) => {
    children.delete(child);
    res({ code, signal, out, err });
  }));
  return child;
}

// A sipp scenario (a path, or a name in tests/sipp) against hotline's SIP address `sip`, run
// in a directory of its own under `work`; resolves when sipp exits.
export function sippAt(work, sip, scenario, args) {
  const dir = mkdtempSync(join(work, 'sipp-'));
  const sf = isAbsolute(scenario) ? scenario : join(repo, 'tests/sipp', scenario);
  return run('sipp', [
    '-sf', sf, '-nostdin', '-trace_err',
    '-timeout', '40s', '-timeout_error', '-max_recv_loops', '1000', '-i', '127.0.0.1',
    ...args, sip,
  ], { cwd: dir });
}

export async function sippOk(child, what) {
  const r = await child.done;
  assert.equal(r.code, 0, `${what}: sipp exited ${r.code} ${r.signal || ''}\n${r.err}`);
}

// The centre's figures are per day (UTC). A test that checks them waits, if the day is about
// to end, until the next has begun, so that its calls and its checks fall on the same day.
export async function sameDayFor(seconds) {
  const now = Date.now();
  const nextDay = Math.ceil((now + 1) / 86_400_000) * 86_400_000;
  if (nextDay - now < seconds * 1000) {
    console.log(`waiting ${Math.ceil((nextDay - now) / 1000)} s for the next UTC day`);
    await new Promise((res) => setTimeout(res, nextDay - now + 1000));
  }
}

const TYPES = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8', svg: 'image/svg+xml',
};

// While working on the pages: with HOTLINE_WEB_DIR=web, a browser context gets the pages
// (/admin, /agent, /wallboard) and /static/* from that directory instead of the files built
// into the binary, so a change to them is tested without a rebuild. Without it, nothing changes.
export async function pagesFromDisk(ctx) {
  const dir = process.env.HOTLINE_WEB_DIR ? resolve(process.env.HOTLINE_WEB_DIR) : null;
  if (!dir) return;
  await ctx.route(/\/(admin|agent|wallboard|campaigns|workforce|static\/[\w.-]+)$/, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = normalize(join(dir, path.startsWith('/static/') ? path : `${path}.html`));
    if (!file.startsWith(dir)) return route.continue();
    let body;
    try { body = readFileSync(file); } catch { return route.continue(); }
    return route.fulfill({ status: 200, body, contentType: TYPES[file.split('.').pop()] || 'application/octet-stream' });
  });
}

// `hotline demo` with its data in `data`, on free loopback ports: the child and the SIP and
// HTTP addresses it said it is ready on. `opts.config`: `hotline serve` of that file instead
// of the demo; `opts.http`: HTTP on that address (a centre started again where the pages
// expect it).
export async function startDemo(bin, data, opts = {}) {
  const args = opts.config ? ['serve', '--config', opts.config] : ['demo'];
  const hotline = run(bin, [...args, '--data', data, '--sip', '127.0.0.1:0', '--http', opts.http || '127.0.0.1:0'],
    { env: { ...process.env, HOTLINE_LOG: 'warn' } });
  const [, sip, http] = await new Promise((res, rej) => {
    let buf = '';
    hotline.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/hotline ready sip=(\S+) http=(\S+)/);
      if (m) res(m);
    });
    hotline.done.then((r) => rej(new Error(`hotline exited ${r.code}: ${r.err}`)));
  });
  return { hotline, sip, http };
}

// Debian's chromium, headless, quiet (`chromium` is playwright-core's).
export function launchChromium(chromium, extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
      '--disable-default-apps', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
      '--disable-gpu', '--disable-quic',
      // Pages served from disk (HOTLINE_WEB_DIR, see pagesFromDisk) would otherwise be
      // refused their event stream to the loopback address.
      '--disable-features=LocalNetworkAccessChecks', ...extra],
  });
}
