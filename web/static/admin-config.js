// The administrators' views of the live configuration: agents, users, queues, service
// numbers, business hours and holidays, and the reload of the files. Everything goes through
// GET /api/v1/config and PUT/DELETE /api/v1/config/{kind}/{key}; an item is the JSON of its
// table in the files, with the same keys. Secrets are never shown: a PUT without `password`
// keeps the old one.
import { api, get } from './api.js';
import { $, $$, el, toast } from './ui.js';
import { w } from './admin-words.js';

export const STRATEGIES = ['longest-idle', 'fewest-contacts', 'least-occupied', 'round-robin', 'ring-all', 'best-skill'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const SECRETS = ['ha1_md5', 'ha1_sha256', 'password_hash', 'password'];

const c = { cfg: null, flows: [], onChange: () => {} };

export function setConfig(cfg, flows) {
  c.cfg = cfg;
  if (flows) c.flows = flows;
  renderAll();
}

export function onConfigChange(f) { c.onChange = f; }

async function reload() {
  c.cfg = await get('/config');
  renderAll();
  c.onChange(c.cfg);
}

// The item as the live configuration holds it now (fetched afresh, so that a change made
// meanwhile by someone else, e.g. a supervisor's skills, is not overwritten), without secrets.
async function latest(kind, k) {
  const cfg = await get('/config');
  c.cfg = cfg;
  const list = cfg[kind];
  let item = null;
  if (Array.isArray(list)) {
    const id = { agents: 'extension', queues: 'name', users: 'name', numbers: 'number', trunks: 'name' }[kind];
    item = list.find((x) => String(x[id]) === k) || null;
  } else if (list && typeof list === 'object') item = list[k] || null;
  if (!item) return null;
  const copy = structuredClone(item);
  for (const s of SECRETS) delete copy[s];
  return copy;
}

const put = (kind, k, item) => api('PUT', `/config/${kind}/${encodeURIComponent(k)}`, item);
const del = (kind, k) => api('DELETE', `/config/${kind}/${encodeURIComponent(k)}`);

// ---- forms -----------------------------------------------------------------------------

let uid = 0;
function field(label, input, hint) {
  const id = input.id || `f${(uid += 1)}`;
  input.id = id;
  return el('label', { class: 'field', for: id }, el('span', {}, label), input,
    hint ? el('span', { class: 'hint muted small' }, hint) : null);
}

function input(name, attrs = {}) {
  return el('input', { name, 'data-field': name, autocomplete: 'off', ...attrs });
}

function select(name, options, value, attrs = {}) {
  const s = el('select', { name, 'data-field': name, ...attrs },
    options.map(([v, label]) => el('option', { value: v, selected: v === value ? true : undefined }, label)));
  s.value = value ?? '';
  return s;
}

function errorLine() { return el('p', { class: 'error form-error', role: 'alert' }); }

function clearErrors(form) {
  for (const e of $$('[aria-invalid=true]', form)) e.removeAttribute('aria-invalid');
  const line = $('.form-error', form);
  if (line) line.textContent = '';
}

// Shows a refusal in its form: at the input the error's `field` names (or its first part:
// `skills.accounts` is the skills input), else on the form's error line.
function showFormError(form, e, message) {
  clearErrors(form);
  const line = $('.form-error', form);
  const f = e && e.field;
  let target = null;
  if (f) {
    // The longest part of the path that names an input: `skills.accounts` is the skills
    // input, and so is `agents[3].skills.accounts`.
    const parts = f.split('.');
    for (let start = 0; start < parts.length && !target; start += 1) {
      for (let end = parts.length; end > start && !target; end -= 1) {
        target = $(`[data-field="${CSS.escape(parts.slice(start, end).join('.'))}"]`, form);
      }
    }
  }
  const text = message || (f ? w('err.field', { f, m: e.message }) : (e && (e.message || e.code)) || String(e));
  if (target) {
    target.setAttribute('aria-invalid', 'true');
    if (line.id) target.setAttribute('aria-describedby', line.id);
    target.focus();
  }
  line.textContent = text;
}

function errorId() { uid += 1; return `err${uid}`; }

// "accounts=5, general:3 普通话 7" → {accounts: 5, general: 3, 普通话: 7}; throws on text it
// cannot read. Levels are checked by the server.
export function parseSkills(text) {
  const out = {};
  const parts = text.split(/[,，;；\n]+|(?<=\d)\s+/).map((p) => p.trim()).filter(Boolean);
  for (const p of parts) {
    const m = p.match(/^(.+?)\s*(?:[=:：]\s*|\s+)(-?\d+)$/);
    if (!m) throw Object.assign(new Error(w('f.skills_bad', { t: p })), { field: 'skills' });
    out[m[1].trim()] = Number(m[2]);
  }
  return out;
}

const skillsText = (skills) => Object.entries(skills || {}).map(([s, l]) => `${s}=${l}`).join(', ');

async function submit(form, fn) {
  clearErrors(form);
  const buttons = $$('button', form);
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await fn();
  } catch (e) {
    if (e && e.code === 'agent_busy') showFormError(form, e, e.busyText);
    else if (e && e.code === 'in_use') showFormError(form, e, w('in_use', { m: e.message }));
    else showFormError(form, e);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// ---- agents ------------------------------------------------------------------------------

function renderAgents() {
  const box = $('#cfg-agents');
  if (!box || !c.cfg) return;
  const agents = [...(c.cfg.agents || [])].sort((a, b) => a.extension.localeCompare(b.extension, undefined, { numeric: true }));
  const rows = agents.map((a) => {
    const name = input('name', { value: a.name || '', 'aria-label': `${w('f.name')} ${a.extension}`, required: true });
    const errId = errorId();
    const form = el('form', { class: 'row-form', 'data-agent': a.extension },
      el('span', { class: 'ext' }, a.extension), name,
      el('button', { class: 'btn', type: 'submit' }, w('f.rename')),
      el('span', { class: 'skills muted small' }, skillsText(a.skills)),
      el('button', { class: 'btn danger', type: 'button', 'data-act': 'remove', 'aria-label': `${w('f.remove')} ${a.extension}` }, w('f.remove')),
      el('p', { class: 'error form-error', role: 'alert', id: errId }));
    form.onsubmit = (ev) => {
      ev.preventDefault();
      submit(form, async () => {
        const item = await latest('agents', a.extension);
        if (!item) throw new Error(`${a.extension}?`);
        item.name = name.value.trim();
        await put('agents', a.extension, item);
        toast(w('agents.renamed', { a: a.extension }));
        await reload();
      });
    };
    $('[data-act=remove]', form).onclick = () => {
      if (!window.confirm(w('agents.confirm', { a: `${a.name} (${a.extension})` }))) return;
      submit(form, async () => {
        try {
          await del('agents', a.extension);
        } catch (e) {
          if (e.code === 'agent_busy') e.busyText = `${w('agents.busy', { a: a.extension })} (${e.message})`;
          throw e;
        }
        toast(w('agents.removed', { a: a.extension }));
        await reload();
      });
    };
    return el('li', {}, form);
  });
  box.replaceChildren(el('ul', { class: 'cfg-list' }, rows));
}

function bindAgentAdd() {
  const form = $('#agent-add');
  form.onsubmit = (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const f = new FormData(form);
      const ext = String(f.get('extension')).trim();
      const item = { extension: ext, name: String(f.get('name')).trim() };
      const pw = String(f.get('password'));
      if (pw) item.password = pw;
      item.skills = parseSkills(String(f.get('skills')));
      await put('agents', ext, item);
      toast(w('agents.added', { a: ext }));
      form.reset();
      await reload();
    });
  };
}

