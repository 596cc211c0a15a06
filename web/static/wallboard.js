// The supervisors' wallboard: queues, agents, alerts, today's chart and report, live.
import { token, get, post, login, logout, liveEvents } from './api.js';
import { t, applyI18n, bindLangSwitch } from './i18n.js';
import { $, el, fmtDuration, fmtPct, secondsSince, showError, loginForm } from './ui.js';
import { startPhone, phoneKind, browserPhone, expectMonitor } from './phone.js';

const SVG = 'http://www.w3.org/2000/svg';
const STRESS_HIGH = 0.7;

const s = {
  queues: [], queuesAt: 0,
  agents: null, // null: the centre does not list agents
  report: null,
  calls: [],
  // Live quality: per interaction, per leg, the latest sample; and the calls in alert.
  quality: new Map(),
  qualityAlerts: new Map(),
};

const today = () => { const d = new Date(); d.setUTCHours(0, 0, 0, 0); return d; };
const num = (...xs) => xs.find((x) => typeof x === 'number' && Number.isFinite(x));

// ---- loading -------------------------------------------------------------------------

async function loadQueues() {
  takeQueues(await get('/queues'));
}

async function loadAgents() {
  try {
    const a = await get('/agents');
    s.agents = (Array.isArray(a) ? a : (a.agents || [])).slice()
      .sort((x, y) => String(agentId(x)).localeCompare(String(agentId(y))));
  } catch (e) {
    if (e.status !== 404) throw e;
    s.agents = null;
  }
  renderAgents();
  renderAlerts();
}

async function loadReport() {
  s.report = await get('/reports/intervals');
  renderChart();
  renderQueues();
  renderAlerts();
}

async function loadQuality() {
  try {
    const q = await get('/quality');
    s.quality = new Map();
    s.qualityAlerts = new Map();
    for (const l of q.calls || []) takeSample(l);
  } catch (e) {
    if (e.status !== 403 && e.status !== 404) throw e;
  }
  renderCalls();
  renderAlerts();
}

function takeSample(l) {
  const legs = s.quality.get(l.interaction) || {};
  legs[l.leg] = l;
  s.quality.set(l.interaction, legs);
  const key = `${l.interaction}/${l.leg}`;
  if (l.alert) s.qualityAlerts.set(key, l); else s.qualityAlerts.delete(key);
}

// Today's latest eight calls, newest first: one small page, however busy the day.
async function loadCalls() {
  s.calls = await get(`/interactions?since=${encodeURIComponent(today().toISOString())}&order=desc&limit=8`);
  renderCalls();
}

// Today's queue figures as the server pushes them on the event stream after events (one
// computation for every wallboard, not one request per wallboard per event).
function takeQueues(queues) {
  s.queues = queues;
  s.queuesAt = Date.now();
  renderQueues();
  renderAlerts();
}

// Loads coalesce: what is asked for while a load waits joins it, and a load waits at most
// its delay from the first ask (not from the last: a busy centre's steady events must not
// put it off for ever). The report, the agents list and adherence count the whole day, so
// they are asked for less often.
const DELAY = { report: 1000, agents: 1000, adherence: 1000 };
const pending = new Map();
function refresh(...what) {
  const fns = { adherence: loadAdherence, queues: loadQueues, agents: loadAgents, report: loadReport, calls: loadCalls, quality: loadQuality };
  for (const w of what) {
    if (pending.has(w)) continue;
    pending.set(w, setTimeout(() => {
      pending.delete(w);
      fns[w]().catch(showError);
    }, DELAY[w] || 250));
  }
}

// Today's adherence (local day): who is off their schedule now, and the centre's figure.
// The panel shows only while some schedule covers today.
async function loadAdherence() {
  const from = new Date();
  from.setHours(0, 0, 0, 0);
  const to = new Date(from);
  to.setDate(to.getDate() + 1);
  try {
    s.adherence = await get(`/workforce/adherence?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`);
  } catch (e) {
    if (e.status !== 403 && e.status !== 404) throw e;
    s.adherence = null;
  }
  renderAdherence();
}

