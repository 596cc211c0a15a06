// The supervisors' campaigns page: every outbound campaign with its progress and its rates,
// live; start, pause, resume and finish; import a list with a progress bar and the lines
// refused; create a campaign; download the results.
import { token, get, post, login, logout, liveEvents, ApiError } from './api.js';
import { lang, applyI18n, bindLangSwitch } from './i18n.js';
import { $, $$, el, fmtPct, showError, toast, loginForm } from './ui.js';

const words = {
  zh: {
    title: '外呼活动', list: '活动', none: '还没有外呼活动', name: '名称', mode: '方式', state: '状态',
    progress: '进度', dials: '拨打', answer_rate: '接通率', connected: '转坐席',
    abandon_ofcom: '放弃率（24 小时）', abandon_tsr: '放弃率（30 天）', actions: '操作',
    import: '导入名单', campaign: '活动', file: 'CSV 文件（列：phone，可选 id、name、time_zone）',
    upload: '上传', new: '新建活动', caller_id: '主叫号码（可回拨，E.164）', queue: '坐席队列',
    flow: '语音流程（无坐席方式）', hours: '呼叫时段（被叫当地时间，每天）', zone: '中心时区',
    amd: '识别答录机', create: '创建', results: '结果 CSV',
    'mode.progressive': '渐进式', 'mode.predictive': '预测式', 'mode.preview': '预览式', 'mode.agentless': '无坐席（自动语音）',
    'state.draft': '草稿', 'state.running': '进行中', 'state.paused': '已暂停', 'state.finished': '已结束',
    'do.start': '开始', 'do.pause': '暂停', 'do.resume': '继续', 'do.finish': '结束',
    imported: '已导入 {n} 个号码，{r} 行被拒绝', line: '第 {l} 行：{m}', created: '已创建活动 {id}',
    over: '超过上限',
    from: '从以往的联系生成名单', 'from.since': '开始日期', 'from.until': '结束日期（含）', 'from.which': '哪些来电',
    'from.resolved': '已解决的投诉', 'from.unresolved': '未解决的投诉', 'from.callback': '处理结果为“需回电”',
    'from.cc': '国家代码（本地号码）', 'from.go': '生成',
  },
  en: {
    title: 'Campaigns', list: 'Campaigns', none: 'No campaign yet', name: 'Name', mode: 'Mode', state: 'State',
    progress: 'Progress', dials: 'Dials', answer_rate: 'Answered', connected: 'To agents',
    abandon_ofcom: 'Abandoned (24 h)', abandon_tsr: 'Abandoned (30 days)', actions: 'Actions',
    import: 'Import a list', campaign: 'Campaign', file: 'CSV file (columns: phone; optional id, name, time_zone)',
    upload: 'Upload', new: 'New campaign', caller_id: 'Caller id (can be called back, E.164)', queue: 'Agents\' queue',
    flow: 'Flow (agentless)', hours: 'Calling hours (called person\'s local time, every day)', zone: 'Centre time zone',
    amd: 'Detect answering machines', create: 'Create', results: 'Results CSV',
    'mode.progressive': 'Progressive', 'mode.predictive': 'Predictive', 'mode.preview': 'Preview', 'mode.agentless': 'Agentless (voice flow)',
    'state.draft': 'Draft', 'state.running': 'Running', 'state.paused': 'Paused', 'state.finished': 'Finished',
    'do.start': 'Start', 'do.pause': 'Pause', 'do.resume': 'Resume', 'do.finish': 'Finish',
    imported: '{n} numbers imported, {r} lines refused', line: 'Line {l}: {m}', created: 'Campaign {id} created',
    over: 'over the limit',
    from: 'Contacts from past interactions', 'from.since': 'From', 'from.until': 'To (inclusive)', 'from.which': 'Which callers',
    'from.resolved': 'Complaints resolved', 'from.unresolved': 'Complaints not resolved', 'from.callback': 'Disposition “callback”',
    'from.cc': 'Country code (national numbers)', 'from.go': 'Add',
  },
};

