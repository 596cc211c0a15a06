// The agent desktop: state, screen pop before the phone is answered, call controls,
// wrap-up with notes and disposition, callbacks, knowledge base and wellbeing.
import { ApiError, get, post, login, logout, liveEvents, token } from './api.js';
import { t, applyI18n, bindLangSwitch, lang } from './i18n.js';
import { $, el, fmtDuration, fmtTime, fmtPct, secondsSince, toast, showError, shortcuts, loginForm } from './ui.js';
import { renderMarkdown } from './md.js';
import { isConversation, startConversations } from './chat-desk.js';
import { startPhone, answer as phoneAnswer, hangup as phoneHangup, toggleMute, toggleHold } from './phone.js';

// Used when the queue's own wrap-up time is unknown.
const DEFAULT_WRAP_SECONDS = 30;

const s = {
  me: null,
  state: null, // {name, reason, since}
  call: null, // {id, phase, pop, offeredAt, answeredAt, endedAt, wrapDeadline, done}
  figures: null, // GET /agents/{ext}, when the centre serves it
  lastPause: null,
};

const ext = () => s.me && s.me.agent;

// A disposition in the page's language (its code when it has no translation).
function dispLabel(d) {
  const key = `disp.${d}`;
  return t(key) === key ? d : t(key);
}

// ---- state -------------------------------------------------------------------------

function setState(name, reason, since) {
  s.state = { name, reason, since: since || new Date().toISOString() };
  if (name === 'break' || name === 'not_ready' || name === 'logged_out') {
    s.lastPause = s.state.since;
    try { localStorage.setItem(`hotline.pause.${ext()}`, s.lastPause); } catch { /* ignore */ }
  }
  renderState();
}

function phaseOfCall() {
  const c = s.call;
  if (!c || c.done) return null;
  return c.phase;
}

function renderState() {
  const badge = $('#state-badge');
  const phase = phaseOfCall();
  const name = phase === 'ringing' ? 'ringing' : phase === 'talking' ? 'on_call'
    : phase === 'ended' ? 'wrap_up' : s.state ? s.state.name : 'unknown';
  badge.dataset.state = name;
  let text = t(`state.${name}`);
  if (!phase && s.state && s.state.reason && s.state.reason !== 'unspecified') {
    const key = `reason.${s.state.reason}`;
    const r = t(key);
    text += ` · ${r === key ? s.state.reason : r}`;
  }
  badge.textContent = text;
  document.title = `${text} · hotline`;
}

async function changeState(state, reason) {
  try {
    await post(`/agents/${encodeURIComponent(ext())}/state`, reason ? { state, reason } : { state });
    setState(state, reason);
  } catch (e) { showError(e); }
}

// ---- the call and its screen pop ---------------------------------------------------

function banner(kind, text) {
  return el('div', { class: `banner ${kind}`, role: 'alert' }, text);
}

function renderPop() {
  const body = $('#pop-body');
  const pop = $('#pop');
  const c = s.call;
  body.replaceChildren();
  if (!c) {
    pop.dataset.state = 'idle';
    delete pop.dataset.interaction;
    body.append(el('p', { class: 'muted' }, t('pop.none')));
    return;
  }
  pop.dataset.state = c.phase;
  pop.dataset.interaction = c.id;
  const p = c.pop;
  if (!p) {
    body.append(el('p', { class: 'muted' }, '…'));
    return;
  }
  const r = p.interaction || {};
  const cust = p.customer;
  body.append(el('p', { class: 'caller' }, el('span', { class: 'label' }, t('pop.caller')), ' ',
    el('strong', { id: 'pop-number' }, r.from || '—'),
    r.queue ? el('span', { class: 'muted' }, ` · ${t('pop.queue')} ${r.queue}`) : null));
  if (cust && cust.vip) body.append(banner('vip', `★ ${t('pop.vip')}`));
  if (p.repeat_complaint) body.append(banner('repeat', `⚠ ${t('pop.repeat', { n: p.open_complaints_30d })}`));
  if (cust) {
    body.append(el('dl', { class: 'customer', id: 'pop-customer' },
      el('div', {}, el('dt', {}, t('pop.customer')), el('dd', {}, `${cust.name} (${cust.id})`)),
      cust.accounts && cust.accounts.length
        ? el('div', {}, el('dt', {}, t('pop.accounts')), el('dd', {}, cust.accounts.join(', '))) : null,
      cust.language ? el('div', {}, el('dt', {}, t('pop.language')), el('dd', {}, cust.language)) : null));
  } else {
    body.append(el('p', { class: 'muted', id: 'pop-customer' }, t('pop.unknown_customer')));
  }
  body.append(el('h3', {}, t('pop.history')));
  const hist = p.history || [];
  if (!hist.length) {
    body.append(el('p', { class: 'muted' }, t('pop.no_history')));
  } else {
    body.append(el('ol', { class: 'history', id: 'pop-history' }, hist.map((h) => {
      const i = h.interaction;
      return el('li', {},
        el('div', { class: 'hist-head' },
          el('time', { datetime: i.started }, fmtTime(i.started)), ' ',
          el('span', { class: 'tag' }, i.queue || '—'), ' ',
          el('span', { class: `tag disp disp-${i.disposition || 'none'}` }, i.disposition ? dispLabel(i.disposition) : '—'),
          i.agent ? el('span', { class: 'muted' }, ` · ${i.agent}`) : null),
        h.notes && h.notes.length
          ? el('ul', { class: 'notes' }, h.notes.map((n) => el('li', {}, n.text))) : null);
    })));
  }
}

