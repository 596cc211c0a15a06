// The agent desktop's written conversations: offers to accept, one tab per conversation
// with its unread count, the transcript with read receipts and typing, canned replies from
// the knowledge base, transfer, end, and wrap-up per conversation.
import { get, post, token } from './api.js';
import { lang } from './i18n.js';
import { $, el, fmtTime, showError, toast } from './ui.js';

const WORDS = {
  zh: {
    title: '文字会话', none: '暂无文字会话', offer: '新会话', accept: '接受', decline: '拒绝',
    send: '发送', placeholder: '输入回复，Enter 发送，Shift+Enter 换行', end: '结束会话',
    transfer: '转给', transfer_to: '队列或分机', typing: '客户正在输入…', read: '已读', sent: '已送达',
    ended: '会话已结束', left: '客户已留言', canned: '常用回复', wrap: '处理结果', notes: '备注', done: '完成',
    customer: '客户', unknown: '未识别的客户', history: '最近联系', wrapped: '已保存', repeat: '重复投诉：30 天内 {n} 次',
    vip: 'VIP 客户', unread: '{n} 条未读', close: '关闭',
    email: '邮件', reply: '发送回复', reply_placeholder: '写回复（Ctrl+Enter 发送）', await: '已答复，等待客户',
    close_case: '结案', pending: '已答复，等待客户回复', html: '显示原格式', subject: '主题', ref: '编号',
    system: '系统', sms: '短信', st_submitted: '已提交', st_delivered: '已送达手机', st_failed: '发送失败',
    mail_sending: '发送中…', mail_sent: '已发出', mail_failed: '未能发出',
  },
  en: {
    title: 'Conversations', none: 'No conversations', offer: 'New conversation', accept: 'Accept', decline: 'Decline',
    send: 'Send', placeholder: 'Reply; Enter sends, Shift+Enter for a new line', end: 'End',
    transfer: 'Transfer', transfer_to: 'queue or extension', typing: 'Customer is typing…', read: 'Read', sent: 'Delivered',
    ended: 'Conversation ended', left: 'The customer left a message', canned: 'Canned replies', wrap: 'Disposition', notes: 'Notes',
    done: 'Done', customer: 'Customer', unknown: 'Unknown customer', history: 'Recent contacts', wrapped: 'Saved',
    repeat: 'Repeat complainer: {n} in 30 days', vip: 'VIP customer', unread: '{n} unread', close: 'Close',
    email: 'E-mail', reply: 'Send reply', reply_placeholder: 'Write the reply (Ctrl+Enter sends)', await: 'Answered: await the customer',
    close_case: 'Close case', pending: 'Answered; waiting for the customer\'s reply', html: 'Show formatted', subject: 'Subject', ref: 'Reference',
    system: 'System', sms: 'Text message', st_submitted: 'Sent', st_delivered: 'Delivered to the phone', st_failed: 'Not delivered',
    mail_sending: 'Sending…', mail_sent: 'Sent', mail_failed: 'Not sent',
  },
};
const w = (k, vars = {}) => (WORDS[lang()] || WORDS.zh)[k].replace(/\{(\w+)\}/g, (_, v) => String(vars[v] ?? ''));

const DISPOSITIONS = ['resolved', 'info', 'callback', 'complaint', 'complaint_resolved', 'escalated'];

const st = {
  convs: new Map(), // id -> conversation (from the API) + {unread, typing, pop, wrapped}
  active: null,
  me: null,
  ws: null,
};

/// Whether the interaction is one of this desk's written conversations (not a call).
export function isConversation(id) {
  return st.convs.has(id);
}

function panel() {
  return $('#chats');
}

function upsert(c) {
  const old = st.convs.get(c.id) || { unread: 0, typing: false, pop: null, wrapped: false };
  // Offered again (a customer's answer to an e-mail that waited for it, a chat after a
  // restart): a new round, to be wrapped up again, whatever ended the last one.
  const again = c.phase === 'offered' && old.phase && old.phase !== 'offered'
    ? { wrapped: false, pending: false, endedBy: null } : {};
  const merged = { ...old, ...again, ...c };
  // Listed after the desk opened again: one waiting for its customer is one the agent let
  // go (to be wrapped up, unless it was).
  if (c.phase === 'pending') { merged.phase = 'ended'; merged.pending = true; }
  st.convs.set(c.id, merged);
  window.dispatchEvent(new CustomEvent('hotline:conversation', { detail: c.id }));
  if (!merged.pop && c.phase !== 'offered') loadPop(c.id);
  return merged;
}