function w(key, vars = {}) {
  const s = words[lang()][key] ?? words.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ''));
}

function applyWords() {
  for (const e of $$('[data-cw]')) e.textContent = w(e.dataset.cw);
  document.title = `hotline · ${w('title')}`;
}

let campaigns = [];

// What a supervisor may do in each state.
const ACTIONS = { draft: ['start', 'finish'], running: ['pause', 'finish'], paused: ['resume', 'finish'], finished: [] };

async function load() {
  const r = await get('/campaigns');
  campaigns = r.campaigns || [];
  render();
}

let timer = null;
function refresh() {
  clearTimeout(timer);
  timer = setTimeout(() => load().catch(showError), 300);
}

const pct1 = (x) => `${((x || 0) * 100).toFixed(1)}%`;

function rate(x, limit) {
  const v = el('span', {}, pct1(x));
  if (limit !== undefined && x > limit) {
    v.classList.add('bad');
    v.title = w('over');
  }
  return v;
}

function render() {
  const body = $('#campaigns');
  body.replaceChildren();
  $('#empty').hidden = campaigns.length > 0;
  for (const c of campaigns) {
    const st = c.stats || {};
    const limit = (c.spec.rules && c.spec.rules.max_abandon_rate) || 0.03;
    const bar = el('progress', { max: String(Math.max(c.contacts, 1)), value: String(c.contacts_done), 'aria-label': w('progress') });
    const actions = el('td', { class: 'actions' });
    for (const a of ACTIONS[c.state] || []) {
      const b = el('button', { class: `btn ${a === 'finish' ? 'ghost' : 'ok'}`, 'data-action': a, type: 'button' }, w(`do.${a}`));
      b.onclick = () => control(c.id, a);
      actions.append(b);
    }
    const csv = el('a', { class: 'btn ghost', href: '#', 'data-csv': c.id }, w('results'));
    csv.onclick = (ev) => { ev.preventDefault(); download(c.id); };
    actions.append(csv);
    body.append(el('tr', { 'data-campaign': c.id, 'data-state': c.state },
      el('td', {}, c.spec.name),
      el('td', {}, w(`mode.${c.spec.mode}`)),
      el('td', { class: 'state' }, w(`state.${c.state}`)),
      el('td', {}, bar, el('span', { class: 'done' }, ` ${c.contacts_done}/${c.contacts}`)),
      el('td', { class: 'dials' }, String(st.dials || 0)),
      el('td', {}, fmtPct(st.dials ? st.live / st.dials : 0)),
      el('td', {}, String(st.connected || 0)),
      el('td', { class: 'ofcom' }, rate(st.ofcom_rate_24h, limit)),
      el('td', { class: 'tsr' }, rate(st.tsr_rate_30d, limit)),
      actions));
  }
  const sel = $('#import [name=campaign]');
  const was = sel.value;
  sel.replaceChildren(...campaigns.filter((c) => c.state !== 'finished')
    .map((c) => el('option', { value: c.id }, `${c.spec.name} (${c.id})`)));
  if (was) sel.value = was;
}

async function control(id, action) {
  try {
    await post(`/campaigns/${encodeURIComponent(id)}/state`, { action });
    await load();
  } catch (e) { showError(e); }
}

