// The supervisors' workforce page: import last months' contacts per 15 minutes, keep the
// holidays, plan a week (forecast, agents required against agents working, the shifts),
// publish it and download it; and today's adherence, live; decide the agents' requests for
// time off and swaps. An agent sees their own schedule for this week and the next, asks for
// time off or a swap and follows their requests.
import { token, api, get, login, logout, liveEvents, ApiError } from './api.js';
import { lang, applyI18n, bindLangSwitch } from './i18n.js';
import { $, $$, el, fmtPct, showError, loginForm } from './ui.js';

const words = {
  zh: {
    title: '排班', history: '历史来电量', 'history.file': 'CSV 文件（列：interval_start,queue,channel,offered，每 15 分钟）',
    'history.upload': '导入',
    imported: '已导入 {rows} 行；早于起始周跳过 {skip} 行，重复 {dup} 行。',
    series: '{q}（{c}）：自 {w} 起 {n} 周，共 {o} 个联系，缺 {m} 个时段',
    holidays: '节假日', 'holiday.date': '日期', 'holiday.label': '名称', 'holiday.add': '添加', 'holiday.remove': '删除',
    'holiday.none': '没有节假日',
    plan: '排一周的班', 'plan.week': '周（周一）', 'plan.queues': '队列（逗号分隔，空为全部）',
    'plan.training': '培训 %', 'plan.absence': '缺勤 %', 'plan.other': '其他 %', 'plan.hours': '每周工时',
    'plan.days_off': '每周休息天数', 'plan.go': '生成排班', 'plan.busy': '计算中…', 'plan.monday': '请选择周一',
    forecast: '来电预测：{q}', wape: '回测误差 WAPE {p}（{n} 周）', 'wape.none': '回测：历史不足',
    handle: '平均处理时长 {s} 秒（{f}）', 'from.log': '事件日志', 'from.default': '默认值', 'from.history': '导入历史',
    req: '需求人数与在岗人数', 'req.required': '需求', 'req.working': '在岗', 'req.short': '缺口',
    grid: '排班表', agent: '坐席',
    shifts: '班次', shortfall: '缺口（人·15 分钟）', overstaffing: '富余（人·15 分钟）', short_intervals: '缺人时段',
    skipped_agents: '未排班（技能不对应所排队列）：{a}',
    hours: '排班工时',
    publish: '发布', csv: '下载 CSV', published: '已发布：{a} 名坐席，{s} 段（替换 {c} 段）',
    adh: '今日排班遵从', 'adh.agent': '坐席', 'adh.planned': '计划', 'adh.actual': '实际', 'adh.out': '偏离',
    'adh.pct': '遵从率', 'adh.conf': '符合率', 'adh.none': '今天没有排班', 'adh.since': '自 {t} 起（{m} 分钟）',
    'act.work': '工作', 'act.break': '小休', 'act.lunch': '午餐', 'act.offline': '培训/会议',
    'now.ready': '就绪', 'now.not_ready': '未就绪', 'now.break': '小休', 'now.logged_out': '已登出',
    mine: '我的排班', 'mine.this': '本周', 'mine.next': '下周', 'mine.none': '没有排班',
    reqs: '休假与换班申请', 'reqs.pending': '待处理', 'reqs.decided': '已处理（最近 20 条）', 'reqs.none': '没有待处理的申请',
    'rq.agent': '坐席', 'rq.kind': '类型', 'rq.window': '时间', 'rq.with': '同事', 'rq.note': '备注', 'rq.state': '状态',
    'rq.by': '处理人', 'kind.time_off': '休假', 'kind.swap': '换班',
    'state.pending': '待处理', 'state.approved': '已批准', 'state.denied': '已拒绝',
    approve: '批准', deny: '拒绝',
    ask: '申请休假 / 换班', 'ask.from': '从', 'ask.to': '到', 'ask.with': '同事（分机号）', 'ask.go': '提交申请',
    wish: '我希望的上班时间', 'wish.prefer': '希望开始于', 'wish.avoid': '尽量避免开始于', 'wish.go': '保存',
    'wish.note': '排班时会尽量照顾，但先保证人手。多个时段用逗号分隔。', 'wish.saved': '已保存',
    'wish.from_config': '（目前为配置中的设置）',
    'ask.order': '结束时间须晚于开始时间', 'ask.need_with': '换班请填写同事', myreqs: '我的申请', 'myreqs.none': '还没有申请',
  },
  en: {
    title: 'Workforce', history: 'Contact history', 'history.file': 'CSV file (columns: interval_start,queue,channel,offered, per 15 minutes)',
    'history.upload': 'Import',
    imported: '{rows} rows imported; {skip} before the first whole week skipped, {dup} duplicates.',
    series: '{q} ({c}): {n} weeks from {w}, {o} contacts, {m} intervals missing',
    holidays: 'Holidays', 'holiday.date': 'Date', 'holiday.label': 'Name', 'holiday.add': 'Add', 'holiday.remove': 'Remove',
    'holiday.none': 'No holiday',
    plan: 'Plan a week', 'plan.week': 'Week (Monday)', 'plan.queues': 'Queues (comma separated, empty for all)',
    'plan.training': 'Training %', 'plan.absence': 'Absence %', 'plan.other': 'Other %', 'plan.hours': 'Weekly hours',
    'plan.days_off': 'Days off a week', 'plan.go': 'Make plan', 'plan.busy': 'Planning…', 'plan.monday': 'Pick a Monday',
    forecast: 'Forecast: {q}', wape: 'Backtest WAPE {p} ({n} weeks)', 'wape.none': 'Backtest: not enough history',
    handle: 'Handle time {s} s ({f})', 'from.log': 'event log', 'from.default': 'default', 'from.history': 'imported history',
    req: 'Agents required and agents working', 'req.required': 'Required', 'req.working': 'Working', 'req.short': 'Short',
    grid: 'Schedule', agent: 'Agent',
    shifts: 'Shifts', shortfall: 'Shortfall (agent × 15 min)', overstaffing: 'Overstaffing (agent × 15 min)',
    short_intervals: 'Intervals short', hours: 'Hours scheduled',
    skipped_agents: 'Not planned (their skills take none of the planned queues): {a}',
    publish: 'Publish', csv: 'Download CSV', published: 'Published: {a} agents, {s} segments ({c} replaced)',
    adh: 'Adherence today', 'adh.agent': 'Agent', 'adh.planned': 'Planned', 'adh.actual': 'Actual', 'adh.out': 'Out of adherence',
    'adh.pct': 'Adherence', 'adh.conf': 'Conformance', 'adh.none': 'No schedule today', 'adh.since': 'since {t} ({m} min)',
    'act.work': 'Work', 'act.break': 'Break', 'act.lunch': 'Lunch', 'act.offline': 'Training/meeting',
    'now.ready': 'Ready', 'now.not_ready': 'Not ready', 'now.break': 'Break', 'now.logged_out': 'Logged out',
    mine: 'My schedule', 'mine.this': 'This week', 'mine.next': 'Next week', 'mine.none': 'Nothing scheduled',
    reqs: 'Time off and swap requests', 'reqs.pending': 'Pending', 'reqs.decided': 'Decided (last 20)', 'reqs.none': 'No pending request',
    'rq.agent': 'Agent', 'rq.kind': 'Kind', 'rq.window': 'When', 'rq.with': 'Colleague', 'rq.note': 'Note', 'rq.state': 'State',
    'rq.by': 'Decided by', 'kind.time_off': 'Time off', 'kind.swap': 'Swap',
    'state.pending': 'Pending', 'state.approved': 'Approved', 'state.denied': 'Denied',
    approve: 'Approve', deny: 'Deny',
    ask: 'Request time off / swap', 'ask.from': 'From', 'ask.to': 'To', 'ask.with': 'Colleague (extension)', 'ask.go': 'Send request',
    wish: 'When I would like to start', 'wish.prefer': 'Prefer starting', 'wish.avoid': 'Rather not start', 'wish.go': 'Save',
    'wish.note': 'The plan takes them into account once the queues are covered. Separate ranges with commas.',
    'wish.saved': 'Saved', 'wish.from_config': '(as set in the configuration for now)',
    'ask.order': 'The end must be after the start', 'ask.need_with': 'A swap needs a colleague', myreqs: 'My requests', 'myreqs.none': 'No request yet',
  },
};

