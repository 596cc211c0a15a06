// A supervisor coaching from the wallboard with nothing but a browser, in Debian's chromium
// (headless, fake microphones) against the real `hotline demo`. Three voices, three tones:
// the caller (the test's RTP peer behind sipp) speaks 1 kHz, the agent's browser 700 Hz, the
// supervisor's browser (a second chromium with its own fake microphone) 1300 Hz.
//
// The agent answers on the browser phone. On the wallboard the supervisor chooses the browser
// phone and clicks Listen: the centre rings the wallboard's phone, which answers by itself.
// What each party hears is checked by its tones: the caller's from its RTP, the agent's and
// the supervisor's from their pages' audio (Web Audio on the received stream).
// - listen: the supervisor hears caller and agent; neither hears the supervisor;
// - whisper: the agent hears the supervisor, the caller does not;
// - barge: both hear the supervisor.
// The agent's browser reports its own figures, so the call's live quality has the agent
// leg's round trip (the centre measures none on an encrypted browser leg by itself).
//
// Run: HOTLINE_BIN=target/debug/hotline node --test tests/browser/supervisor-phone.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { children, launchChromium, sippAt, sippOk, startDemo } from './procs.mjs';
import { RtpPeer, toneAmplitude, voiceShare, toneWav } from './audio.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.HOTLINE_BIN || join(repo, 'target/debug/hotline');
const CALLER_HZ = 1000;
const AGENT_HZ = 700;
const SUPERVISOR_HZ = 1300;
// A voice is heard in a 20 ms window when its tone's amplitude is at least this (the
// browsers' voices arrive at about 1,000 after their audio processing, the caller's at 10,000;
// G.711's noise and the other tones leave under 20 in a tone's bin).
const HEARD = 150;

let work; let hotline; let http; let sip; let agentBrowser; let supervisorBrowser;
const pageErrors = [];

function fakeMic(hz) {
  const wav = join(work, `tone-${hz}.wav`);
  toneWav(wav, hz);
  return ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required'];
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hotline-supervisor-phone-'));
  ({ hotline, sip, http } = await startDemo(bin, join(work, 'data')));
  agentBrowser = await launchChromium(chromium, fakeMic(AGENT_HZ));
  supervisorBrowser = await launchChromium(chromium, fakeMic(SUPERVISOR_HZ));
});

after(async () => {
  for (const b of [agentBrowser, supervisorBrowser]) if (b) await b.close();
  for (const c of children) c.kill('SIGTERM');
  if (hotline) await hotline.done;
  if (work) rmSync(work, { recursive: true, force: true });
});

