// The administration page (supervisors and administrators). Views: the agents' skills as a
// grid a supervisor edits (admin-grid.js); the contact flows, each drawn as a diagram from
// GET /api/v1/flows (steps as boxes, the ways between them as labelled arrows), with the
// numbers that lead to it and the same graph as a text list; for administrators only, the
// live configuration: agents, users, queues, numbers, business hours (admin-config.js); and
// the audit trail (admin-audit.js).
import { token, get, login, logout, liveEvents } from './api.js';
import { applyI18n, bindLangSwitch } from './i18n.js';
import { $, $$, el, showError, loginForm } from './ui.js';
import { w, applyWords } from './admin-words.js';
import { mountGrid, setAgents, setQueues, addColumn, render as renderGrid } from './admin-grid.js';
import { mountConfig, setConfig, onConfigChange, relabel } from './admin-config.js';
import { loadAudit, renderAudit } from './admin-audit.js';
import { itemEditor, fetchItem, renderSettings, onSettingsChange } from './admin-items.js';

const SVG = 'http://www.w3.org/2000/svg';

const s = { flows: [], selected: null, me: null, view: null, config: null, editing: undefined };

// ---- the layout: layers by distance from the start step ------------------------------

const BOX_W = 168;
const BOX_H = 54;
const GAP_X = 44;
const GAP_Y = 78;
const PAD = 30;

// Layer of each step: its distance (in edges) from the start; steps the start does not
// reach go one layer below the deepest.
export function layers(flow) {
  const depth = new Map([[flow.start, 0]]);
  const out = new Map();
  for (const e of flow.edges) {
    if (!out.has(e.from)) out.set(e.from, []);
    out.get(e.from).push(e.to);
  }
  const todo = [flow.start];
  while (todo.length) {
    const id = todo.shift();
    for (const to of out.get(id) || []) {
      if (!depth.has(to)) { depth.set(to, depth.get(id) + 1); todo.push(to); }
    }
  }
  const deepest = Math.max(0, ...depth.values());
  for (const n of flow.nodes) if (!depth.has(n.id)) depth.set(n.id, deepest + 1);
  return depth;
}

// Rows of steps by layer; within a row, each step sits near the steps it comes from (the
// mean position of its predecessors in the rows above), which keeps arrows short and few
// crossing; ties keep the API's breadth-first order.
export function layout(flow) {
  const depth = layers(flow);
  const rows = [];
  for (const n of flow.nodes) {
    const d = depth.get(n.id);
    (rows[d] ||= []).push(n.id);
  }
  const widest = Math.max(1, ...rows.map((r) => (r ? r.length : 0)));
  const inner = widest * BOX_W + (widest - 1) * GAP_X;
  const width = PAD * 2 + inner + 120; // room on the right for arrows going back up
  const preds = new Map();
  for (const e of flow.edges) {
    if (!preds.has(e.to)) preds.set(e.to, []);
    preds.get(e.to).push(e.from);
  }
  const pos = new Map();
  rows.forEach((row, d) => {
    if (!row) return;
    const place = new Map(row.map((id, i) => [id, i]));
    const wish = (id) => {
      const xs = (preds.get(id) || []).map((p) => pos.get(p)).filter((p) => p && p.layer < d).map((p) => p.x);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
    };
    const keyed = row.map((id) => ({ id, x: wish(id), i: place.get(id) }));
    keyed.sort((a, b) => (a.x === null || b.x === null ? a.i - b.i : a.x - b.x || a.i - b.i));
    const rowW = row.length * BOX_W + (row.length - 1) * GAP_X;
    const x0 = PAD + (inner - rowW) / 2;
    keyed.forEach(({ id }, i) => {
      pos.set(id, { x: x0 + i * (BOX_W + GAP_X), y: PAD + d * (BOX_H + GAP_Y), layer: d });
    });
  });
  const height = PAD * 2 + rows.length * BOX_H + (rows.length - 1) * GAP_Y;
  return { pos, width, height };
}