// The items of a list typed into a field: separated by commas (either width) or spaces.
const listOf = (v) => v.split(/[,，\s]+/).filter(Boolean);

function w(key, vars = {}) {
  const s = words[lang()][key] ?? words.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ''));
}

function applyWords() {
  for (const e of $$('[data-ww]')) e.textContent = w(e.dataset.ww);
  document.title = `hotline · ${w('title')}`;
}

const SVG = 'http://www.w3.org/2000/svg';
const DAY = 86_400_000;
const SLOT = 900_000; // 15 minutes
const SLOTS_DAY = 96;

function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

const pad = (n) => String(n).padStart(2, '0');
const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

// Local midnight of the Monday of the week `d` falls in, plus `weeks` weeks.
function monday(d = new Date(), weeks = 0) {
  const m = new Date(d);
  m.setHours(0, 0, 0, 0);
  m.setDate(m.getDate() - ((m.getDay() + 6) % 7) + weeks * 7);
  return m;
}

function zoned(tz) {
  try { new Intl.DateTimeFormat(undefined, { timeZone: tz }); return tz; } catch { return undefined; }
}

function dayLabel(ms, tz) {
  return new Date(ms).toLocaleDateString(lang() === 'en' ? 'en-GB' : 'zh-CN',
    { weekday: 'short', month: '2-digit', day: '2-digit', timeZone: zoned(tz) });
}