// ---- users -------------------------------------------------------------------------------

function agentOptions(value) {
  return [['', w('f.none')], ...[...(c.cfg.agents || [])]
    .sort((a, b) => a.extension.localeCompare(b.extension, undefined, { numeric: true }))
    .map((a) => [a.extension, `${a.extension} ${a.name || ''}`])];
}

function renderUsers() {
  const box = $('#cfg-users');
  if (!box || !c.cfg) return;
  const users = [...(c.cfg.users || [])].sort((a, b) => a.name.localeCompare(b.name));
  box.replaceChildren(el('table', { class: 'cfg-table' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, w('f.user')), el('th', { scope: 'col' }, w('f.role')),
      el('th', { scope: 'col' }, w('f.agent')), el('th', { scope: 'col' }, ''))),
    el('tbody', {}, users.map((u) => el('tr', { 'data-user': u.name },
      el('td', {}, u.name), el('td', {}, w(`role.${u.role}`)), el('td', {}, u.agent || '—'),
      el('td', {},
        el('button', { class: 'btn', type: 'button', onclick: () => editUser(u), 'aria-label': `${w('f.edit')} ${u.name}`, title: w('f.edit') }, '✎'),
        ' ',
        el('button', {
          class: 'btn danger', type: 'button', 'aria-label': `${w('f.remove')} ${u.name}`,
          onclick: () => {
            if (!window.confirm(w('users.confirm', { u: u.name }))) return;
            const form = $('#user-form');
            submit(form, async () => {
              await del('users', u.name);
              toast(w('users.removed', { u: u.name }));
              await reload();
            });
          },
        }, w('f.remove'))))))));
  const agentSel = $('#user-form [name=agent]');
  const keep = agentSel.value;
  agentSel.replaceChildren(...agentOptions().map(([v, l]) => el('option', { value: v }, l)));
  agentSel.value = keep;
}

