// Items of the live configuration edited as JSON (administrators): flows, trunks, and the
// routing and wellbeing rules. Each editor is a labelled textarea holding the item exactly as
// GET /api/v1/config shows it (the file's keys); Save sends it with
// PUT /api/v1/config/{kind}/{key}. The server checks it as strictly as the file: a refusal
// names the field, which the editor shows next to the textarea and selects in the text;
// nothing changes until a save is accepted.
import { api, get } from './api.js';
import { $, el } from './ui.js';
import { w } from './admin-words.js';

const SECRETS = ['ha1_md5', 'ha1_sha256', 'password_hash'];
let uid = 0;

export const putItem = (kind, key, item) => api('PUT', `/config/${kind}/${encodeURIComponent(key)}`, item);
export const delItem = (kind, key) => api('DELETE', `/config/${kind}/${encodeURIComponent(key)}`);

// The item as the live configuration holds it now, without secrets (null: none).
export async function fetchItem(kind, key) {
  const cfg = await get('/config');
  const list = cfg[kind];
  let item = null;
  if (Array.isArray(list)) item = list.find((x) => String(x.name ?? x.number ?? x.extension) === key) || null;
  else if (kind === 'routing' || kind === 'wellbeing') item = list || {};
  else if (list && typeof list === 'object') item = list[key] || null;
  if (!item) return null;
  const copy = structuredClone(item);
  for (const s of SECRETS) delete copy[s];
  return copy;
}

export const pretty = (v) => JSON.stringify(v, null, 2);

// Where in `text` the field `path` (`steps.cards.queue`, `sources[1]`) is written: the
// position of its last key, found by looking for each part's `"name":` in turn.
export function fieldAt(text, path) {
  if (!path) return null;
  const parts = path.split('.').flatMap((p) => p.replace(/\[\d+\]/g, '').split('.')).filter(Boolean);
  let at = 0;
  let found = null;
  for (const p of parts) {
    const i = text.indexOf(`${JSON.stringify(p)}:`, at);
    if (i < 0) break;
    found = { start: i, end: i + JSON.stringify(p).length };
    at = found.end;
  }
  return found;
}

// The message of a refusal: the field and what is wrong with it, or what `in_use` means.
export function refusalText(e) {
  if (!e) return '';
  if (e.code === 'in_use') return w('in_use', { m: e.message });
  if (e.field) return w('err.field', { f: e.field, m: e.message });
  return e.message || e.code || String(e);
}