// ---- rendering -----------------------------------------------------------------------

function goal(q) {
  if (q && typeof q.service_level_goal === 'number') return q.service_level_goal;
  return (s.report && s.report.service_level_goal) || 0.8;
}
function targetOf(q) {
  if (typeof q === 'object') {
    if (typeof q.target_seconds === 'number') return q.target_seconds;
    q = q.name;
  }
  return s.report && s.report.target_seconds ? s.report.target_seconds[q] : undefined;
}
// A service-level target as people say it: 20s, 4h, 90min.
function fmtTarget(secs) {
  if (secs >= 3600 && secs % 3600 === 0) return `${secs / 3600}h`;
  if (secs >= 120 && secs % 60 === 0) return `${secs / 60}min`;
  return `${secs}s`;
}

function longestWait(q) {
  return q.waiting > 0 ? q.longest_wait + (Date.now() - s.queuesAt) / 1000 : 0;
}

function figure(label, value, attrs = {}) {
  return el('div', { class: 'fig', ...attrs }, el('span', { class: 'v' }, value), el('span', { class: 'l' }, label));
}

function renderQueues() {
  const box = $('#queues');
  box.replaceChildren(...s.queues.map((q) => {
    const sl = q.service_level;
    const handled = q.answered + q.abandoned;
    const target = targetOf(q);
    const missed = sl !== null && sl !== undefined && sl < goal(q);
    return el('article', { class: 'queue', 'data-queue': q.name, 'data-alarm': missed ? 'yes' : 'no' },
      el('h3', {}, q.name, q.channel && q.channel !== 'voice'
        ? el('span', { class: 'tag channel', 'data-channel': q.channel }, ` ${t(`channel.${q.channel}`)}`) : null),
      el('div', { class: 'figs' },
        figure(t('q.waiting'), q.waiting, { 'data-f': 'waiting' }),
        figure(t('q.longest'), fmtDuration(longestWait(q)), { 'data-f': 'longest' }),
        figure(`${t('q.sl')}${target ? ` (${fmtPct(goal(q))}/${fmtTarget(target)})` : ''}`, fmtPct(sl),
          { 'data-f': 'sl', 'data-value': sl ?? '', class: `fig sl ${missed ? 'bad' : sl === null || sl === undefined ? '' : 'good'}` }),
        figure(t('q.abandon'), q.offered ? fmtPct(q.abandoned / Math.max(1, handled || q.offered)) : '—', { 'data-f': 'abandon' }),
        figure(t('q.available'), q.agents_available, { 'data-f': 'available' }),
        figure(t('q.offered'), q.offered, { 'data-f': 'offered', 'data-value': q.offered })));
  }));
}

const agentId = (a) => a.extension || a.ext || a.agent || a.id;
const stressOf = (a) => num(a.stress_score, typeof a.stress === 'number' ? a.stress : undefined);

// low, mid or high: the centre's own level when it gives one, else from the score.
function stressLevel(a) {
  if (typeof a.stress === 'string') return a.stress === 'elevated' ? 'mid' : a.stress;
  const x = stressOf(a);
  return x === undefined ? '' : x >= STRESS_HIGH ? 'high' : x >= 0.4 ? 'mid' : 'low';
}

function stateName(a) {
  const st = a.state;
  return typeof st === 'string' ? st : st && st.state ? st.state : 'unknown';
}