function editUser(u) {
  const form = $('#user-form');
  form.elements.name.value = u.name;
  form.elements.role.value = u.role;
  form.elements.agent.value = u.agent || '';
  form.elements.password.value = '';
  form.elements.name.focus();
}

function bindUserForm() {
  const form = $('#user-form');
  form.onsubmit = (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const f = new FormData(form);
      const name = String(f.get('name')).trim();
      const item = (await latest('users', name)) || { name };
      item.role = String(f.get('role'));
      const agentExt = String(f.get('agent'));
      if (agentExt) item.agent = agentExt; else delete item.agent;
      const pw = String(f.get('password'));
      if (pw) item.password = pw;
      await put('users', name, item);
      toast(w('users.saved', { u: name }));
      form.reset();
      await reload();
    });
  };
}

// ---- queues ------------------------------------------------------------------------------

const num = (v) => (v === '' || v === null || v === undefined ? undefined : Number(v));

function renderQueues() {
  const box = $('#cfg-queues');
  if (!box || !c.cfg) return;
  const queues = c.cfg.queues || [];
  box.replaceChildren(el('table', { class: 'cfg-table' },
    el('thead', {}, el('tr', {}, ...['f.queue_name', 'f.queue_skills_h', 'f.target_seconds', 'f.strategy', 'f.priority',
      'f.wrap_up_seconds', 'f.max_wait_seconds', 'f.overflow_queue'].map((k) => el('th', { scope: 'col' }, w(k))), el('th', {}, ''))),
    el('tbody', {}, queues.map((q) => el('tr', { 'data-queue': q.name },
      el('td', {}, q.name), el('td', {}, skillsText(q.skills)), el('td', {}, q.target_seconds ?? 20),
      el('td', {}, w(`strategy.${q.strategy || 'longest-idle'}`)), el('td', {}, q.priority ?? 0),
      el('td', {}, q.wrap_up_seconds ?? 0),
      el('td', {}, q.max_wait_seconds === undefined ? '—' : `${q.max_wait_seconds} → ${w(`mwa.${q.max_wait_action || 'voicemail'}`)}`),
      el('td', {}, q.overflow_queue || '—'),
      el('td', {}, el('button', { class: 'btn', type: 'button', 'aria-label': `${w('f.edit')} ${q.name}`, title: w('f.edit'), onclick: () => editQueue(q.name) }, '✎')))))));
  const pick = $('#queue-pick');
  const keep = pick.value;
  pick.replaceChildren(el('option', { value: '' }, w('queues.new')), ...queues.map((q) => el('option', { value: q.name }, q.name)));
  pick.value = queues.some((q) => q.name === keep) ? keep : '';
  fillQueueForm(pick.value);
}

