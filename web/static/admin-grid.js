// The skills grid: rows are agents, columns are skills (every skill an agent holds or a
// queue needs), each cell a level 1–10 or empty. Keyboard: arrow keys, Home/End move; digits
// type a level (1 then 0 is 10); Enter (moves down), Tab or leaving the cell saves; Delete or
// Backspace clears and saves; Escape cancels; Ctrl+C / Ctrl+V copy a level between cells.
// Mouse: drag a level onto other cells. Each agent's change is saved with
// PUT /api/v1/agents/{ext}/skills (the whole set); a refusal is shown at the cell and the old
// level kept.
// Next to each agent, a supervisor sets the agent's state (available, not ready with a
// reason, break, logged out) with POST /api/v1/agents/{ext}/state; the badge follows the
// agents' event stream.
import { api } from './api.js';
import { t } from './i18n.js';
import { el, toast } from './ui.js';
import { w } from './admin-words.js';

const g = {
  root: null,
  agents: [], // [{extension, name, skills, state}]
  queueSkills: new Map(), // skill -> ["accounts≥1", ...]
  extra: new Set(), // columns added by hand
  pending: new Map(), // ext -> Map(skill -> level|null) not yet confirmed
  saving: new Map(), // ext -> promise of the row's last save
  errors: new Map(), // "ext\0skill" -> message
  focus: null, // {ext, skill}
  edit: null, // {ext, skill, text}
  drag: null, // {value, from: {ext, skill}, targets: Map(key -> {ext, skill})}
  clip: undefined,
  canEdit: true,
  rendering: false,
  justSet: new Set(), // agents whose state was just set: their list goes back to "set state…"
};

const key = (ext, skill) => `${ext}\u0000${skill}`;

export function columns() {
  const set = new Set(g.extra);
  for (const a of g.agents) for (const s of Object.keys(a.skills || {})) set.add(s);
  for (const s of g.queueSkills.keys()) set.add(s);
  return [...set].sort((a, b) => a.localeCompare(b));
}

function agent(ext) { return g.agents.find((a) => a.extension === ext); }

// The level shown: an unconfirmed change, else the agent's.
function level(ext, skill) {
  const p = g.pending.get(ext);
  if (p && p.has(skill)) return p.get(skill);
  const a = agent(ext);
  return a && a.skills && a.skills[skill] !== undefined ? a.skills[skill] : null;
}

export function setAgents(list) {
  g.agents = list.map((a) => ({
    extension: a.extension, name: a.name, skills: { ...(a.skills || {}) },
    state: (a.state && a.state.state) || 'unknown',
  })).sort((x, y) => x.extension.localeCompare(y.extension, undefined, { numeric: true }));
  render();
}

export function setQueues(queues) {
  g.queueSkills = new Map();
  for (const q of queues || []) {
    for (const [s, lv] of Object.entries(q.skills || {})) {
      if (!g.queueSkills.has(s)) g.queueSkills.set(s, []);
      g.queueSkills.get(s).push(`${q.name}≥${lv}`);
    }
  }
  render();
}

export function mountGrid(root, { canEdit = true } = {}) {
  g.root = root;
  g.canEdit = canEdit;
  root.addEventListener('keydown', onKey);
  root.addEventListener('focusin', (ev) => {
    const c = ev.target.closest('td[data-skill]');
    if (c) g.focus = { ext: c.dataset.ext, skill: c.dataset.skill };
  });
  root.addEventListener('focusout', (ev) => {
    const c = ev.target.closest('td[data-skill]');
    if (g.rendering) return;
    if (c && g.edit && g.edit.ext === c.dataset.ext && g.edit.skill === c.dataset.skill) commitEdit();
  });
  root.addEventListener('pointerdown', onPointerDown);
  root.addEventListener('pointerover', onPointerOver);
  document.addEventListener('pointerup', onPointerUp);
  root.addEventListener('click', (ev) => {
    const c = ev.target.closest('td[data-skill]');
    if (c) c.focus();
  });
}

// A column added by hand (a skill no agent or queue has yet).
export function addColumn(name) {
  const n = name.trim();
  if (!n || columns().includes(n)) return false;
  g.extra.add(n);
  render();
  return true;
}

// ---- drawing ---------------------------------------------------------------------------

function cellText(ext, skill) {
  if (g.edit && g.edit.ext === ext && g.edit.skill === skill) return g.edit.text;
  const v = level(ext, skill);
  return v === null ? '' : String(v);
}