async function loadPop(id) {
  try {
    const pop = await get(`/interactions/${encodeURIComponent(id)}/screen-pop`);
    const c = st.convs.get(id);
    if (c) { c.pop = pop; if (st.active === id) render(); }
  } catch { /* the record follows once the log has it */ }
}

async function reload() {
  try {
    const { conversations } = await get('/conversations');
    const seen = new Set();
    for (const c of conversations) { upsert(c); seen.add(c.id); }
    for (const [id, c] of st.convs) {
      if (seen.has(id)) continue;
      if (c.phase === 'offered') st.convs.delete(id); // the offer is gone
      else if (c.phase !== 'ended') c.phase = 'ended';
    }
    if (!st.active || !st.convs.has(st.active)) st.active = conversations.length ? conversations[0].id : null;
    render();
  } catch (e) { showError(e); }
}

function connect() {
  const tk = token();
  if (!tk) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/conversations/live?access_token=${encodeURIComponent(tk)}`);
  st.ws = ws;
  ws.onopen = () => reload();
  ws.onmessage = (m) => {
    let v;
    try { v = JSON.parse(m.data); } catch { return; }
    onPush(v);
  };
  ws.onclose = () => {
    if (st.ws !== ws) return;
    st.ws = null;
    setTimeout(connect, 1000 + Math.random() * 1000);
  };
}

function onPush(v) {
  switch (v.type) {
    case 'offer': {
      upsert(v.conversation);
      if (!st.active) st.active = v.conversation.id;
      toast(`${w('offer')}: ${v.conversation.name}`);
      break;
    }
    case 'accepted': {
      // What the customer wrote while waiting is in front of the agent now: read.
      const c = upsert(v.conversation);
      st.active = c.id;
      if (document.visibilityState === 'visible') markRead(c);
      break;
    }
    case 'rescinded': {
      const c = st.convs.get(v.conversation);
      if (c && c.phase === 'offered') st.convs.delete(v.conversation);
      if (st.active === v.conversation) st.active = [...st.convs.keys()][0] || null;
      break;
    }
    case 'message': {
      const c = st.convs.get(v.conversation);
      if (!c) { reload(); return; }
      if (!c.messages.some((m) => m.seq === v.seq)) c.messages.push(v);
      c.messages.sort((a, b) => a.seq - b.seq);
      if (v.sender === 'customer') {
        c.typing = false;
        if (st.active === v.conversation && document.visibilityState === 'visible') markRead(c);
        else c.unread += 1;
      }
      break;
    }
    case 'status': {
      const c = st.convs.get(v.conversation);
      const m = c && c.messages.find((x) => x.seq === v.seq);
      if (m) m.status = v.status;
      break;
    }
    case 'typing': { const c = st.convs.get(v.conversation); if (c) c.typing = v.on; break; }
    case 'read': { const c = st.convs.get(v.conversation); if (c && v.by === 'customer') c.customer_read = Math.max(c.customer_read || 0, v.upto); break; }
    case 'ended': { const c = st.convs.get(v.conversation); if (c) { c.phase = 'ended'; c.typing = false; c.endedBy = v.by; c.pending = !!v.pending; } break; }
    case 'reload': reload(); return;
    default: return;
  }
  render();
}

function markRead(c) {
  const last = c.messages.length ? c.messages[c.messages.length - 1].seq : 0;
  c.unread = 0;
  if (last > (c.agent_read || 0) && c.phase === 'active') {
    c.agent_read = last;
    post(`/conversations/${c.id}/read`, { upto: last }).catch(() => {});
  }
}

function select(id) {
  st.active = id;
  const c = st.convs.get(id);
  if (c) markRead(c);
  render();
  const box = $('#chat-text');
  if (box) box.focus();
}

async function act(path, body, c) {
  try { return await post(`/conversations/${c.id}/${path}`, body); } catch (e) { showError(e); return null; }
}

let typingTimer = null;
let typingOn = false;
function typed(c) {
  if (!typingOn) { typingOn = true; act('typing', { on: true }, c); }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { typingOn = false; act('typing', { on: false }, c); }, 3000);
}

async function sendReply(c, box) {
  const text = box.value.trim();
  if (!text) return;
  box.value = '';
  clearTimeout(typingTimer);
  typingOn = false;
  const r = await act('messages', { text }, c);
  if (!r) box.value = text;
}

async function wrapUp(c, form) {
  const disposition = form.querySelector('select').value;
  const notes = form.querySelector('textarea').value;
  if (!disposition) { form.querySelector('select').focus(); return; }
  try {
    await post(`/interactions/${encodeURIComponent(c.id)}/wrapup`, notes ? { disposition, notes } : { disposition });
    c.wrapped = disposition;
    render();
  } catch (e) { showError(e); }
}

function close(c) {
  st.convs.delete(c.id);
  if (st.active === c.id) st.active = [...st.convs.keys()][0] || null;
  render();
}

async function canned(q, list) {
  try {
    const items = (await get(`/kb?q=${encodeURIComponent(q)}&lang=${lang()}`) || []).slice(0, 5);
    list.replaceChildren(...items.map((a) => el('li', {},
      el('button', { type: 'button', class: 'btn ghost', title: a.excerpt, onclick: () => {
        const box = $('#chat-text');
        if (box) { box.value = box.value ? `${box.value}\n${a.excerpt}` : a.excerpt; box.focus(); }
      } }, a.title))));
  } catch { list.replaceChildren(); }
}

function renderCustomer(c) {
  const p = c.pop;
  const box = el('div', { class: 'chat-customer', id: 'chat-customer' });
  box.append(el('p', {}, el('strong', {}, c.name), ' ', el('span', { class: 'muted' }, c.from !== c.name ? c.from : '')));
  if (!p) return box;
  const cust = p.customer;
  if (cust && cust.vip) box.append(el('div', { class: 'banner vip' }, `★ ${w('vip')}`));
  if (p.repeat_complaint) box.append(el('div', { class: 'banner repeat' }, `⚠ ${w('repeat', { n: p.open_complaints_30d })}`));
  box.append(el('p', {}, `${w('customer')}: `, cust ? `${cust.name} (${cust.id})` : w('unknown')));
  const hist = (p.history || []).filter((h) => h.interaction.id !== c.id).slice(0, 5);
  if (hist.length) {
    box.append(el('h4', {}, w('history')), el('ol', { class: 'history' }, hist.map((h) => el('li', {},
      el('time', { datetime: h.interaction.started }, fmtTime(h.interaction.started)), ' ',
      el('span', { class: 'tag' }, h.interaction.channel), ' ',
      el('span', { class: 'tag' }, h.interaction.queue || '—'), ' ',
      h.interaction.disposition || ''))));
  }
  return box;
}

function render() {
  const root = panel();
  if (!root) return;
  const tabs = $('#chat-tabs');
  const body = $('#chat-body');
  const list = [...st.convs.values()];
  root.hidden = false;
  tabs.replaceChildren(...list.map((c) => el('button', {
    type: 'button', role: 'tab', id: `tab-${c.id}`, class: `chat-tab phase-${c.phase}`,
    'aria-selected': st.active === c.id ? 'true' : 'false', 'data-conversation': c.id,
    onclick: () => select(c.id),
  }, c.channel === 'email' ? el('span', { class: 'tag channel', 'data-channel': 'email', title: w('email') }, '✉ ') : null,
  c.channel === 'sms' ? el('span', { class: 'tag channel', 'data-channel': 'sms', title: w('sms') }, '📱 ') : null,
  c.name, c.unread ? el('span', { class: 'badge unread', 'aria-label': w('unread', { n: c.unread }) }, String(c.unread)) : null)));
  const c = st.active && st.convs.get(st.active);
  if (!c) { body.replaceChildren(el('p', { class: 'muted' }, w('none'))); return; }
  body.dataset.conversation = c.id;
  body.dataset.phase = c.phase;
  const parts = [renderCustomer(c)];
  const mail = c.channel === 'email' && c.email;
  if (mail) {
    parts.push(el('p', { class: 'email-head', id: 'email-head' },
      el('strong', {}, `${w('subject')}: `), mail.subject || '—', ' ',
      el('span', { class: 'tag', id: 'email-ref' }, `${w('ref')} ${mail.reference}`), ' ',
      el('span', { class: 'muted' }, mail.address)));
  }
  if (c.phase === 'offered') {
    parts.push(el('div', { class: 'row offer' },
      el('button', { type: 'button', class: 'btn ok', id: 'chat-accept', onclick: () => act('accept', {}, c) }, w('accept')),
      el('button', { type: 'button', class: 'btn', id: 'chat-decline', onclick: async () => { await act('decline', {}, c); close(c); } }, w('decline'))));
  }
  const log = el('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite', id: 'chat-log' }, c.messages.map((m) => {
    const mine = m.sender === 'agent';
    const network = m.status ? (m.status === 'submitted' ? w('st_submitted') : m.status === 'delivered' ? w('st_delivered') : `${w('st_failed')} (${m.status})`) : '';
    // An e-mail reply is sent once the mailbox's server has taken it (`sent`), or failed.
    const mailed = m.status === 'sent' ? w('mail_sent') : m.status ? `${w('mail_failed')} (${m.status})` : w('mail_sending');
    const state = !mine ? '' : c.channel === 'sms' ? network || w('sent') : mail ? mailed
      : (c.customer_read || 0) >= m.seq ? w('read') : w('sent');
    // The centre's own files (the safe HTML, the reply as composed) are not the customer's.
    const files = (m.attachments || []).filter((a) => !(mail && ((a.content_type === 'text/html' && a.name === 'message.html')
      || (m.sender !== 'customer' && a.name === 'sent.eml'))));
    const html = mail && (m.attachments || []).find((a) => a.content_type === 'text/html' && a.name === 'message.html');
    return el('li', { class: `msg ${m.sender}`, 'data-seq': String(m.seq), 'data-status': m.status || null },
      mail && m.subject ? el('span', { class: 'subject' }, m.subject) : null,
      m.sender === 'system' ? el('span', { class: 'tag' }, w('system')) : null,
      el('span', { class: 'text' }, m.text),
      html && c.shownHtml && c.shownHtml.has(m.seq) ? safeView(c.shownHtml.get(m.seq))
        : html ? el('button', { type: 'button', class: 'btn ghost html-view', onclick: () => showHtml(c, html, m.seq) }, w('html')) : null,
      files.map((a) => el('a', { href: '#', class: 'file', onclick: (e) => { e.preventDefault(); download(c, a); } }, ` 📄 ${a.name}`)),
      el('span', { class: 'meta' }, `${fmtTime(m.at)}${state ? ` · ${state}` : ''}`));
  }));
  parts.push(log);
  parts.push(el('p', { class: 'muted typing', role: 'status' }, c.typing ? w('typing') : ''));
  if (c.phase === 'active') parts.push(...composer(c, mail));
  if (c.phase === 'ended' || c.phase === 'left') {
    parts.push(el('p', { class: 'muted', id: 'chat-ended' }, c.phase === 'left' ? w('left') : c.pending ? w('pending') : w('ended')));
    if (c.wrapped) {
      parts.push(el('p', { role: 'status', id: 'chat-wrapped' }, `${w('wrapped')} · ${c.wrapped}`),
        el('button', { type: 'button', class: 'btn', onclick: () => close(c) }, w('close')));
    } else if (c.agent === st.me) {
      parts.push(el('form', { class: 'chat-wrap', id: 'chat-wrap', onsubmit: (e) => { e.preventDefault(); wrapUp(c, e.target); } },
        el('label', {}, w('wrap'), el('select', { id: 'chat-disposition' }, el('option', { value: '' }, '—'),
          DISPOSITIONS.map((d) => el('option', { value: d }, d)))),
        el('label', {}, w('notes'), el('textarea', { rows: '2', maxlength: '4000' })),
        el('button', { type: 'submit', class: 'btn ok' }, w('done'))));
    }
  }
  body.replaceChildren(...parts);
  log.scrollTop = log.scrollHeight;
}

/// The reply box, canned replies, transfer and the end buttons of an active conversation.
/// An e-mail's box is larger and sends with Ctrl+Enter (Enter is a new line); it may wait
/// for the customer's answer or be closed for good, as may a text conversation.
function composer(c, mail) {
  const label = mail ? w('reply_placeholder') : w('placeholder');
  const box = el('textarea', { id: 'chat-text', rows: mail ? '8' : '3', maxlength: '4000', 'aria-label': label, placeholder: label,
    oninput: mail ? null : () => typed(c),
    onkeydown: (e) => {
      const send = mail ? e.key === 'Enter' && (e.ctrlKey || e.metaKey) : e.key === 'Enter' && !e.shiftKey && !e.isComposing;
      if (send) { e.preventDefault(); sendReply(c, box); }
    } });
  const cannedList = el('ul', { class: 'list canned' });
  const to = el('input', { id: 'chat-transfer-to', 'aria-label': w('transfer_to'), placeholder: w('transfer_to'), maxlength: '32', required: true });
  const ends = mail || c.channel === 'sms'
    ? [el('button', { type: 'button', class: 'btn', id: 'email-await', onclick: () => act('end', {}, c) }, w('await')),
      el('button', { type: 'button', class: 'btn warn', id: 'chat-end', onclick: () => act('end', { close: true }, c) }, w('close_case'))]
    : [el('button', { type: 'button', class: 'btn warn', id: 'chat-end', onclick: () => act('end', {}, c) }, w('end'))];
  return [
    el('form', { class: `chat-compose${mail ? ' email' : ''}`, onsubmit: (e) => { e.preventDefault(); sendReply(c, box); } },
      box, el('button', { type: 'submit', class: 'btn ok', id: 'chat-send' }, mail ? w('reply') : w('send'))),
    el('details', { class: 'canned-box', ontoggle: (e) => { if (e.target.open) canned('', cannedList); } },
      el('summary', {}, w('canned')),
      el('input', { type: 'search', 'aria-label': w('canned'), oninput: (e) => canned(e.target.value, cannedList) }), cannedList),
    el('div', { class: 'row' },
      el('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); if (to.value.trim()) act('transfer', { to: to.value.trim() }, c).then((r) => { if (r) close(c); }); } },
        to, el('button', { type: 'submit', class: 'btn' }, w('transfer'))),
      ...ends),
  ];
}

async function fetchFile(c, a) {
  const file = a.path.split('/').pop();
  const res = await fetch(`/api/v1/conversations/${c.id}/attachments/${file}`, { headers: { Authorization: `Bearer ${token()}` } });
  if (!res.ok) throw new Error(res.statusText);
  return res;
}

/// An e-mail's HTML, made safe by the centre (no scripts, styles, forms or remote images),
/// shown in a shadow root so that it cannot touch the desk's look. Once opened it stays
/// open, whatever redraws the conversation.
async function showHtml(c, a, seq) {
  try {
    const html = await (await fetchFile(c, a)).text();
    const now = st.convs.get(c.id);
    if (!now) return;
    if (!now.shownHtml) now.shownHtml = new Map();
    now.shownHtml.set(seq, html);
    render();
  } catch (e) { showError(e); }
}

function safeView(html) {
  const host = el('div', { class: 'email-html' });
  host.attachShadow({ mode: 'open' }).innerHTML = html;
  return host;
}

async function download(c, a) {
  try {
    const res = await fetchFile(c, a);
    const url = URL.createObjectURL(await res.blob());
    const link = el('a', { href: url, download: a.name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { showError(e); }
}

/// Starts the conversations panel for the agent `me` (its extension).
export function startConversations(me) {
  st.me = me;
  const root = panel();
  if (!root || !me) return;
  root.querySelector('h2').textContent = w('title');
  connect();
  document.addEventListener('visibilitychange', () => {
    const c = st.active && st.convs.get(st.active);
    if (c && document.visibilityState === 'visible') { markRead(c); render(); }
  });
  window.addEventListener('langchange', () => { root.querySelector('h2').textContent = w('title'); render(); });
}