function hhmm(iso, tz) {
  return new Date(iso).toLocaleTimeString(lang() === 'en' ? 'en-GB' : 'zh-CN',
    { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: zoned(tz) });
}

const activity = (a) => (a ? w(`act.${a}`) : '—');

// ---- history --------------------------------------------------------------------------

$('#history').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = ev.target.file.files[0];
  if (!file) return;
  $('#history-result').textContent = '';
  $('#history-error').textContent = '';
  try {
    const res = await fetch('/api/v1/workforce/history', {
      method: 'POST', headers: { Authorization: `Bearer ${token()}`, 'Content-Type': 'text/csv' }, body: file,
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const e = (data && data.error) || { code: `http_${res.status}`, message: `HTTP ${res.status}` };
      throw new ApiError(res.status, e.code, e.message);
    }
    $('#history-result').replaceChildren(
      w('imported', { rows: data.rows, skip: data.skipped_before_start, dup: data.duplicate_rows }),
      el('ul', { class: 'series' }, (data.series || []).map((s) => el('li', { 'data-queue': s.queue },
        w('series', { q: s.queue, c: s.channel, w: s.first_week, n: s.weeks, o: Math.round(s.offered), m: s.missing_intervals })))));
  } catch (e) {
    $('#history-error').textContent = e.message;
  }
});

// ---- holidays -------------------------------------------------------------------------

let holidays = [];

async function loadHolidays() {
  holidays = (await get('/workforce/special-days')).days || [];
  renderHolidays();
}

function renderHolidays() {
  const ul = $('#holidays');
  if (!holidays.length) { ul.replaceChildren(el('li', { class: 'muted' }, w('holiday.none'))); return; }
  ul.replaceChildren(...holidays.map((d) => el('li', { 'data-date': d.date },
    el('strong', {}, d.date), ' ', d.label, ' ',
    el('button', { class: 'btn ghost small', type: 'button', onclick: () => saveHolidays(holidays.filter((x) => x !== d)) },
      w('holiday.remove')))));
}

