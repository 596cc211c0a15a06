// The administration page (supervisors and administrators). First view: the contact flows,
// each drawn as a diagram from GET /api/v1/flows (steps as boxes, the ways between them as
// labelled arrows), with the numbers that lead to it and the same graph as a text list.
import { token, get, login, logout } from './api.js';
import { lang, applyI18n, bindLangSwitch } from './i18n.js';
import { $, $$, el, showError, loginForm } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';

// This page's words (the shared ones come from i18n.js).
const words = {
  zh: {
    title: '管理', denied: '管理页面仅限班长和管理员使用。', flows: '流程',
    'flows.hint': '↑↓ 选择流程；Tab 逐个查看步骤。', steps: '步骤与去向',
    numbers: '号码：{n}', 'numbers.none': '没有号码直接进入此流程（由其他流程或系统调用）',
    'numbers.any': '未配置服务号码：所有非坐席号码都进入此流程',
    diagram: '流程 {f} 的流程图：{n} 个步骤，从 {s} 开始', start: '开始', end: '结束',
    'type.play': '放音', 'type.menu': '按键菜单', 'type.collect': '收号', 'type.lookup': '查询客户',
    'type.authenticate': '身份验证', 'type.branch': '条件分支', 'type.set': '设置',
    'type.enqueue': '进入队列', 'type.callback': '预约回电', 'type.voicemail': '语音留言',
    'type.survey': '满意度调查', 'type.hangup': '挂机', 'type.transfer': '转接',
    'edge.next': '下一步', 'edge.timeout': '超时', 'edge.default': '默认', 'edge.on_failure': '失败',
    'edge.not_found': '未找到', 'edge.else': '否则', 'edge.on_declined': '拒绝回电',
    'detail.queue': '队列', 'detail.to': '转至', 'detail.after_call': '话后', 'detail.reason': '原因',
    'detail.into': '存入', 'detail.prompts': '提示音', 'detail.set': '设置',
    'detail.account_var': '账号变量', 'detail.callback_digit': '回电键',
  },
  en: {
    title: 'Administration', denied: 'The administration page is for supervisors and administrators.',
    flows: 'Flows', 'flows.hint': '↑↓ choose a flow; Tab walks through its steps.', steps: 'Steps and where they lead',
    numbers: 'Numbers: {n}', 'numbers.none': 'No number leads here directly (entered from another flow or by the centre)',
    'numbers.any': 'No service number is configured: every number that is no agent\'s leads here',
    diagram: 'Diagram of the flow {f}: {n} steps, starting at {s}', start: 'start', end: 'end',
    'type.play': 'Play', 'type.menu': 'Menu', 'type.collect': 'Collect digits', 'type.lookup': 'Look up caller',
    'type.authenticate': 'Authenticate', 'type.branch': 'Branch', 'type.set': 'Set',
    'type.enqueue': 'Queue', 'type.callback': 'Callback', 'type.voicemail': 'Voicemail',
    'type.survey': 'Survey', 'type.hangup': 'Hang up', 'type.transfer': 'Transfer',
    'edge.next': 'next', 'edge.timeout': 'timeout', 'edge.default': 'default', 'edge.on_failure': 'failed',
    'edge.not_found': 'not found', 'edge.else': 'else', 'edge.on_declined': 'declined',
    'detail.queue': 'queue', 'detail.to': 'to', 'detail.after_call': 'after call', 'detail.reason': 'reason',
    'detail.into': 'into', 'detail.prompts': 'prompts', 'detail.set': 'set',
    'detail.account_var': 'account', 'detail.callback_digit': 'callback key',
  },
};

function w(key, vars = {}) {
  const s = (words[lang()] || words.zh)[key] ?? words.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ''));
}

function applyWords() {
  for (const e of $$('[data-i18n-admin]')) e.textContent = w(e.dataset.i18nAdmin);
  document.title = `hotline · ${w('title')}`;
}

const s = { flows: [], selected: null };

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
  s.selected = name;
  if (location.hash !== `#flow=${name}`) history.replaceState(null, '', `#flow=${encodeURIComponent(name)}`);
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

async function start(me) {
  $('#who').textContent = me.user;
  $('#btn-logout').hidden = false;
  if (me.role === 'agent') { $('#denied').hidden = false; return; }
  $('#admin').hidden = false;
  try {
    s.flows = (await get('/flows')).flows;
  } catch (e) {
    showError(e);
    return;
  }
  const fromHash = decodeURIComponent((location.hash.match(/flow=([^&]+)/) || [])[1] || '');
  const first = s.flows.find((f) => f.name === fromHash)
    || s.flows.find((f) => f.name === 'main') || s.flows[0];
  if (first) select(first.name);
}

bindLangSwitch($('#lang'));
applyI18n();
applyWords();
$('#flow-list').addEventListener('keydown', onListKey);
$('#btn-logout').onclick = () => { logout(); location.reload(); };
window.addEventListener('langchange', () => {
  applyWords();
  if (!$('#admin').hidden) { renderList(); renderFlow(); }
});
window.addEventListener('hotline:logout', () => location.reload());
(async () => {
  let me = null;
  if (token()) { try { me = await get('/me'); } catch { me = null; } }
  if (!me) me = await loginForm($('#login'), login);
  start(me);
})();
