// The browser phone. When the agent chooses "Browser", the page takes the microphone and
// opens /api/v1/phone: from then on the agent's calls ring here (WebRTC, G.711, DTLS-SRTP
// straight to the centre's media engine) instead of on a desk phone. The choice, the
// microphone and the speaker are remembered per browser.
import { token, get } from './api.js';
import { t } from './i18n.js';
import { $, toast } from './ui.js';

const KIND = 'hotline.phone.kind';
const MIC = 'hotline.phone.mic';
const SPEAKER = 'hotline.phone.speaker';

const STATS_MS = 5000;

const p = {
  agent: null,
  supervisor: false, // the wallboard's phone: monitoring calls only
  kindKey: KIND, // where the desk/browser choice is remembered (the wallboard has its own)
  expect: null, // {interaction, until}: the monitoring call this page asked for
  stats: null, // {timer, lost, received}
  ws: null,
  closed: true,
  delay: 500,
  timer: null,
  mic: null, // MediaStream
  meter: null, // {ctx, analyser, data}
  call: null, // {call, interaction, from, sdp, pc, state: ringing|connecting|talking, held, muted}
  ring: null, // ringing tone {ctx, osc, gain, timer}
};

const store = (k, v) => { try { if (v === undefined) return localStorage.getItem(k); localStorage.setItem(k, v); } catch { /* storage blocked */ } return null; };

function status(key) {
  const st = $('#phone-status');
  st.dataset.state = key;
  st.textContent = t(`phone.${key}`);
  $('#phone').dataset.state = key;
}

function send(msg) {
  if (p.ws && p.ws.readyState === WebSocket.OPEN) p.ws.send(JSON.stringify(msg));
}

// ---- devices and the level meter ---------------------------------------------------

async function takeMic() {
  const id = store(MIC);
  const audio = id ? { deviceId: { exact: id }, echoCancellation: true, noiseSuppression: true } : { echoCancellation: true, noiseSuppression: true };
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio });
  } catch (e) {
    if (!id) throw e;
    // The remembered microphone is gone: take the default one.
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  }
  if (p.mic) for (const tr of p.mic.getTracks()) tr.stop();
  p.mic = stream;
  const track = stream.getAudioTracks()[0];
  if (track) {
    track.enabled = !(p.call && (p.call.muted || p.call.held));
    const sender = p.call && p.call.pc && p.call.pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
    if (sender) await sender.replaceTrack(track);
  }
  startMeter();
  await listDevices();
}

function startMeter() {
  if (!p.mic) return;
  try {
    if (!p.meter) {
      const ctx = new AudioContext();
      p.meter = { ctx, analyser: ctx.createAnalyser(), source: null, data: null };
      p.meter.analyser.fftSize = 512;
      p.meter.data = new Float32Array(p.meter.analyser.fftSize);
      setInterval(() => {
        const m = p.meter;
        if (!m || !m.source) return;
        m.analyser.getFloatTimeDomainData(m.data);
        let sum = 0;
        for (const v of m.data) sum += v * v;
        const rms = Math.sqrt(sum / m.data.length);
        const muted = p.call && (p.call.muted || p.call.held);
        $('#phone-level').value = muted ? 0 : Math.min(1, rms * 4);
      }, 100);
    }
    if (p.meter.source) p.meter.source.disconnect();
    p.meter.source = p.meter.ctx.createMediaStreamSource(p.mic);
    p.meter.source.connect(p.meter.analyser);
  } catch { /* no Web Audio: no meter */ }
}

async function listDevices() {
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
  const fill = (sel, kind, chosen) => {
    sel.replaceChildren();
    for (const d of devices.filter((x) => x.kind === kind)) {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || d.deviceId.slice(0, 8) || kind;
      if (d.deviceId === chosen) o.selected = true;
      sel.append(o);
    }
  };
  const micTrack = p.mic && p.mic.getAudioTracks()[0];
  fill($('#phone-mic'), 'audioinput', store(MIC) || (micTrack && micTrack.getSettings().deviceId));
  fill($('#phone-speaker'), 'audiooutput', store(SPEAKER));
  $('#phone-speaker').disabled = typeof $('#phone-audio').setSinkId !== 'function';
}