function editQueue(name) {
  $('#queue-pick').value = name;
  fillQueueForm(name);
  $('#queue-pick').focus();
}

function fillQueueForm(name) {
  const form = $('#queue-form');
  clearErrors(form);
  const q = (c.cfg.queues || []).find((x) => x.name === name) || {};
  const e = form.elements;
  e.name.value = q.name || '';
  e.name.readOnly = !!q.name;
  e.skills.value = skillsText(q.skills);
  e.target_seconds.value = q.target_seconds ?? '';
  e.strategy.value = q.strategy || 'longest-idle';
  e.priority.value = q.priority ?? '';
  e.wrap_up_seconds.value = q.wrap_up_seconds ?? '';
  e.max_wait_seconds.value = q.max_wait_seconds ?? '';
  e.max_wait_action.value = q.max_wait_action || '';
  const ov = e.overflow_queue;
  ov.replaceChildren(el('option', { value: '' }, w('f.none')),
    ...(c.cfg.queues || []).filter((x) => x.name !== q.name).map((x) => el('option', { value: x.name }, x.name)));
  ov.value = q.overflow_queue || '';
  $('#queue-remove').hidden = !q.name;
}

function bindQueueForm() {
  const form = $('#queue-form');
  $('#queue-pick').addEventListener('change', (ev) => fillQueueForm(ev.target.value));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const e = form.elements;
      const name = e.name.value.trim();
      const item = (await latest('queues', name)) || { name };
      item.skills = parseSkills(e.skills.value);
      const set = (k, v) => { if (v === undefined || v === '') delete item[k]; else item[k] = v; };
      set('target_seconds', num(e.target_seconds.value));
      set('strategy', e.strategy.value);
      set('priority', num(e.priority.value));
      set('wrap_up_seconds', num(e.wrap_up_seconds.value));
      set('max_wait_seconds', num(e.max_wait_seconds.value));
      set('max_wait_action', e.max_wait_action.value);
      set('overflow_queue', e.overflow_queue.value);
      await put('queues', name, item);
      toast(w('queues.saved', { q: name }));
      $('#queue-pick').value = name;
      await reload();
    });
  };
  $('#queue-remove').onclick = () => {
    const name = form.elements.name.value.trim();
    if (!name || !window.confirm(w('queues.confirm', { q: name }))) return;
    submit(form, async () => {
      await del('queues', name);
      toast(w('queues.removed', { q: name }));
      $('#queue-pick').value = '';
      await reload();
    });
  };
}

// ---- numbers -----------------------------------------------------------------------------

function flowOptions() {
  const names = new Set([...c.flows.map((f) => f.name), ...Object.keys(c.cfg.flows || {})]);
  return [...names].sort().map((n) => [n, n]);
}