async function loadPop(id) {
  try {
    const pop = await get(`/interactions/${encodeURIComponent(id)}/screen-pop`);
    const channel = pop.interaction && pop.interaction.channel;
    if (s.call && s.call.id === id && channel && channel !== 'voice') {
      s.call = null; // a written conversation: the conversations panel has it
      renderPop(); renderCall(); renderState();
      return;
    }
    if (s.call && s.call.id === id) {
      s.call.pop = pop;
      renderPop();
    }
  } catch (e) { showError(e); }
}

function renderCall() {
  const c = s.call;
  const live = c && !c.done && (c.phase === 'talking' || c.phase === 'ringing');
  const talking = c && !c.done && c.phase === 'talking';
  const workable = c && !c.done && (c.phase === 'talking' || c.phase === 'ended');
  $('#btn-hangup').disabled = !talking;
  $('#btn-escalate').disabled = !talking;
  $('#btn-abusive').disabled = !talking;
  renderRec(talking);
  $('#btn-transfer').disabled = !talking;
  $('#transfer-to').disabled = !talking;
  $('#notes').disabled = !workable || (c.handedOff && c.phase === 'ended');
  $('#disposition').disabled = !workable || c.handedOff;
  $('#btn-note').disabled = !workable || (c.handedOff && c.phase === 'ended');
  $('#btn-done').disabled = !workable;
  $('#btn-extend').disabled = !(c && !c.done && c.phase === 'ended');
  const phase = $('#call-phase');
  phase.hidden = !c;
  if (c) {
    const name = c.done ? 'logged_in' : c.phase === 'ringing' ? 'ringing' : c.phase === 'talking' ? 'on_call' : 'wrap_up';
    phase.textContent = c.done ? t('call.ended') : t(`state.${name}`);
    phase.dataset.state = name;
  }
  $('#wrap-timer').hidden = !(c && !c.done && c.phase === 'ended');
  $('#wrap').dataset.active = workable ? 'yes' : 'no';
  renderState();
  tick();
  if (live) document.body.dataset.call = c.phase; else delete document.body.dataset.call;
}

// The recording's pause button: pressed (amber) and a banner while paused.
function renderRec(talking) {
  const paused = !!(talking && s.call.recPaused);
  const b = $('#btn-rec');
  b.disabled = !talking;
  b.setAttribute('aria-pressed', paused ? 'true' : 'false');
  $('#btn-rec-label').textContent = t(paused ? 'call.rec_resume' : 'call.rec_pause');
  $('#rec-paused').hidden = !paused;
}

async function toggleRecording() {
  const c = s.call;
  if (!c || c.phase !== 'talking' || c.done) return;
  const pause = !c.recPaused;
  try {
    await post(`/interactions/${c.id}/recording/${pause ? 'pause' : 'resume'}`, {});
    c.recPaused = pause;
  } catch (e) {
    // Already in the asked state (another window, a supervisor): show it as it is.
    if (e instanceof ApiError && e.code === 'already_paused') c.recPaused = true;
    else if (e instanceof ApiError && e.code === 'not_paused') c.recPaused = false;
    else showError(e);
  }
  renderCall();
}