// ---- drawing ---------------------------------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function edgeText(e) {
  if (e.kind === 'key' || e.kind === 'rule') return e.label;
  if (e.kind === 'timeout') return `${w('edge.timeout')}${e.label.replace(/^timeout/, '')}`;
  return w(`edge.${e.kind}`);
}

function typeName(type) { return w(`type.${type}`); }

// The most telling field of a step, shortened to `max` characters for its box.
function detailText(n, max = Infinity) {
  const d = n.detail || {};
  const key = ['queue', 'to', 'set', 'reason', 'into', 'prompts'].find((k) => d[k]);
  if (!key) return '';
  const text = key === 'set' ? d.set : `${w(`detail.${key}`)}: ${d[key]}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// Every field of a step, for the text list.
function details(n) {
  return Object.entries(n.detail || {}).map(([k, v]) => `${w(`detail.${k}`)}: ${v}`).join('; ');
}

const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function draw(flow) {
  const { pos, width, height } = layout(flow);
  const titleId = 'flow-svg-title';
  const root = svg('svg', {
    xmlns: SVG, viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'group', 'aria-labelledby': titleId, 'data-flow': flow.name,
  });
  root.append(svg('title', { id: titleId },
    w('diagram', { f: flow.name, n: flow.nodes.length, s: flow.start })));
  root.append(svg('defs', {},
    svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))));

  // Parallel edges (same two steps) fan out side by side.
  const bundles = new Map();
  for (const e of flow.edges) {
    const k = `${e.from}\u0000${e.to}`;
    if (!bundles.has(k)) bundles.set(k, []);
    bundles.get(k).push(e);
  }
  const edges = svg('g', { class: 'edges' });
  for (const group of bundles.values()) {
    group.forEach((e, i) => {
      const a = pos.get(e.from);
      const b = pos.get(e.to);
      if (!a || !b) return;
      const spread = (i - (group.length - 1) / 2) * 26;
      let p0; let p2; let c;
      if (b.layer > a.layer) {
        // Leave the box's bottom on the side of the target.
        const lean = Math.max(-BOX_W / 2 + 12, Math.min(BOX_W / 2 - 12, (b.x - a.x) / 4));
        p0 = { x: a.x + BOX_W / 2 + lean + spread * 0.4, y: a.y + BOX_H };
        p2 = { x: b.x + BOX_W / 2, y: b.y };
        c = { x: (p0.x + p2.x) / 2 + spread * 2, y: (p0.y + p2.y) / 2 };
      } else if (b.layer === a.layer && e.from !== e.to) {
        const right = b.x > a.x;
        p0 = { x: right ? a.x + BOX_W : a.x, y: a.y + BOX_H / 2 };
        p2 = { x: right ? b.x : b.x + BOX_W, y: b.y + BOX_H / 2 };
        c = { x: (p0.x + p2.x) / 2, y: a.y - 30 + spread };
      } else {
        // Back to an earlier step (or the same one): around the right-hand side.
        p0 = { x: a.x + BOX_W, y: a.y + BOX_H / 2 + spread * 0.3 };
        p2 = { x: b.x + BOX_W, y: b.y + BOX_H / 2 };
        c = { x: Math.max(p0.x, p2.x) + 90 + spread, y: (p0.y + p2.y) / 2 };
      }
      // Labels of parallel arrows sit at different points along them.
      const at = group.length > 1 ? 0.3 + (0.4 * i) / (group.length - 1) : 0.5;
      const q = (u, v, x) => (1 - at) * (1 - at) * u + 2 * (1 - at) * at * v + at * at * x;
      const mid = { x: q(p0.x, c.x, p2.x), y: q(p0.y, c.y, p2.y) };
      const label = edgeText(e);
      edges.append(svg('g', {
        class: 'edge', 'data-from': e.from, 'data-to': e.to, 'data-kind': e.kind, 'data-label': e.label,
      },
      svg('title', {}, `${e.from} → ${e.to}: ${label}`),
      svg('path', { d: `M${p0.x},${p0.y} Q${c.x},${c.y} ${p2.x},${p2.y}`, 'marker-end': 'url(#arrow)' }),
      svg('text', { x: mid.x, y: mid.y + 4, 'text-anchor': 'middle' }, clip(label, 28))));
    });
  }
  root.append(edges);

  const nodes = svg('g', { class: 'nodes' });
  for (const n of flow.nodes) {
    const p = pos.get(n.id);
    const outs = flow.edges.filter((e) => e.from === n.id)
      .map((e) => `${edgeText(e)} → ${e.to}`).join('; ');
    const label = `${n.id}, ${typeName(n.type)}${n.id === flow.start ? `, ${w('start')}` : ''}`
      + `${detailText(n) ? `, ${detailText(n)}` : ''}${outs ? `: ${outs}` : `, ${w('end')}`}`;
    const g = svg('g', {
      class: 'node', tabindex: 0, role: 'img', 'aria-label': label,
      'data-id': n.id, 'data-type': n.type,
      'data-start': n.id === flow.start ? 'yes' : 'no', 'data-terminal': n.terminal ? 'yes' : 'no',
      transform: `translate(${p.x},${p.y})`,
    },
    svg('title', {}, label),
    svg('rect', { width: BOX_W, height: BOX_H, rx: 7 }),
    svg('text', { class: 'type', x: 8, y: 15 }, typeName(n.type)),
    svg('text', { class: 'name', x: 8, y: 32 }, clip(n.id, 22)),
    svg('text', { class: 'detail', x: 8, y: 47 }, detailText(n, 26)));
    const mark = (on) => {
      g.classList.toggle('hl', on);
      for (const e of $$(`.edge[data-from="${CSS.escape(n.id)}"]`, root)) e.classList.toggle('hl', on);
    };
    g.addEventListener('focus', () => mark(true));
    g.addEventListener('blur', () => mark(false));
    g.addEventListener('mouseenter', () => mark(true));
    g.addEventListener('mouseleave', () => { if (document.activeElement !== g) mark(false); });
    nodes.append(g);
  }
  root.append(nodes);
  return root;
}

// ---- the view --------------------------------------------------------------------------

function numbersText(f) {
  if (f.any_number) return w('numbers.any');
  return f.numbers.length ? w('numbers', { n: f.numbers.join(', ') }) : w('numbers.none');
}

function renderList() {
  const list = $('#flow-list');
  list.replaceChildren(...s.flows.map((f) => el('li', {
    role: 'option', id: `flow-opt-${f.name}`, 'data-flow': f.name,
    'aria-selected': String(f.name === s.selected), onclick: () => select(f.name, true),
  },
  el('span', { class: 'name' }, f.name),
  el('span', { class: 'nums', 'data-numbers': f.numbers.join(' ') },
    f.any_number ? '*' : f.numbers.join(', ') || '—'))));
  list.tabIndex = 0;
  list.setAttribute('aria-activedescendant', s.selected ? `flow-opt-${s.selected}` : '');
}

function renderFlow() {
  const f = s.flows.find((x) => x.name === s.selected);
  if (!f) return;
  $('#flow-h').textContent = `${w('flows')} · ${f.name}`;
  $('#flow-numbers').textContent = numbersText(f);
  $('#flow-diagram').replaceChildren(draw(f));
  $('#flow-steps').replaceChildren(...f.nodes.map((n) => {
    const outs = f.edges.filter((e) => e.from === n.id);
    return el('li', { 'data-id': n.id },
      el('strong', {}, n.id), ` (${typeName(n.type)}${details(n) ? `; ${details(n)}` : ''})`,
      n.id === f.start ? ` — ${w('start')}` : '',
      outs.length
        ? el('span', { class: 'to' }, ': ', outs.map((e) => `${edgeText(e)} → ${e.to}`).join(', '))
        : el('span', { class: 'to' }, ` — ${w('end')}`));
  }));
}

function select(name, focus = false) {
  if (!s.flows.some((f) => f.name === name)) return;
  if (s.editing !== undefined && s.editing !== name) closeEditor();
  s.selected = name;
  if (s.view === 'flows' && location.hash !== `#flow=${name}`) history.replaceState(null, '', `#flow=${encodeURIComponent(name)}`);
  renderList();
  renderFlow();
  if (focus) $('#flow-list').focus();
}