async function useSpeaker(id) {
  const a = $('#phone-audio');
  if (typeof a.setSinkId === 'function' && id) {
    try { await a.setSinkId(id); } catch (e) { toast(t('phone.no_speaker', { m: e.message }), 'error'); }
  }
}

// ---- ringing -----------------------------------------------------------------------

function startRinging() {
  stopRinging();
  try {
    const ctx = new AudioContext();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const osc = ctx.createOscillator();
    osc.frequency.value = 440;
    osc.connect(gain);
    osc.start();
    let on = false;
    const timer = setInterval(() => { on = !on; gain.gain.value = on ? 0.08 : 0; }, 1000);
    p.ring = { ctx, osc, gain, timer };
  } catch { /* no Web Audio: the page still shows the call */ }
}

function stopRinging() {
  if (!p.ring) return;
  clearInterval(p.ring.timer);
  try { p.ring.osc.stop(); p.ring.ctx.close(); } catch { /* already closed */ }
  p.ring = null;
}

// ---- the call ----------------------------------------------------------------------

function renderCall() {
  const c = p.call;
  $('#phone-call').hidden = !c;
  $('#phone').dataset.call = c ? c.state : 'none';
  if (!c) return;
  $('#phone-from').textContent = c.state === 'ringing' ? t('phone.ringing_from', { from: c.from }) : c.from;
  $('#btn-answer').hidden = c.state !== 'ringing';
  $('#btn-decline').hidden = c.state !== 'ringing';
  for (const id of ['#btn-mute', '#btn-phone-hangup']) $(id).hidden = c.state === 'ringing';
  // A supervisor's phone neither holds nor sends keys: the centre would ignore them.
  for (const id of ['#btn-hold', '#phone-keypad', '#phone-pad']) {
    const e = document.querySelector(id);
    if (e) e.hidden = c.state === 'ringing' || p.supervisor;
  }
  $('#btn-mute').setAttribute('aria-pressed', String(!!c.muted));
  $('#btn-mute').querySelector('span').textContent = t(c.muted ? 'phone.unmute' : 'phone.mute');
  $('#btn-hold').setAttribute('aria-pressed', String(!!c.held));
  $('#btn-hold').querySelector('span').textContent = t(c.held ? 'phone.resume' : 'phone.hold');
}

// The browser's own figures of what it receives, every 5 s while the call is up: loss over
// the interval, jitter and the round trip of the ICE pair. The centre folds them into the
// leg's quality (the engine measures only what the browser sends).
function startStats(c) {
  stopStats();
  p.stats = { lost: 0, received: 0, timer: setInterval(() => sendStats(c), STATS_MS) };
}

function stopStats() {
  if (p.stats) clearInterval(p.stats.timer);
  p.stats = null;
}

async function sendStats(c) {
  if (p.call !== c || !c.pc || !p.stats) return;
  let report;
  try { report = await c.pc.getStats(); } catch { return; }
  let inbound = null; let rtt = null;
  report.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') inbound = r;
    if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && typeof r.currentRoundTripTime === 'number') rtt = r.currentRoundTripTime;
  });
  if (!inbound || !p.stats) return;
  const lost = Math.max(0, (inbound.packetsLost || 0) - p.stats.lost);
  const received = Math.max(0, (inbound.packetsReceived || 0) - p.stats.received);
  p.stats.lost = inbound.packetsLost || 0;
  p.stats.received = inbound.packetsReceived || 0;
  if (lost + received === 0) return;
  const msg = { type: 'stats', call: c.call, loss: lost / (lost + received), jitter_ms: (inbound.jitter || 0) * 1000 };
  if (rtt !== null) msg.rtt_ms = rtt * 1000;
  send(msg);
}

function endCall() {
  stopRinging();
  stopStats();
  if (p.call && p.call.pc) p.call.pc.close();
  p.call = null;
  $('#phone-audio').srcObject = null;
  $('#phone-audio').muted = false;
  if (p.mic) for (const tr of p.mic.getAudioTracks()) tr.enabled = true;
  renderCall();
}