function onInteraction(ev) {
  const k = ev.kind || {};
  const id = ev.interaction;
  if (k.type === 'offered') {
    // A chat is offered in the conversations panel, not as a ringing call.
    if (k.agent !== ext() || isConversation(id)) return;
    // Never over a call in progress: an offer then can only be a chat beside it.
    if (s.call && !s.call.done && s.call.phase === 'talking') return;
    s.call = { id, phase: 'ringing', pop: null, offeredAt: ev.at };
    $('#notes').value = '';
    $('#disposition').value = '';
    $('#wrap-status').textContent = '';
    renderPop();
    renderCall();
    loadPop(id);
    return;
  }
  const c = s.call;
  if (!c || c.id !== id) return;
  switch (k.type) {
    case 'answered':
      if (k.agent === ext()) { c.phase = 'talking'; c.answeredAt = ev.at; }
      break;
    case 'recording_paused':
      c.recPaused = true;
      break;
    case 'recording_resumed':
      c.recPaused = false;
      break;
    case 'offer_rejected':
      if (k.agent === ext() && c.phase === 'ringing') { s.call = null; renderPop(); }
      break;
    case 'escalated':
    case 'transferred':
      // Handed on: the record goes with the caller; this agent only finishes its wrap-up.
      if (c.phase === 'ended') break;
      c.phase = 'ended';
      c.handedOff = true;
      c.endedAt = ev.at;
      startWrap();
      break;
    case 'ended':
      if (c.phase === 'ringing') { s.call = null; renderPop(); break; }
      if (c.phase !== 'ended') {
        c.phase = 'ended';
        c.endedAt = ev.at;
        startWrap();
      }
      break;
    case 'wrapped_up':
      c.done = true;
      $('#wrap-status').textContent = `${t('wrap.saved')} · ${dispLabel(k.disposition)}`;
      break;
    default:
      return;
  }
  renderPop();
  renderCall();
}

// The wrap-up countdown: the queue's after-call time from the end of the call.
function startWrap() {
  const c = s.call;
  const secs = num(c.pop && c.pop.wrap_up_seconds) ?? DEFAULT_WRAP_SECONDS;
  const from = c.endedAt ? new Date(c.endedAt).getTime() : Date.now();
  c.wrapDeadline = Math.min(from, Date.now()) + secs * 1000;
  $('#notes').focus();
  refreshFigures();
}

async function addNote() {
  const c = s.call;
  const text = $('#notes').value.trim();
  if (!c || !text) return;
  try {
    await post(`/interactions/${c.id}/notes`, { text });
    $('#wrap-status').textContent = `${t('wrap.saved')} · ${t('wrap.notes')}`;
    c.noted = text;
  } catch (e) { showError(e); }
}

async function wrapDone(ev) {
  if (ev) ev.preventDefault();
  const c = s.call;
  if (!c || c.done) return;
  if (c.handedOff) {
    try {
      await post(`/agents/${encodeURIComponent(ext())}/wrap-up`, { done: true });
      c.done = true;
      $('#wrap-status').textContent = t('wrap.saved');
      renderCall();
      refreshFigures();
    } catch (e) { showError(e); }
    return;
  }
  const disposition = $('#disposition').value;
  if (!disposition) { toast(t('wrap.pick'), 'error'); $('#disposition').focus(); return; }
  const text = $('#notes').value.trim();
  const body = { disposition };
  if (text && text !== c.noted) body.notes = text;
  try {
    await post(`/interactions/${c.id}/wrapup`, body);
    c.done = true;
    $('#wrap-status').textContent = `${t('wrap.saved')} · ${dispLabel(disposition)}`;
    renderCall();
    refreshFigures();
  } catch (e) { showError(e); }
}

async function extendWrap() {
  const c = s.call;
  if (!c || c.phase !== 'ended' || c.done) return;
  try {
    await post(`/agents/${encodeURIComponent(ext())}/wrap-up`, { extend_seconds: 30 });
    c.wrapDeadline = Math.max(c.wrapDeadline, Date.now()) + 30000;
    tick();
  } catch (e) { showError(e); }
}

async function callAction(path, body) {
  const c = s.call;
  if (!c) return;
  try {
    await post(`/interactions/${c.id}/${path}`, body);
    if (path === 'abusive') toast(t('call.abusive_done'));
    refreshFigures();
  } catch (e) { showError(e); }
}

// ---- side panels -------------------------------------------------------------------