function renderAgents() {
  const body = $('#agents');
  if (s.agents === null) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, t('a.unavailable'))));
    return;
  }
  body.replaceChildren(...s.agents.map((a) => {
    const id = agentId(a);
    const name = stateName(a);
    const stress = stressOf(a);
    const occ = num(a.occupancy);
    const level = stressLevel(a);
    const meter = el('span', { class: 'meter' }, el('span', { class: 'fill' }));
    if (stress !== undefined) meter.firstChild.style.width = `${Math.round(Math.min(1, stress) * 100)}%`;
    const key = `state.${name}`;
    const label = t(key) === key ? name : t(key);
    return el('tr', { 'data-agent': id, 'data-state': name },
      el('td', {}, el('strong', {}, id), a.name ? el('span', { class: 'muted' }, ` ${a.name}`) : null),
      el('td', {}, el('span', { class: 'badge', 'data-state': name }, label)),
      el('td', { class: 'since', 'data-since': a.since || '' }, fmtDuration(secondsSince(a.since))),
      el('td', {}, num(a.handled, a.wellbeing && a.wellbeing.handled) ?? '—'),
      el('td', {}, fmtPct(occ)),
      el('td', { class: 'stress', 'data-level': level }, meter, ' ', stress === undefined ? '—' : fmtPct(stress)));
  }));
}

function renderAlerts() {
  const list = [];
  if (s.logAlert) {
    list.push({ kind: 'log', text: t('alert.log', { s: Math.round(s.logAlert.oldest_seconds), n: s.logAlert.backlog_events }) });
  }
  for (const q of s.queues) {
    if (q.service_level !== null && q.service_level !== undefined && q.service_level < goal(q)) {
      list.push({ kind: 'sl', text: t('alert.sl', { q: q.name, sl: fmtPct(q.service_level), t: fmtPct(goal(q)) }) });
    }
    const target = targetOf(q);
    if (target && longestWait(q) > target) {
      list.push({ kind: 'wait', text: t('alert.wait', { q: q.name, w: fmtDuration(longestWait(q)) }) });
    }
  }
  for (const q of s.qualityAlerts.values()) {
    list.push({ kind: 'quality', id: q.interaction, text: t('alert.quality', {
      c: String(q.interaction).slice(0, 8), l: t(`leg.${q.leg}`), m: q.mos.toFixed(2),
      p: fmtPct(q.loss), j: Math.round(q.jitter_ms) }) });
  }
  for (const a of s.agents || []) {
    if (stressLevel(a) === 'high') {
      list.push({ kind: 'stress', text: t('alert.stress', { a: a.name ? `${agentId(a)} ${a.name}` : agentId(a) }) });
    }
  }
  const ul = $('#alerts');
  ul.replaceChildren(...(list.length
    ? list.map((a) => el('li', { class: `alert ${a.kind}`, role: 'alert', 'data-interaction': a.id || '' }, a.text))
    : [el('li', { class: 'ok' }, t('alerts.none'))]));
}

function renderAdherence() {
  const list = (s.adherence && s.adherence.agents) || [];
  $('#adh-panel').hidden = list.length === 0;
  if (!list.length) return;
  const sched = list.reduce((n, a) => n + (a.scheduled_seconds || 0), 0);
  const inAdh = list.reduce((n, a) => n + (a.in_adherence_seconds || 0), 0);
  $('#adh-centre').textContent = t('adh.centre', { p: fmtPct(sched ? inAdh / sched : null) });
  const out = list.filter((a) => a.now && a.now.out_of_adherence);
  $('#adh-out').replaceChildren(...(out.length ? out.map((a) => el('li', { 'data-agent': a.agent, 'data-since': a.now.out_since || '' },
    t('adh.row', {
      a: a.agent, p: a.now.planned ? t(`adh.${a.now.planned}`) : '—', x: a.now.actual ? t(`adh.${a.now.actual}`) : '—',
      m: a.now.out_since ? Math.max(0, Math.floor(secondsSince(a.now.out_since) / 60)) : 0,
    }))) : [el('li', { class: 'ok' }, t('adh.none'))]));
}

function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