async function saveHolidays(days) {
  $('#holiday-error').textContent = '';
  try {
    holidays = (await api('PUT', '/workforce/special-days', { days })).days || days;
    renderHolidays();
    return true;
  } catch (e) {
    $('#holiday-error').textContent = e.message;
    return false;
  }
}

$('#holiday-add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const day = { date: f.date.value, label: f.label.value.trim() };
  const days = [...holidays.filter((d) => d.date !== day.date), day].sort((a, b) => a.date.localeCompare(b.date));
  if (await saveHolidays(days)) { f.date.value = ''; f.label.value = ''; }
});

// ---- plan -----------------------------------------------------------------------------

let plan = null;

$('#plan').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const err = $('#plan-error');
  err.textContent = '';
  if (new Date(`${f.week.value}T12:00:00`).getDay() !== 1) { err.textContent = w('plan.monday'); return; }
  const frac = (x) => Math.max(0, Number(x) || 0) / 100;
  const body = {
    week: f.week.value,
    shrinkage: { training: frac(f.training.value), absence: frac(f.absence.value), other: frac(f.other.value) },
    contract: { weekly_hours: Number(f.weekly_hours.value) || 40, days_off: Number(f.days_off.value) },
  };
  const queues = listOf(f.queues.value);
  if (queues.length) body.queues = queues;
  const btn = f.querySelector('button[type=submit]');
  btn.disabled = true;
  btn.textContent = w('plan.busy');
  try {
    plan = await api('POST', '/workforce/plan', body);
    renderPlan();
  } catch (e) {
    err.textContent = e.message;
  } finally {
    btn.disabled = false;
    btn.textContent = w('plan.go');
  }
});

function renderPlan() {
  if (!plan) return;
  $('#plan-out').hidden = false;
  $('#publish-result').textContent = '';
  $('#btn-csv').hidden = !plan.published;
  const ws = Date.parse(plan.week_start);
  const hours = plan.queues.reduce((a, q) => a + (q.staffing.scheduled_hours || 0), 0);
  const fig = (k, v) => [el('dt', {}, w(k)), el('dd', { 'data-k': k }, String(v))];
  $('#totals').replaceChildren(...fig('shifts', plan.shifts), ...fig('hours', Math.round(hours)),
    ...fig('shortfall', plan.total_shortfall), ...fig('overstaffing', plan.total_overstaffing),
    ...fig('short_intervals', plan.short_intervals.length));
  const skipped = plan.skipped_agents || [];
  $('#skipped-agents').hidden = !skipped.length;
  $('#skipped-agents').textContent = skipped.length ? w('skipped_agents', { a: skipped.join(', ') }) : '';
  $('#forecasts').replaceChildren(...plan.queues.map((q) => forecastChart(q, ws)));
  $('#req-chart').replaceChildren(requirementChart(plan.requirement, plan.working, plan.covered));
  renderGrid($('#grid'), plan.agents, ws, 7, plan.time_zone);
}

function dayLines(days, height) {
  const g = svg('g', { class: 'days' });
  for (let d = 1; d < days; d++) g.append(svg('line', { x1: d * SLOTS_DAY, x2: d * SLOTS_DAY, y1: 0, y2: height }));
  return g;
}