async function refreshFigures() {
  // The centre's own figures when it serves them; otherwise today's records.
  try {
    s.figures = await get(`/agents/${encodeURIComponent(ext())}`);
    const f = s.figures;
    const name = f.state && (typeof f.state === 'string' ? f.state : f.state.state);
    // The router's own states (offered, busy, wrap-up) are shown from the call's events.
    if (name && !phaseOfCall() && !['offered', 'busy', 'wrap_up'].includes(name)) {
      setState(name, f.reason || f.state.reason, f.since || (s.state && s.state.since));
    }
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) { showError(e); return; }
    s.figures = null;
  }
  if (!s.figures || handledOf(s.figures) === undefined) {
    const day = new Date(); day.setUTCHours(0, 0, 0, 0);
    try {
      const recs = await get(`/interactions?since=${encodeURIComponent(day.toISOString())}`);
      const mine = recs.filter((r) => r.agent === ext() && r.answered);
      const talk = mine.reduce((a, r) => a + (r.ended ? (new Date(r.ended) - new Date(r.answered)) / 1000 : 0), 0);
      s.figures = { ...(s.figures || {}), handled: mine.length, talk_seconds: talk };
    } catch (e) { showError(e); }
  }
  renderWellbeing();
}

function num(...xs) { return xs.find((x) => typeof x === 'number' && Number.isFinite(x)); }
const wb = (f) => f.wellbeing || {};
const handledOf = (f) => num(f.handled, wb(f).handled);
const busyOf = (f) => num(f.talk_seconds, wb(f).occupied_seconds);
const stressOf = (f) => num(f.stress_score, typeof f.stress === 'number' ? f.stress : undefined);

function renderWellbeing() {
  const f = s.figures || {};
  $('#wb-handled').textContent = handledOf(f) ?? '—';
  $('#wb-talk').textContent = fmtDuration(busyOf(f));
  const stress = stressOf(f);
  const sd = $('#wb-stress');
  sd.textContent = stress === undefined ? '—' : fmtPct(stress);
  sd.dataset.level = typeof f.stress === 'string' ? (f.stress === 'elevated' ? 'mid' : f.stress)
    : stress === undefined ? '' : stress >= 0.7 ? 'high' : stress >= 0.4 ? 'mid' : 'low';
  tick();
}

function suggestedBreak() {
  const f = s.figures || {};
  const stress = stressOf(f) ?? 0;
  const sincePause = secondsSince(f.last_pause || s.lastPause) ?? 0;
  const talk = busyOf(f) ?? 0;
  // The centre's suggestion when it makes one (null: no break needed).
  if ('suggested_break_minutes' in f) return num(f.suggested_break_minutes) ?? 0;
  if (stress >= 0.7) return 10;
  if (sincePause >= 90 * 60 || talk >= 4 * 3600) return 15;
  if (sincePause >= 50 * 60) return 10;
  return 0;
}

// Callbacks keeping their place in line, and voicemails not yet dealt with.
// Preview campaigns: a contact offered to the free agents, who may dial it (the call then
// rings this agent first) or skip it. Shown while the agent is available and not on a call.
async function refreshPreviews() {
  const box = $('#preview');
  if (!s.state || s.state.name !== 'available' || phaseOfCall()) { box.hidden = true; return; }
  let offers = [];
  try {
    const r = await get('/campaigns');
    offers = (r.campaigns || [])
      .filter((c) => c.state === 'running' && c.spec.mode === 'preview')
      .flatMap((c) => (c.previews || []).map((p) => ({ ...p, campaign: c.id, title: c.spec.name })));
  } catch { offers = []; }
  const o = offers[0];
  box.hidden = !o;
  if (!o) return;
  const choose = async (dial) => {
    try {
      await post(`/campaigns/${encodeURIComponent(o.campaign)}/previews/${o.contact}`, { dial });
      toast(dial ? t('pv.dialling', { n: o.phone }) : t('pv.skipped'));
    } catch (e) { showError(e); }
    refreshPreviews();
  };
  $('#pv-card').replaceChildren(
    el('p', { class: 'muted' }, o.title),
    el('p', {}, el('strong', { class: 'pv-name' }, o.name || t('pop.unknown_customer')), ' ', el('span', { class: 'pv-phone' }, o.phone)),
    el('div', { class: 'row' },
      el('button', { class: 'btn ok', id: 'pv-dial', type: 'button', onclick: () => choose(true) }, t('pv.dial')),
      el('button', { class: 'btn ghost', id: 'pv-skip', type: 'button', onclick: () => choose(false) }, t('pv.skip'))));
}