function renderNumbers() {
  const box = $('#cfg-numbers');
  if (!box || !c.cfg) return;
  const nums = c.cfg.numbers || [];
  const own = new Set(nums.map((n) => String(n.number)));
  const centre = [...new Set(c.flows.flatMap((f) => f.numbers || []))].filter((n) => !own.has(n));
  box.replaceChildren(
    nums.length ? el('ul', { class: 'cfg-list' }, nums.map((n) => {
      const flow = select('flow', flowOptions(), n.flow || 'main', { 'aria-label': `${w('f.flow')} ${n.number}` });
      const form = el('form', { class: 'row-form', 'data-number': n.number },
        el('span', { class: 'ext' }, n.number), flow,
        el('button', { class: 'btn', type: 'submit' }, w('f.save')),
        el('button', { class: 'btn danger', type: 'button', 'data-act': 'remove', 'aria-label': `${w('f.remove')} ${n.number}` }, w('f.remove')),
        errorLine());
      form.onsubmit = (ev) => {
        ev.preventDefault();
        submit(form, async () => {
          const item = (await latest('numbers', String(n.number))) || { number: n.number };
          item.flow = flow.value;
          await put('numbers', String(n.number), item);
          toast(w('numbers.saved', { n: n.number, f: flow.value }));
          await reload();
        });
      };
      $('[data-act=remove]', form).onclick = () => {
        if (!window.confirm(w('numbers.confirm', { n: n.number }))) return;
        submit(form, async () => {
          await del('numbers', String(n.number));
          toast(w('numbers.removed', { n: n.number }));
          await reload();
        });
      };
      return el('li', {}, form);
    })) : el('p', { class: 'muted' }, w('numbers.empty')),
    centre.length ? el('p', { class: 'muted small' }, w('numbers.centre', { n: centre.join(', ') })) : null);
  const sel = $('#number-add [name=flow]');
  const keep = sel.value;
  sel.replaceChildren(...flowOptions().map(([v, l]) => el('option', { value: v }, l)));
  sel.value = keep || 'main';
}

function bindNumberAdd() {
  const form = $('#number-add');
  form.onsubmit = (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const number = form.elements.number.value.trim();
      const flow = form.elements.flow.value;
      await put('numbers', number, { number, flow });
      toast(w('numbers.saved', { n: number, f: flow }));
      form.reset();
      await reload();
    });
  };
}

// ---- schedules ---------------------------------------------------------------------------

function periodRow(p, i) {
  const days = new Set(p.days || []);
  return el('fieldset', { class: 'period', 'data-period': i },
    el('legend', { class: 'sr-only' }, `${w('f.open')} ${i + 1}`),
    el('span', { class: 'days', role: 'group', 'aria-label': w('f.days') },
      DAYS.map((d) => el('label', { class: 'day' },
        el('input', { type: 'checkbox', name: 'day', value: d, checked: days.has(d) ? true : undefined }), w(`day.${d}`)))),
    field(w('f.from'), input('from', { value: p.from || '', pattern: '\\d{1,2}:\\d\\d', placeholder: '08:00', size: 5, 'data-field': `open[${i}].from` })),
    field(w('f.to'), input('to', { value: p.to || '', pattern: '\\d{1,2}:\\d\\d', placeholder: '20:00', size: 5, 'data-field': `open[${i}].to` })),
    el('button', { class: 'btn', type: 'button', 'data-act': 'drop-period', 'aria-label': w('f.remove_period', { n: i + 1 }) }, '✕'));
}

function holidayItem(d) {
  return el('li', { 'data-holiday': d }, el('span', {}, d), ' ',
    el('button', { class: 'btn', type: 'button', 'data-act': 'drop-holiday', 'aria-label': w('f.remove_holiday', { d }) }, '✕'));
}

function readSchedule(form) {
  const open = $$('.period', form).map((fs) => {
    const p = { from: $('[name=from]', fs).value.trim(), to: $('[name=to]', fs).value.trim() };
    const days = $$('[name=day]:checked', fs).map((x) => x.value);
    if (days.length) p.days = days;
    return p;
  });
  const holidays = $$('[data-holiday]', form).map((li) => li.dataset.holiday);
  return { open, holidays };
}