function onListKey(ev) {
  const i = s.flows.findIndex((f) => f.name === s.selected);
  let j = i;
  if (ev.key === 'ArrowDown') j = Math.min(s.flows.length - 1, i + 1);
  else if (ev.key === 'ArrowUp') j = Math.max(0, i - 1);
  else if (ev.key === 'Home') j = 0;
  else if (ev.key === 'End') j = s.flows.length - 1;
  else return;
  ev.preventDefault();
  select(s.flows[j].name, true);
}

// ---- editing a flow (administrators) ----------------------------------------------------

async function reloadFlows() {
  s.flows = (await get('/flows')).flows;
  renderList();
  renderFlow();
}

function closeEditor() {
  s.editing = undefined;
  $('#flow-editor').replaceChildren();
  $('#flow-editor').hidden = true;
}

// Opens the editor of the flow `name` (null: a new flow): its definition as JSON, exactly the
// keys of its [flows.<name>] table. A save is checked by the centre with everything else (a
// step's queue must exist, every `next` must name a step…); calls already in the flow keep
// the version they started with.
async function editFlow(name) {
  $('#flow-note').textContent = '';
  const value = name === null
    ? { start: 'welcome', steps: { welcome: { type: 'play', prompts: ['welcome'], next: 'bye' }, bye: { type: 'hangup' } } }
    : await fetchItem('flows', name);
  if (name !== null && !value) return;
  const form = itemEditor({
    kind: 'flows', key: name, value, removable: name !== null,
    label: name === null ? w('flows.new') : w('flows.editing', { f: name }),
    hint: w('flows.json_hint'),
    savedText: (k) => w('flows.saved', { f: k }),
    onSaved: async (k) => {
      await reloadFlows();
      s.editing = k;
      select(k);
      if (name === null) {
        // A new flow: from now on its editor is that flow's (with its remove button).
        await editFlow(k);
        $('#flow-editor .item-status').textContent = w('flows.saved', { f: k });
      }
    },
    onRemoved: async (k) => {
      closeEditor();
      await reloadFlows();
      const next = s.flows.find((f) => f.name === 'main') || s.flows[0];
      if (next) select(next.name);
      $('#flow-note').textContent = w('flows.removed', { f: k });
    },
  });
  const close = el('button', { class: 'btn', type: 'button', 'data-act': 'close' }, w('flows.close'));
  // Closing an editor with unsaved text asks first.
  const leave = () => {
    if (form.isDirty() && !window.confirm(w('flows.discard'))) return;
    closeEditor();
    $('#flow-edit').focus();
  };
  close.onclick = leave;
  $('.item-actions', form).append(close);
  form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); leave(); }
  });
  s.editing = name === null ? null : name;
  const box = $('#flow-editor');
  box.replaceChildren(form);
  box.hidden = false;
  $(name === null ? '[name=name]' : 'textarea', form).focus();
}