async function refreshCallbacks() {
  const list = $('#cb-list');
  try {
    const r = await get('/callbacks');
    const callbacks = Array.isArray(r) ? r : (r.callbacks || []);
    const voicemails = Array.isArray(r) ? [] : (r.voicemails || []);
    const item = (c, kind) => el('li', { 'data-interaction': c.id },
      el('strong', {}, c.callback_number || c.number || c.from || '—'), ' ',
      el('span', { class: 'tag' }, kind === 'voicemail' ? t('cb.voicemail') : (c.queue || t('cb.callback'))), ' ',
      el('time', { class: 'muted', datetime: c.started }, fmtTime(c.started || c.requested_at)));
    const items = [...callbacks.map((c) => item(c, 'callback')), ...voicemails.map((c) => item(c, 'voicemail'))];
    list.replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, t('cb.none'))]));
  } catch (e) {
    list.replaceChildren(el('li', { class: 'muted' }, e.status === 404 ? t('cb.unavailable') : t('err.generic', { m: e.message })));
  }
}

// A search or an article the agent asked for last wins: an answer that arrives after a newer
// request (a slow search for the first character typed, or a search still waiting for its
// debounce when the agent clicked an article) is dropped rather than hiding what they opened.
let kbSeq = 0;
let kbTimer = null;
async function searchKb() {
  const q = $('#kb-q').value.trim();
  const mine = ++kbSeq;
  try {
    const hits = await get(`/kb?q=${encodeURIComponent(q)}&lang=${lang()}`);
    if (mine !== kbSeq) return;
    $('#kb-article').hidden = true;
    const ul = $('#kb-results');
    ul.hidden = false;
    ul.replaceChildren(...(hits.length ? hits.map((h) => el('li', {},
      el('button', { class: 'link', type: 'button', onclick: () => openArticle(h.slug, h.lang) },
        el('strong', {}, h.title), el('span', { class: 'tag' }, h.lang)),
      el('p', { class: 'muted small' }, h.excerpt)))
      : [el('li', { class: 'muted' }, t('kb.none'))]));
  } catch (e) { showError(e); }
}

async function openArticle(slug, l) {
  clearTimeout(kbTimer);
  const mine = ++kbSeq;
  try {
    const a = await get(`/kb/${encodeURIComponent(slug)}?lang=${encodeURIComponent(l)}`);
    if (mine !== kbSeq) return;
    const art = $('#kb-article');
    const back = el('button', { class: 'btn ghost', type: 'button', onclick: () => { art.hidden = true; $('#kb-results').hidden = false; $('#kb-q').focus(); } }, `← ${t('kb.back')}`);
    const content = el('div', { class: 'md' });
    content.innerHTML = renderMarkdown(a.markdown); // escaped by renderMarkdown
    art.replaceChildren(back, content);
    art.dataset.slug = a.slug;
    $('#kb-results').hidden = true;
    art.hidden = false;
    back.focus();
  } catch (e) { showError(e); }
}

// ---- timers (display only) -----------------------------------------------------------

function tick() {
  $('#state-timer').textContent = s.state ? fmtDuration(secondsSince(s.state.since)) : '';
  const c = s.call;
  const ct = $('#call-timer');
  if (c && !c.done && c.phase === 'talking') ct.textContent = fmtDuration(secondsSince(c.answeredAt));
  else if (c && !c.done && c.phase === 'ringing') ct.textContent = fmtDuration(secondsSince(c.offeredAt));
  else ct.textContent = '';
  const wt = $('#wrap-timer');
  if (c && !c.done && c.phase === 'ended' && c.wrapDeadline) {
    const left = (c.wrapDeadline - Date.now()) / 1000;
    wt.textContent = `${fmtDuration(Math.max(0, left))} ${t('wrap.left')}`;
    wt.dataset.late = left <= 0 ? 'yes' : left <= 10 ? 'soon' : 'no';
  }
  const pauseSecs = secondsSince((s.figures && s.figures.last_pause) || s.lastPause);
  $('#wb-pause').textContent = fmtDuration(pauseSecs);
  const m = suggestedBreak();
  const sug = $('#wb-suggest');
  sug.replaceChildren(m > 0
    ? el('span', { class: 'warn' }, t('wb.suggest', { m }), ' ',
      el('button', { class: 'btn', type: 'button', onclick: () => changeState('break', 'wellbeing') }, t('wb.take_break')))
    : el('span', { class: 'ok' }, t('wb.ok')));
  sug.dataset.suggest = m > 0 ? 'yes' : 'no';
}