export async function answer() {
  const c = p.call;
  if (!c || c.state !== 'ringing') return;
  stopRinging();
  c.state = 'connecting';
  renderCall();
  try {
    if (!p.mic) await takeMic();
    if (p.call !== c) return; // withdrawn meanwhile
    const pc = new RTCPeerConnection({ iceServers: [] });
    c.pc = pc;
    pc.ontrack = (ev) => {
      const a = $('#phone-audio');
      a.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      a.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (p.call !== c) return;
      if (pc.connectionState === 'connected' && c.state !== 'talking') { c.state = 'talking'; renderCall(); startStats(c); }
      if (pc.connectionState === 'failed') { toast(t('phone.media_failed'), 'error'); hangup(); }
    };
    await pc.setRemoteDescription({ type: 'offer', sdp: c.sdp });
    const track = p.mic.getAudioTracks()[0];
    const tr = pc.getTransceivers()[0];
    if (tr && track) {
      await tr.sender.replaceTrack(track);
      tr.direction = 'sendrecv';
    } else if (track) {
      pc.addTrack(track, p.mic);
    }
    const ans = await pc.createAnswer();
    await pc.setLocalDescription(ans);
    if (p.call !== c) { pc.close(); return; } // hung up meanwhile
    send({ type: 'answer', call: c.call, sdp: pc.localDescription.sdp });
    useSpeaker(store(SPEAKER));
  } catch (e) {
    if (c.pc) c.pc.close();
    if (p.call !== c) return;
    toast(t('phone.media_failed') + ` (${e.message})`, 'error');
    // Not the agent's refusal: the call goes on to someone else as unanswered.
    send({ type: 'hangup', call: c.call });
    endCall();
  }
}

export function decline() {
  if (!p.call || p.call.state !== 'ringing') return;
  send({ type: 'decline', call: p.call.call });
  endCall();
}

export function hangup() {
  if (!p.call) return;
  send({ type: p.call.state === 'ringing' ? 'decline' : 'hangup', call: p.call.call });
  endCall();
}

export function toggleMute() {
  const c = p.call;
  if (!c || c.state === 'ringing') return;
  c.muted = !c.muted;
  if (p.mic) for (const tr of p.mic.getAudioTracks()) tr.enabled = !(c.muted || c.held);
  renderCall();
}

export function toggleHold() {
  const c = p.call;
  if (!c || c.state === 'ringing') return;
  c.held = !c.held;
  if (p.mic) for (const tr of p.mic.getAudioTracks()) tr.enabled = !(c.muted || c.held);
  $('#phone-audio').muted = c.held;
  send({ type: 'hold', call: c.call, on: c.held });
  renderCall();
}