// Offered calls as bars, service level as a line, per 15 minutes of the UTC day.
function renderChart() {
  const box = $('#chart');
  const r = s.report;
  if (!r) return;
  // The working part of the day: from six hours back (or the first call) to the next hour.
  const all = r.intervals;
  const nowIdx = Math.floor((Date.now() - new Date(all[0].start).getTime()) / (15 * 60000));
  const firstIdx = all.findIndex((i) => i.offered > 0);
  const cur = Math.min(all.length - 1, Math.max(0, nowIdx));
  let from = Math.max(0, Math.min(cur - 24, firstIdx < 0 ? cur : firstIdx));
  from -= from % 4;
  let to = Math.min(all.length, Math.max(cur + 5, from + 32));
  to += (4 - (to % 4)) % 4;
  const iv = all.slice(from, to);
  const W = 520; const H = 190; const L = 26; const R = 34; const T = 10; const B = 22;
  const w = (W - L - R) / iv.length;
  const maxOffered = Math.max(4, ...iv.map((i) => i.offered));
  const y = (v) => T + (H - T - B) * (1 - v / maxOffered);
  const ySl = (v) => T + (H - T - B) * (1 - v);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('chart.title'), class: 'chart-svg' });
  // Axes and the goal line.
  g.append(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
  g.append(svg('line', { x1: L, x2: W - R, y1: ySl(r.service_level_goal), y2: ySl(r.service_level_goal), class: 'goal' }));
  g.append(svg('text', { x: W - R + 4, y: ySl(r.service_level_goal) + 4, class: 'tick sl' }, fmtPct(r.service_level_goal)));
  g.append(svg('text', { x: W - R + 4, y: ySl(1) + 4, class: 'tick sl' }, '100%'));
  g.append(svg('text', { x: L - 4, y: y(maxOffered) + 4, class: 'tick end' }, maxOffered));
  g.append(svg('text', { x: L - 4, y: y(0) + 4, class: 'tick end' }, 0));
  const every = iv.length > 40 ? 12 : iv.length > 24 ? 8 : 4;
  for (let n = 0; n <= iv.length; n += every) {
    const h = (from + n) / 4;
    g.append(svg('text', { x: L + n * w, y: H - 6, class: 'tick mid' }, `${String(h).padStart(2, '0')}:00`));
  }
  const bars = svg('g', { class: 'bars' });
  const points = [];
  iv.forEach((i, n) => {
    const x = L + n * w;
    if (i.offered > 0) {
      const b = svg('rect', { x: x + 1, y: y(i.offered), width: Math.max(1, w - 2), height: y(0) - y(i.offered), 'data-offered': i.offered, 'data-start': i.start });
      b.append(svg('title', {}, `${i.start.slice(11, 16)} UTC · ${t('chart.offered')} ${i.offered} · ${t('chart.sl')} ${fmtPct(i.service_level)}`));
      bars.append(b);
    }
    if (i.service_level !== null && i.service_level !== undefined) points.push([x + w / 2, ySl(i.service_level)]);
  });
  g.append(bars);
  if (points.length) {
    g.append(svg('polyline', { points: points.map((p) => p.join(',')).join(' '), class: 'sl-line' }));
    for (const [cx, cy] of points) g.append(svg('circle', { cx, cy, r: 2.5, class: 'sl-dot' }));
  }
  const legend = el('p', { class: 'legend' },
    el('span', { class: 'key bars' }), ` ${t('chart.offered')} `,
    el('span', { class: 'key line' }), ` ${t('chart.sl')} (UTC) · ${t('q.offered')} ${r.total.offered} · ${t('q.sl')} ${fmtPct(r.total.service_level)}`);
  legend.dataset.offered = r.total.offered;
  box.replaceChildren(g, legend);
}

function dispLabel(d) {
  const key = `disp.${d}`;
  return t(key) === key ? d : t(key);
}

function callStatus(r) {
  if (r.ended) return r.answered ? 'done' : 'abandoned';
  return r.answered ? 'talking' : 'waiting';
}

// ---- monitoring live calls -----------------------------------------------------------

const PHONE_KEY = 'hotline.monitorPhone';

/// Who monitors the call now, from its record's `monitoring` (its last step).
function monitorOf(r) {
  const steps = r.monitoring || [];
  let cur = null;
  for (const m of steps) {
    if (m.action === 'started') cur = { supervisor: m.supervisor, mode: m.mode };
    else if (m.action === 'mode_changed' && cur) cur.mode = m.mode;
    else if (m.action === 'taken_over' && cur) cur.taken = true;
    else if (m.action === 'stopped') cur = null;
  }
  return cur;
}