// ---- start -------------------------------------------------------------------------

async function start(me) {
  if (!me.agent) {
    toast(`${me.user}: ${t('app.wallboard')} →`, 'info');
    location.href = '/wallboard';
    return;
  }
  s.me = me;
  try { s.lastPause = localStorage.getItem(`hotline.pause.${me.agent}`) || new Date().toISOString(); } catch { s.lastPause = new Date().toISOString(); }
  $('#who').textContent = `${me.user} · ${me.agent}`;
  for (const id of ['#desk', '#btn-logout', '#state-badge', '#state-buttons', '#conn', '#keys']) $(id).hidden = false;
  for (const id of ['#btn-available', '#btn-not-ready', '#btn-break', '#nr-reason']) $(id).disabled = false;
  startConversations(me.agent);
  startPhone(me.agent);
  renderPop();
  renderCall();
  liveEvents((ev) => {
    if (ev.stream === 'interaction') onInteraction(ev);
    else if (ev.stream === 'agent' && ev.agent === ext()) {
      const st = ev.state || {};
      setState(st.state, st.reason, ev.at);
    }
  }, (status) => {
    const conn = $('#conn');
    if (status === 'online' && conn.dataset.state === 'offline' && conn.dataset.seen) {
      conn.dataset.reconnects = Number(conn.dataset.reconnects || 0) + 1;
    }
    if (status === 'online') conn.dataset.seen = 'yes';
    conn.dataset.state = status;
    conn.textContent = t(`conn.${status}`);
    if (status === 'online') { refreshFigures(); refreshCallbacks(); }
  });
  searchKb();
  setInterval(tick, 1000);
  setInterval(refreshCallbacks, 30000);
  setInterval(refreshPreviews, 3000);
  setInterval(refreshFigures, 60000);
  $('#btn-available').focus();
}

function wire() {
  bindLangSwitch($('#lang'));
  applyI18n();
  $('#btn-available').onclick = () => changeState('available');
  $('#btn-not-ready').onclick = () => changeState('not_ready', $('#nr-reason').value);
  $('#btn-break').onclick = () => changeState('break', 'rest');
  $('#btn-hangup').onclick = () => callAction('hangup');
  $('#btn-escalate').onclick = () => callAction('escalate', {});
  $('#btn-abusive').onclick = () => callAction('abusive', {});
  $('#btn-rec').onclick = toggleRecording;
  $('#transfer').onsubmit = (e) => {
    e.preventDefault();
    const to = $('#transfer-to').value.trim();
    if (to) callAction('transfer', { to });
  };
  $('#btn-note').onclick = addNote;
  $('#btn-extend').onclick = extendWrap;
  $('#wrap').onsubmit = wrapDone;
  $('#kb-q').addEventListener('input', () => { clearTimeout(kbTimer); kbTimer = setTimeout(searchKb, 150); });
  $('#btn-logout').onclick = async () => {
    if (ext()) { try { await post(`/agents/${encodeURIComponent(ext())}/state`, { state: 'logged_out' }); } catch { /* leaving anyway */ } }
    logout();
    location.reload();
  };
  shortcuts({
    a: () => !$('#btn-available').disabled && changeState('available'),
    n: () => !$('#btn-not-ready').disabled && changeState('not_ready', $('#nr-reason').value),
    b: () => !$('#btn-break').disabled && changeState('break', 'rest'),
    d: () => wrapDone(),
    x: () => !$('#btn-abusive').disabled && callAction('abusive', {}),
    r: () => !$('#btn-rec').disabled && toggleRecording(),
    p: () => phoneAnswer(),
    m: () => toggleMute(),
    h: () => toggleHold(),
    e: () => phoneHangup(),
    '/': () => $('#kb-q').focus(),
  });
  window.addEventListener('langchange', () => {
    if (!s.me) return;
    renderPop(); renderCall(); renderWellbeing(); searchKb();
  });
  window.addEventListener('hotline:logout', () => location.reload());
  window.addEventListener('hotline:conversation', (e) => {
    if (s.call && s.call.id === e.detail && s.call.phase === 'ringing') { s.call = null; renderPop(); renderCall(); renderState(); }
  });
}

wire();
(async () => {
  let me = null;
  if (token()) { try { me = await get('/me'); } catch { me = null; } }
  if (!me) me = await loginForm($('#login'), login);
  start(me);
})();