function forecastChart(q, ws) {
  const v = q.forecast.volumes;
  const max = Math.max(1, ...v);
  const H = 100;
  const pts = v.map((x, i) => `${i + 0.5},${(H - (x / max) * (H - 4)).toFixed(1)}`).join(' ');
  const bt = q.forecast.backtest;
  const h = (plan.history || []).find((x) => x.queue === q.queue);
  return el('div', { class: 'forecast', 'data-queue': q.queue },
    el('h3', {}, w('forecast', { q: q.queue }), ' ',
      el('span', { class: 'wape', 'data-wape': bt ? bt.wape : '' },
        bt ? w('wape', { p: `${(bt.wape * 100).toFixed(1)}%`, n: bt.weeks }) : w('wape.none')),
      h ? el('span', { class: 'muted small' }, ' · ', w('handle', { s: Math.round(h.handle_seconds), f: w(`from.${h.handle_from}`) })) : null),
    el('div', { class: 'wchart' }, svg('svg', { viewBox: `0 0 ${v.length} ${H}`, preserveAspectRatio: 'none', class: 'wsvg', role: 'img', 'aria-label': w('forecast', { q: q.queue }) },
      dayLines(7, H), svg('polyline', { class: 'volume', points: pts }))),
    el('div', { class: 'daytotals' }, q.forecast.daily_totals.map((t, d) =>
      el('span', {}, el('span', { class: 'muted' }, dayLabel(ws + d * DAY, plan.time_zone)), ' ', el('strong', {}, Math.round(t))))),
    // With several queues: the agents this queue gets against what it needs.
    plan.queues.length > 1 && q.covered
      ? el('div', { class: 'wchart queue-cover', 'data-queue': q.queue }, requirementChart(q.staffing.scheduled, q.covered, q.covered))
      : null);
}

// Working agents as bars, the requirement as a line, and in red what the agents cannot cover
// (with several queues, agents whose skills no short queue needs do not cover it).
function requirementChart(req, working, covered) {
  const H = 100;
  const max = Math.max(1, ...req, ...working);
  const y = (n) => H - (n / max) * (H - 4);
  const bars = svg('g', { class: 'working' });
  const short = svg('g', { class: 'shortfall' });
  working.forEach((n, i) => {
    bars.append(svg('rect', { class: 'work', x: i, width: 1, y: y(n), height: H - y(n) }));
    const c = covered[i];
    if (c < req[i]) short.append(svg('rect', { class: 'short', x: i, width: 1, y: y(req[i]), height: y(c) - y(req[i]) }));
  });
  const line = svg('polyline', { class: 'required', points: req.map((n, i) => `${i + 0.5},${y(n).toFixed(1)}`).join(' ') });
  return svg('svg', { viewBox: `0 0 ${req.length} ${H}`, preserveAspectRatio: 'none', class: 'wsvg', role: 'img', 'aria-label': w('req') },
    dayLines(7, H), bars, short, line);
}

// Agents × days: each shift a bar placed by its time, breaks and lunch in their own colours.
function renderGrid(box, agents, ws, days, tz) {
  const width = days * SLOTS_DAY;
  const head = el('tr', {}, el('th', {}, w('agent')), el('th', { class: 'track' },
    el('div', { class: 'daynames' }, Array.from({ length: days }, (_, d) => el('span', {}, dayLabel(ws + d * DAY, tz))))));
  const ids = Object.keys(agents).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const rows = ids.map((id) => {
    const bar = svg('svg', { viewBox: `0 0 ${width} 10`, preserveAspectRatio: 'none', class: 'bars' }, dayLines(days, 10));
    for (const s of agents[id]) {
      if (s.activity === 'offline') continue;
      const a = Date.parse(s.start);
      const b = Date.parse(s.end);
      const x = Math.max(0, (a - ws) / SLOT);
      const x2 = Math.min(width, (b - ws) / SLOT);
      if (x2 <= x) continue;
      bar.append(svg('rect', { class: `seg ${s.activity}`, 'data-activity': s.activity, x, width: x2 - x, y: 1, height: 8 },
        svg('title', {}, `${activity(s.activity)} ${hhmm(s.start, tz)}–${hhmm(s.end, tz)}`)));
    }
    return el('tr', { 'data-agent': id }, el('th', {}, id), el('td', { class: 'track' }, bar));
  });
  box.replaceChildren(el('table', { class: 'sched-grid' }, el('thead', {}, head), el('tbody', {}, rows)));
}