// ---- views -------------------------------------------------------------------------------

const VIEWS = ['skills', 'flows', 'agents', 'users', 'queues', 'numbers', 'schedules', 'settings', 'audit'];
const ADMIN_VIEWS = new Set(['agents', 'users', 'queues', 'numbers', 'schedules', 'settings']);
const isAdmin = () => s.me && s.me.role === 'admin';

function viewFromHash() {
  const h = location.hash.replace(/^#/, '');
  if (h.startsWith('flow=')) return 'flows';
  const v = h.split('&')[0];
  if (VIEWS.includes(v) && (!ADMIN_VIEWS.has(v) || isAdmin())) return v;
  return 'flows';
}

function show(view) {
  s.view = view;
  for (const sec of $$('.view')) sec.hidden = sec.dataset.view !== view;
  for (const a of $$('.admin-nav [data-view]')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (view === 'audit') loadAudit().catch(showError);
  if (ADMIN_VIEWS.has(view) && !s.config) $('#config-missing').hidden = false;
  else $('#config-missing').hidden = true;
}

// ---- loading -----------------------------------------------------------------------------

async function loadAgents() {
  const list = await get('/agents');
  setAgents(Array.isArray(list) ? list : (list.agents || []));
}

// GET /config: the queues' skills for the grid's columns, and the administrators' views. A
// server without it (404) still has the grid, from the agents' own skills.
async function loadConfig() {
  try {
    s.config = await get('/config');
  } catch (e) {
    if (e.status !== 404) throw e;
    s.config = null;
  }
  if (s.config) {
    setQueues(s.config.queues);
    if (isAdmin()) { setConfig(s.config, s.flows); renderSettings(s.config); }
  }
}

const pending = new Set();
let timer = null;
function refresh(...what) {
  what.forEach((x) => pending.add(x));
  clearTimeout(timer);
  timer = setTimeout(() => {
    const jobs = [...pending];
    pending.clear();
    const fns = {
      agents: loadAgents,
      config: loadConfig,
      audit: () => (s.view === 'audit' ? loadAudit() : Promise.resolve()),
      flows: async () => { s.flows = (await get('/flows')).flows; renderList(); renderFlow(); },
    };
    jobs.forEach((j) => fns[j]().catch(showError));
  }, 200);
}

async function start(me) {
  s.me = me;
  $('#who').textContent = me.user;
  $('#btn-logout').hidden = false;
  if (me.role === 'agent') { $('#denied').hidden = false; return; }
  $('#admin').hidden = false;
  // Administrators' views and forms exist for administrators only (the server refuses the
  // others anyway).
  for (const e of $$('.admin-only')) {
    if (!isAdmin()) e.remove();
    else if (!e.classList.contains('view')) e.hidden = false;
  }
  mountGrid($('#skills-grid'), { canEdit: true });
  if (isAdmin()) {
    mountConfig();
    onConfigChange((cfg) => { s.config = cfg; setQueues(cfg.queues); refresh('agents', 'flows'); });
    onSettingsChange(() => loadConfig());
    $('#flow-edit').onclick = () => { if (s.selected) editFlow(s.selected).catch(showError); };
    $('#flow-new').onclick = () => { editFlow(null).catch(showError); };
  }
  show(viewFromHash());
  try {
    s.flows = (await get('/flows')).flows;
  } catch (e) {
    showError(e);
  }
  const fromHash = decodeURIComponent((location.hash.match(/flow=([^&]+)/) || [])[1] || '');
  const first = s.flows.find((f) => f.name === fromHash)
    || s.flows.find((f) => f.name === 'main') || s.flows[0];
  if (first) select(first.name);
  await Promise.all([loadAgents(), loadConfig()].map((p) => p.catch(showError)));
  show(s.view);
  liveEvents((ev) => {
    if (ev.stream === 'agent') refresh('agents');
    else if (ev.stream === 'audit') {
      refresh('audit');
      if (ev.action === 'agent_skills') refresh('agents');
      if (ev.action === 'config') refresh('agents', 'config', 'flows');
    }
  }, (status) => { if (status === 'online') refresh('agents', 'audit'); });
}

bindLangSwitch($('#lang'));
applyI18n();
applyWords();
$('#flow-list').addEventListener('keydown', onListKey);
$('#btn-logout').onclick = () => { logout(); location.reload(); };
window.addEventListener('hashchange', () => { if (s.me && s.me.role !== 'agent') show(viewFromHash()); });
$('#audit-since').addEventListener('change', () => loadAudit().catch(showError));
$('#audit-config-only').addEventListener('change', renderAudit);
$('#grid-add-col').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const ok = addColumn(form.elements.skill.value);
  $('.form-error', form).textContent = ok ? '' : w('grid.bad_skill');
  if (ok) form.reset();
});
window.addEventListener('langchange', () => {
  applyWords();
  if (!$('#admin').hidden) {
    renderList(); renderFlow(); renderGrid(); renderAudit();
    if (isAdmin() && s.config) { relabel(); renderSettings(s.config, { relabel: true }); }
  }
});
window.addEventListener('hotline:logout', () => location.reload());
(async () => {
  let me = null;
  if (token()) { try { me = await get('/me'); } catch { me = null; } }
  if (!me) me = await loginForm($('#login'), login);
  start(me);
})();
