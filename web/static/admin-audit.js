// The audit trail: GET /api/v1/audit?since=…, newest first: when, who, what and on what; for
// configuration changes (`config`: the ConfigChange JSON {kind, key, old, new, file}) and
// skill changes (`agent_skills`: {old, new, file}) the fields that changed, before → after.
import { get } from './api.js';
import { $, el } from './ui.js';
import { w, wOr } from './admin-words.js';

const a = { entries: [], loading: null };

const PERIODS = { day: 86_400_000, week: 7 * 86_400_000, month: 30 * 86_400_000, all: null };

// Every leaf of a JSON value by its path: {skills: {accounts: 8}} → {"skills.accounts": 8}.
// Arrays are leaves (shown whole).
export function flatten(v, prefix = '', out = {}) {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (!keys.length && prefix) out[prefix] = {};
    for (const k of keys) flatten(v[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = v;
  return out;
}

const show = (v) => (v === undefined ? '∅' : typeof v === 'string' ? v : JSON.stringify(v));

// Secrets (redacted by the server anyway) are never shown, not even as placeholders.
const SECRET = /(^|\.)(ha1_md5|ha1_sha256|password_hash|password)$/;

// The fields that differ between two items: [{path, before, after}] (undefined: absent).
export function diff(before, after) {
  const x = flatten(before || {});
  const y = flatten(after || {});
  const paths = [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((p) => !SECRET.test(p)).sort();
  return paths.filter((p) => JSON.stringify(x[p]) !== JSON.stringify(y[p]))
    .map((p) => ({ path: p, before: x[p], after: y[p] }));
}

function parseDetail(e) {
  if (!e.detail) return null;
  try { return typeof e.detail === 'string' ? JSON.parse(e.detail) : e.detail; } catch { return null; }
}

function changeCell(e) {
  const d = parseDetail(e);
  if (e.action === 'config' && d) {
    const kind = d.kind ? `${d.kind}/${d.key}` : '';
    let head = null;
    if (d.old == null && d.new != null) head = w('audit.added');
    else if (d.old != null && d.new == null) head = w('audit.removed');
    const changes = head === w('audit.removed') ? [] : diff(d.old, d.new);
    return el('td', { class: 'change', 'data-kind': kind },
      head ? el('strong', {}, head, ' ') : null,
      changes.length ? el('ul', {}, changes.map((ch) => el('li', { 'data-path': ch.path },
        el('code', {}, ch.path), ': ',
        el('span', { class: 'before' }, show(ch.before)), ' → ',
        el('span', { class: 'after' }, show(ch.after))))) : null);
  }
  if (e.action === 'agent_skills' && d) {
    const changes = diff({ skills: d.old || {} }, { skills: d.new || {} });
    return el('td', { class: 'change' }, el('ul', {}, changes.map((ch) => el('li', { 'data-path': ch.path },
      el('code', {}, ch.path), ': ',
      el('span', { class: 'before' }, show(ch.before)), ' → ',
      el('span', { class: 'after' }, show(ch.after))))));
  }
  return el('td', { class: 'change muted small' }, d && typeof d === 'object' ? '' : (e.detail || ''));
}

function fmtWhen(iso) {
  const d = new Date(iso);
  return d.toLocaleString(document.documentElement.lang || undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function renderAudit() {
  const box = $('#audit');
  if (!box) return;
  const onlyConfig = $('#audit-config-only').checked;
  const rows = a.entries.filter((e) => !onlyConfig || e.action === 'config' || e.action === 'agent_skills');
  if (!rows.length) { box.replaceChildren(el('p', { class: 'muted' }, w('audit.none'))); return; }
  box.replaceChildren(el('table', { class: 'cfg-table audit-table' },
    el('thead', {}, el('tr', {}, ...['audit.when', 'audit.who', 'audit.what', 'audit.target', 'audit.change']
      .map((k) => el('th', { scope: 'col' }, w(k))))),
    el('tbody', {}, rows.map((e) => el('tr', {
      'data-seq': e.seq, 'data-action': e.action, 'data-user': e.user, 'data-target': e.target,
    },
    el('td', {}, el('time', { datetime: e.at }, fmtWhen(e.at))),
    el('td', { class: 'who' }, e.user),
    el('td', {}, wOr(`action.${e.action}`, e.action)),
    el('td', {}, e.target),
    changeCell(e))))));
}

export async function loadAudit() {
  const period = PERIODS[$('#audit-since').value];
  const q = period ? `?since=${encodeURIComponent(new Date(Date.now() - period).toISOString())}` : '';
  const list = await get(`/audit${q}`);
  a.entries = [...list].sort((x, y) => (y.seq ?? 0) - (x.seq ?? 0) || String(y.at).localeCompare(String(x.at)));
  renderAudit();
}