function renderSchedules() {
  const box = $('#cfg-schedules');
  if (!box || !c.cfg) return;
  const entries = Object.entries(c.cfg.schedules || {});
  if (!entries.length) { box.replaceChildren(el('p', { class: 'muted' }, w('schedules.empty'))); return; }
  box.replaceChildren(...entries.map(([name, sch]) => {
    const periods = el('div', { class: 'periods' }, (sch.open || []).map(periodRow));
    const holidays = el('ul', { class: 'holidays' }, (sch.holidays || []).map(holidayItem));
    const newDay = input('holiday', { type: 'date', 'aria-label': w('f.add_holiday') });
    const form = el('form', { class: 'schedule', 'data-schedule': name },
      el('h3', {}, name),
      field(w('f.timezone'), input('timezone', { value: sch.timezone || '', required: true, size: 20 })),
      el('h4', {}, w('f.open')), periods,
      el('button', { class: 'btn', type: 'button', 'data-act': 'add-period' }, w('f.add_period')),
      el('h4', {}, w('f.holidays')), holidays,
      el('div', { class: 'inline' }, newDay,
        el('button', { class: 'btn', type: 'button', 'data-act': 'add-holiday' }, w('f.add_holiday'))),
      el('div', { class: 'inline' }, el('button', { class: 'btn ok', type: 'submit' }, w('f.save'))),
      el('p', { class: 'error form-error', role: 'alert', id: errorId() }));
    form.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-act]');
      if (!b) return;
      if (b.dataset.act === 'add-period') {
        const row = periodRow({ from: '', to: '' }, $$('.period', form).length);
        periods.append(row);
        $('[name=from]', row).focus();
      } else if (b.dataset.act === 'drop-period') {
        b.closest('.period').remove();
      } else if (b.dataset.act === 'add-holiday') {
        const d = newDay.value;
        if (d && !$(`[data-holiday="${d}"]`, form)) {
          const all = [...$$('[data-holiday]', form).map((li) => li.dataset.holiday), d].sort();
          holidays.replaceChildren(...all.map(holidayItem));
        }
        newDay.value = '';
        newDay.focus();
      } else if (b.dataset.act === 'drop-holiday') {
        b.closest('li').remove();
      }
    });
    form.onsubmit = (ev) => {
      ev.preventDefault();
      submit(form, async () => {
        const item = (await latest('schedules', name)) || {};
        item.timezone = form.elements.timezone.value.trim();
        Object.assign(item, readSchedule(form));
        await put('schedules', name, item);
        toast(w('schedules.saved', { s: name }));
        await reload();
      });
    };
    return form;
  }));
}

// ---- reload ------------------------------------------------------------------------------

function bindReload() {
  const b = $('#btn-reload');
  b.onclick = async () => {
    const out = $('#reload-result');
    b.disabled = true;
    out.textContent = '';
    try {
      const r = await api('POST', '/config/reload');
      const applied = (r.applied || []).map((x) => `${x.kind}/${x.key}`);
      const lines = [applied.length ? w('reload.applied', { l: applied.join(', ') }) : w('reload.none')];
      if ((r.restart_only || []).length) lines.push(w('reload.restart', { l: r.restart_only.join(', ') }));
      out.textContent = lines.join(' ');
      out.dataset.applied = applied.join(' ');
      await reload();
    } catch (e) {
      out.textContent = e.field ? w('err.field', { f: e.field, m: e.message }) : e.message || e.code;
      out.dataset.applied = '';
    } finally {
      b.disabled = false;
    }
  };
}

// ---- the whole ---------------------------------------------------------------------------

function renderAll() {
  if (!c.cfg) return;
  renderAgents();
  renderUsers();
  renderQueues();
  renderNumbers();
  renderSchedules();
  const rs = c.cfg.restart_only || [];
  $('#restart-only').textContent = rs.length ? w('reload.restart', { l: rs.join(', ') }) : '';
}

export function mountConfig() {
  bindAgentAdd();
  bindUserForm();
  bindQueueForm();
  bindNumberAdd();
  bindReload();
  const strat = $('#queue-form [name=strategy]');
  strat.replaceChildren(...STRATEGIES.map((s) => el('option', { value: s }, w(`strategy.${s}`))));
}

export function relabel() {
  for (const o of $$('#queue-form [name=strategy] option')) o.textContent = w(`strategy.${o.value}`);
  renderAll();
}
