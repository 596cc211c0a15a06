// Pausing the recording from the agent desktop in a real browser (Debian's chromium,
// headless, driven by playwright-core) against the real `hotline demo` and sipp phones.
//
// A caller dials the agent's extension and sends a steady 1 kHz tone; the agent answers on
// a sipp phone. While the call runs, the agent pauses the recording with Alt+R (the button
// turns pressed and a banner says so), then resumes it with a click. The WAV file then holds
// exact silence from the pause to the resumption and the caller's tone around it.
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/recording.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { children, freePort, launchChromium, sippAt, sippOk, startDemo } from './procs.mjs';
import { readStereo, ulaw } from './audio.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');
const HZ = 1000;

let work; let hotline; let http; let sip; let browser;
const pageErrors = [];

// A sipp scenario against this test's hotline.
function sipp(scenario, args) {
  return sippAt(work, sip, scenario, args);
}





// A pcap of µ-law RTP (20 ms a packet) carrying a sine tone, as sipp's play_pcap_audio plays it.
function tonePcap(path, secs) {
  const parts = [];
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0); head.writeUInt16LE(2, 4); head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16); head.writeUInt32LE(1, 20);
  parts.push(head);
  for (let n = 0; n < secs * 50; n += 1) {
    const rtp = Buffer.alloc(12 + 160);
    rtp[0] = 0x80; rtp[1] = 0;
    rtp.writeUInt16BE(n & 0xffff, 2); rtp.writeUInt32BE(n * 160, 4); rtp.writeUInt32BE(0x12345678, 8);
    for (let i = 0; i < 160; i += 1) {
      const t = (n * 160 + i) / 8000;
      rtp[12 + i] = ulaw(Math.round(8000 * Math.sin(2 * Math.PI * HZ * t)));
    }
    const udpLen = 8 + rtp.length;
    const ipLen = 20 + udpLen;
    const frame = Buffer.concat([
      Buffer.alloc(12), Buffer.from([0x08, 0x00]),
      Buffer.from([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]),
      Buffer.from([6000 >> 8, 6000 & 0xff, 6002 >> 8, 6002 & 0xff, udpLen >> 8, udpLen & 0xff, 0, 0]),
      rtp,
    ]);
    const rec = Buffer.alloc(16);
    const usec = n * 20000;
    rec.writeUInt32LE(Math.floor(usec / 1e6), 0); rec.writeUInt32LE(usec % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8); rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  writeFileSync(path, Buffer.concat(parts));
}