async function monitorAction(r, action) {
  const path = `/interactions/${encodeURIComponent(r.id)}`;
  const mon = monitorOf(r);
  try {
    if (action === 'stop') await post(`${path}/monitor/stop`);
    else if (action === 'takeover') await post(`${path}/takeover`);
    else if (mon && !mon.taken) await post(`${path}/monitor/mode`, { mode: action });
    else if (phoneKind() === 'browser') {
      // The centre rings this page's own phone, which answers by itself.
      if (!browserPhone() || $('#phone').dataset.state !== 'ready') { showError(new Error(t('mon.needbrowser'))); return; }
      expectMonitor(r.id);
      await post(`${path}/monitor`, { mode: action });
    } else {
      const phone = $('#mon-phone').value.trim();
      if (!phone) { showError(new Error(t('mon.needphone'))); $('#mon-phone').focus(); return; }
      await post(`${path}/monitor`, { mode: action, phone });
    }
  } catch (e) { showError(e); }
  refresh('calls');
}

function monitorCell(r, st) {
  const mon = monitorOf(r);
  const who = mon ? el('span', { class: 'tag monitor', 'data-mode': mon.taken ? 'takeover' : mon.mode },
    mon.taken ? t('mon.taken', { s: mon.supervisor }) : t('mon.by', { s: mon.supervisor, m: t(`mon.mode.${mon.mode}`) })) : null;
  if (st !== 'talking' || (mon && mon.taken)) return el('td', { class: 'monitor' }, who);
  const btn = (action, label) => el('button', {
    class: 'btn small', type: 'button', 'data-monitor': action,
    'aria-pressed': mon && mon.mode === action ? 'true' : 'false',
    onclick: () => monitorAction(r, action),
  }, t(label));
  const buttons = [btn('listen', 'mon.listen'), btn('whisper', 'mon.whisper'), btn('barge', 'mon.barge')];
  if (mon) buttons.push(btn('takeover', 'mon.takeover'), btn('stop', 'mon.stop'));
  return el('td', { class: 'monitor' }, who, ...buttons);
}

function renderCalls() {
  const body = $('#calls');
  body.replaceChildren(...(s.calls.length ? s.calls.map((r) => {
    const st = callStatus(r);
    // Live figures while the call is on; the record's (worst leg) once it is over.
    const legs = s.quality.get(r.id);
    const live = legs ? Object.values(legs) : [];
    const worst = live.length ? Math.min(...live.map((l) => l.mos)) : null;
    const alarm = live.some((l) => l.alert);
    const mos = worst ?? (r.ended ? num(r.quality && r.quality.caller && r.quality.caller.mos, r.mos) : undefined);
    const qual = mos === undefined || mos === null ? '—' : `MOS ${mos.toFixed(1)}`;
    const tip = live.map((l) => `${t(`leg.${l.leg}`)}: MOS ${l.mos.toFixed(2)}, ${fmtPct(l.loss)}, ${Math.round(l.jitter_ms)} ms${l.rtt_ms == null ? '' : `, RTT ${Math.round(l.rtt_ms)} ms`}`).join(' · ');
    return el('tr', { 'data-interaction': r.id, 'data-status': st, 'data-quality': alarm ? 'alert' : 'ok', class: alarm ? 'quality-alert' : '' },
      el('td', { class: 'muted' }, new Date(r.started).toLocaleTimeString(document.documentElement.lang)),
      el('td', {}, r.from || '—'),
      el('td', {}, r.queue || '—'),
      el('td', {}, r.agent || '—'),
      el('td', {}, el('span', { class: 'badge', 'data-state': st }, t(`status.${st}`)),
        r.disposition ? el('span', { class: 'tag' }, dispLabel(r.disposition)) : null),
      el('td', { class: `quality ${alarm ? 'bad' : ''}`, title: tip, 'data-mos': mos ?? '' }, qual),
      monitorCell(r, st));
  }) : [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, t('calls.none')))]));
}