async function download(id) {
  try {
    const res = await fetch(`/api/v1/campaigns/${encodeURIComponent(id)}/results.csv`, { headers: { Authorization: `Bearer ${token()}` } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const a = el('a', { href: URL.createObjectURL(await res.blob()), download: `campaign-${id}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (e) { showError(e); }
}

// An upload with progress: XMLHttpRequest reports the bytes sent, fetch does not.
function upload(id, file, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', `/api/v1/campaigns/${encodeURIComponent(id)}/contacts`);
    x.setRequestHeader('Authorization', `Bearer ${token()}`);
    x.setRequestHeader('Content-Type', 'text/csv');
    x.upload.onprogress = (ev) => { if (ev.lengthComputable) onProgress(ev.loaded / ev.total); };
    x.onload = () => {
      let data = null;
      try { data = JSON.parse(x.responseText); } catch { data = null; }
      if (x.status >= 200 && x.status < 300) resolve(data);
      else {
        const e = (data && data.error) || { code: `http_${x.status}`, message: x.responseText };
        reject(new ApiError(x.status, e.code, e.message));
      }
    };
    x.onerror = () => reject(new ApiError(0, 'network', 'network'));
    x.send(file);
  });
}

$('#import').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const file = f.file.files[0];
  if (!file || !f.campaign.value) return;
  const bar = $('#import-progress');
  bar.hidden = false;
  bar.value = 0;
  $('#import-result').textContent = '';
  $('#import-errors').replaceChildren();
  try {
    const r = await upload(f.campaign.value, file, (p) => { bar.value = Math.round(p * 100); });
    bar.value = 100;
    $('#import-result').textContent = w('imported', { n: r.imported, r: r.rejected });
    $('#import-errors').replaceChildren(...(r.errors || []).slice(0, 200)
      .map((e) => el('li', {}, w('line', { l: e.line, m: e.message }))));
    await load();
  } catch (e) { showError(e); }
});

// Contacts from the centre's own interactions, for the campaign chosen above.
$('#from').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const id = $('#import [name=campaign]').value;
  if (!id) return;
  const day = (v, plus) => { const d = new Date(`${v}T00:00:00`); d.setDate(d.getDate() + plus); return d.toISOString(); };
  const body = { since: day(f.since.value, 0), until: day(f.until.value, 1) };
  if (f.which.value === 'callback') body.disposition = 'callback'; else body.complaints = f.which.value;
  if (f.cc.value.trim()) body.country_code = f.cc.value.trim();
  try {
    const r = await post(`/campaigns/${encodeURIComponent(id)}/contacts/from-interactions`, body);
    $('#from-result').textContent = w('imported', { n: r.imported, r: r.rejected });
    await load();
  } catch (e) { showError(e); }
});

$('#create').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const err = f.querySelector('.error');
  err.textContent = '';
  const win = f.hours.value.trim();
  const spec = {
    name: f.name.value.trim(), mode: f.mode.value, caller_id: f.caller_id.value.trim(),
    centre_time_zone: f.zone.value.trim() || 'UTC', amd: f.amd.checked,
    calling_hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, win])),
  };
  if (spec.mode === 'agentless') spec.flow = f.flow.value.trim();
  else spec.queue = f.queue.value.trim();
  try {
    const c = await post('/campaigns', spec);
    toast(w('created', { id: c.id }));
    f.name.value = '';
    await load();
  } catch (e) { err.textContent = e.message; }
});

function start(me) {
  if (me.role === 'agent') { location.href = '/agent'; return; }
  $('#who').textContent = me.user;
  $('#page').hidden = false;
  $('#btn-logout').hidden = false;
  liveEvents((ev) => {
    if (ev.stream === 'campaign') refresh();
    else if (ev.stream === 'interaction') {
      const k = ev.kind && ev.kind.type;
      if (['dialled', 'dial_outcome', 'ended', 'answered'].includes(k)) refresh();
    }
  }, (status) => { if (status === 'online') refresh(); });
  // Rates over a sliding 24 hours change by themselves.
  setInterval(refresh, 30000);
  load().catch(showError);
}

bindLangSwitch($('#lang'));
applyI18n();
applyWords();
$('#btn-logout').onclick = () => { logout(); location.reload(); };
window.addEventListener('langchange', () => { applyWords(); render(); });
window.addEventListener('hotline:logout', () => location.reload());
(async () => {
  let me = null;
  if (token()) { try { me = await get('/me'); } catch { me = null; } }
  if (!me) me = await loginForm($('#login'), login);
  start(me);
})();
