// Monitoring a live call from the wallboard in a real browser (Debian's chromium, headless,
// driven by playwright-core) against the real `hotline demo` and sipp phones.
//
// A caller dials agent 1001, whose sipp phone answers. On the wallboard the supervisor sees
// the live call with Listen / Whisper / Barge controls, types the extension of the phone to
// be rung (1010, a second sipp phone) and clicks Listen: the centre rings that phone and the
// row shows who monitors the call and how. Whisper then switches the mode; Stop hangs the
// supervisor's phone up.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/monitor.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { children, freePort, launchChromium, sippAt, sippOk, startDemo } from './procs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');

let work; let hotline; let http; let sip; let browser;
const pageErrors = [];

function sipp(scenario, args) {
  return sippAt(work, sip, scenario, args);
}

async function loginApi(user, password) {
  const res = await fetch(`http://${http}/api/v1/login`, {
    method: 'POST', body: JSON.stringify({ user, password }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

async function api(token, method, path, body) {
  const res = await fetch(`http://${http}/api/v1${path}`, {
    method, headers: { Authorization: `Bearer ${token}` }, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-browser-monitor-'));
  ({ hotline, sip, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the wallboard shows monitoring controls on a live call and Listen rings the supervisor', async () => {
  const agentToken = await loginApi('agent1001', 'pass1001');
  const sup = await loginApi('supervisor', 'supervisor');
  // The agent's phone and the supervisor's phone (registered as 1010, logged out).
  const agentPort = String(await freePort());
  await sippOk(sipp(join(repo, 'tests/sipp/register.xml'), ['-p', agentPort, '-s', '1001', '-au', '1001', '-ap', 'pass1001', '-m', '1']), 'register 1001');
  const supPort = String(await freePort());
  await sippOk(sipp(join(repo, 'tests/sipp/register.xml'), ['-p', supPort, '-s', '1010', '-au', '1010', '-ap', 'pass1010', '-m', '1']), 'register 1010');
  assert.equal((await api(agentToken, 'POST', '/agents/1001/state', { state: 'available' })).status, 200);
  const agentPhone = sipp(join(repo, 'tests/sipp/agent-answers.xml'), ['-p', agentPort, '-mp', String(await freePort()), '-m', '1']);
  const supPhone = sipp(join(repo, 'tests/sipp/agent-answers.xml'), ['-p', supPort, '-mp', String(await freePort()), '-m', '1']);

  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-GB' });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://${http}/wallboard`);
  await page.waitForSelector('#login:not([hidden]) [name=user]');
  await page.fill('[name=user]', 'supervisor');
  await page.fill('[name=password]', 'supervisor');
  await page.press('[name=password]', 'Enter');
  await page.waitForSelector('#conn[data-state=online]');
  await page.selectOption('#lang', 'en');

  // The caller talks to the agent for 20 seconds (the tone caller without its tone).
  const scenario = join(work, 'caller-talks.xml');
  writeFileSync(scenario, readFileSync(join(repo, 'tests/sipp/caller-tone.xml'), 'utf8')
    .replace(/<nop>[\s\S]*?<\/nop>/, '').replaceAll('TALK_MS', '20000'));
  const talking = sipp(scenario, ['-s', '1001', '-m', '1', '-mp', String(await freePort())]);

  const row = '#calls tr[data-status=talking]';
  await page.waitForSelector(`${row} button[data-monitor=listen]`, { timeout: 20000 });
  for (const b of ['listen', 'whisper', 'barge']) {
    assert.ok(await page.isVisible(`${row} button[data-monitor=${b}]`), b);
  }
  const id = await page.getAttribute(row, 'data-interaction');
  await page.fill('#mon-phone', '1010');
  await page.dispatchEvent('#mon-phone', 'change');
  await page.click(`${row} button[data-monitor=listen]`);
  await page.waitForSelector(`${row} .tag.monitor[data-mode=listen]`);
  assert.match(await page.textContent(`${row} .tag.monitor`), /supervisor · listening/);
  await page.waitForSelector(`${row} button[data-monitor=takeover]`);
  const monitors = await api(sup, 'GET', '/monitors');
  assert.deepEqual(monitors.body.monitors, [{ supervisor: 'supervisor', interaction: id }]);

  await page.click(`${row} button[data-monitor=whisper]`);
  await page.waitForSelector(`${row} .tag.monitor[data-mode=whisper]`);
  await page.click(`${row} button[data-monitor=stop]`);
  await page.waitForSelector(`${row} .tag.monitor`, { state: 'detached' });
  await sippOk(supPhone, 'the supervisor phone (hung up by Stop)');

  const rec = (await api(sup, 'GET', '/interactions')).body.find((r) => r.id === id);
  assert.deepEqual(rec.monitoring.map((m) => [m.action, m.mode, m.detail]),
    [['started', 'listen', null], ['mode_changed', 'whisper', null], ['stopped', null, 'stopped']]);
  await sippOk(talking, 'caller');
  await sippOk(agentPhone, 'agent phone');
  assert.deepEqual(pageErrors, []);
});