// A form editing one item. opts: kind; key (null for a new item: a name input is shown);
// value (the item); label; keyField (the item's key inside it, e.g. `name`; none for flows
// and singletons); onSaved(key, item); removable; onRemoved(key).
export function itemEditor(opts) {
  uid += 1;
  const id = `item-${uid}`;
  const text = opts.value === undefined ? '{\n}' : pretty(opts.value);
  const area = el('textarea', {
    id: `${id}-json`, name: 'json', 'data-field': 'json', rows: Math.min(18, Math.max(5, text.split('\n').length + 1)),
    cols: 70, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': `${id}-err ${id}-hint`,
  });
  area.value = text;
  const name = opts.key === null
    ? el('input', { id: `${id}-name`, name: 'name', 'data-field': 'name', required: true, autocomplete: 'off' })
    : null;
  const err = el('p', { id: `${id}-err`, class: 'error form-error', role: 'alert' });
  const status = el('p', { class: 'small item-status', role: 'status', 'aria-live': 'polite' });
  const save = el('button', { class: 'btn ok', type: 'submit' }, w('f.save'));
  const remove = opts.removable
    ? el('button', { class: 'btn danger', type: 'button', 'data-act': 'remove' }, w('f.remove')) : null;
  const form = el('form', {
    class: 'cfg-form item-editor', 'data-kind': opts.kind, 'data-key': opts.key ?? '', 'aria-labelledby': `${id}-h`,
  },
  el('h3', { id: `${id}-h` }, opts.label),
  name ? el('label', { class: 'field', for: name.id }, el('span', {}, w('items.name')), name) : null,
  el('label', { class: 'field json-field', for: area.id }, el('span', {}, w('items.json')), area,
    el('span', { id: `${id}-hint`, class: 'hint muted small' }, opts.hint || w('items.hint'))),
  save, remove, el('span', { class: 'item-actions' }), err, status);
  form.dataset.orig = text;

  const clear = () => {
    err.textContent = '';
    status.textContent = '';
    area.removeAttribute('aria-invalid');
    if (name) name.removeAttribute('aria-invalid');
  };
  const refuse = (e) => {
    err.textContent = refusalText(e);
    err.dataset.field = (e && e.field) || '';
    err.dataset.code = (e && e.code) || '';
    const target = e && e.field === 'name' && name ? name : area;
    target.setAttribute('aria-invalid', 'true');
    target.focus();
    const at = target === area ? fieldAt(area.value, e && e.field) : null;
    if (at) {
      area.setSelectionRange(at.start, at.end);
      // Scroll the field's line into the middle of the textarea.
      const line = area.value.slice(0, at.start).split('\n').length - 1;
      const lh = parseFloat(getComputedStyle(area).lineHeight) || 16;
      area.scrollTop = Math.max(0, line * lh - area.clientHeight / 2);
    }
  };
  const busy = (on) => { save.disabled = on; if (remove) remove.disabled = on; };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear();
    let item;
    try {
      item = JSON.parse(area.value);
    } catch (x) {
      refuse({ code: 'bad_request', message: w('items.bad_json', { m: x.message }) });
      return;
    }
    const key = opts.key ?? name.value.trim();
    if (!key) { refuse({ code: 'missing_field', field: 'name', message: w('items.no_name') }); return; }
    if (opts.keyField && item && typeof item === 'object' && !Array.isArray(item) && item[opts.keyField] === undefined) {
      item[opts.keyField] = key;
    }
    busy(true);
    try {
      const r = await putItem(opts.kind, key, item);
      // The item as the centre now holds it (secrets left out), written out as it is drawn.
      const saved = structuredClone((r && r.item) || item);
      for (const x of [...SECRETS, 'password']) delete saved[x];
      area.value = pretty(saved);
      form.dataset.orig = area.value;
      status.textContent = opts.savedText ? opts.savedText(key) : w('items.saved', { k: `${opts.kind}/${key}` });
      if (opts.onSaved) await opts.onSaved(key, item);
    } catch (e) {
      refuse(e);
    } finally {
      busy(false);
    }
  });
  if (remove) {
    remove.addEventListener('click', async () => {
      if (!window.confirm(w('items.confirm', { k: `${opts.kind}/${opts.key}` }))) return;
      clear();
      busy(true);
      try {
        await delItem(opts.kind, opts.key);
        if (opts.onRemoved) await opts.onRemoved(opts.key);
      } catch (e) {
        refuse(e);
      } finally {
        busy(false);
      }
    });
  }
  form.isDirty = () => area.value !== form.dataset.orig;
  return form;
}

// ---- the settings view: trunks, routing, wellbeing ---------------------------------------

let onChange = async () => {};
export function onSettingsChange(f) { onChange = f; }

// Draws one editor per item in `box`, keeping an editor being edited (its text changed)
// and one whose item has not changed (with its messages).
// `relabel`: the language changed, so only an editor being edited is kept.
function keepOrReplace(box, forms, relabel = false) {
  const old = new Map([...box.querySelectorAll('form.item-editor')].map((f) => [`${f.dataset.kind}/${f.dataset.key}`, f]));
  const next = forms.map((f) => {
    const o = old.get(`${f.dataset.kind}/${f.dataset.key}`);
    if (!o || !o.isDirty) return f;
    if (o.isDirty()) return o;
    return !relabel && f.dataset.key && o.dataset.orig === f.dataset.orig ? o : f;
  });
  box.replaceChildren(...next);
}

export function renderSettings(cfg, { relabel = false } = {}) {
  const trunks = $('#cfg-trunks');
  if (!trunks || !cfg) return;
  const saved = async () => { await onChange(); };
  keepOrReplace(trunks, [
    ...(cfg.trunks || []).map((t) => {
      const v = structuredClone(t);
      for (const s of SECRETS) delete v[s];
      return itemEditor({
        kind: 'trunks', key: t.name, value: v, label: w('trunks.one', { t: t.name }), keyField: 'name',
        hint: w('trunks.hint'), removable: true, onSaved: saved, onRemoved: saved,
      });
    }),
    itemEditor({
      kind: 'trunks', key: null, value: { sources: [] }, label: w('trunks.new'), keyField: 'name',
      hint: w('trunks.hint'), onSaved: saved,
    }),
  ], relabel);
  keepOrReplace($('#cfg-routing'), [itemEditor({
    kind: 'routing', key: '-', value: cfg.routing || {}, label: w('routing.h'), hint: w('routing.hint'), onSaved: saved,
  })], relabel);
  keepOrReplace($('#cfg-wellbeing'), [itemEditor({
    kind: 'wellbeing', key: '-', value: cfg.wellbeing || {}, label: w('wellbeing.h'), hint: w('wellbeing.hint'), onSaved: saved,
  })], relabel);
}