function cell(a, skill) {
  const k = key(a.extension, skill);
  const v = level(a.extension, skill);
  const editing = g.edit && g.edit.ext === a.extension && g.edit.skill === skill;
  const p = g.pending.get(a.extension);
  const err = g.errors.get(k);
  const focused = g.focus && g.focus.ext === a.extension && g.focus.skill === skill;
  const td = el('td', {
    role: 'gridcell', tabindex: focused ? 0 : -1,
    'data-ext': a.extension, 'data-skill': skill, 'data-level': v === null ? '' : String(v),
    'aria-label': w('grid.cell', { a: `${a.name} (${a.extension})`, s: skill, v: v === null ? w('grid.empty') : v }),
    'aria-invalid': err ? 'true' : undefined,
    'aria-readonly': g.canEdit ? undefined : 'true',
    class: [editing ? 'editing' : '', p && p.has(skill) ? 'saving' : '', err ? 'invalid' : '',
      g.drag && g.drag.targets.has(k) ? 'drop' : ''].filter(Boolean).join(' ') || undefined,
  },
  el('span', { class: 'lv' }, cellText(a.extension, skill)),
  err ? el('span', { class: 'cell-error', role: 'alert' }, err) : null);
  return td;
}

// ---- agents' states --------------------------------------------------------------------

export const REASONS = ['admin', 'training', 'meeting', 'coaching', 'technical'];
const stateErrors = new Map(); // ext -> message

function stateOptions() {
  return [
    ['', w('state.choose')],
    ['available', t('state.available')],
    ...REASONS.map((r) => [`not_ready:${r}`, `${t('state.not_ready')} · ${t(`reason.${r}`)}`]),
    ['break', t('state.break')],
    ['logged_out', t('state.logged_out')],
  ];
}

function stateSelect(a) {
  const who = `${a.name} (${a.extension})`;
  const sel = el('select', {
    class: 'state-set', 'data-ext': a.extension, 'aria-label': w('state.set', { a: who }),
    'aria-invalid': stateErrors.has(a.extension) ? 'true' : undefined,
  }, stateOptions().map(([v, label]) => el('option', { value: v }, label)));
  sel.value = '';
  // Choosing is not yet setting (the arrow keys walk through the list): the button sets it.
  const go = el('button', {
    class: 'btn state-go', type: 'button', 'data-ext': a.extension, 'aria-label': w('state.apply', { a: who }),
  }, w('state.go'));
  go.addEventListener('click', () => setState(a.extension, sel.value));
  sel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); setState(a.extension, sel.value); }
  });
  const err = stateErrors.get(a.extension);
  return el('span', { class: 'state-set-wrap' }, sel, go,
    err ? el('span', { class: 'cell-error', role: 'alert' }, err) : null);
}

async function setState(ext, value) {
  if (!value) return;
  const [state, reason] = value.split(':');
  const a = agent(ext);
  stateErrors.delete(ext);
  try {
    await api('POST', `/agents/${encodeURIComponent(ext)}/state`, reason ? { state, reason } : { state });
    if (a) a.state = state;
    g.justSet.add(ext);
    toast(w('state.done', { a: a ? `${a.name} (${ext})` : ext, s: t(`state.${state}`) }));
  } catch (e) {
    stateErrors.set(ext, e.message || e.code);
  }
  render();
}