// Per 20 ms window of the left (caller) channel: root mean square and Goertzel tone ratio.
function windows(path) {
  const { left } = readStereo(path);
  const coeff = 2 * Math.cos(2 * Math.PI * HZ / 8000);
  const out = [];
  for (let w = 0; w + 160 <= left.length; w += 160) {
    let energy = 0; let s1 = 0; let s2 = 0;
    for (let i = 0; i < 160; i += 1) {
      const x = left[w + i];
      energy += x * x;
      const s = x + coeff * s1 - s2; s2 = s1; s1 = s;
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    const rms = Math.sqrt(energy / 160);
    out.push({ rms, tone: rms > 100 && power / (160 * energy / 2) > 0.6 });
  }
  return out;
}

async function loginApi(user, password) {
  const res = await fetch(`http://${http}/api/v1/login`, {
    method: 'POST', body: JSON.stringify({ user, password }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

async function api(token, path) {
  const res = await fetch(`http://${http}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return res.json();
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-browser-recpolicy-'));
  ({ hotline, sip, http } = await startDemo(bin, join(work, 'data')));
  browser = await launchChromium(chromium);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the agent pauses the recording from the desktop and the file is silent for that span', async () => {
  const sup = await loginApi('supervisor', 'supervisor');
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
  const desk = await ctx.newPage();
  desk.on('pageerror', (e) => pageErrors.push(e.message));
  await desk.goto(`http://${http}/agent`);
  await desk.waitForSelector('#login:not([hidden]) [name=user]');
  await desk.fill('[name=user]', 'agent1001');
  await desk.fill('[name=password]', 'pass1001');
  await desk.press('[name=password]', 'Enter');
  await desk.waitForSelector('#conn[data-state=online]');
  await desk.waitForSelector('#btn-available:not([disabled])');
  await desk.keyboard.press('Alt+a');
  await desk.waitForSelector('#state-badge[data-state=available]');
  // No call: the button is there but disabled.
  assert.ok(await desk.isDisabled('#btn-rec'));

  const port = String(await freePort());
  await sippOk(sipp(join(repo, 'tests/sipp/register.xml'), ['-p', port, '-s', '1001', '-au', '1001', '-ap', 'pass1001', '-m', '1']), 'register');
  const phone = sipp(join(repo, 'tests/sipp/agent-answers.xml'), ['-p', port, '-mp', String(await freePort()), '-m', '1']);
  const pcap = join(work, 'tone.pcap');
  tonePcap(pcap, 12);
  const scenario = join(work, 'caller-tone.xml');
  writeFileSync(scenario, readFileSync(join(repo, 'tests/sipp/caller-tone.xml'), 'utf8')
    .replaceAll('TONE_PCAP', pcap).replaceAll('TALK_MS', '12000'));
  const caller = sipp(scenario, ['-s', '1001', '-m', '1', '-mp', String(await freePort())]);

  await desk.waitForSelector('#pop[data-state=talking]').catch(async (e) => {
    const [c, ph] = await Promise.all([caller.done, phone.done]);
    throw new Error(`${e.message}\ncaller: ${c.code} ${c.err}\nphone: ${ph.code} ${ph.err}`);
  });
  const id = await desk.getAttribute('#pop', 'data-interaction');
  await desk.waitForSelector('#btn-rec:not([disabled])[aria-pressed=false]');
  assert.ok(await desk.isHidden('#rec-paused'));
  await desk.waitForTimeout(2000); // the conversation goes on for a while before the card number
  await desk.keyboard.press('Alt+r');
  await desk.waitForSelector('#btn-rec[aria-pressed=true]');
  await desk.waitForSelector('#rec-paused:not([hidden])');
  assert.match(await desk.textContent('#rec-paused'), /录音已暂停/);
  assert.match(await desk.textContent('#btn-rec'), /恢复录音/);
  await desk.waitForTimeout(3000); // the caller reads out the card number
  await desk.click('#btn-rec');
  await desk.waitForSelector('#btn-rec[aria-pressed=false]');
  assert.ok(await desk.isHidden('#rec-paused'));
  await sippOk(caller, 'caller');
  await sippOk(phone, 'agent phone');
  await desk.waitForSelector('#pop[data-state=ended]');
  assert.ok(await desk.isDisabled('#btn-rec'), 'no call, no pause button');

  // The log has the pause and the resumption; the file their span as silence.
  const rec = (await api(sup, '/interactions')).find((r) => r.id === id);
  assert.ok(rec && rec.recording, JSON.stringify(rec));
  const w = windows(rec.recording);
  const started = Date.parse(rec.answered);
  const res = await fetch(`http://${http}/api/v1/audit`, { headers: { Authorization: `Bearer ${sup}` } });
  const audit = await res.json();
  const when = (action) => Date.parse(audit.find((a) => a.action === action && a.target === id).at);
  const p = (when('recording_pause') - started) / 1000;
  const r = (when('recording_resume') - started) / 1000;
  const span = (a, b) => w.slice(Math.max(0, Math.floor(a * 50)), Math.floor(b * 50));
  const during = span(p + 0.5, r - 0.5);
  assert.ok(during.length >= 75, `a pause of about 3 s: ${p}..${r}`);
  assert.ok(during.every((x) => x.rms < 50), `silence while paused: ${during.map((x) => Math.round(x.rms))}`);
  const toned = (ws) => ws.filter((x) => x.tone).length / ws.length;
  assert.ok(toned(span(0.5, p - 0.5)) > 0.8, 'the tone before the pause');
  assert.ok(toned(span(r + 0.5, r + 2.5)) > 0.8, 'the tone after the pause');
  assert.deepEqual(pageErrors, []);
  await ctx.close();
});