async function loginApi(user, password) {
  const res = await fetch(`http://${http}/api/v1/login`, { method: 'POST', body: JSON.stringify({ user, password }) });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

async function api(token, method, path, body) {
  const res = await fetch(`http://${http}/api/v1${path}`, {
    method, headers: { Authorization: `Bearer ${token}` }, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

async function open(browser, path, user, password) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-GB', permissions: ['microphone'] });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
  await page.goto(`http://${http}${path}`);
  await page.evaluate(() => localStorage.setItem('hotline.lang', 'en'));
  await page.reload();
  await page.waitForSelector('#login:not([hidden]) [name=user]');
  await page.fill('[name=user]', user);
  await page.fill('[name=password]', password);
  await page.press('[name=password]', 'Enter');
  await page.waitForSelector('#conn[data-state=online]');
  return page;
}

// Starts recording what the page's phone plays (its received audio), as 8 kHz samples with
// the time each block was heard.
async function listenTo(page) {
  await page.waitForFunction(() => document.querySelector('#phone-audio').srcObject);
  await page.evaluate(async () => {
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(document.querySelector('#phone-audio').srcObject);
    const proc = ctx.createScriptProcessor(2048, 1, 1);
    // The context runs at the device's rate (44.1 or 48 kHz): averaged over one output
    // sample's span (a low-pass good enough for tones under 2 kHz) and taken every
    // rate / 8000 input samples, carrying the fraction over from block to block.
    const ratio = ctx.sampleRate / 8000;
    const span = Math.max(1, Math.floor(ratio));
    let next = 0;
    window.ear = [];
    proc.onaudioprocess = (e) => {
      const d = e.inputBuffer.getChannelData(0);
      const out = [];
      for (; next + span <= d.length; next += ratio) {
        const i = Math.floor(next);
        let sum = 0;
        for (let k = 0; k < span; k += 1) sum += d[i + k];
        out.push(Math.round((sum / span) * 32767));
      }
      next -= d.length;
      window.ear.push({ at: Date.now(), s: out });
    };
    src.connect(proc);
    proc.connect(ctx.destination);
    window.earCtx = ctx;
    await ctx.resume();
  });
  // Audio is coming in.
  await page.waitForFunction(() => window.ear.length > 4);
}

async function heardBy(page, from, to) {
  const parts = await page.evaluate(([a, b]) => window.ear.filter((c) => c.at >= a && c.at < b).map((c) => c.s), [from, to]);
  return Int16Array.from(parts.flat());
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(f, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) return null;
    await pause(100);
  }
}

test('a supervisor with only a browser listens, whispers and barges in; each party hears what the mode says', async () => {
  const supToken = await loginApi('supervisor', 'supervisor');
  const desk = await open(agentBrowser, '/agent', 'agent1001', 'pass1001');
  await desk.waitForSelector('#phone:not([hidden])[data-state=desk]');
  await desk.selectOption('#phone-kind', 'browser');
  await desk.waitForSelector('#phone[data-state=ready]');
  await desk.keyboard.press('Alt+a');
  await desk.waitForSelector('#state-badge[data-state=available]');

  // The supervisor's wallboard: the extension field by default; the browser is chosen.
  const board = await open(supervisorBrowser, '/wallboard', 'supervisor', 'supervisor');
  await board.waitForSelector('#phone:not([hidden])[data-state=desk]');
  assert.ok(await board.isVisible('#mon-phone'), 'a desk phone is typed in by default');
  await board.selectOption('#phone-kind', 'browser');
  await board.waitForSelector('#phone[data-state=ready]');
  assert.ok(!(await board.isVisible('#mon-phone')), 'no extension to type for the browser');
  await board.waitForFunction(() => document.querySelector('#phone-level').value > 0.05);

  // The caller dials and presses 1; the agent answers on the browser.
  const peer = new RtpPeer(CALLER_HZ);
  const mediaPort = await peer.bind();
  const scenario = join(work, 'caller.xml');
  writeFileSync(scenario, readFileSync(join(repo, 'tests/sipp/caller-media-at.xml'), 'utf8')
    .replaceAll('MEDIA_PORT', String(mediaPort)).replaceAll('TALK_MS', '45000'));
  const caller = sippAt(work, sip, scenario, ['-m', '1']);
  await peer.first;
  await pause(1500);
  peer.press(1);
  await desk.waitForSelector('#phone[data-call=ringing]', { timeout: 20000 });
  const id = await desk.getAttribute('#pop', 'data-interaction');
  await desk.keyboard.press('Alt+p');
  await desk.waitForSelector('#phone[data-call=talking]');
  await desk.waitForSelector('#pop[data-state=talking]');
  await listenTo(desk);

  // Listen: the wallboard's phone is rung and answers by itself.
  const row = `#calls tr[data-interaction="${id}"]`;
  await board.waitForSelector(`${row} button[data-monitor=listen]`, { timeout: 10000 });
  await board.click(`${row} button[data-monitor=listen]`);
  await board.waitForSelector('#phone[data-call=talking]', { timeout: 10000 });
  assert.ok(!(await board.isVisible('#btn-hold')), 'a supervisor does not hold');
  await listenTo(board);
  await board.waitForSelector(`${row} .tag.monitor[data-mode=listen]`);
  const mon = await api(supToken, 'GET', '/monitors');
  assert.deepEqual(mon.body.monitors.map((m) => m.supervisor), ['supervisor']);

  // Each mode for three seconds; what everyone heard in the last two.
  async function window(mode) {
    await pause(3000);
    const to = Date.now(); const from = to - 2000;
    const caller = peer.samples(from, to);
    const agent = await heardBy(desk, from, to);
    const supervisor = await heardBy(board, from, to);
    const share = (s, hz) => voiceShare(s, hz, HEARD);
    const level = (s, hz) => Math.round(toneAmplitude(s, hz));
    const seen = {
      mode,
      caller: { n: caller.length, agent: share(caller, AGENT_HZ), supervisor: share(caller, SUPERVISOR_HZ), levels: [level(caller, AGENT_HZ), level(caller, SUPERVISOR_HZ)] },
      agent: { n: agent.length, caller: share(agent, CALLER_HZ), supervisor: share(agent, SUPERVISOR_HZ), levels: [level(agent, CALLER_HZ), level(agent, SUPERVISOR_HZ)] },
      supervisor: { n: supervisor.length, caller: share(supervisor, CALLER_HZ), agent: share(supervisor, AGENT_HZ), levels: [level(supervisor, CALLER_HZ), level(supervisor, AGENT_HZ)] },
    };
    assert.ok(caller.length > 8000 && agent.length > 8000 && supervisor.length > 8000, JSON.stringify(seen));
    return seen;
  }

  const listen = await window('listen');
  const j = JSON.stringify(listen);
  assert.ok(listen.supervisor.caller > 0.6 && listen.supervisor.agent > 0.6, `the supervisor hears both: ${j}`);
  assert.ok(listen.caller.agent > 0.6 && listen.agent.caller > 0.6, `caller and agent still talk: ${j}`);
  assert.ok(listen.caller.supervisor < 0.05, `the caller does not hear the supervisor: ${j}`);
  assert.ok(listen.agent.supervisor < 0.05, `the agent does not hear the supervisor: ${j}`);

  await board.click(`${row} button[data-monitor=whisper]`);
  await board.waitForSelector(`${row} .tag.monitor[data-mode=whisper]`);
  const whisper = await window('whisper');
  const w = JSON.stringify(whisper);
  assert.ok(whisper.agent.supervisor > 0.6, `the agent hears the whisper: ${w}`);
  assert.ok(whisper.caller.supervisor < 0.05, `the caller does not: ${w}`);
  assert.ok(whisper.supervisor.caller > 0.6 && whisper.supervisor.agent > 0.6, `the supervisor still hears both: ${w}`);

  await board.click(`${row} button[data-monitor=barge]`);
  await board.waitForSelector(`${row} .tag.monitor[data-mode=barge]`);
  const barge = await window('barge');
  const b = JSON.stringify(barge);
  assert.ok(barge.caller.supervisor > 0.6 && barge.agent.supervisor > 0.6, `both hear the supervisor: ${b}`);
  assert.ok(barge.caller.agent > 0.6 && barge.agent.caller > 0.6, `and each other: ${b}`);

  // The agent's browser reports what it receives: the agent leg's round trip is known.
  const quality = await waitFor(async () => {
    const q = await api(supToken, 'GET', '/quality');
    return q.body.calls.find((c) => c.interaction === id && c.leg === 'agent' && typeof c.rtt_ms === 'number');
  }, 12000);
  assert.ok(quality, 'the agent leg has the browser\'s round trip');
  assert.ok(quality.rtt_ms >= 0 && quality.rtt_ms < 1000, JSON.stringify(quality));

  // Stop: the wallboard's phone hangs up; the call goes on.
  await board.click(`${row} button[data-monitor=stop]`);
  await board.waitForSelector('#phone[data-call=none]');
  await desk.waitForSelector('#phone[data-call=talking]');
  const stopped = await waitFor(async () => (await api(supToken, 'GET', '/monitors')).body.monitors.length === 0, 5000);
  assert.ok(stopped, 'no one monitors the call any more');

  // A monitoring call asked for elsewhere (here by API, with the same login) rings on the
  // wallboard but is not answered by itself: the page opens its microphone only for the call
  // it asked for.
  const viaApi = await api(supToken, 'POST', `/interactions/${id}/monitor`, { mode: 'barge' });
  assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
  assert.equal(viaApi.body.phone, 'user:supervisor');
  await board.waitForSelector('#phone[data-call=ringing]');
  await pause(2000);
  assert.equal(await board.getAttribute('#phone', 'data-call'), 'ringing', 'still ringing, not answered');
  await board.click('#btn-decline');
  await board.waitForSelector('#phone[data-call=none]');
  const declined = await waitFor(async () => (await api(supToken, 'GET', '/monitors')).body.monitors.length === 0, 5000);
  assert.ok(declined, 'the declined monitoring call is over');

  // The record says who monitored it and how.
  await desk.keyboard.press('Alt+e');
  await desk.waitForSelector('#phone[data-call=none]');
  // The caller's script was still talking: the centre's BYE ends it (sipp counts that as an
  // unexpected message, so only its end is awaited).
  await sippOk(caller, 'caller').catch(() => {});
  peer.close();
  const rec = await waitFor(async () => {
    const r = (await api(supToken, 'GET', '/interactions')).body.find((x) => x.id === id);
    return r && r.ended ? r : null;
  }, 10000);
  assert.ok(rec, 'the call ended');
  const steps = (rec.monitoring || []).map((m) => `${m.supervisor}:${m.action}:${m.mode || m.detail || ''}`);
  assert.deepEqual(steps.slice(0, 5), ['supervisor:started:listen', 'supervisor:mode_changed:whisper',
    'supervisor:mode_changed:barge', 'supervisor:stopped:stopped', 'supervisor:started:barge'], steps.join(' '));
  assert.match(steps[5] || '', /^supervisor:stopped:/, steps.join(' '));
  assert.deepEqual(pageErrors, []);
});