function tick() {
  for (const q of s.queues) {
    const f = document.querySelector(`.queue[data-queue="${CSS.escape(q.name)}"] [data-f=longest] .v`);
    if (f) f.textContent = fmtDuration(longestWait(q));
  }
  for (const td of document.querySelectorAll('#agents td.since')) {
    if (td.dataset.since) td.textContent = fmtDuration(secondsSince(td.dataset.since));
  }
}

async function downloadCsv(ev) {
  ev.preventDefault();
  try {
    const res = await fetch('/api/v1/reports/daily.csv', { headers: { Authorization: `Bearer ${token()}` } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const blob = await res.blob();
    const name = (res.headers.get('Content-Disposition') || '').match(/filename="([^"]+)"/);
    const a = el('a', { href: URL.createObjectURL(blob), download: name ? name[1] : 'hotline.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) { showError(e); }
}

// ---- start ---------------------------------------------------------------------------

function start(me) {
  if (me.role === 'agent') { location.href = '/agent'; return; }
  $('#who').textContent = me.user;
  $('#board').hidden = false;
  $('#btn-logout').hidden = false;
  $('#csv').hidden = false;
  $('#conn').hidden = false;
  // The supervisor's own phone for monitoring: a desk phone's extension, or this browser.
  startPhone(null, { supervisor: true });
  liveEvents((ev) => {
    if (ev.stream === 'system' && ev.alert) {
      s.logAlert = ev.alert.raised ? ev.alert : null;
      renderAlerts();
      return;
    }
    if (ev.stream === 'queues') {
      takeQueues(ev.queues || []);
      return;
    }
    if (ev.stream === 'quality') {
      takeSample(ev);
      renderCalls();
      renderAlerts();
      return;
    }
    // Queue figures follow agent and interaction events on the stream itself.
    if (ev.stream === 'agent') refresh('agents', 'adherence');
    else if (ev.stream === 'audit' && ['agent_skills', 'config'].includes(ev.action)) {
      // A live change: logged just before it takes effect, so looked at again a moment later.
      refresh('agents', 'queues');
      setTimeout(() => refresh('agents', 'queues'), 500);
    } else if (ev.stream === 'interaction') {
      const k = ev.kind && ev.kind.type;
      refresh('calls');
      if (['answered', 'ended', 'abandoned', 'queued', 'wrapped_up', 'offered'].includes(k)) refresh('report', 'agents');
      if (['quality_alert', 'quality_recovered', 'ended'].includes(k)) refresh('quality');
    }
  }, (status) => {
    const conn = $('#conn');
    if (status === 'online' && conn.dataset.state === 'offline' && conn.dataset.seen) {
      conn.dataset.reconnects = Number(conn.dataset.reconnects || 0) + 1;
    }
    if (status === 'online') conn.dataset.seen = 'yes';
    conn.dataset.state = status;
    conn.textContent = t(`conn.${status}`);
    if (status === 'online') refresh('queues', 'agents', 'report', 'calls', 'quality', 'adherence');
  });
  setInterval(tick, 1000);
  // A slow full refresh besides the events: figures that age (longest wait, time in state).
  setInterval(() => refresh('queues', 'agents', 'adherence'), 15000);
}

bindLangSwitch($('#lang'));
applyI18n();
$('#csv').addEventListener('click', downloadCsv);
$('#mon-phone').value = localStorage.getItem(PHONE_KEY) || '';
$('#mon-phone').addEventListener('change', (e) => localStorage.setItem(PHONE_KEY, e.target.value.trim()));
$('#btn-logout').onclick = () => { logout(); location.reload(); };
window.addEventListener('langchange', () => {
  if ($('#board').hidden) return;
  renderQueues(); renderAgents(); renderAlerts(); renderChart(); renderCalls(); renderAdherence();
});
window.addEventListener('hotline:logout', () => location.reload());
(async () => {
  let me = null;
  if (token()) { try { me = await get('/me'); } catch { me = null; } }
  if (!me) me = await loginForm($('#login'), login);
  start(me);
})();