export function render() {
  const root = g.root;
  if (!root) return;
  // A state list or button being used keeps the focus (and the list its choice) across a
  // redraw (agents' events redraw the grid).
  const act = document.activeElement;
  const stateFocus = act && root.contains(act) && act.matches('select.state-set, button.state-go')
    ? { ext: act.dataset.ext, cls: act.tagName === 'SELECT' ? 'select.state-set' : 'button.state-go' } : null;
  const chosen = new Map([...root.querySelectorAll('select.state-set')].filter((x) => x.value).map((x) => [x.dataset.ext, x.value]));
  const cols = columns();
  if (!g.focus && g.agents.length && cols.length) g.focus = { ext: g.agents[0].extension, skill: cols[0] };
  const hadFocus = root.contains(document.activeElement) && document.activeElement.closest('td[data-skill]');
  const table = el('table', { class: 'grid', role: 'grid', 'aria-labelledby': 'skills-h', 'aria-describedby': 'grid-hint' },
    el('caption', { class: 'sr-only' }, w('grid.caption')),
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col' }, w('grid.agent')),
      ...cols.map((s) => el('th', {
        scope: 'col', 'data-skill': s,
        title: g.queueSkills.has(s) ? w('grid.queues_use', { q: g.queueSkills.get(s).join(', ') }) : undefined,
      }, s, g.queueSkills.has(s) ? el('span', { class: 'qmark', 'aria-hidden': 'true' }, ' ●') : null)))),
    el('tbody', {}, g.agents.map((a) => el('tr', { 'data-ext': a.extension },
      el('th', { scope: 'row' },
        el('span', { class: 'aname' }, a.name), ' ',
        el('span', { class: 'ext muted' }, a.extension), ' ',
        el('span', { class: 'badge', 'data-state': a.state }, t(`state.${a.state}`)), ' ',
        stateSelect(a)),
      ...cols.map((s) => cell(a, s))))));
  g.rendering = true;
  root.replaceChildren(table);
  g.rendering = false;
  if (hadFocus && g.focus) focusCell(g.focus.ext, g.focus.skill);
  for (const [ext, v] of chosen) {
    const x = root.querySelector(`select.state-set[data-ext="${CSS.escape(ext)}"]`);
    if (x && !g.justSet.has(ext)) x.value = v;
  }
  g.justSet.clear();
  if (stateFocus) {
    const x = root.querySelector(`${stateFocus.cls}[data-ext="${CSS.escape(stateFocus.ext)}"]`);
    if (x) x.focus();
  }
}

function cellEl(ext, skill) {
  return g.root && g.root.querySelector(`td[data-ext="${CSS.escape(ext)}"][data-skill="${CSS.escape(skill)}"]`);
}

function focusCell(ext, skill) {
  g.focus = { ext, skill };
  for (const c of g.root.querySelectorAll('td[data-skill][tabindex="0"]')) c.tabIndex = -1;
  const c = cellEl(ext, skill);
  if (c) { c.tabIndex = 0; c.focus(); }
}

function redrawCell(ext, skill) {
  const old = cellEl(ext, skill);
  const a = agent(ext);
  if (!old || !a) { render(); return; }
  const had = document.activeElement === old;
  const fresh = cell(a, skill);
  g.rendering = true;
  old.replaceWith(fresh);
  g.rendering = false;
  if (had) fresh.focus();
}

// ---- keyboard --------------------------------------------------------------------------

function move(dr, dc, ev) {
  const cols = columns();
  const rows = g.agents.map((a) => a.extension);
  if (!g.focus) return;
  let r = rows.indexOf(g.focus.ext);
  let c = cols.indexOf(g.focus.skill);
  if (dc === -Infinity) c = 0;
  else if (dc === Infinity) c = cols.length - 1;
  else c = Math.max(0, Math.min(cols.length - 1, c + dc));
  r = Math.max(0, Math.min(rows.length - 1, r + dr));
  if (ev) ev.preventDefault();
  focusCell(rows[r], cols[c]);
}

function onKey(ev) {
  const c = ev.target.closest('td[data-skill]');
  if (!c || ev.altKey || ev.metaKey) return;
  const { ext, skill } = c.dataset;
  const editing = g.edit && g.edit.ext === ext && g.edit.skill === skill;
  if (ev.ctrlKey) {
    if (ev.key === 'c') { g.clip = level(ext, skill); ev.preventDefault(); } else if (ev.key === 'v' && g.clip !== undefined && g.canEdit) {
      ev.preventDefault();
      change([{ ext, skill, value: g.clip }]);
    }
    return;
  }
  if (/^[0-9]$/.test(ev.key) && g.canEdit) {
    ev.preventDefault();
    const text = editing && g.edit.text === '1' && ev.key === '0' ? '10' : ev.key;
    g.edit = { ext, skill, text };
    g.errors.delete(key(ext, skill));
    redrawCell(ext, skill);
    return;
  }
  switch (ev.key) {
    case 'Delete':
    case 'Backspace':
      if (!g.canEdit) return;
      ev.preventDefault();
      g.edit = null;
      change([{ ext, skill, value: null }]);
      return;
    case 'Escape':
      if (editing) { ev.preventDefault(); g.edit = null; redrawCell(ext, skill); }
      return;
    case 'Enter':
      ev.preventDefault();
      commitEdit();
      move(1, 0);
      return;
    case 'Tab':
      commitEdit(); // the focus leaves the grid as usual
      return;
    case 'ArrowUp': commitEdit(); move(-1, 0, ev); return;
    case 'ArrowDown': commitEdit(); move(1, 0, ev); return;
    case 'ArrowLeft': commitEdit(); move(0, -1, ev); return;
    case 'ArrowRight': commitEdit(); move(0, 1, ev); return;
    case 'Home': commitEdit(); move(0, -Infinity, ev); return;
    case 'End': commitEdit(); move(0, Infinity, ev); return;
    default:
  }
}