$('#btn-publish').addEventListener('click', async () => {
  if (!plan) return;
  try {
    const r = await api('PUT', `/workforce/schedule/${plan.week}`, { agents: plan.agents });
    plan.published = r;
    $('#publish-result').textContent = w('published', { a: r.agents, s: r.segments, c: r.cleared });
    $('#btn-csv').hidden = false;
    loadAdherence().catch(showError);
  } catch (e) { showError(e); }
});

$('#btn-csv').addEventListener('click', async () => {
  if (!plan) return;
  const from = new Date(Date.parse(plan.week_start)).toISOString();
  const to = new Date(Date.parse(plan.week_start) + 7 * DAY).toISOString();
  try {
    await download(`/workforce/schedule.csv?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      `schedule-${plan.week}.csv`);
  } catch (e) { showError(e); }
});

// ---- adherence ------------------------------------------------------------------------

let adherence = null;

/// Downloads `path` (an API CSV) with the login's token as `name`.
async function download(path, name) {
  const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${token()}` } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const a = el('a', { href: URL.createObjectURL(await res.blob()), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

$('#btn-adh-csv').addEventListener('click', async () => {
  const { from, to } = today();
  try {
    await download(`/workforce/adherence.csv?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      `adherence-${from.slice(0, 10)}.csv`);
  } catch (e) { showError(e); }
});

function today() {
  const from = new Date();
  from.setHours(0, 0, 0, 0);
  const to = new Date(from);
  to.setDate(to.getDate() + 1);
  return { from: from.toISOString(), to: to.toISOString() };
}

async function loadAdherence() {
  const { from, to } = today();
  adherence = await get(`/workforce/adherence?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  renderAdherence();
}

function renderAdherence() {
  if (!adherence) return;
  const list = adherence.agents || [];
  $('#adh-none').hidden = list.length > 0;
  $('#adherence').replaceChildren(...list.map((a) => {
    const n = a.now || {};
    const out = !!n.out_of_adherence;
    const mins = n.out_since ? Math.max(0, Math.floor((Date.now() - Date.parse(n.out_since)) / 60000)) : 0;
    return el('tr', { 'data-agent': a.agent, 'data-out': out ? 'yes' : 'no' },
      el('th', {}, a.agent),
      el('td', { class: 'planned' }, activity(n.planned)),
      el('td', { class: 'actual' }, n.actual ? w(`now.${n.actual}`) : '—'),
      el('td', { class: 'out', 'data-since': n.out_since || '' }, out && n.out_since ? w('adh.since', { t: hhmm(n.out_since), m: mins }) : '—'),
      el('td', { class: 'pct' }, fmtPct(a.adherence)),
      el('td', { class: 'conf' }, fmtPct(a.conformance)));
  }));
}

// Agent events coalesce: a load waits at most a second from the first ask, so a busy
// centre's steady events cannot put it off for ever (adherence scores the whole day).
let adhTimer = null;
function refreshAdherence() {
  if (adhTimer) return;
  adhTimer = setTimeout(() => {
    adhTimer = null;
    loadAdherence().catch(showError);
  }, 1000);
}

// ---- an agent's own schedule ----------------------------------------------------------

async function loadMine(me) {
  const m0 = monday();
  const m1 = monday(new Date(), 1);
  const m2 = monday(new Date(), 2);
  const r = await get(`/workforce/schedule?from=${encodeURIComponent(m0.toISOString())}&to=${encodeURIComponent(m2.toISOString())}`);
  const segs = r.segments || [];
  for (const [box, a, b] of [[$('#mine-this'), m0, m1], [$('#mine-next'), m1, m2]]) {
    const mine = segs.filter((s) => Date.parse(s.start) < b.getTime() && Date.parse(s.end) > a.getTime());
    const byAgent = {};
    for (const s of mine) (byAgent[s.agent] ||= []).push(s);
    if (!mine.length) byAgent[me.agent || me.user] = [];
    renderGrid(box, byAgent, a.getTime(), 7);
    if (!mine.length) box.append(el('p', { class: 'muted' }, w('mine.none')));
  }
}

// ---- time off and swaps ---------------------------------------------------------------

let requests = [];
const rowErrors = {}; // request id → why the last decision was refused
let me = null;

// A window in the browser's local time: the day and hour of its start, then its end.
function when(r) {
  const loc = lang() === 'en' ? 'en-GB' : 'zh-CN';
  const f = (iso, o) => new Date(iso).toLocaleString(loc, { hour: '2-digit', minute: '2-digit', hour12: false, ...o });
  const day = { weekday: 'short', month: '2-digit', day: '2-digit' };
  const a = new Date(r.from);
  const b = new Date(r.to);
  const sameDay = a.toDateString() === new Date(b - 1).toDateString();
  // A window to a midnight ends at 24:00 of its last day, not at 00:00 of the next.
  const midnight = b.getHours() === 0 && b.getMinutes() === 0;
  const end = sameDay ? (midnight && b > a ? '24:00' : f(r.to)) : f(r.to, day);
  return `${f(r.from, day)} – ${end}`;
}

async function loadRequests() {
  requests = (await get('/workforce/requests')).requests || [];
  renderRequests();
}

const cells = (r) => [
  el('td', { class: 'agent' }, r.agent),
  el('td', { class: 'kind' }, w(`kind.${r.kind}`)),
  el('td', { class: 'window', 'data-from': r.from, 'data-to': r.to }, when(r)),
  el('td', { class: 'with' }, r.with_agent || '—'),
];
const stateCell = (r) => el('td', { class: 'state' }, el('span', { class: `tag state-${r.state}` }, w(`state.${r.state}`)));

function renderRequests() {
  if (me && me.role === 'agent') {
    $('#my-requests-none').hidden = requests.length > 0;
    $('#my-requests').replaceChildren(...requests.map((r) => el('tr', { 'data-id': r.id, 'data-state': r.state },
      ...cells(r), el('td', { class: 'note' }, r.note || ''), stateCell(r))));
    return;
  }
  const pending = requests.filter((r) => r.state === 'pending');
  const decided = requests.filter((r) => r.state !== 'pending').slice(0, 20);
  $('#requests-none').hidden = pending.length > 0;
  $('#requests-pending').replaceChildren(...pending.map((r) => el('tr', { 'data-id': r.id, 'data-state': r.state },
    ...cells(r), el('td', { class: 'note' }, r.note || ''),
    el('td', { class: 'actions' },
      el('button', { class: 'btn ok small', type: 'button', 'data-act': 'approve', onclick: (ev) => decide(r, true, ev.target) }, w('approve')),
      ' ',
      el('button', { class: 'btn ghost small', type: 'button', 'data-act': 'deny', onclick: (ev) => decide(r, false, ev.target) }, w('deny')),
      el('p', { class: 'error', role: 'alert' }, rowErrors[r.id] || '')))));
  $('#requests-decided').replaceChildren(...decided.map((r) => el('tr', { 'data-id': r.id, 'data-state': r.state },
    ...cells(r), stateCell(r), el('td', { class: 'by' }, r.decided_by || ''))));
}

async function decide(r, approve, btn) {
  $('#requests-error').textContent = '';
  for (const b of btn.parentElement.querySelectorAll('button')) b.disabled = true;
  try {
    const res = await api('POST', `/workforce/requests/${encodeURIComponent(r.id)}/decision`, { approve });
    delete rowErrors[r.id];
    if (approve && res.changed && res.changed.length) scheduleChanged(res.changed);
  } catch (e) {
    // Refused (the rest rule, or decided meanwhile): say why in the request's own row.
    rowErrors[r.id] = e.message;
  }
  await loadRequests().catch((e) => { $('#requests-error').textContent = e.message; });
}

// An approval rewrote agents' weeks of the published schedule: a loaded plan of that week
// that was published shows them as they are now, and today's adherence is measured again.
function scheduleChanged(changed) {
  if (plan && plan.published) {
    let touched = false;
    for (const c of changed) {
      if (c.week !== plan.week) continue;
      plan.agents[c.agent] = c.segments || [];
      touched = true;
    }
    if (touched) renderGrid($('#grid'), plan.agents, Date.parse(plan.week_start), 7, plan.time_zone);
  }
  loadAdherence().catch(showError);
}

// The agent's own start-time wishes.

async function loadWishes() {
  const mine = (await get('/workforce/preferences')).agents?.[me.agent];
  if (!mine) return;
  const f = $('#wishes');
  f.prefer.value = mine.prefer_starts.join(', ');
  f.avoid.value = mine.avoid_starts.join(', ');
  $('#wish-result').textContent = mine.set_by === 'configuration' && (mine.prefer_starts.length || mine.avoid_starts.length)
    ? w('wish.from_config') : '';
}

$('#wishes').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  $('#wish-error').textContent = '';
  $('#wish-result').textContent = '';
  const btn = f.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    await api('PUT', `/workforce/preferences/${encodeURIComponent(me.agent)}`,
      { prefer_starts: listOf(f.prefer.value), avoid_starts: listOf(f.avoid.value) });
    $('#wish-result').textContent = w('wish.saved');
  } catch (e) {
    $('#wish-error').textContent = e.message;
  } finally {
    btn.disabled = false;
  }
});

$('#ask [name=kind]').addEventListener('change', (ev) => {
  $('#ask .ask-with').hidden = ev.target.value !== 'swap';
});

$('#ask').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const err = $('#ask-error');
  err.textContent = '';
  // datetime-local holds the browser's local time; the server wants an instant.
  const from = new Date(f.from.value);
  const to = new Date(f.to.value);
  if (!(to > from)) { err.textContent = w('ask.order'); return; }
  const body = { kind: f.kind.value, from: from.toISOString(), to: to.toISOString() };
  if (body.kind === 'swap') {
    body.with_agent = f.with_agent.value.trim();
    if (!body.with_agent) { err.textContent = w('ask.need_with'); return; }
  }
  if (f.note.value.trim()) body.note = f.note.value.trim();
  const btn = f.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    await api('POST', '/workforce/requests', body);
    f.note.value = '';
    await loadRequests();
    loadMine(me).catch(showError); // a decision since the last refresh may have changed it
  } catch (e) {
    err.textContent = e.message;
  } finally {
    btn.disabled = false;
  }
});

// ---- start ----------------------------------------------------------------------------

function start(who) {
  me = who;
  $('#who').textContent = me.user;
  $('#btn-logout').hidden = false;
  const refresh = () => loadRequests().catch(showError);
  refresh();
  if (me.role === 'agent') {
    $('#mine').hidden = false;
    loadMine(me).catch(showError);
    loadWishes().catch(showError);
    // The requests, and the schedule an approval may have changed.
    setInterval(() => { refresh(); loadMine(me).catch(showError); }, 30000);
    return;
  }
  setInterval(refresh, 30000);
  $('#page').hidden = false;
  $('#to-wallboard').hidden = false;
  $('#plan [name=week]').value = isoDate(monday(new Date(), 1));
  loadHolidays().catch(showError);
  loadAdherence().catch(showError);
  liveEvents((ev) => { if (ev.stream === 'agent') refreshAdherence(); },
    (status) => { if (status === 'online') refreshAdherence(); });
  setInterval(refreshAdherence, 15000);
}

bindLangSwitch($('#lang'));
applyI18n();
applyWords();
$('#btn-logout').onclick = () => { logout(); location.reload(); };
window.addEventListener('langchange', () => { applyWords(); renderHolidays(); renderPlan(); renderAdherence(); renderRequests(); });
window.addEventListener('hotline:logout', () => location.reload());
(async () => {
  let who = null;
  if (token()) { try { who = await get('/me'); } catch { who = null; } }
  if (!who) who = await loginForm($('#login'), login);
  start(who);
})();