export function digit(d) {
  const c = p.call;
  if (!c || c.state === 'ringing' || !/^[0-9*#A-D]$/.test(d)) return;
  send({ type: 'dtmf', call: c.call, digit: d });
}

// ---- the phone socket --------------------------------------------------------------

function onMessage(m) {
  let msg;
  try { msg = JSON.parse(m.data); } catch { return; }
  if (msg.type === 'registered') {
    status('ready');
  } else if (msg.type === 'ring') {
    if (p.call) { send({ type: 'decline', call: msg.call }); return; }
    p.call = { call: msg.call, interaction: msg.interaction, from: msg.from, sdp: msg.sdp, state: 'ringing', muted: false, held: false, monitor: !!msg.monitor };
    renderCall();
    // The supervisor asked for this very call on this page a moment ago (Listen): no need
    // to ring. Any other monitoring call (asked for elsewhere) rings to be answered.
    const asked = p.expect && p.expect.interaction === msg.interaction && Date.now() < p.expect.until;
    if (p.supervisor && msg.monitor && asked) { p.expect = null; answer(); } else startRinging();
  } else if (msg.type === 'hangup') {
    if (p.call && p.call.call === msg.call) {
      // Answered, but the media never connected: the centre gave up.
      if (p.call.state === 'connecting') toast(t('phone.media_failed'), 'error');
      endCall();
    }
  } else if (msg.type === 'replaced') {
    // Another page is the phone now; a call in progress here goes on until it ends.
    p.closed = true;
    status('replaced');
    if (!p.call && p.mic) { for (const tr of p.mic.getTracks()) tr.stop(); p.mic = null; }
  } else if (msg.type === 'error') {
    toast(`${msg.code}: ${msg.message}`, 'error');
  }
}

function connect() {
  const tk = token();
  if (p.closed || !tk) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const purpose = p.supervisor ? '&for=monitor' : '';
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/phone?access_token=${encodeURIComponent(tk)}${purpose}`);
  p.ws = ws;
  status('connecting');
  let opened = false;
  ws.onopen = () => { p.delay = 500; opened = true; };
  // Only the current socket speaks for the phone (an older one may still be closing).
  ws.onmessage = (m) => { if (p.ws === ws) onMessage(m); };
  ws.onclose = async (ev) => {
    if (p.ws !== ws) return;
    p.ws = null;
    // The call's signalling is gone: the centre ends it on its side too.
    endCall();
    if (p.closed) return;
    // The login is no longer valid (revoked, expired): asking /me logs the page out
    // instead of retrying for ever.
    if (ev.code === 4401 || !opened) {
      try { await get('/me'); } catch (e) {
        if (e.status === 401) { p.closed = true; status('offline'); return; }
      }
      // Meanwhile the phone may have been switched off, or opened again.
      if (p.closed || p.ws) return;
    }
    status('offline');
    const wait = p.delay * (0.75 + Math.random() * 0.5);
    p.delay = Math.min(p.delay * 2, 15000);
    p.timer = setTimeout(connect, wait);
  };
  ws.onerror = () => ws.close();
}

async function choose(kind) {
  store(p.kindKey, kind);
  $('#phone-kind').value = kind;
  for (const e of document.querySelectorAll('#phone [data-browser]')) e.hidden = kind !== 'browser';
  for (const e of document.querySelectorAll('#phone [data-desk]')) e.hidden = kind !== 'desk';
  if (kind === 'browser') {
    try {
      await takeMic();
    } catch (e) {
      toast(t('phone.no_mic', { m: e.message }), 'error');
      status('no_mic');
      return;
    }
    p.closed = false;
    clearTimeout(p.timer);
    if (!p.ws) connect();
  } else {
    p.closed = true;
    clearTimeout(p.timer);
    if (p.ws) p.ws.close();
    p.ws = null;
    endCall();
    if (p.mic) for (const tr of p.mic.getTracks()) tr.stop();
    p.mic = null;
    status('desk');
  }
}

// Starts the phone panel for `agent` (an extension), or on the wallboard for a supervisor
// (`{ supervisor: true }`): monitoring calls only, answered as they come.
export function startPhone(agent, opts = {}) {
  p.agent = agent;
  p.supervisor = !!opts.supervisor;
  p.kindKey = p.supervisor ? 'hotline.monitorPhone.kind' : KIND;
  $('#phone').hidden = false;
  $('#phone-kind').onchange = () => choose($('#phone-kind').value);
  $('#phone-mic').onchange = async () => {
    store(MIC, $('#phone-mic').value);
    try { await takeMic(); } catch (e) { toast(t('phone.no_mic', { m: e.message }), 'error'); }
  };
  $('#phone-speaker').onchange = () => { store(SPEAKER, $('#phone-speaker').value); useSpeaker($('#phone-speaker').value); };
  $('#btn-answer').onclick = answer;
  $('#btn-decline').onclick = decline;
  $('#btn-mute').onclick = toggleMute;
  $('#btn-hold').onclick = toggleHold;
  $('#btn-phone-hangup').onclick = hangup;
  const keypad = document.querySelector('#phone-keypad');
  if (keypad) {
    keypad.addEventListener('keydown', (e) => {
      if (/^[0-9*#]$/.test(e.key)) digit(e.key);
    });
  }
  for (const b of document.querySelectorAll('#phone-pad button')) b.onclick = () => digit(b.dataset.key);
  window.addEventListener('online', () => {
    if (!p.ws && !p.closed) { clearTimeout(p.timer); p.delay = 500; connect(); }
  });
  choose(store(p.kindKey) === 'browser' ? 'browser' : 'desk');
}

// The wallboard asks for a monitoring call of `interaction`: its ring, due in a moment, is
// answered by itself.
export function expectMonitor(interaction) {
  p.expect = { interaction, until: Date.now() + 15000 };
}

// The panel's choice: 'browser' or 'desk'.
export function phoneKind() {
  return $('#phone-kind').value;
}

// Whether the browser phone is the agent's phone now.
export function browserPhone() {
  return !p.closed;
}