function commitEdit() {
  const e = g.edit;
  if (!e) return;
  g.edit = null;
  const value = Number(e.text);
  change([{ ext: e.ext, skill: e.skill, value }]);
}

// ---- drag ------------------------------------------------------------------------------

function onPointerDown(ev) {
  const c = ev.target.closest('td[data-skill]');
  if (!c || ev.button !== 0 || !g.canEdit) return;
  const v = level(c.dataset.ext, c.dataset.skill);
  if (v === null) return;
  ev.preventDefault(); // no text selection while dragging
  c.focus();
  g.drag = { value: v, from: { ext: c.dataset.ext, skill: c.dataset.skill }, targets: new Map() };
  g.root.classList.add('dragging');
}

function onPointerOver(ev) {
  if (!g.drag) return;
  const c = ev.target.closest('td[data-skill]');
  if (!c) return;
  const { ext, skill } = c.dataset;
  if (ext === g.drag.from.ext && skill === g.drag.from.skill) return;
  const k = key(ext, skill);
  if (!g.drag.targets.has(k)) {
    g.drag.targets.set(k, { ext, skill });
    c.classList.add('drop');
  }
}

function onPointerUp() {
  const d = g.drag;
  if (!d) return;
  g.drag = null;
  g.root.classList.remove('dragging');
  if (!d.targets.size) { render(); return; }
  change([...d.targets.values()].map((x) => ({ ...x, value: d.value })));
}

// ---- saving ----------------------------------------------------------------------------

// Applies changes [{ext, skill, value}] and saves each agent's whole set, one row at a time.
function change(list) {
  const rows = new Map();
  for (const ch of list) {
    if (level(ch.ext, ch.skill) === ch.value && !g.errors.has(key(ch.ext, ch.skill))) continue;
    g.errors.delete(key(ch.ext, ch.skill));
    if (!g.pending.has(ch.ext)) g.pending.set(ch.ext, new Map());
    g.pending.get(ch.ext).set(ch.skill, ch.value);
    if (!rows.has(ch.ext)) rows.set(ch.ext, []);
    rows.get(ch.ext).push(ch.skill);
  }
  render();
  for (const [ext, skills] of rows) {
    const before = g.saving.get(ext) || Promise.resolve();
    const next = before.then(() => saveRow(ext, skills));
    g.saving.set(ext, next);
  }
}

async function saveRow(ext, skills) {
  const a = agent(ext);
  const p = g.pending.get(ext);
  if (!a || !p) return;
  const mine = new Map(skills.filter((s) => p.has(s)).map((s) => [s, p.get(s)]));
  if (!mine.size) return;
  const body = { ...a.skills };
  for (const [s, v] of p) { if (v === null) delete body[s]; else body[s] = v; }
  const done = () => {
    for (const [s, v] of mine) if (p.get(s) === v) p.delete(s);
    if (!p.size) g.pending.delete(ext);
  };
  try {
    const r = await api('PUT', `/agents/${encodeURIComponent(ext)}/skills`, { skills: body });
    a.skills = { ...(r.skills || body) };
    done();
    for (const s of mine.keys()) g.errors.delete(key(ext, s));
    toast(w('grid.saved', { a: `${a.name} (${ext})` }));
  } catch (e) {
    done();
    // The refused change is dropped (the old level stays); the message sits at the cell the
    // error names, else at the cells of this change.
    const named = e.field && e.field.startsWith('skills.') ? e.field.slice('skills.'.length) : null;
    const at = named && columns().includes(named) ? [named] : [...mine.keys()];
    for (const s of at) g.errors.set(key(ext, s), e.message || e.code);
  }
  render();
}

// The saves still in flight (for the page's tests and a clean logout).
export function settled() {
  return Promise.all([...g.saving.values()]);
}
